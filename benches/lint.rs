//! Checking a generated 2,000-step template with every lint rule, and rendering its
//! findings: `cargo bench --bench lint`.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use remedy::check::render::{FileReport, human};
use remedy::check::{CheckContext, check};
use remedy::diagnostic::SourceFile;
use remedy::dsl::parse;

const STEPS: usize = 2_000;

/// A large workflow in the shape of the template library: params, lets, steps with `after`,
/// rollback blocks and literal parameters; every tenth step has a finding.
fn workflow() -> String {
    let mut s = String::from(
        "workflow \"big\" version \"1.0.0\" {\n  timeout 2h\n  approval required\n  \
         param namespace: string = ${ analysis.target.namespace }\n  \
         param deployment: string = ${ analysis.target.name }\n  \
         param factor: float = 1.5 { min 1.0  max 4.0 }\n  let target = ${ factor * 2 }\n",
    );
    for i in 0..STEPS {
        let after = if i > 1 {
            format!(" after s{}, s{}", i - 1, i / 2)
        } else {
            String::new()
        };
        let replicas = if i % 10 == 0 {
            "\"3\"".to_string()
        } else {
            i.to_string()
        };
        let _ = write!(
            s,
            "  step s{i}{after} {{\n    action \"scale_deployment\"\n    \
             with {{ namespace, deployment, replicas: {replicas} }}\n    timeout 5m\n    \
             retry 2 backoff 5s max 1m\n    rollback {{\n      action \"scale_deployment\"\n      \
             with {{ namespace, deployment, replicas: ${{ self.output.previous_replicas }} }}\n    }}\n  }}\n"
        );
    }
    s.push_str("}\n");
    s
}

fn bench(c: &mut Criterion) {
    let text = workflow();
    let file = parse(&text).unwrap_or_else(|d| panic!("{}", d.message));
    let ctx = CheckContext::default();
    let found = check(&file, &ctx);
    // Every tenth step's finding, and one for the number of steps (over the limit of 256: the
    // checker still checks every step).
    assert_eq!(found.len(), STEPS / 10 + 1);
    c.bench_function("check 2000 steps", |b| {
        b.iter(|| check(black_box(&file), &ctx))
    });
    let report = FileReport {
        source: SourceFile::new("big.wf", text.clone()),
        diagnostics: found,
    };
    c.bench_function("render 200 findings", |b| {
        b.iter(|| human(black_box(&report)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
