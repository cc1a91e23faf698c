//! One table of durations and quantities, asked of every layer that reads them: the units
//! module, the `.wf` parser's duration literals, lint (literals), Validating (resolved values),
//! the executor's parameter check and the script builtins. The rows include the cases where
//! these layers used to disagree (`2d`, `1e20`, a bare `0`, spaces, bare seconds, dropped
//! milliseconds, truncated quantities).

use remedy::catalog::{ActionCatalog, ParamKind};
use remedy::check::context::CheckContext;
use remedy::check::resolved::check_action;
use remedy::executor::params::Params;
use remedy::script::{EvalContext, ScriptEngine};
use remedy::units::duration::{format_millis, parse_millis};
use remedy::units::quantity::{self, Quantity};
use remedy::units::{self, DurationError};
use serde_json::{Value, json};

/// Duration texts and their milliseconds (`None`: not a duration).
const DURATIONS: &[(&str, Option<u64>)] = &[
    ("250ms", Some(250)),
    ("30s", Some(30_000)),
    ("5m", Some(300_000)),
    ("2h", Some(7_200_000)),
    ("1h30m", Some(5_400_000)),
    ("1m30s500ms", Some(90_500)),
    ("0s", Some(0)),
    ("0ms", Some(0)),
    // A bare number, zero included, is not a duration: the spec's durations carry a unit.
    ("0", None),
    ("30", None),
    // Days are not a unit of the language.
    ("2d", None),
    ("1d2h", None),
    // No spaces, around or inside.
    (" 30s", None),
    ("30s ", None),
    ("1h 30m", None),
    // Largest unit first, each once.
    ("30m1h", None),
    ("1m1m", None),
    ("500ms1s", None),
    ("", None),
    ("s", None),
    ("5x", None),
    ("1H", None),
    ("1.5h", None),
    ("-3s", None),
    ("99999999999999999999h", None),
    ("5124095576030432h", None),
];

#[test]
fn durations_parse_by_the_one_grammar() {
    for (text, want) in DURATIONS {
        assert_eq!(parse_millis(text).ok(), *want, "{text:?}");
    }
}

#[test]
fn durations_format_largest_first_and_keep_milliseconds() {
    for (millis, text) in [
        (0, "0s"),
        (250, "250ms"),
        (1_500, "1s500ms"),
        (90_500, "1m30s500ms"),
        (5_400_000, "1h30m"),
        (3_600_001, "1h1ms"),
        (172_800_000, "48h"),
    ] {
        assert_eq!(format_millis(millis), text);
        assert_eq!(parse_millis(text), Ok(millis), "{text} reads back");
    }
    assert_eq!(
        units::duration::format(std::time::Duration::from_millis(1_500)),
        "1s500ms"
    );
}

#[test]
fn duration_errors_say_what_is_wrong() {
    let why = |text: &str| parse_millis(text).map_err(|e: DurationError| e.problem.to_string());
    assert_eq!(why("2d").unwrap_err(), "the units are ms, s, m and h");
    assert_eq!(
        why("0").unwrap_err(),
        "a number needs a unit (ms, s, m or h)"
    );
    assert_eq!(
        why("30m1h").unwrap_err(),
        "each unit must be smaller than the one before, as in 1h30m"
    );
    assert_eq!(
        why(" 30s").unwrap_err(),
        "expected a number before each unit"
    );
    assert_eq!(
        parse_millis("2d").unwrap_err().to_string(),
        "`2d` is not a duration: the units are ms, s, m and h (e.g. 250ms, 30s, 5m, 2h, 1h30m)"
    );
}

/// Quantity texts and the integer the script builtins read (`None`: not a quantity, or, for
/// the rows marked, a quantity too large for 64 bits).
const QUANTITIES: &[(&str, Option<i64>)] = &[
    ("512Mi", Some(536_870_912)),
    ("1Ki", Some(1024)),
    ("1.5Gi", Some(1_610_612_736)),
    ("2", Some(2)),
    ("+2", Some(2)),
    ("1.", Some(1)),
    ("1k", Some(1000)),
    ("1M", Some(1_000_000)),
    ("1E", Some(1_000_000_000_000_000_000)),
    ("1e3", Some(1000)),
    ("1E3", Some(1000)),
    ("5e-1", Some(1)),
    ("250m", Some(250)),
    ("500000u", Some(500)),
    ("100000000n", Some(100)),
    (".5Ki", Some(512)),
    ("-1Ki", Some(-1024)),
    // Rounding is up, as Kubernetes rounds: in every unit and below a billionth.
    ("1.5", Some(2)),
    ("0.5m", Some(1)),
    ("1.0000000001", Some(2)),
    ("0.0000000001", Some(1)),
    // Not quantities.
    ("", None),
    ("Mi", None),
    ("12Qi", None),
    ("512MB", None),
    ("1.2.3", None),
    (".", None),
    ("abc", None),
    ("1e", None),
    ("1 Gi", None),
    (" 3Gi", None),
    ("3Gi ", None),
    ("1e99", None),
    ("99999999999999999999999999999999", None),
];

