//! The embedded cluster with the CRDs, a two-step template, an executor that finishes every
//! execution at once (its output carries a token, to see it redacted), and any number of
//! workflow controllers (replicas) started and stopped by the tests.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remedy::api::{AIAnalysis, KubernetesExecution, LABEL_WORKFLOW, WorkflowExecution};
use remedy::archive::Archive;
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::operator::OperatorConfig;
use remedy::operator::retention::RetentionConfig;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The namespace of the tests' runs.
pub const NS: &str = "shop";

const TEMPLATE: &str = r#"workflow "tidy" version "1.0.0" {
  timeout 20s
  param namespace: string = ${ analysis.target.namespace }
  param deployment: string = ${ analysis.target.name }

  step look {
    action "notify_only"
    with { message: "looking" }
  }

  step scale {
    action "scale_deployment"
    with { namespace, deployment, replicas: 3 }
    rollback {
      action "scale_deployment"
      with { namespace, deployment, replicas: ${ self.output.previous_replicas } }
    }
  }
}
"#;

/// The cluster, its executor and the operators running on it.
pub struct Cluster {
    /// Kept alive for the tests' duration.
    _cluster: EmbeddedCluster,
    /// A client of it.
    pub client: Client,
    templates: tempfile::TempDir,
    executor: tokio::task::JoinHandle<()>,
    operators: Vec<Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>>,
}

impl Cluster {
    /// A cluster with the CRDs, namespace `shop`, the template and the executor running.
    pub async fn new() -> Cluster {
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
        let templates = tempfile::tempdir().unwrap();
        std::fs::write(templates.path().join("tidy.wf"), TEMPLATE).unwrap();
        let executor = tokio::spawn(run_executor(client.clone()));
        Cluster {
            _cluster: cluster,
            client,
            templates,
            executor,
            operators: Vec::new(),
        }
    }

    /// An operator configuration with fast polls, this archive and this retention.
    pub fn config(&self, archive: Option<Archive>, retention: RetentionConfig) -> OperatorConfig {
        let mut config = OperatorConfig::new(self.templates.path());
        config.template_poll = Duration::from_millis(50);
        config.wait_requeue = Duration::from_millis(100);
        config.archive = archive;
        config.retention = retention;
        config
    }

    /// Starts a workflow controller; answers its index.
    pub fn start(&mut self, config: OperatorConfig) -> usize {
        let (tx, mut rx) = watch::channel(false);
        let client = self.client.clone();
        let handle = tokio::spawn(async move {
            remedy::operator::run(client, config, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await;
        });
        self.operators.push(Some((tx, handle)));
        self.operators.len() - 1
    }

    /// Stops controller `i` and waits until it has stopped.
    pub async fn stop(&mut self, i: usize) {
        if let Some((tx, handle)) = self.operators.get_mut(i).and_then(Option::take) {
            tx.send(true).unwrap();
            tokio::time::timeout(Duration::from_secs(15), handle)
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// Creates a Completed AIAnalysis named `name` targeting Deployment `target`.
    pub async fn analysis(&self, name: &str, target: &str) {
        let api: Api<AIAnalysis> = Api::namespaced(self.client.clone(), NS);
        let obj: AIAnalysis = serde_json::from_value(json!({
            "apiVersion": "aianalysis.kubernaut.io/v1alpha1", "kind": "AIAnalysis",
            "metadata": { "name": name }, "spec": {}
        }))
        .unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap();
        let status = json!({ "status": {
            "phase": "Completed",
            "recommendedWorkflow": { "name": "tidy" },
            "targetResource": { "kind": "Deployment", "name": target, "namespace": NS },
            "confidence": 0.9,
            "parameters": { "db_password": "hunter2" },
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }

    /// Creates a run of `analysis` with these annotations; answers its uid.
    pub async fn run(&self, name: &str, analysis: &str, annotations: Value) -> String {
        let obj: WorkflowExecution = serde_json::from_value(json!({
            "apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
            "metadata": { "name": name, "annotations": annotations },
            "spec": { "aiAnalysisRef": { "name": analysis } }
        }))
        .unwrap();
        self.runs()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap()
            .uid()
            .unwrap()
    }

    /// The runs of the test namespace.
    pub fn runs(&self) -> Api<WorkflowExecution> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// The run now, if it exists.
    pub async fn get(&self, name: &str) -> Option<WorkflowExecution> {
        self.runs().get_opt(name).await.unwrap()
    }

    /// Waits (at most 30 s) until `done` holds of the run, and answers it.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&WorkflowExecution) -> bool,
    ) -> WorkflowExecution {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let run = self.get(name).await;
            if let Some(r) = &run
                && done(r)
            {
                return r.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: timed out waiting for {what}: {:#?}",
                run.map(|r| r.status)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the run has finished.
    pub async fn finished(&self, name: &str) -> WorkflowExecution {
        self.wait_for(name, "a terminal phase", |r| {
            r.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(remedy::api::WorkflowPhase::is_terminal)
        })
        .await
    }

    /// Waits until the run shows condition Archived with this status (`True`/`False`).
    pub async fn archived(&self, name: &str, status: &str) -> WorkflowExecution {
        self.wait_for(name, &format!("Archived={status}"), |r| {
            condition(r, "Archived").is_some_and(|c| c.status == status)
        })
        .await
    }

    /// Waits (at most 30 s) until the run and its executions are gone.
    pub async fn gone(&self, name: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let run = self.get(name).await;
            let executions = self.executions_of(name).await;
            if run.is_none() && executions.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: still there ({} executions): {:#?}",
                executions.len(),
                run.map(|r| r.status)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The names of the run's executions.
    pub async fn executions_of(&self, name: &str) -> Vec<String> {
        let api: Api<KubernetesExecution> = Api::namespaced(self.client.clone(), NS);
        api.list(&ListParams::default().labels(&format!("{LABEL_WORKFLOW}={name}")))
            .await
            .unwrap()
            .items
            .iter()
            .map(|k| k.name_any())
            .collect()
    }

    /// Writes a finished status on a run that never ran (a run as another version or a
    /// person left it).
    pub async fn finish_by_hand(&self, name: &str, conditions: Value) {
        let now = jiff::Timestamp::now().to_string();
        let status = json!({ "status": {
            "phase": "Completed", "outcome": "Success", "completedAt": now,
            "conditions": conditions,
        }});
        self.runs()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
}

/// The condition `type_` of the run, if present.
pub fn condition(
    run: &WorkflowExecution,
    type_: &str,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    run.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.executor.abort();
        for (tx, handle) in self.operators.iter_mut().filter_map(Option::take) {
            let _ = tx.send(true);
            handle.abort();
        }
    }
}

/// Finishes every new execution as Succeeded, with an output holding a token.
async fn run_executor(client: Client) {
    let api: Api<KubernetesExecution> = Api::all(client.clone());
    loop {
        if let Ok(list) = api.list(&ListParams::default()).await {
            for kex in list.items {
                if kex.status.as_ref().and_then(|s| s.phase).is_some() {
                    continue;
                }
                let now = jiff::Timestamp::now().to_string();
                let patch = json!({ "status": {
                    "phase": "Succeeded", "startedAt": now, "completedAt": now,
                    "result": { "success": true,
                        "output": { "previous_replicas": 2, "token": "abc123" },
                        "resourcesAffected": [{ "kind": "Deployment", "namespace": NS, "name": "web", "change": "scaled 2→3" }] }
                }});
                let ns_api: Api<KubernetesExecution> =
                    Api::namespaced(client.clone(), &kex.namespace().unwrap_or_default());
                let _ = ns_api
                    .patch_status(
                        &kex.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}
