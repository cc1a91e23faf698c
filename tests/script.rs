//! The script sandbox: one test per limit (each fails fast with a clear error), what the
//! sandbox leaves out, and the built-in functions.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use remedy::script::{EvalContext, Limits, ScriptEngine, ScriptError};
use serde_json::{Value, json};

/// Evaluate `expr` with the module `m` = `module`, under `limits`.
fn run_with(limits: Limits, module: &str, expr: &str) -> Result<Value, ScriptError> {
    let modules = BTreeMap::from([("m".to_string(), module.to_string())]);
    let engine = ScriptEngine::with_limits(&modules, limits)?;
    engine.eval_source(expr, &EvalContext::default())
}

fn run(expr: &str) -> Result<Value, ScriptError> {
    run_with(Limits::default(), "", expr)
}

/// `expr` (calling into `module`) fails over budget in well under a second, and the message
/// names the limit.
fn over_budget(limits: Limits, module: &str, expr: &str, says: &str) {
    let start = Instant::now();
    let result = run_with(limits, module, expr);
    let elapsed = start.elapsed();
    match result {
        Err(e) => {
            assert!(e.is_over_budget(), "not a budget error: {e:?}");
            assert!(e.to_string().contains(says), "{e} should say {says}");
        }
        Ok(v) => panic!("expected over budget, got {v}"),
    }
    assert!(elapsed < Duration::from_millis(900), "took {elapsed:?}");
}

mod limits {
    use super::*;

    #[test]
    fn operations() {
        over_budget(
            Limits::default(),
            "fn spin() { let n = 0; loop { n += 1; } }",
            "m::spin()",
            "too many operations",
        );
    }

    #[test]
    fn wall_clock() {
        let limits = Limits {
            max_operations: 0,
            time_limit: Duration::from_millis(50),
            ..Limits::default()
        };
        over_budget(limits, "fn spin() { loop { } }", "m::spin()", "time limit");
    }

    #[test]
    fn call_depth() {
        over_budget(
            Limits::default(),
            "fn down(n) { down(n + 1) }",
            "m::down(0)",
            "too deeply",
        );
    }

    #[test]
    fn expression_depth() {
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        let err = run(&deep).expect_err("too deep");
        assert!(matches!(err, ScriptError::Syntax { .. }), "{err:?}");
        assert!(err.to_string().contains("nests too deeply"), "{err}");
    }

    #[test]
    fn string_size() {
        over_budget(
            Limits::default(),
            "fn grow() { let s = \"x\"; loop { s += s; } }",
            "m::grow()",
            "larger than the limit",
        );
        over_budget(
            Limits::default(),
            "",
            "\"x\".pad(1000000, 'y')",
            "larger than the limit",
        );
    }

    #[test]
    fn array_size() {
        over_budget(
            Limits::default(),
            "fn grow() { let a = [1]; loop { a += a; } }",
            "m::grow()",
            "larger than the limit",
        );
        over_budget(
            Limits::default(),
            "",
            "[].pad(100000000, 0)",
            "larger than the limit",
        );
    }

    #[test]
    fn blob_size() {
        over_budget(
            Limits::default(),
            "",
            "blob(1000000000)",
            "larger than the limit",
        );
    }

    #[test]
    fn map_size() {
        // At the default 10 000 entries the operations limit comes first; a smaller map
        // limit shows this one works.
        let limits = Limits {
            max_map_size: 100,
            ..Limits::default()
        };
        over_budget(
            limits.clone(),
            "fn grow() { let m = #{}; let i = 0; loop { m.mixin(#{}); m[`k${i}`] = i; i += 1; } }",
            "m::grow()",
            "larger than the limit",
        );
        over_budget(
            limits,
            "fn grow() { let m = #{}; for i in 0..200 { m[`k${i}`] = i; } m }",
            "m::grow()",
            "a map of 200, more than the limit of 100",
        );
    }

    #[test]
    fn module_loading_is_bounded_too() {
        let modules = BTreeMap::from([("m".to_string(), "loop { }".to_string())]);
        let start = Instant::now();
        let err = ScriptEngine::new(&modules).expect_err("over budget");
        assert!(err.is_over_budget(), "{err:?}");
        assert!(err.to_string().starts_with("in module `m`"), "{err}");
        assert!(start.elapsed() < Duration::from_millis(900));
    }
}

