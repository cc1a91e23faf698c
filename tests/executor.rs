//! The executor against the embedded cluster: every action's effect on the objects, dry runs,
//! protected namespaces, error classes, resuming without repeating, redaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod executor {
    mod breadth;
    mod clock;
    mod controller;
    mod docs;
    mod moves;
    mod nodes;
    mod observe;
    mod rbac;
    mod resume;
    mod simulated;
    mod trust;
    mod workloads;
}

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::{Client, CustomResourceExt};
use kube::{Resource, ResourceExt};
use remedy::api::kubernetes_execution::{
    ActionCall, ErrorReason, ExecutionKind, ExecutionPhase, ExecutionResult, KubernetesExecution,
    KubernetesExecutionSpec,
};
use remedy::api::workflow_execution::{ObjectRef, WorkflowExecutionSpec};
use remedy::api::{
    LABEL_KIND, StepPhase, StepStatus, WorkflowExecution, WorkflowExecutionStatus, WorkflowPhase,
};
use remedy::catalog::{ActionCatalog, Effect};
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::executor::{Context, ExecutorConfig, reconcile};
use remedy::operator::sealing;
use remedy::plan::{
    ExecutionPlan, PlannedAction, PlannedStep, PlannedValue, RetryPolicy, StepStage,
};
use remedy::plan::{OnFailure, RollbackMode};
use remedy::seal::Keys;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The namespace the tests' targets and executions live in.
pub const NS: &str = "shop";

/// A cluster with the KubernetesExecution CRD and the `shop` namespace, and an executor context.
pub struct Env {
    /// The embedded cluster (kept alive for the test).
    pub cluster: EmbeddedCluster,
    /// A client of it.
    pub client: Client,
    /// The executor's context.
    pub ctx: Arc<Context>,
    /// The installation's keys (the tests play the workflow controller with them).
    pub keys: Keys,
}

/// A fresh environment.
pub async fn env() -> Env {
    let cluster = EmbeddedCluster::new(Config::default());
    let client = cluster.client();
    env_on(cluster, client.clone(), client).await
}

/// An environment on `cluster`: fixtures go through `client`, the executor uses `executor`.
pub async fn env_on(cluster: EmbeddedCluster, client: Client, executor: Client) -> Env {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [KubernetesExecution::crd(), WorkflowExecution::crd()] {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in [NS, OPERATOR_NS] {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({ "metadata": { "name": ns } })).unwrap(),
            )
            .await
            .unwrap();
    }
    let keys = remedy::seal::store::load_or_create(&client, OPERATOR_NS)
        .await
        .unwrap();
    let config = ExecutorConfig {
        poll_interval: Duration::from_millis(20),
        ..ExecutorConfig::default()
    };
    let ctx = Arc::new(Context::new(executor, config));
    Env {
        cluster,
        client,
        ctx,
        keys,
    }
}

/// The operator's namespace, where the sealing key lives.
pub const OPERATOR_NS: &str = "remedy-system";