#[test]
fn quantities_parse_by_the_one_grammar_and_round_up() {
    for (text, want) in QUANTITIES {
        assert_eq!(quantity::parse(text).ok(), *want, "{text:?}");
        assert_eq!(Quantity::parse(text).is_ok(), want.is_some(), "{text:?}");
    }
    // 1e20 is a quantity (Kubernetes reads it; the executor compares it), too large for an int.
    assert!(Quantity::parse("1e20").is_ok());
    assert!(matches!(
        quantity::parse("1e20"),
        Err(quantity::QuantityError::TooLarge(_))
    ));
    assert!(matches!(
        quantity::parse("8Ei"),
        Err(quantity::QuantityError::TooLarge(_))
    ));
}

#[test]
fn quantities_compare_by_value() {
    let q = |t: &str| Quantity::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
    for (a, b) in [
        ("1Gi", "1024Mi"),
        ("1Gi", "1073741824"),
        ("1k", "1000"),
        ("1e3", "1k"),
        ("0.5", "500m"),
        ("1.5Gi", "1536Mi"),
        ("100u", "100000n"),
        ("0.1n", "1n"),
        ("1e20", "100E"),
    ] {
        assert_eq!(q(a), q(b), "{a} = {b}");
    }
    assert!(q("512Mi") < q("1Gi"));
    assert!(q("250m") < q("1"));
    assert!(q("1G") < q("1Gi"));
    assert!(q("-1") < q("0"));
    assert!(q("1") < q("1.0000000001"));
    assert_eq!(q("512Mi").to_string(), "512Mi");
}

#[test]
fn quantities_count_in_a_unit_and_format() {
    assert_eq!(quantity::parse_in("2", "m"), Ok(2000));
    assert_eq!(quantity::parse_in("250m", "m"), Ok(250));
    assert_eq!(quantity::parse_in("1Gi", "Mi"), Ok(1024));
    assert_eq!(quantity::parse_in("1500Mi", "Gi"), Ok(2));
    assert!(matches!(
        quantity::parse_in("1Gi", "Xi"),
        Err(quantity::QuantityError::UnknownUnit(_))
    ));
    for (value, unit, text) in [
        (1_073_741_824, Some("Mi"), "1024Mi"),
        (750_000_000, Some("Mi"), "716Mi"),
        (500, Some("m"), "500m"),
        (7, Some(""), "7"),
        (1, Some("k"), "1k"),
        (1_073_741_824, None, "1Gi"),
        (-1024, None, "-1Ki"),
        (1536, None, "1536"),
        (0, None, "0"),
    ] {
        assert_eq!(quantity::format(value, unit).as_deref(), Ok(text));
    }
    assert!(quantity::format(1, Some("Zi")).is_err());
}

/// A resolved value, the literal an author would write for it (if one exists), the kind it is
/// passed as, and whether it fits.
struct Fit {
    value: Value,
    literal: Option<&'static str>,
    kind: ParamKind,
    fits: bool,
}

fn fit(value: Value, literal: Option<&'static str>, kind: ParamKind, fits: bool) -> Fit {
    Fit {
        value,
        literal,
        kind,
        fits,
    }
}

fn fits_table() -> Vec<Fit> {
    use ParamKind::*;
    vec![
        fit(json!("1h30m"), Some("\"1h30m\""), Duration, true),
        fit(json!("1h30m"), Some("1h30m"), Duration, true),
        fit(json!("0s"), Some("\"0s\""), Duration, true),
        fit(json!("2d"), Some("\"2d\""), Duration, false),
        fit(json!("0"), Some("\"0\""), Duration, false),
        fit(json!("90"), Some("\"90\""), Duration, false),
        fit(json!(90), Some("90"), Duration, false),
        fit(json!(" 30s"), Some("\" 30s\""), Duration, false),
        fit(json!("30m1h"), Some("\"30m1h\""), Duration, false),
        fit(json!("512Mi"), Some("\"512Mi\""), Quantity, true),
        fit(json!("1e20"), Some("\"1e20\""), Quantity, true),
        fit(json!(1e20), Some("1.0e20"), Quantity, true),
        fit(json!(1e300), Some("1.0e300"), Quantity, false),
        fit(json!(2), Some("2"), Quantity, true),
        fit(json!(0.5), Some("0.5"), Quantity, true),
        fit(json!("512MB"), Some("\"512MB\""), Quantity, false),
        fit(json!(" 512Mi"), Some("\" 512Mi\""), Quantity, false),
        fit(json!("1e99"), Some("\"1e99\""), Quantity, false),
        fit(json!(true), Some("true"), Quantity, false),
        fit(json!(3), Some("3"), Int, true),
        fit(json!(3.0), None, Int, true),
        fit(json!(3.5), Some("3.5"), Int, false),
        fit(json!(1e16), None, Int, false),
        fit(json!(u64::MAX), None, Int, false),
        fit(json!("3"), Some("\"3\""), Int, false),
    ]
}

