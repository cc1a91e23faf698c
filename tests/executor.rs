//! The executor against the embedded cluster: every action's effect on the objects, dry runs,
//! protected namespaces, error classes, resuming without repeating, redaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod executor {
    mod clock;
    mod controller;
    mod docs;
    mod nodes;
    mod observe;
    mod rbac;
    mod resume;
    mod simulated;
    mod workloads;
}

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::{Client, CustomResourceExt};
use remedy::api::kubernetes_execution::{
    ActionCall, ErrorReason, ExecutionPhase, ExecutionResult, KubernetesExecution,
    KubernetesExecutionSpec,
};
use remedy::api::workflow_execution::ObjectRef;
use remedy::catalog::ActionCatalog;
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::executor::{Context, ExecutorConfig, reconcile};
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
    crds.create(&PostParams::default(), &KubernetesExecution::crd())
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": NS } })).unwrap(),
        )
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
    }
}

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

    /// Creates an execution, letting `edit` change its spec first.
    pub async fn execution_with(
        &self,
        name: &str,
        action: &str,
        params: Value,
        edit: impl FnOnce(&mut KubernetesExecutionSpec),
    ) -> KubernetesExecution {
        let mut spec = KubernetesExecutionSpec {
            workflow_execution_ref: ObjectRef {
                name: "wfe-a".into(),
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
        let kex = KubernetesExecution::new(name, spec);
        self.api::<KubernetesExecution>()
            .create(&PostParams::default(), &kex)
            .await
            .unwrap()
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