impl Env {
    /// An `Api` in the test namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Creates an object from JSON in the test namespace (or cluster-wide for nodes).
    pub async fn create<K>(&self, api: &Api<K>, value: Value) -> K
    where
        K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(value).unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap()
    }

    /// Creates an execution of `action` with `params`.
    pub async fn execution(&self, name: &str, action: &str, params: Value) -> KubernetesExecution {
        self.execution_with(name, action, params, |_| {}).await
    }

    /// Creates an execution, letting `edit` change its spec first. The test plays the
    /// workflow controller: the execution belongs to a run of its own (`run-NAME`) whose
    /// pinned plan holds it, and carries the controller's sealed values and digest.
    pub async fn execution_with(
        &self,
        name: &str,
        action: &str,
        params: Value,
        edit: impl FnOnce(&mut KubernetesExecutionSpec),
    ) -> KubernetesExecution {
        let mut spec = KubernetesExecutionSpec {
            workflow_execution_ref: ObjectRef {
                name: format!("run-{name}"),
                namespace: Some(NS.into()),
            },
            step: "step".into(),
            attempt: 1,
            action: ActionCall {
                action_type: action.into(),
                parameters: params.as_object().cloned().unwrap_or_default(),
            },
            timeout: None,
            dry_run: false,
        };
        edit(&mut spec);
        let run = self.run_for(&spec, ExecutionKind::Step).await;
        let kex = self.signed(name, &run, spec, ExecutionKind::Step);
        self.api::<KubernetesExecution>()
            .create(&PostParams::default(), &kex)
            .await
            .unwrap()
    }

    /// A run (named by `spec.workflowExecutionRef`) whose pinned plan, sealed as the workflow
    /// controller seals it, holds `spec`'s step with its action and parameters: of `kind`'s
    /// stage (a `rollback` as the step's compensation), as many retries as `spec.attempt`
    /// needs, and the spec's dry run.
    pub async fn run_for(
        &self,
        spec: &KubernetesExecutionSpec,
        kind: ExecutionKind,
    ) -> WorkflowExecution {
        let name = &spec.workflow_execution_ref.name;
        let planned = PlannedAction {
            action_type: spec.action.action_type.clone(),
            with: spec
                .action
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), PlannedValue::Value(v.clone())))
                .collect(),
            timeout_ms: 300_000,
            retry: RetryPolicy {
                retries: spec.attempt.saturating_sub(1),
                ..RetryPolicy::default()
            },
        };
        let compensation = kind == ExecutionKind::Rollback;
        let step = PlannedStep {
            name: spec.step.clone(),
            stage: match kind {
                ExecutionKind::Verify => StepStage::Verify,
                ExecutionKind::Finally => StepStage::Finally,
                _ => StepStage::Main,
            },
            depends_on: Vec::new(),
            action: if compensation {
                PlannedAction {
                    action_type: "wait".into(),
                    with: BTreeMap::new(),
                    ..planned.clone()
                }
            } else {
                planned.clone()
            },
            effect: Effect::Reversible,
            when: None,
            on_failure: OnFailure::Rollback,
            rollback: compensation.then_some(planned),
        };
        // As the engine leaves the status when it starts this attempt: the one before recorded.
        let before = spec.attempt.saturating_sub(1);
        let status = if compensation {
            StepStatus {
                name: spec.step.clone(),
                phase: StepPhase::Succeeded,
                attempts: 1,
                rollback_attempts: before,
                ..StepStatus::default()
            }
        } else {
            StepStatus {
                name: spec.step.clone(),
                phase: StepPhase::Pending,
                attempts: before,
                ..StepStatus::default()
            }
        };
        self.run_with(name, vec![step], spec.dry_run).await;
        self.set_step(name, status).await
    }

    /// Records a step's status in the run `run`, as the engine does.
    pub async fn set_step(&self, run: &str, step: StepStatus) -> WorkflowExecution {
        let runs = self.api::<WorkflowExecution>();
        let mut current = runs.get(run).await.unwrap();
        let status = current.status.get_or_insert_with(Default::default);
        status.steps.retain(|s| s.name != step.name);
        status.steps.push(step);
        runs.replace_status(run, &PostParams::default(), &current)
            .await
            .unwrap()
    }

    /// A run `name` whose pinned plan (sealed as the workflow controller seals it) holds
    /// `steps`, each Pending in its status.
    pub async fn run_with(
        &self,
        name: &str,
        steps: Vec<PlannedStep>,
        dry_run: bool,
    ) -> WorkflowExecution {
        let runs = self.api::<WorkflowExecution>();
        let run = WorkflowExecution::new(
            name,
            WorkflowExecutionSpec {
                ai_analysis_ref: ObjectRef {
                    name: "ai".into(),
                    namespace: None,
                },
                ..WorkflowExecutionSpec::default()
            },
        );
        let mut run = runs.create(&PostParams::default(), &run).await.unwrap();
        let mut plan = ExecutionPlan {
            workflow: "t".into(),
            version: "1.0.0".into(),
            digest: "sha256:test".into(),
            timeout_ms: 3_600_000,
            max_parallel: 5,
            rollback: RollbackMode::Automatic,
            approval_required: false,
            dry_run,
            verify_within_ms: None,
            parameters: Default::default(),
            analysis: Default::default(),
            workflow_info: Default::default(),
            modules: BTreeMap::new(),
            steps,
        };
        let uid = run.uid().unwrap();
        sealing::seal_plan(&self.keys, &uid, &mut plan).unwrap();
        run.status = Some(WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Executing),
            plan: Some(serde_json::to_string(&plan).unwrap()),
            steps: plan
                .steps
                .iter()
                .map(|s| StepStatus {
                    name: s.name.clone(),
                    ..StepStatus::default()
                })
                .collect(),
            ..WorkflowExecutionStatus::default()
        });
        runs.replace_status(name, &PostParams::default(), &run)
            .await
            .unwrap()
    }

    /// The execution `name` of `spec` as the workflow controller creates it for `run`:
    /// controlled by the run, labelled with its kind, its credentials sealed, with the
    /// controller's digest.
    pub fn signed(
        &self,
        name: &str,
        run: &WorkflowExecution,
        spec: KubernetesExecutionSpec,
        kind: ExecutionKind,
    ) -> KubernetesExecution {
        let mut kex = KubernetesExecution::new(name, spec);
        kex.metadata.namespace = Some(NS.into());
        kex.metadata.labels = Some(BTreeMap::from([(
            LABEL_KIND.to_string(),
            kind.as_str().to_string(),
        )]));
        kex.metadata.owner_references = Some(vec![run.controller_owner_ref(&()).unwrap()]);
        let mut secrets = BTreeSet::new();
        remedy::redact::collect_secrets(
            &Value::Object(kex.spec.action.parameters.clone()),
            &mut secrets,
        );
        sealing::seal_execution(&self.keys, &run.uid().unwrap(), &mut kex, &secrets).unwrap();
        kex
    }

    /// Reconciles the execution once; answers the action and the execution as it is now.
    pub async fn reconcile(&self, name: &str) -> (Action, KubernetesExecution) {
        let api = self.api::<KubernetesExecution>();
        let kex = api.get(name).await.unwrap();
        let action = reconcile(Arc::new(kex), self.ctx.clone()).await.unwrap();
        (action, api.get(name).await.unwrap())
    }

    /// Reconciles until the execution is finished (at most 200 passes); answers it.
    pub async fn run(&self, name: &str) -> KubernetesExecution {
        for _ in 0..200 {
            let (_, kex) = self.reconcile(name).await;
            if finished(&kex) {
                return kex;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("execution {name} did not finish")
    }

    /// Creates an execution and runs it to the end; answers its result.
    pub async fn perform(&self, name: &str, action: &str, params: Value) -> ExecutionResult {
        self.execution(name, action, params).await;
        let r = result(&self.run(name).await);
        // Outputs hold exactly what the catalog documents (or less, when it failed early).
        if let Some(spec) = ActionCatalog::builtin().get(action) {
            for key in r.output.keys() {
                assert!(
                    spec.outputs.iter().any(|o| o.name == key),
                    "{action} wrote output `{key}`, which the catalog does not list"
                );
            }
            if r.success {
                let missing: Vec<&str> = spec
                    .outputs
                    .iter()
                    .map(|o| o.name)
                    .filter(|k| !r.output.contains_key(*k))
                    .collect();
                assert!(missing.is_empty(), "{action} left out outputs {missing:?}");
            }
        }
        r
    }

    /// Creates namespace `ns` holding a copy of the sealing key, for an executor whose
    /// operator namespace it is.
    pub async fn share_key_with(&self, ns: &str) {
        use k8s_openapi::api::core::v1::Secret;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        self.create(&namespaces, json!({ "metadata": { "name": ns } }))
            .await;
        let from: Api<Secret> = Api::namespaced(self.client.clone(), OPERATOR_NS);
        let mut key = from.get(remedy::seal::store::KEY_SECRET).await.unwrap();
        key.metadata = kube::api::ObjectMeta {
            name: key.metadata.name.clone(),
            ..Default::default()
        };
        let to: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        to.create(&PostParams::default(), &key).await.unwrap();
    }

    /// A Deployment `name` with `replicas`, one container `app` with a 512Mi memory limit.
    pub async fn deployment(&self, name: &str, replicas: i32) -> Deployment {
        self.create(
            &self.api::<Deployment>(),
            json!({
                "metadata": { "name": name, "annotations": { "deployment.kubernetes.io/revision": "1" } },
                "spec": {
                    "replicas": replicas,
                    "selector": { "matchLabels": { "app": name } },
                    "template": {
                        "metadata": { "labels": { "app": name } },
                        "spec": { "containers": [ {
                            "name": "app", "image": "shop:1",
                            "resources": { "limits": { "memory": "512Mi", "cpu": "500m" }, "requests": { "memory": "256Mi" } }
                        } ] }
                    }
                }
            }),
        )
        .await
    }
}

/// True when the execution is Succeeded or Failed.
pub fn finished(kex: &KubernetesExecution) -> bool {
    matches!(
        phase(kex),
        Some(ExecutionPhase::Succeeded | ExecutionPhase::Failed)
    )
}

/// The execution's phase.
pub fn phase(kex: &KubernetesExecution) -> Option<ExecutionPhase> {
    kex.status.as_ref().and_then(|s| s.phase)
}

/// The execution's result (empty when there is none).
pub fn result(kex: &KubernetesExecution) -> ExecutionResult {
    kex.status
        .as_ref()
        .and_then(|s| s.result.clone())
        .unwrap_or_default()
}

/// Asserts a successful result; answers it.
pub fn succeeded(r: ExecutionResult) -> ExecutionResult {
    assert!(r.success, "expected success, got {r:?}");
    assert_eq!(r.reason, None);
    r
}

/// Asserts a failed result with `reason`; answers its message.
pub fn failed(r: ExecutionResult, reason: ErrorReason) -> String {
    assert!(!r.success, "expected failure, got {r:?}");
    assert_eq!(r.reason, Some(reason), "{}", r.error);
    r.error
}

/// The `change` strings of a result, as `Kind name: change`.
pub fn changes(r: &ExecutionResult) -> Vec<String> {
    r.resources_affected
        .iter()
        .map(|c| format!("{} {}: {}", c.kind, c.name, c.change))
        .collect()
}

/// Every object's resourceVersion, by kind/name, except the executions themselves.
pub async fn snapshot(env: &Env) -> Vec<(String, String)> {
    use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, PersistentVolumeClaim, Pod};
    use kube::ResourceExt;
    use kube::api::ListParams;
    fn rvs<K: kube::Resource>(kind: &str, items: Vec<K>) -> Vec<(String, String)> {
        items
            .iter()
            .map(|o| {
                (
                    format!("{kind}/{}", o.name_any()),
                    o.resource_version().unwrap_or_default(),
                )
            })
            .collect()
    }
    let lp = ListParams::default();
    let mut out = Vec::new();
    out.extend(rvs(
        "deployment",
        env.api::<Deployment>().list(&lp).await.unwrap().items,
    ));
    out.extend(rvs("pod", env.api::<Pod>().list(&lp).await.unwrap().items));
    out.extend(rvs(
        "replicaset",
        env.api::<ReplicaSet>().list(&lp).await.unwrap().items,
    ));
    out.extend(rvs(
        "statefulset",
        env.api::<StatefulSet>().list(&lp).await.unwrap().items,
    ));
    out.extend(rvs(
        "configmap",
        env.api::<ConfigMap>().list(&lp).await.unwrap().items,
    ));
    out.extend(rvs(
        "pvc",
        env.api::<PersistentVolumeClaim>()
            .list(&lp)
            .await
            .unwrap()
            .items,
    ));
    out.extend(rvs(
        "hpa",
        env.api::<HorizontalPodAutoscaler>()
            .list(&lp)
            .await
            .unwrap()
            .items,
    ));
    out.extend(rvs(
        "event",
        env.api::<Event>().list(&lp).await.unwrap().items,
    ));
    let nodes: Api<Node> = Api::all(env.client.clone());
    out.extend(rvs("node", nodes.list(&lp).await.unwrap().items));
    out
}