/// An action with a parameter of `kind`, that parameter, and the other parameters it needs.
fn action_for(kind: ParamKind) -> (&'static str, &'static str, Value) {
    match kind {
        ParamKind::Duration => ("wait", "duration", json!({})),
        ParamKind::Quantity => (
            "increase_resources",
            "memory",
            json!({ "namespace": "shop", "deployment": "web" }),
        ),
        ParamKind::Int => (
            "scale_deployment",
            "replicas",
            json!({ "namespace": "shop", "deployment": "web" }),
        ),
        other => panic!("no action in this table takes a {other}"),
    }
}

#[test]
fn lint_validating_and_the_executor_agree_on_what_fits() {
    let catalog = ActionCatalog::builtin();
    let ctx = CheckContext::default();
    for row in fits_table() {
        let (action, param, others) = action_for(row.kind);
        let mut params = others.as_object().cloned().unwrap_or_default();
        params.insert(param.to_string(), row.value.clone());
        let what = format!("{} as {}", row.value, row.kind);

        assert_eq!(units::fits(&row.value, row.kind), row.fits, "units: {what}");

        let validating = check_action(&ctx, action, &params, true);
        assert_eq!(
            validating.is_empty(),
            row.fits,
            "Validating: {what}: {validating:?}"
        );

        let spec = catalog.get(action).unwrap_or_else(|| panic!("{action}"));
        let executor = Params::validate(spec, &params);
        assert_eq!(executor.is_ok(), row.fits, "executor: {what}: {executor:?}");

        if let Some(literal) = row.literal {
            let with: Vec<String> = params
                .iter()
                .map(|(k, v)| {
                    if k == param {
                        format!("{k}: {literal}")
                    } else {
                        format!("{k}: {v}")
                    }
                })
                .collect();
            let source = format!(
                "workflow \"t\" version \"1.0.0\" {{\n  step s {{\n    action \"{action}\"\n    with {{ {} }}\n  }}\n}}\n",
                with.join(", ")
            );
            let report = remedy::check::check_source("t.wf", source.as_bytes(), &ctx);
            let mistyped = report
                .diagnostics
                .iter()
                .any(|d| d.code == "E0105" || d.code == "E0004");
            assert_eq!(
                !mistyped, row.fits,
                "lint: {literal} as {}: {:?}",
                row.kind, report.diagnostics
            );
        }
    }
}

#[test]
fn duration_literals_of_the_language_follow_the_one_grammar() {
    for (text, want) in DURATIONS {
        // Only texts the grammar's `duration` token takes are literals; the rest are other
        // syntax errors of the file, not durations.
        let token = text.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && text.bytes().all(|b| b.is_ascii_alphanumeric())
            && text.bytes().any(|b| b.is_ascii_alphabetic());
        if !token {
            continue;
        }
        let source = format!("workflow \"t\" version \"1.0.0\" {{ timeout {text} }}");
        let parsed = remedy::dsl::parse(&source);
        match (want, parsed) {
            (Some(_), Ok(_)) => {}
            (None, Err(d)) => assert_eq!(d.code, "E0004", "{text}: {}", d.message),
            (want, got) => panic!("{text}: wanted {want:?}, the parser gave {got:?}"),
        }
    }
}

#[test]
fn the_script_builtins_read_the_same_units() {
    let engine = ScriptEngine::new(&Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let eval = |expr: &str| engine.eval_source(expr, &EvalContext::default());
    for (text, want) in DURATIONS {
        let got = eval(&format!("seconds({text:?})")).ok();
        assert_eq!(got, want.map(|ms| json!(ms / 1000)), "seconds({text:?})");
    }
    for (text, want) in QUANTITIES {
        let got = eval(&format!("parse_quantity({text:?})")).ok();
        assert_eq!(got, want.map(|n| json!(n)), "parse_quantity({text:?})");
    }
    assert_eq!(
        eval("format_quantity(parse_quantity(\"1.5Gi\"), \"Mi\")").ok(),
        Some(json!("1536Mi"))
    );
    assert_eq!(eval("format_quantity(1073741824)").ok(), Some(json!("1Gi")));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_text_is_read_or_refused(text in any::<String>()) {
            let _ = parse_millis(&text);
            let _ = Quantity::parse(&text);
            let _ = quantity::parse_in(&text, "Mi");
        }

        #[test]
        fn every_duration_formats_and_reads_back(millis in any::<u64>()) {
            prop_assert_eq!(parse_millis(&format_millis(millis)), Ok(millis));
        }

        #[test]
        fn formatted_quantities_read_back_at_or_above(value in any::<i64>(), unit in prop::sample::select(vec!["", "k", "Ki", "Mi", "Gi", "M"])) {
            let text = quantity::format(value, Some(unit)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = quantity::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")));
            if let Ok(back) = back {
                prop_assert!(back >= value, "{text} reads as {back} < {value}");
            }
        }

        #[test]
        fn mebibytes_compare_like_their_bytes(a in 0u64..1_000_000, b in 0u64..1_000_000) {
            let qa = Quantity::parse(&format!("{a}Mi")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let qb = Quantity::parse(&(b * 1024 * 1024).to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(qa.cmp(&qb), a.cmp(&b));
        }
    }
}
