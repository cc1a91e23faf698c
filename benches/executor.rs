//! One KubernetesExecution end to end on the embedded cluster: a scale_deployment checked,
//! recorded as Running, applied through the scale subresource and finished, in one reconcile
//! (five API round trips in-process). Also the redaction of a typical result.
//!
//! `cargo bench --bench executor` (executions/s is 1/time).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResourceExt};
use remedy::api::kubernetes_execution::{ActionCall, KubernetesExecution, KubernetesExecutionSpec};
use remedy::api::workflow_execution::ObjectRef;
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::executor::redact::redact_value;
use remedy::executor::{Context, ExecutorConfig, reconcile};
use serde_json::json;

async fn setup(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    let pp = PostParams::default();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&pp, &KubernetesExecution::crd())
        .await?;
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": "shop" } }))?;
    Api::<Namespace>::all(client.clone())
        .create(&pp, &ns)
        .await?;
    let d: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": { "replicas": 1, "selector": { "matchLabels": { "app": "web" } },
                  "template": { "metadata": { "labels": { "app": "web" } },
                                "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] } } }
    }))?;
    Api::<Deployment>::namespaced(client.clone(), "shop")
        .create(&pp, &d)
        .await?;
    Ok(())
}

fn execution(i: u64) -> KubernetesExecution {
    let params = json!({ "namespace": "shop", "deployment": "web", "replicas": i % 5 + 1 });
    KubernetesExecution::new(
        &format!("wfe-a-scale-{i}"),
        KubernetesExecutionSpec {
            workflow_execution_ref: ObjectRef {
                name: "wfe-a".into(),
                namespace: None,
            },
            step: "scale".into(),
            attempt: 1,
            action: ActionCall {
                action_type: "scale_deployment".into(),
                parameters: params.as_object().cloned().unwrap_or_default(),
            },
            timeout: None,
            dry_run: false,
        },
    )
}

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let cluster = EmbeddedCluster::new(Config::default());
    let client = rt.block_on(async { cluster.client() });
    if let Err(e) = rt.block_on(setup(&client)) {
        eprintln!("setup failed: {e}");
        return;
    }
    let ctx = Arc::new(Context::new(client.clone(), ExecutorConfig::default()));
    let executions: Api<KubernetesExecution> = Api::namespaced(client, "shop");
    let mut i = 0u64;
    c.bench_function("executor/scale_deployment end to end", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(async {
                if let Ok(kex) = executions
                    .create(&PostParams::default(), &execution(i))
                    .await
                {
                    black_box(reconcile(Arc::new(kex), ctx.clone()).await.is_ok());
                }
            })
        })
    });
    let output = json!({
        "previous_data": { "db_password": "hunter2", "mode": "fast", "url": "postgres://app:pw@db:5432/shop" },
        "summary": "Deployment shop/web: 3 desired, 2 ready, 3 updated, 2 available; Available=False (MinimumReplicasUnavailable)",
        "events": ["Warning BackOff: Back-off restarting failed container (x7)", "Normal Pulled: image pulled"]
    });
    c.bench_function("executor/redact a result output", |b| {
        b.iter(|| {
            let mut v = output.clone();
            redact_value(&mut v);
            black_box(v)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
