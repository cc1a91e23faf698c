//! Scripts compiled once (what templates do) against compiling from source on every
//! evaluation, and the cost of binding an analysis: `cargo bench --bench script`.

#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

use remedy::script::{Bindings, EvalContext, ScriptEngine};

const MEM: &str = "fn scale(q, f) { format_quantity(parse_quantity(q) * f, \"Mi\") }";

/// The kinds of expression templates hold: a condition, a module call, an interpolation-like
/// concatenation.
const EXPRESSIONS: &[(&str, &str)] = &[
    (
        "condition",
        "analysis.confidence >= 0.8 && analysis.target.kind == \"Deployment\"",
    ),
    (
        "module_call",
        "mem::scale(analysis.metrics.memory_limit, factor)",
    ),
    (
        "closure",
        "analysis.metrics.values().filter(|v| type_of(v) == \"i64\").len() + 1",
    ),
];

fn context() -> EvalContext {
    let Value::Object(analysis) = json!({
        "phase": "Completed",
        "targetResource": { "kind": "Deployment", "name": "web", "namespace": "shop" },
        "confidence": 0.92,
        "parameters": { "memory_limit": "512Mi" },
        "metrics": { "memory_limit": "512Mi", "restarts": 7, "replicas": 2 },
    }) else {
        unreachable!()
    };
    let Value::Object(params) = json!({ "factor": 1.5, "namespace": "shop" }) else {
        unreachable!()
    };
    EvalContext {
        analysis,
        params,
        ..EvalContext::default()
    }
}

fn scripts(c: &mut Criterion) {
    let modules = BTreeMap::from([("mem".to_string(), MEM.to_string())]);
    let engine = ScriptEngine::new(&modules).expect("engine");
    let ctx = context();
    for (name, source) in EXPRESSIONS {
        let compiled = engine.compile(source).expect("compiles");
        let mut bindings = Bindings::new(&ctx);
        let mut group = c.benchmark_group(format!("script/{name}"));
        group.bench_function("compiled", |b| {
            b.iter(|| engine.eval_bound(black_box(&compiled), &mut bindings))
        });
        group.bench_function("from_source", |b| {
            b.iter(|| {
                let c = engine.compile(black_box(source)).expect("compiles");
                engine.eval_bound(&c, &mut bindings)
            })
        });
        group.finish();
    }
    c.bench_function("script/bind_analysis", |b| {
        b.iter(|| Bindings::new(black_box(&ctx)))
    });
}

criterion_group!(benches, scripts);
criterion_main!(benches);
