//! The workflow controller on the embedded cluster, through the real controller and a scripted
//! test executor that completes KubernetesExecutions as each test says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator {
    mod control;
    mod deploy;
    mod lifecycle;
    mod names;
    mod resilience;
    mod safety;
    mod scripts;
    mod trust;
}

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use remedy::api::kubernetes_execution::{ErrorReason, ExecutionResult};
use remedy::api::{
    AIAnalysis, ExecutionPhase, KubernetesExecution, KubernetesExecutionStatus, WorkflowExecution,
    WorkflowExecutionStatus, WorkflowPhase,
};
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::operator::OperatorConfig;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The namespace the tests' targets live in.
pub const NS: &str = "shop";

/// A cluster with the CRDs installed, the `shop` namespace, a template directory, the
/// scripted executor and (once started) the operator.
pub struct Harness {
    /// The embedded cluster.
    pub cluster: EmbeddedCluster,
    /// A client of it.
    pub client: Client,
    /// The template directory.
    pub templates: tempfile::TempDir,
    /// What the executor answers.
    pub script: Script,
    operator: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
    executor: tokio::task::JoinHandle<()>,
}

/// The scripted outcome of one execution attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Succeeds with this output.
    Ok(Value),
    /// Fails with this message.
    Fail(&'static str),
    /// Never finishes (the engine's timeout must end it).
    Hang,
}

/// Outcomes by execution name (`<wfe>-<step>-<attempt>` etc.); unlisted executions succeed
/// with an empty output.
#[derive(Debug, Clone, Default)]
pub struct Script(Arc<Mutex<HashMap<String, Outcome>>>);

impl Script {
    /// Scripts the execution `name`.
    pub fn set(&self, name: &str, outcome: Outcome) {
        self.0.lock().unwrap().insert(name.to_string(), outcome);
    }

    fn get(&self, name: &str) -> Outcome {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or(Outcome::Ok(json!({})))
    }
}

