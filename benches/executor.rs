//! One KubernetesExecution end to end on the embedded cluster: the reconcile of a created
//! scale_deployment, verified (its digest, its run, the run's pinned plan and status),
//! checked, recorded as Running, applied through the scale subresource and finished (five
//! API round trips in-process; the run's status and the execution are made beforehand, as
//! the workflow controller makes them, and not measured). Also the redaction of a typical
//! result.
//!
//! `cargo bench --bench executor` (executions/s is 1/time).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResourceExt, Resource, ResourceExt};
use remedy::api::kubernetes_execution::{ActionCall, KubernetesExecution, KubernetesExecutionSpec};
use remedy::api::workflow_execution::{ObjectRef, WorkflowExecutionSpec};
use remedy::api::{
    LABEL_KIND, StepStatus, WorkflowExecution, WorkflowExecutionStatus, WorkflowPhase,
};
use remedy::catalog::Effect;
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::executor::{Context, ExecutorConfig, reconcile};
use remedy::operator::sealing;
use remedy::plan::{
    ExecutionPlan, PlannedAction, PlannedStep, PlannedValue, RetryPolicy, StepStage,
};
use remedy::plan::{OnFailure, RollbackMode};
use remedy::redact::redact_value;
use remedy::seal::Keys;
use serde_json::json;

/// The cluster as the workflow controller leaves it: CRDs, namespaces, the sealing key, the
/// target, and the run `wfe-a` whose plan scales `web` (to a count decided at run time).
async fn setup(client: &Client) -> Result<(Keys, WorkflowExecution), Box<dyn std::error::Error>> {
    let pp = PostParams::default();
    for crd in [KubernetesExecution::crd(), WorkflowExecution::crd()] {
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&pp, &crd)
            .await?;
    }
    for name in ["shop", "remedy-system"] {
        let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": name } }))?;
        Api::<Namespace>::all(client.clone())
            .create(&pp, &ns)
            .await?;
    }
    let keys = remedy::seal::store::load_or_create(client, "remedy-system").await?;
    let d: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": { "replicas": 1, "selector": { "matchLabels": { "app": "web" } },
                  "template": { "metadata": { "labels": { "app": "web" } },
                                "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] } } }
    }))?;
    Api::<Deployment>::namespaced(client.clone(), "shop")
        .create(&pp, &d)
        .await?;
    let runs: Api<WorkflowExecution> = Api::namespaced(client.clone(), "shop");
    let run = WorkflowExecution::new(
        "wfe-a",
        WorkflowExecutionSpec {
            ai_analysis_ref: ObjectRef {
                name: "ai".into(),
                namespace: None,
            },
            ..WorkflowExecutionSpec::default()
        },
    );
    let mut run = runs.create(&pp, &run).await?;
    let with = BTreeMap::from([
        ("namespace".to_string(), PlannedValue::Value(json!("shop"))),
        ("deployment".to_string(), PlannedValue::Value(json!("web"))),
        (
            "replicas".to_string(),
            PlannedValue::Deferred("steps.observe.output.replicas".into()),
        ),
    ]);
    let plan = ExecutionPlan {
        workflow: "bench".into(),
        version: "1.0.0".into(),
        digest: "sha256:bench".into(),
        timeout_ms: 3_600_000,
        max_parallel: 5,
        rollback: RollbackMode::Automatic,
        approval_required: false,
        dry_run: false,
        verify_within_ms: None,
        parameters: Default::default(),
        analysis: Default::default(),
        workflow_info: Default::default(),
        modules: BTreeMap::new(),
        steps: vec![PlannedStep {
            name: "scale".into(),
            stage: StepStage::Main,
            depends_on: vec![],
            action: PlannedAction {
                action_type: "scale_deployment".into(),
                with,
                timeout_ms: 300_000,
                retry: RetryPolicy {
                    retries: u32::MAX - 1,
                    ..RetryPolicy::default()
                },
            },
            effect: Effect::Reversible,
            when: None,
            on_failure: OnFailure::Rollback,
            rollback: None,
        }],
    };
    run.status = Some(WorkflowExecutionStatus {
        phase: Some(WorkflowPhase::Executing),
        plan: Some(serde_json::to_string(&plan)?),
        ..WorkflowExecutionStatus::default()
    });
    let run = runs.replace_status("wfe-a", &pp, &run).await?;
    Ok((keys, run))
}

