//! The workflow controller end to end on the embedded cluster: one four-step run (two main
//! steps, a verify step, a finally step) from creation to Completed, with an instant test
//! executor; ten such runs at once; and one run of a template at the step limit (256 steps
//! one after another: a 1,000-step run took 11.5 s before templates were bounded).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remedy::api::{AIAnalysis, KubernetesExecution, WorkflowExecution, WorkflowPhase};
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::operator::OperatorConfig;
use serde_json::json;

const TEMPLATE: &str = r#"workflow "bench" version "1.0.0" {
  param namespace: string = "shop"
  param deployment: string = "web"
  step scale_out {
    action "scale_deployment"
    with { namespace, deployment, replicas: 3 }
    rollback { action "scale_deployment" with { namespace, deployment, replicas: 2 } }
  }
  step raise_memory {
    action "increase_resources"
    with { namespace, deployment, memory: "1Gi" }
    rollback { action "rollback_deployment" with { namespace, deployment } }
  }
  verify { step healthy { action "verify_deployment" with { namespace, deployment } } }
  finally { step tell { action "notify_only" with { message: "done" } } }
}
"#;

/// A template at the step limit (`check::rules::MAX_STEPS`), each step after the one before.
fn longest_template() -> String {
    let steps: String = (0..remedy::check::rules::MAX_STEPS)
        .map(|i| format!("  step s{i} {{ action \"notify_only\" with {{ message: \"{i}\" }} }}\n"))
        .collect();
    format!("workflow \"longest\" version \"1.0.0\" {{\n{steps}}}\n")
}

/// Marks every new execution Succeeded.
async fn executor(client: Client) {
    let api: Api<KubernetesExecution> = Api::namespaced(client, "shop");
    loop {
        for kex in api.list(&ListParams::default()).await.unwrap().items {
            if kex.status.is_some() {
                continue;
            }
            let now = jiff::Timestamp::now().to_string();
            let status = json!({ "status": {
                "phase": "Succeeded", "startedAt": now, "completedAt": now,
                "result": { "success": true, "output": {} }
            }});
            let _ = api
                .patch_status(
                    &kex.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&status),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn setup(cluster: &EmbeddedCluster, templates: &std::path::Path) {
    let client = cluster.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in remedy::api::crd::all() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    // The runs', and the operator's (where it keeps its sealing key).
    for name in ["shop", "remedy-system"] {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let analyses: Api<AIAnalysis> = Api::namespaced(client.clone(), "shop");
    let ana: AIAnalysis = serde_json::from_value(json!({
        "metadata": { "name": "ai" }, "spec": {}
    }))
    .unwrap();
    analyses.create(&PostParams::default(), &ana).await.unwrap();
    let status = json!({ "status": {
        "phase": "Completed", "recommendedWorkflow": { "name": "bench" },
    }});
    analyses
        .patch_status("ai", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    tokio::spawn(executor(client.clone()));
    let mut config = OperatorConfig::new(templates);
    config.wait_requeue = Duration::from_millis(20);
    tokio::spawn(remedy::operator::run(
        client,
        config,
        std::future::pending(),
    ));
}

/// Creates `count` runs and waits until all are Completed.
async fn runs(client: &Client, n: &AtomicU64, count: usize) {
    runs_of(client, n, count, None).await;
}

/// Creates `count` runs (of `workflow`, or the analysis's) and waits until all are Completed.
async fn runs_of(client: &Client, n: &AtomicU64, count: usize, workflow: Option<&str>) {
    let api: Api<WorkflowExecution> = Api::namespaced(client.clone(), "shop");
    let mut names = Vec::new();
    for _ in 0..count {
        let name = format!("run-{}", n.fetch_add(1, Ordering::Relaxed));
        // The analysis names no target: runs do not wait for each other.
        let mut spec = json!({ "aiAnalysisRef": { "name": "ai" } });
        if let Some(workflow) = workflow {
            spec["workflowRef"] = json!({ "name": workflow });
        }
        let wfe: WorkflowExecution = serde_json::from_value(json!({
            "metadata": { "name": name }, "spec": spec
        }))
        .unwrap();
        api.create(&PostParams::default(), &wfe).await.unwrap();
        names.push(name);
    }
    for name in names {
        loop {
            let phase = api.get(&name).await.unwrap().status.and_then(|s| s.phase);
            if phase == Some(WorkflowPhase::Completed) {
                break;
            }
            assert!(
                !phase.is_some_and(WorkflowPhase::is_terminal),
                "{name}: {phase:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bench.wf"), TEMPLATE).unwrap();
    std::fs::write(dir.path().join("longest.wf"), longest_template()).unwrap();
    let cluster = rt.block_on(async { EmbeddedCluster::new(Config::default()) });
    rt.block_on(setup(&cluster, dir.path()));
    let client = rt.block_on(async { cluster.client() });
    let n = AtomicU64::new(0);
    let mut group = c.benchmark_group("operator");
    group.sample_size(10);
    group.bench_function("one_run_four_steps", |b| {
        b.iter(|| rt.block_on(runs(&client, &n, 1)))
    });
    group.bench_function("ten_runs_at_once", |b| {
        b.iter(|| rt.block_on(runs(&client, &n, 10)))
    });
    // The test executor lists every execution of the namespace: clear them between runs so
    // that each run of 256 steps is measured alike.
    let executions: Api<KubernetesExecution> = Api::namespaced(client.clone(), "shop");
    rt.block_on(executions.delete_collection(&Default::default(), &ListParams::default()))
        .unwrap();
    group.bench_function("one_run_256_steps", |b| {
        b.iter(|| {
            rt.block_on(async {
                runs_of(&client, &n, 1, Some("longest")).await;
                executions
                    .delete_collection(&Default::default(), &ListParams::default())
                    .await
                    .unwrap();
            })
        })
    });
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