mod sandbox {
    use super::*;

    #[test]
    fn eval_is_disabled() {
        assert!(run("eval(\"1 + 1\")").is_err());
    }

    #[test]
    fn there_is_no_clock() {
        let err = run("timestamp()").expect_err("no clock");
        assert!(err.to_string().contains("timestamp"), "{err}");
    }

    #[test]
    fn scripts_cannot_import_files() {
        let err = run_with(
            Limits::default(),
            "fn f() { import \"/etc/passwd\" as p; 1 }",
            "m::f()",
        )
        .expect_err("no import");
        assert!(err.to_string().contains("may not `import`"), "{err}");
    }

    #[test]
    fn print_and_debug_do_not_fail() {
        assert_eq!(run("print(\"hello\")"), Ok(Value::Null));
        assert_eq!(run("debug(42)"), Ok(Value::Null));
    }

    #[test]
    fn statements_are_not_expressions() {
        assert!(matches!(run("let x = 1"), Err(ScriptError::Syntax { .. })));
    }

    #[test]
    fn function_pointers_are_not_values() {
        assert!(matches!(run("|x| x + 1"), Err(ScriptError::Result(_))));
        assert!(matches!(run("0.0 / 0.0"), Err(ScriptError::Result(_))));
    }

    #[test]
    fn runtime_errors_carry_their_position() {
        let err = run("1 +\n  nope").expect_err("unknown variable");
        assert_eq!(err.position(), Some((2, 3)), "{err:?}");
        assert!(err.to_string().contains("nope"), "{err}");
    }
}

mod builtins {
    use super::*;

    fn eval(expr: &str) -> Value {
        run(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    #[test]
    fn parse_quantity() {
        assert_eq!(eval("parse_quantity(\"512Mi\")"), json!(536_870_912));
        assert_eq!(eval("parse_quantity(\"1.5Gi\")"), json!(1_610_612_736));
        assert_eq!(eval("parse_quantity(\"250m\")"), json!(250));
        assert_eq!(eval("parse_quantity(\"2\", \"m\")"), json!(2000));
        assert_eq!(eval("parse_quantity(\"1Gi\", \"Mi\")"), json!(1024));
        assert_eq!(eval("parse_quantity(1024)"), json!(1024));
        let err = run("parse_quantity(\"lots\")").expect_err("not a quantity");
        assert!(
            err.to_string().contains("`lots` is not a quantity"),
            "{err}"
        );
    }

    #[test]
    fn format_quantity() {
        assert_eq!(
            eval("format_quantity(parse_quantity(\"512Mi\") * 2, \"Mi\")"),
            json!("1024Mi")
        );
        assert_eq!(eval("format_quantity(1073741824)"), json!("1Gi"));
        assert_eq!(eval("format_quantity(750, \"m\")"), json!("750m"));
        assert_eq!(
            eval("format_quantity(parse_quantity(\"512Mi\") * 1.5, \"Mi\")"),
            json!("768Mi")
        );
        assert!(run("format_quantity(1, \"Qi\")").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(eval("seconds(\"1h30m\")"), json!(5400));
        assert_eq!(eval("seconds(\"250ms\")"), json!(0));
        assert_eq!(eval("seconds(90)"), json!(90));
        assert!(run("seconds(\"soon\")").is_err());
    }

    #[test]
    fn clamp() {
        assert_eq!(eval("clamp(7, 1, 5)"), json!(5));
        assert_eq!(eval("clamp(-7, 1, 5)"), json!(1));
        assert_eq!(eval("clamp(2.5, 1.0, 2.0)"), json!(2.0));
        assert_eq!(eval("clamp(3, 1.5, 2.5)"), json!(2.5));
        assert_eq!(eval("clamp(0.5, 1, 4)"), json!(1.0));
        let err = run("clamp(1, 5, 2)").expect_err("bounds reversed");
        assert!(err.to_string().contains("above the upper bound"), "{err}");
    }
}