/// Records attempt `i` of the run's step as the last one, as the engine does before the next.
async fn recorded(runs: &Api<WorkflowExecution>, i: u64) -> Option<()> {
    let mut run = runs.get("wfe-a").await.ok()?;
    run.status.as_mut()?.steps = vec![StepStatus {
        name: "scale".into(),
        attempts: u32::try_from(i % 1_000_000).ok()?,
        ..StepStatus::default()
    }];
    runs.replace_status("wfe-a", &PostParams::default(), &run)
        .await
        .ok()?;
    Some(())
}

/// Attempt `i + 1` of the run's step, as the workflow controller creates it (owned, signed).
fn execution(keys: &Keys, run: &WorkflowExecution, i: u64) -> Option<KubernetesExecution> {
    let params = json!({ "namespace": "shop", "deployment": "web", "replicas": i % 5 + 1 });
    let mut kex = KubernetesExecution::new(
        &format!("wfe-a-scale-{i}"),
        KubernetesExecutionSpec {
            workflow_execution_ref: ObjectRef {
                name: "wfe-a".into(),
                namespace: None,
            },
            step: "scale".into(),
            attempt: u32::try_from(i % 1_000_000 + 1).ok()?,
            action: ActionCall {
                action_type: "scale_deployment".into(),
                parameters: params.as_object().cloned().unwrap_or_default(),
            },
            timeout: None,
            dry_run: false,
        },
    );
    kex.metadata.namespace = Some("shop".into());
    kex.metadata.labels = Some(BTreeMap::from([(
        LABEL_KIND.to_string(),
        "step".to_string(),
    )]));
    kex.metadata.owner_references = Some(vec![run.controller_owner_ref(&())?]);
    sealing::seal_execution(keys, &run.uid()?, &mut kex, &Default::default()).ok()?;
    Some(kex)
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
    let (keys, run) = match rt.block_on(setup(&client)) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("setup failed: {e}");
            return;
        }
    };
    let ctx = Arc::new(Context::new(client.clone(), ExecutorConfig::default()));
    let executions: Api<KubernetesExecution> = Api::namespaced(client.clone(), "shop");
    // What is measured is an execution performed, not one refused.
    let runs: Api<WorkflowExecution> = Api::namespaced(client.clone(), "shop");
    let performed = rt.block_on(async {
        recorded(&runs, 0).await?;
        let kex = execution(&keys, &run, 0)?;
        let kex = executions.create(&PostParams::default(), &kex).await.ok()?;
        reconcile(Arc::new(kex), ctx.clone()).await.ok()?;
        let done = executions.get("wfe-a-scale-0").await.ok()?;
        done.status?.result.map(|r| (r.success, r.error))
    });
    if performed.as_ref().is_none_or(|(ok, _)| !ok) {
        eprintln!("the execution was not performed: {performed:?}");
        return;
    }
    let mut i = 0u64;
    c.bench_function("executor/scale_deployment end to end", |b| {
        b.iter_batched(
            || {
                i += 1;
                rt.block_on(async {
                    recorded(&runs, i).await?;
                    let kex = execution(&keys, &run, i)?;
                    executions.create(&PostParams::default(), &kex).await.ok()
                })
            },
            |kex| {
                if let Some(kex) = kex {
                    black_box(rt.block_on(reconcile(Arc::new(kex), ctx.clone())).is_ok());
                }
            },
            BatchSize::PerIteration,
        )
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
