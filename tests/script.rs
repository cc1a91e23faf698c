//! The script sandbox: one test per limit (each fails fast with a clear error), what the
//! sandbox leaves out, and the built-in functions.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use remedy::script::memory::Metered;
use remedy::script::{EvalContext, Limits, ScriptEngine, ScriptError};
use serde_json::{Value, json};

/// As in the `remedy` binary: the allocator is metered, so the memory limit holds.
#[global_allocator]
static ALLOCATOR: Metered<std::alloc::System> = Metered(std::alloc::System);

/// Evaluate `expr` with the module `m` = `module`, under `limits`.
fn run_with(limits: Limits, module: &str, expr: &str) -> Result<Value, ScriptError> {
    let modules = BTreeMap::from([("m".to_string(), module.to_string())]);
    let engine = ScriptEngine::with_limits(&modules, limits)?;
    engine.eval_source(expr, &EvalContext::default())
}

fn run(expr: &str) -> Result<Value, ScriptError> {
    run_with(Limits::default(), "", expr)
}

/// The default limits with a generous clock: a test of another limit must not depend on how
/// fast the machine is (a debug build on a busy machine runs a few operations per
/// microsecond).
fn slow_clock() -> Limits {
    Limits {
        time_limit: Duration::from_secs(60),
        ..Limits::default()
    }
}

/// `expr` (calling into `module`) fails over budget, and the message names the limit. (How
/// fast each limit is reached is measured in `benches/bounds.rs`, and how much memory in
/// `tests/bounds.rs`.)
fn over_budget(limits: Limits, module: &str, expr: &str, says: &str) {
    match run_with(limits, module, expr) {
        Err(e) => {
            assert!(e.is_over_budget(), "not a budget error: {e:?}");
            assert!(e.to_string().contains(says), "{e} should say {says}");
        }
        Ok(v) => panic!("expected over budget, got {v}"),
    }
}

mod limits {
    use super::*;

    #[test]
    fn operations() {
        over_budget(
            slow_clock(),
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
            slow_clock(),
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
            slow_clock(),
            "fn grow() { let s = \"x\"; loop { s += s; } }",
            "m::grow()",
            "larger than the limit",
        );
        over_budget(
            slow_clock(),
            "",
            "\"x\".pad(1000000, 'y')",
            "larger than the limit",
        );
    }

    #[test]
    fn array_size() {
        over_budget(
            slow_clock(),
            "fn grow() { let a = [1]; loop { a += a; } }",
            "m::grow()",
            "larger than the limit",
        );
        over_budget(
            slow_clock(),
            "",
            "[].pad(100000000, 0)",
            "larger than the limit",
        );
    }

    #[test]
    fn blob_size() {
        over_budget(
            slow_clock(),
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
        let err = ScriptEngine::new(&modules).expect_err("over budget");
        assert!(err.is_over_budget(), "{err:?}");
        assert!(err.to_string().starts_with("in module `m`"), "{err}");
    }
}

/// The attacks that broke the sandbox, each as it was written.
mod attacks {
    use super::*;

    /// `sleep()` was callable and blocked the thread past every limit (`lint` took 3 s on
    /// `${ if sleep(3.0) == () { 1 } else { 2 } }`). No function may wait.
    #[test]
    fn no_function_waits() {
        for expr in [
            "if sleep(3.0) == () { 1 } else { 2 }",
            "sleep(1)",
            "call(Fn(\"sleep\"), 1)",
            "Fn(\"sleep\").call(1.5)",
        ] {
            let err = run(expr).expect_err(expr);
            assert!(
                err.to_string().contains("Function not found: sleep"),
                "{expr}: {err}"
            );
        }
    }

    /// The time limit is checked after every operation, not every few hundred: whatever
    /// slow thing happens between two operations, the script stops at the next one.
    #[test]
    fn the_time_limit_is_checked_after_every_operation() {
        let limits = Limits {
            time_limit: Duration::ZERO,
            ..Limits::default()
        };
        let err = run_with(limits, "", "1 + 2").expect_err("past its time limit");
        assert!(err.to_string().contains("time limit"), "{err}");
    }