impl Harness {
    /// A cluster with CRDs, namespaces and the executor running; the operator not yet.
    pub async fn new() -> Harness {
        let cluster = EmbeddedCluster::new(Config::default());
        let client = cluster.client();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in remedy::api::crd::all() {
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for ns in [NS, "remedy-system"] {
            let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
            namespaces
                .create(&PostParams::default(), &obj)
                .await
                .unwrap();
        }
        let script = Script::default();
        let executor = tokio::spawn(run_executor(client.clone(), script.clone()));
        Harness {
            cluster,
            client,
            templates: tempfile::tempdir().unwrap(),
            script,
            operator: None,
            executor,
        }
    }

    /// Writes a template file.
    pub fn template(&self, file: &str, source: &str) {
        std::fs::write(self.templates.path().join(file), source).unwrap();
    }

    /// The operator configuration the tests use: fast polls and waits.
    pub fn config(&self) -> OperatorConfig {
        let mut config = OperatorConfig::new(self.templates.path());
        config.template_poll = Duration::from_millis(50);
        config.wait_requeue = Duration::from_millis(100);
        config
    }

    /// Starts the operator.
    pub fn start(&mut self) {
        let config = self.config();
        self.start_with(config);
    }

    /// Starts the operator with this configuration.
    pub fn start_with(&mut self, config: OperatorConfig) {
        let (tx, mut rx) = watch::channel(false);
        let client = self.client.clone();
        let handle = tokio::spawn(async move {
            remedy::operator::run(client, config, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await;
        });
        self.operator = Some((tx, handle));
    }

    /// Stops the operator and waits until it has stopped.
    pub async fn stop(&mut self) {
        if let Some((tx, handle)) = self.operator.take() {
            tx.send(true).unwrap();
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// Creates a Completed AIAnalysis recommending `workflow`, targeting Deployment `web`.
    pub async fn analysis(&self, name: &str, workflow: &str) {
        self.analysis_with(
            name,
            json!({
                "phase": "Completed",
                "recommendedWorkflow": { "name": workflow },
                "targetResource": { "kind": "Deployment", "name": "web", "namespace": NS },
                "confidence": 0.9,
                "metrics": { "memory_limit": "512Mi", "replicas": 2 },
            }),
        )
        .await;
    }

    /// Creates an AIAnalysis with this status.
    pub async fn analysis_with(&self, name: &str, status: Value) {
        let api: Api<AIAnalysis> = Api::namespaced(self.client.clone(), NS);
        let obj: AIAnalysis = serde_json::from_value(json!({
            "apiVersion": "aianalysis.kubernaut.io/v1alpha1", "kind": "AIAnalysis",
            "metadata": { "name": name }, "spec": {}
        }))
        .unwrap();
        let created = api.create(&PostParams::default(), &obj).await.unwrap();
        self.set_analysis_status(&created.name_any(), status).await;
    }

    /// Replaces an AIAnalysis's status.
    pub async fn set_analysis_status(&self, name: &str, status: Value) {
        let api: Api<AIAnalysis> = Api::namespaced(self.client.clone(), NS);
        let patch = json!({ "status": status });
        api.patch_status(name, &Default::default(), &kube::api::Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// Creates a WorkflowExecution for `analysis` with extra spec fields.
    pub async fn run(&self, name: &str, analysis: &str, extra: Value) {
        let mut spec = json!({ "aiAnalysisRef": { "name": analysis } });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let obj: WorkflowExecution = serde_json::from_value(json!({
            "apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
            "metadata": { "name": name }, "spec": spec
        }))
        .unwrap();
        self.runs()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap();
    }

    /// The WorkflowExecution API of the test namespace.
    pub fn runs(&self) -> Api<WorkflowExecution> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// The KubernetesExecution API of the test namespace.
    pub fn executions(&self) -> Api<KubernetesExecution> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// The run's status now.
    pub async fn status(&self, run: &str) -> WorkflowExecutionStatus {
        self.runs()
            .get(run)
            .await
            .unwrap()
            .status
            .unwrap_or_default()
    }

    /// Waits until the run's status satisfies `done` (at most 20 s), and returns it.
    pub async fn wait_for(
        &self,
        run: &str,
        what: &str,
        done: impl Fn(&WorkflowExecutionStatus) -> bool,
    ) -> WorkflowExecutionStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let status = self
                .runs()
                .get(run)
                .await
                .map(|w| w.status.unwrap_or_default());
            if let Ok(s) = &status
                && done(s)
            {
                return status.unwrap();
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{run}: timed out waiting for {what}; status: {status:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the run reaches a terminal phase.
    pub async fn finished(&self, run: &str) -> WorkflowExecutionStatus {
        self.wait_for(run, "a terminal phase", |s| {
            s.phase.is_some_and(WorkflowPhase::is_terminal)
        })
        .await
    }

    /// The names of the run's executions, sorted.
    pub async fn execution_names(&self, run: &str) -> Vec<String> {
        let lp = ListParams::default().labels(&remedy::api::executions_of(run));
        let mut names: Vec<String> = self
            .executions()
            .list(&lp)
            .await
            .unwrap()
            .items
            .iter()
            .map(|k| k.name_any())
            .collect();
        names.sort();
        names
    }

    /// The run's executions in the order they were created: (name, action, dry run).
    pub async fn executions_in_order(&self, run: &str) -> Vec<(String, String, bool)> {
        let lp = ListParams::default().labels(&remedy::api::executions_of(run));
        let mut items = self.executions().list(&lp).await.unwrap().items;
        items.sort_by_key(|k| k.resource_version().and_then(|v| v.parse::<u64>().ok()));
        items
            .iter()
            .map(|k| {
                (
                    k.name_any(),
                    k.spec.action.action_type.clone(),
                    k.spec.dry_run,
                )
            })
            .collect()
    }

    /// Waits until execution `name` exists (at most 20 s).
    pub async fn wait_execution(&self, name: &str) -> KubernetesExecution {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(k)) = self.executions().get_opt(name).await {
                return k;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "execution {name} never created"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Finishes a (hanging) execution as `outcome` says.
    pub async fn complete(&self, name: &str, outcome: Outcome) {
        let patch = json!({ "status": execution_status(outcome) });
        self.executions()
            .patch_status(name, &Default::default(), &kube::api::Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// The reasons and notes of the events published about `run`.
    pub async fn events(&self, run: &str) -> Vec<(String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), NS);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(run))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    /// Phase of each step, by name.
    pub fn step_phases(status: &WorkflowExecutionStatus) -> BTreeMap<String, String> {
        status
            .steps
            .iter()
            .map(|s| (s.name.clone(), format!("{:?}", s.phase)))
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.executor.abort();
        if let Some((tx, handle)) = self.operator.take() {
            let _ = tx.send(true);
            handle.abort();
        }
    }
}

/// Finishes every Pending KubernetesExecution as the script says, once, when first seen.
async fn run_executor(client: Client, script: Script) {
    let api: Api<KubernetesExecution> = Api::all(client.clone());
    loop {
        if let Ok(list) = api.list(&ListParams::default()).await {
            for kex in list.items {
                if kex.status.as_ref().and_then(|s| s.phase).is_some() {
                    continue;
                }
                let name = kex.name_any();
                let ns = kex.namespace().unwrap_or_default();
                let ns_api: Api<KubernetesExecution> = Api::namespaced(client.clone(), &ns);
                let patch = json!({ "status": execution_status(script.get(&name)) });
                let _ = ns_api
                    .patch_status(&name, &Default::default(), &kube::api::Patch::Merge(&patch))
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

/// The status the executor writes for an outcome.
fn execution_status(outcome: Outcome) -> KubernetesExecutionStatus {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    match outcome {
        Outcome::Hang => KubernetesExecutionStatus {
            phase: Some(ExecutionPhase::Running),
            started_at: Some(now),
            ..Default::default()
        },
        Outcome::Ok(output) => KubernetesExecutionStatus {
            phase: Some(ExecutionPhase::Succeeded),
            started_at: Some(now.clone()),
            completed_at: Some(now),
            result: Some(ExecutionResult {
                success: true,
                output: output.as_object().cloned().unwrap_or_default(),
                ..Default::default()
            }),
        },
        Outcome::Fail(message) => KubernetesExecutionStatus {
            phase: Some(ExecutionPhase::Failed),
            started_at: Some(now.clone()),
            completed_at: Some(now),
            result: Some(ExecutionResult {
                success: false,
                error: message.to_string(),
                reason: Some(ErrorReason::Unknown),
                ..Default::default()
            }),
        },
    }
}

/// The main test workflow: scale out (compensated), raise memory (compensated), verify,
/// and a finally step.
pub const REMEDIATE: &str = r#"workflow "remediate" version "1.0.0" {
  timeout 20s
  param namespace: string = ${ analysis.target.namespace }
  param deployment: string = ${ analysis.target.name }
  param factor: float = 1.5 { min 1.0  max 4.0 }

  step scale_out {
    action "scale_deployment"
    with { namespace, deployment, replicas: 3 }
    retry 1 backoff 50ms
    rollback {
      action "scale_deployment"
      with { namespace, deployment, replicas: ${ self.output.previous_replicas } }
    }
  }

  step raise_memory {
    action "increase_resources"
    with { namespace, deployment, memory: "1Gi" }
    retry 2 backoff 50ms
    rollback {
      action "rollback_deployment"
      with { namespace, deployment, revision: 0 }
    }
  }

  verify {
    step healthy {
      action "verify_deployment"
      with { namespace, deployment }
    }
  }

  finally {
    step tell {
      action "notify_only"
      with { message: "remediate done" }
    }
  }
}
"#;

/// A three-step workflow (a, b, c, each compensated) with a finally step; `header` adds
/// workflow items, `b` and `c` add items to those steps.
pub fn three(header: &str, b: &str, c: &str) -> String {
    format!(
        r#"workflow "three" version "1.0.0" {{
  timeout 20s
  {header}
  param namespace: string = ${{ analysis.target.namespace }}
  param deployment: string = ${{ analysis.target.name }}
  step a {{
    action "scale_deployment"
    with {{ namespace, deployment, replicas: 3 }}
    rollback {{
      action "scale_deployment"
      with {{ namespace, deployment, replicas: ${{ self.output.previous_replicas }} }}
    }}
  }}
  step b {{
    action "increase_resources"
    with {{ namespace, deployment, memory: "1Gi" }}
    {b}
    rollback {{ action "rollback_deployment" with {{ namespace, deployment, revision: 0 }} }}
  }}
  step c {{
    action "restart_deployment"
    with {{ namespace, deployment }}
    {c}
    rollback {{ action "rollback_deployment" with {{ namespace, deployment, revision: 0 }} }}
  }}
  finally {{
    step tell {{
      action "notify_only"
      with {{ message: "three done" }}
    }}
  }}
}}
"#
    )
}
