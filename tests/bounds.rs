//! Every bound of the hardening issue is reached with little memory: each attack runs under
//! an allocator that counts live bytes, and must stay under 200 MB above where it started.
//! (How fast each bound is reached is measured in `benches/bounds.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use remedy::api::{AIAnalysisStatus, WorkflowExecutionSpec};
use remedy::check::CheckContext;
use remedy::plan::{PlanContext, PlanError, plan};
use remedy::script::{EvalContext, Limits, ScriptEngine, ScriptError};
use remedy::template::{Template, loader};
use remedy_alloc::{Counting, Metered};

/// The most any attack may add to the process's live memory.
const BUDGET: usize = 200 * 1024 * 1024;

/// The binary's allocator (metered, for the scripts' memory limit), counting live bytes.
#[global_allocator]
static ALLOCATOR: Counting<Metered<System>> = Counting(Metered(System));

/// One measurement at a time: the counters are the process's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Run `attack`, and return its result with the most live memory it added.
fn peak_of<T>(attack: impl FnOnce() -> T) -> (T, usize) {
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let base = remedy_alloc::live();
    remedy_alloc::reset_peak();
    let result = attack();
    (result, remedy_alloc::peak().saturating_sub(base))
}

fn within_budget<T>(what: &str, attack: impl FnOnce() -> T) -> T {
    let (result, peak) = peak_of(attack);
    eprintln!("{what}: at most {} KiB more", peak / 1024);
    assert!(peak < BUDGET, "{what} used {} MB", peak / (1024 * 1024));
    result
}

/// The default limits with a generous clock, so that the limit under test is the one that
/// stops the script even in a slow debug build.
fn slow_clock() -> Limits {
    Limits {
        time_limit: Duration::from_secs(60),
        ..Limits::default()
    }
}

fn script(limits: Limits, module: &str, expr: &str) -> Result<serde_json::Value, ScriptError> {
    let modules = BTreeMap::from([("m".to_string(), module.to_string())]);
    ScriptEngine::with_limits(&modules, limits)?.eval_source(expr, &EvalContext::default())
}

mod scripts {
    use super::*;

    #[test]
    fn a_map_grown_by_index_assignment() {
        let err = within_budget("the hoarding map", || {
            script(
                slow_clock(),
                "fn fill() { let m = #{}; let s = \"x\"; s.pad(65000, 'x'); \
                 for i in 0..9999 { m[`k${i}`] = s + i; } 1 }",
                "m::fill()",
            )
        })
        .expect_err("stopped");
        assert!(err.to_string().contains("memory"), "{err}");
    }

    #[test]
    fn a_map_of_one_shared_string() {
        let err = within_budget("the shared-string map", || {
            script(
                slow_clock(),
                "fn fill() { let m = #{}; let s = \"x\"; s.pad(65000, 'x'); \
                 for i in 0..9999 { m[`k${i}`] = s; } m }",
                "m::fill()",
            )
        })
        .expect_err("stopped");
        assert!(err.is_over_budget(), "{err}");
    }

    #[test]
    fn an_array_that_doubles() {
        let err = within_budget("the doubling array", || {
            script(
                slow_clock(),
                "fn grow() { let a = [0]; loop { a = [a, a]; } }",
                "m::grow()",
            )
        })
        .expect_err("stopped");
        assert!(err.is_over_budget(), "{err}");
    }

    /// Nesting costs a copy of what is nested, so the time limit ends it; whatever depth it
    /// reaches is handled on a thread with tokio's default stack.
    #[test]
    fn a_value_nested_until_the_time_limit() {
        let err = within_budget("the nesting", || {
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(|| {
                    script(
                        Limits::default(),
                        "fn nest() { let a = []; loop { a = [#{ x: a }]; } }",
                        "m::nest()",
                    )
                })
                .unwrap()
                .join()
                .unwrap()
        })
        .expect_err("stopped");
        assert!(err.is_over_budget(), "{err}");
    }
}

mod files {
    use super::*;

    /// The lexer was quadratic in the comments of one line: 1.6 MB of `/**/` took 15 s.
    #[test]
    fn a_line_of_comments() {
        let text = format!(
            "workflow \"w\" version \"1.0.0\" {{ {} step s {{ action \"notify_only\" with {{ message: \"x\" }} }} }}\n",
            "/**/".repeat(400_000)
        );
        let file =
            within_budget("1.6 MB of comments", || remedy::dsl::parse(&text)).expect("parses");
        assert_eq!(file.comments.len(), 400_000);
    }

    /// A template at the size limit, as dense in steps as it can be, is refused for its
    /// steps after one parse and one check.
    #[test]
    fn a_template_at_the_size_limit_full_of_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("workflow \"w\" version \"1.0.0\" {\n");
        let mut i = 0;
        while text.len() < remedy::files::MAX_FILE_BYTES as usize - 64 {
            text.push_str(&format!("step s{i}{{action \"notify_only\"}}\n"));
            i += 1;
        }
        text.push_str("}\n");
        let path = dir.path().join("w.wf");
        std::fs::write(&path, &text).unwrap();
        let loaded = within_budget("a template full of steps", || {
            loader::load_file(dir.path(), &path, &CheckContext::default())
        });
        assert!(loaded.template.is_none());
        assert!(
            loaded.diagnostics.iter().any(|d| d.code == "E0128"),
            "{:?}",
            loaded.diagnostics.first()
        );
    }

    /// A file over the size limit is refused without being read.
    #[test]
    fn a_template_over_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wf");
        std::fs::write(&path, vec![b'/'; 64 * 1024 * 1024]).unwrap();
        let loaded = within_budget("a 64 MB template", || {
            loader::load_file(dir.path(), &path, &CheckContext::default())
        });
        assert!(matches!(
            loaded.refused,
            Some(remedy::files::FileError::TooLarge { .. })
        ));
        let (_, peak) = peak_of(|| loader::load_file(dir.path(), &path, &CheckContext::default()));
        assert!(peak < 1024 * 1024, "read {peak} bytes of a refused file");
    }
}

mod planning {
    use super::*;

    /// A 20 MB plan was stored in a run's status.
    #[test]
    fn a_plan_over_the_size_limit() {
        let steps: String = (0..remedy::check::rules::MAX_STEPS)
            .map(|i| format!("  step s{i} {{ action \"notify_only\" with {{ message: \"${{ analysis.rootCause }}\" }} }}\n"))
            .collect();
        let template = Template::from_source(
            Path::new("w.wf"),
            &format!("workflow \"w\" version \"1.0.0\" {{\n{steps}}}\n"),
            BTreeMap::new(),
        )
        .unwrap();
        let analysis: AIAnalysisStatus = serde_json::from_value(serde_json::json!({
            "rootCause": "x".repeat(60_000),
        }))
        .unwrap();
        let result = within_budget("the oversized plan", || {
            plan(
                &template,
                &analysis,
                &WorkflowExecutionSpec::default(),
                &PlanContext::default(),
            )
        });
        assert!(
            matches!(result, Err(PlanError::TooLarge { .. })),
            "{result:?}"
        );
    }
}
