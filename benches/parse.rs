//! Parsing a generated 2,000-step template: the `.wf` parser, then parse + check (every lint
//! rule, built-in action catalog), beside serde-saphyr reading the same workflow written as
//! YAML, in the same run; and the largest template of `workflows/`.
//!
//! `cargo bench --bench parse` (criterion reports time and MiB/s; templates/s is 1/time).

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

use remedy::check::{CheckContext, check};
use remedy::dsl::parse;
use remedy::graph::StepGraph;

const STEPS: usize = 2_000;

/// The workflow as YAML: the same items, the shape a YAML-based engine would use.
#[derive(Debug, Serialize, Deserialize)]
struct YamlWorkflow {
    name: String,
    version: String,
    description: String,
    timeout: String,
    max_parallel: u64,
    rollback: String,
    params: Vec<YamlParam>,
    steps: Vec<YamlStep>,
    verify: Vec<YamlStep>,
    finally: Vec<YamlStep>,
}

#[derive(Debug, Serialize, Deserialize)]
struct YamlParam {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    default: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct YamlStep {
    name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    after: Vec<String>,
    action: String,
    with: BTreeMap<String, String>,
    timeout: Option<String>,
    retry: Option<YamlRetry>,
    when: Option<String>,
    on_failure: Option<String>,
    rollback: Option<YamlRollback>,
}

#[derive(Debug, Serialize, Deserialize)]
struct YamlRetry {
    count: u64,
    backoff: String,
    max: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct YamlRollback {
    action: String,
    with: BTreeMap<String, String>,
}

/// The same 2,000-step workflow as `.wf` text and as a YAML document.
fn generate() -> (String, String) {
    let mut wf = String::from(
        "workflow \"big\" version \"1.0.0\" {\n  description \"a generated workflow\"\n  timeout 2h\n  max_parallel 5\n  rollback automatic\n\n  param namespace: string = ${ analysis.target.namespace }\n  param deployment: string = ${ analysis.target.name }\n",
    );
    let mut steps = Vec::new();
    for i in 0..STEPS {
        let after = if i % 10 == 5 {
            vec![format!("s{}", i - 3)]
        } else {
            Vec::new()
        };
        let mut with = BTreeMap::new();
        with.insert("namespace".to_string(), "${ namespace }".to_string());
        with.insert("deployment".to_string(), format!("web-{i}"));
        with.insert(
            "replicas".to_string(),
            "${ analysis.target.replicas + 1 }".to_string(),
        );
        let step = YamlStep {
            name: format!("s{i}"),
            after,
            action: "scale_deployment".to_string(),
            with,
            timeout: Some("2m".to_string()),
            retry: Some(YamlRetry {
                count: 3,
                backoff: "5s".to_string(),
                max: "1m".to_string(),
            }),
            when: (i % 3 == 0).then(|| "${ analysis.confidence >= 0.8 }".to_string()),
            on_failure: Some("rollback".to_string()),
            rollback: Some(YamlRollback {
                action: "scale_deployment".to_string(),
                with: BTreeMap::from([
                    ("namespace".to_string(), "${ namespace }".to_string()),
                    ("deployment".to_string(), format!("web-{i}")),
                    (
                        "replicas".to_string(),
                        "${ self.output.previous_replicas }".to_string(),
                    ),
                ]),
            }),
        };
        wf.push_str(&format!("\n  step s{i}"));
        if !step.after.is_empty() {
            wf.push_str(&format!(" after {}", step.after.join(", ")));
        }
        wf.push_str(&format!(
            " {{\n    action \"scale_deployment\"\n    with {{ namespace, deployment: \"web-{i}\", replicas: ${{ analysis.target.replicas + 1 }} }}\n    timeout 2m\n    retry 3 backoff 5s max 1m\n"
        ));
        if let Some(when) = &step.when {
            wf.push_str(&format!("    when {when}\n"));
        }
        wf.push_str(&format!("    on_failure rollback\n    rollback {{\n      action \"scale_deployment\"\n      with {{ namespace, deployment: \"web-{i}\", replicas: ${{ self.output.previous_replicas }} }}\n    }}\n  }}\n"));
        steps.push(step);
    }
    wf.push_str("\n  verify within 10m {\n    step healthy {\n      action \"verify_deployment\"\n      with { namespace, deployment }\n    }\n  }\n}\n");
    let verify = YamlStep {
        name: "healthy".to_string(),
        after: Vec::new(),
        action: "verify_deployment".to_string(),
        with: BTreeMap::from([
            ("namespace".to_string(), "${ namespace }".to_string()),
            ("deployment".to_string(), "${ deployment }".to_string()),
        ]),
        timeout: None,
        retry: None,
        when: None,
        on_failure: None,
        rollback: None,
    };
    let yaml = YamlWorkflow {
        name: "big".to_string(),
        version: "1.0.0".to_string(),
        description: "a generated workflow".to_string(),
        timeout: "2h".to_string(),
        max_parallel: 5,
        rollback: "automatic".to_string(),
        params: vec![
            YamlParam {
                name: "namespace".to_string(),
                ty: "string".to_string(),
                default: Some("${ analysis.target.namespace }".to_string()),
            },
            YamlParam {
                name: "deployment".to_string(),
                ty: "string".to_string(),
                default: Some("${ analysis.target.name }".to_string()),
            },
        ],
        steps,
        verify: vec![verify],
        finally: Vec::new(),
    };
    let yaml = serde_saphyr::to_string(&yaml).unwrap_or_default();
    (wf, yaml)
}

fn bench(c: &mut Criterion) {
    let (wf, yaml) = generate();
    // Both inputs must hold the whole workflow, or the comparison means nothing.
    let file = parse(&wf).unwrap_or_else(|d| panic!("generated .wf does not parse: {}", d.message));
    assert_eq!(file.workflow.all_steps().count(), STEPS + 1);
    let back: YamlWorkflow =
        serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("generated YAML: {e}"));
    assert_eq!(back.steps.len() + back.verify.len(), STEPS + 1);