    /// A module filled a map with 9,999 copies of one 65,000-character string: small in rhai
    /// (the string is shared), 650 MB once a plan. The result's size is counted while it is
    /// converted, every copy included.
    #[test]
    fn a_map_of_one_shared_string_is_over_the_output_limit() {
        over_budget(
            slow_clock(),
            "fn fill() { let m = #{}; let s = \"x\"; s.pad(65000, 'x'); \
             for i in 0..2000 { m[`k${i}`] = s; } m }",
            "m::fill()",
            "larger than the output limit of 262144 bytes",
        );
    }

    /// The same map with distinct strings hoards memory inside rhai, which does not check a
    /// map grown by index assignment: the evaluation stops once it holds more than its
    /// memory limit.
    #[test]
    fn a_map_grown_by_index_assignment_is_bounded_in_memory() {
        over_budget(
            slow_clock(),
            "fn fill() { let m = #{}; let s = \"x\"; s.pad(65000, 'x'); \
             for i in 0..2000 { m[`k${i}`] = s + i; } 1 }",
            "m::fill()",
            "holds more memory than its limit",
        );
    }

    /// Errors raised in a `sort` comparator were swallowed: the array came back in some
    /// order and the script went on. Now they stop the script, in `sort`, `sort_by` and
    /// `dedup` alike.
    #[test]
    fn errors_in_a_comparator_surface() {
        for expr in [
            "[3, 1, 2].sort(|a, b| throw \"boom\")",
            "[3, 1, 2].sort_by(|a, b| throw \"boom\")",
            "[3, 3, 1].dedup(|a, b| throw \"boom\")",
        ] {
            let err = run(expr).expect_err(expr);
            assert!(err.to_string().contains("boom"), "{expr}: {err}");
        }
        let err = run("[3, 1, 2].sort(|a, b| \"not an order\")").expect_err("bad result");
        assert!(err.to_string().contains("comparator returned"), "{err}");
        let budget = run_with(
            Limits::default(),
            "fn spin() { loop { } }",
            "[3, 1, 2].sort(|a, b| m::spin())",
        )
        .expect_err("over budget");
        assert!(budget.is_over_budget(), "{budget:?}");
    }

    /// A value nested deeper than any template needs (and than serde_json reads back from
    /// a pinned plan) is refused.
    #[test]
    fn a_deeply_nested_result_is_refused() {
        over_budget(
            slow_clock(),
            "fn nest() { let a = []; for i in 0..100 { a = [a]; } a }",
            "m::nest()",
            "levels deep",
        );
    }
}

mod sandbox {
    use super::*;

    #[test]
    fn sort_and_dedup_with_a_comparator_still_work() {
        let module = "fn sorted(a) { a.sort(|x, y| x - y); a } \
                      fn by_first(a) { a.sort_by(|x, y| x[0] <= y[0]); a } \
                      fn unique(a) { a.dedup(|x, y| x == y); a }";
        let eval = |expr| run_with(Limits::default(), module, expr);
        assert_eq!(eval("m::sorted([3, 1, 2])"), Ok(json!([1, 2, 3])));
        assert_eq!(
            eval("m::by_first([[2, \"b\"], [1, \"a\"], [2, \"a\"]])"),
            Ok(json!([[1, "a"], [2, "b"], [2, "a"]])),
            "stable"
        );
        assert_eq!(eval("m::unique([1, 1, 2, 1])"), Ok(json!([1, 2, 1])));
    }

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

/// The script fuzz target's seed corpus (`fuzz/corpus/script`: a module, a `---` line, an
/// expression): every seed ends within the limits, and every hostile one is stopped.
#[test]
fn fuzz_corpus_replays_within_the_limits() {
    let mut hostile = 0;
    for entry in std::fs::read_dir("fuzz/corpus/script").unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let (module, expr) = text.split_once("\n---\n").unwrap_or(("", &text));
        let result = run_with(Limits::default(), module, expr.trim_end());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("hostile_") {
            hostile += 1;
            assert!(result.is_err(), "{name} was not stopped: {result:?}");
        } else {
            assert!(result.is_ok(), "{name}: {result:?}");
        }
    }
    assert!(hostile >= 10, "the corpus has {hostile} hostile seeds");
}
