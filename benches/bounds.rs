//! How fast each bound of the hardening issue is reached (each must be well under a second):
//! the script limits, the lexer on a line of comments, the loader's limits and the plan's size
//! limit. `cargo bench --bench bounds`; the memory each attack takes is checked by
//! `tests/bounds.rs`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use remedy::api::{AIAnalysisStatus, WorkflowExecutionSpec};
use remedy::check::CheckContext;
use remedy::plan::{PlanContext, plan};
use remedy::script::memory::Metered;
use remedy::script::{EvalContext, Limits, ScriptEngine};
use remedy::template::{Template, loader};

/// As in the `remedy` binary, so that the memory limit holds.
#[global_allocator]
static ALLOCATOR: Metered<std::alloc::System> = Metered(std::alloc::System);

/// Each attack on the sandbox: a module and the expression that calls it.
const SCRIPTS: &[(&str, &str, &str)] = &[
    ("sleep", "", "if sleep(3.0) == () { 1 } else { 2 }"),
    (
        "operations",
        "fn spin() { let n = 0; loop { n += 1; } }",
        "m::spin()",
    ),
    (
        "memory",
        "fn fill() { let m = #{}; let s = \"x\"; s.pad(65000, 'x'); \
         for i in 0..9999 { m[`k${i}`] = s + i; } 1 }",
        "m::fill()",
    ),
    (
        "output",
        "fn fill() { let m = #{}; let s = \"x\"; s.pad(65000, 'x'); \
         for i in 0..9999 { m[`k${i}`] = s; } m }",
        "m::fill()",
    ),
    (
        "array_size",
        "fn grow() { let a = [0]; loop { a = [a, a]; } }",
        "m::grow()",
    ),
    ("call_depth", "fn down(n) { down(n + 1) }", "m::down(0)"),
    ("comparator", "", "[3, 1, 2].sort(|a, b| throw \"boom\")"),
    (
        "nesting_until_the_clock",
        "fn nest() { let a = []; loop { a = [#{ x: a }]; } }",
        "m::nest()",
    ),
];

fn scripts(c: &mut Criterion) {
    let mut group = c.benchmark_group("bounds/script");
    group.sample_size(10);
    for (name, module, expr) in SCRIPTS {
        let modules = BTreeMap::from([("m".to_string(), module.to_string())]);
        let engine = ScriptEngine::with_limits(&modules, Limits::default()).unwrap();
        let compiled = engine.compile(expr).unwrap();
        let ctx = EvalContext::default();
        assert!(engine.eval(&compiled, &ctx).is_err(), "{name} is stopped");
        group.bench_function(*name, |b| {
            b.iter(|| engine.eval(black_box(&compiled), &ctx))
        });
    }
    group.finish();
}

fn files(c: &mut Criterion) {
    let mut group = c.benchmark_group("bounds/files");
    group.sample_size(10);
    // The lexer was quadratic: 1.6 MB of `/**/` on one line took 15 s.
    let comments = format!(
        "workflow \"w\" version \"1.0.0\" {{ {} step s {{ action \"notify_only\" with {{ message: \"x\" }} }} }}\n",
        "/**/".repeat(400_000)
    );
    group.bench_function("parse_1_6_mb_of_comments_on_one_line", |b| {
        b.iter(|| remedy::dsl::parse(black_box(&comments)).unwrap())
    });
    // The largest template the loader reads, as full of steps as it can be: refused for its
    // steps after one parse and one check.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("workflow \"w\" version \"1.0.0\" {\n");
    let mut i = 0;
    while text.len() < remedy::files::MAX_FILE_BYTES as usize - 64 {
        text.push_str(&format!("step s{i}{{action \"notify_only\"}}\n"));
        i += 1;
    }
    text.push_str("}\n");
    let full = dir.path().join("full.wf");
    std::fs::write(&full, &text).unwrap();
    group.bench_function("load_256_kib_of_steps", |b| {
        b.iter(|| loader::load_file(dir.path(), black_box(&full), &CheckContext::default()))
    });
    let big = dir.path().join("big.wf");
    std::fs::write(&big, vec![b'/'; 64 * 1024 * 1024]).unwrap();
    group.bench_function("refuse_a_64_mb_template", |b| {
        b.iter(|| loader::load_file(dir.path(), black_box(&big), &CheckContext::default()))
    });
    group.finish();
}

fn planning(c: &mut Criterion) {
    let steps: String = (0..remedy::check::rules::MAX_STEPS)
        .map(|i| {
            format!(
                "  step s{i} {{ action \"notify_only\" with {{ message: \"${{ analysis.rootCause }}\" }} }}\n"
            )
        })
        .collect();
    let template = Template::from_source(
        "w.wf",
        &format!("workflow \"w\" version \"1.0.0\" {{\n{steps}}}\n"),
        BTreeMap::new(),
    )
    .unwrap();
    let analysis: AIAnalysisStatus =
        serde_json::from_value(serde_json::json!({ "rootCause": "x".repeat(60_000) })).unwrap();
    let spec = WorkflowExecutionSpec::default();
    let ctx = PlanContext::default();
    let mut group = c.benchmark_group("bounds/plan");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("refuse_a_plan_over_512_kib", |b| {
        b.iter(|| plan(&template, black_box(&analysis), &spec, &ctx).unwrap_err())
    });
    group.finish();
}

criterion_group!(benches, scripts, files, planning);
criterion_main!(benches);