    let ctx = CheckContext::default();
    // The generated template is clean but for its size (more steps than a template may have,
    // to measure throughput): the check runs every rule and finds only that.
    let found = check(&file, &ctx);
    assert!(
        found.len() == 1 && found[0].code == "E0128",
        "{:?}",
        found.first()
    );

    let mut g = c.benchmark_group("parse_2000_steps");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(wf.len() as u64));
    g.bench_function("wf_parse", |b| b.iter(|| parse(black_box(&wf))));
    g.bench_function("wf_parse_and_graph", |b| {
        b.iter(|| parse(black_box(&wf)).map(|f| StepGraph::build(&f.workflow).nodes().len()))
    });
    g.bench_function("wf_parse_and_check", |b| {
        b.iter(|| parse(black_box(&wf)).map(|f| check(&f, &ctx).len()))
    });
    g.throughput(Throughput::Bytes(yaml.len() as u64));
    g.bench_function("yaml_serde_saphyr", |b| {
        b.iter(|| serde_saphyr::from_str::<YamlWorkflow>(black_box(&yaml)))
    });
    g.finish();

    // The largest template of the library: the size a real run parses.
    let (path, text) = largest_template();
    let file = parse(&text).unwrap_or_else(|d| panic!("{path}: {}", d.message));
    assert!(file.workflow.all_steps().count() > 1);
    let mut g = c.benchmark_group("largest_template");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("wf_parse", |b| b.iter(|| parse(black_box(&text))));
    g.bench_function("wf_parse_and_check", |b| {
        b.iter(|| parse(black_box(&text)).map(|f| check(&f, &ctx).len()))
    });
    g.finish();
}

/// The largest `.wf` file of `workflows/`, with its path.
fn largest_template() -> (String, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/workflows");
    let mut best = (String::new(), String::new());
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{dir}: {e}")).path();
        if path.extension().is_some_and(|e| e == "wf") {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
            if text.len() > best.1.len() {
                best = (path.display().to_string(), text);
            }
        }
    }
    best
}

criterion_group!(benches, bench);
criterion_main!(benches);
