//! Credentials through both real controllers: a ConfigMap patch touching credential keys is
//! compensated exactly, and no stored run, execution or Event shows a credential in clear.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PostParams};
use remedy::api::{AIAnalysis, KubernetesExecution, WorkflowExecution, WorkflowPhase};
use remedy::cluster::{Config, EmbeddedCluster};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const ROTATE: &str = r#"workflow "rotate" version "1.0.0" {
  timeout 2m
  param namespace: string = ${ analysis.target.namespace }
  param db_password: string
  step patch {
    action "patch_configmap"
    with {
      namespace,
      configmap: "app",
      data: {
        "DB_PASSWORD": db_password,
        "api_token": "new-token-3",
        "DATABASE_URL": "postgres://app:new-db-pw@db:5432/shop",
        mode: "safe"
      }
    }
    rollback {
      action "patch_configmap"
      with { namespace, configmap: "app", data: ${ self.output.previous_data } }
    }
  }
  step restart {
    action "restart_deployment"
    with { namespace, deployment: "missing" }
  }
  finally {
    step tell {
      action "notify_only"
      with { message: "rotation ended: ${analysis.rootCause}" }
    }
  }
}
"#;

async fn create<K>(client: &Client, ns: &str, value: Value) -> K
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(value).unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_patch_is_rolled_back_exactly_and_never_stored_in_clear() {
    let cluster = EmbeddedCluster::new(Config::default());
    let client = cluster.client();
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("rotate.wf"), ROTATE).unwrap();
    let stop = CancellationToken::new();
    // The run is archived (and kept in the cluster): its record is checked too.
    let archive = remedy::archive::Archive::open(&remedy::archive::Location::Sqlite(
        templates.path().join("archive.sqlite"),
    ))
    .await
    .unwrap();
    let keep = remedy::operator::retention::RetentionConfig {
        succeeded: None,
        failed: None,
        per_target: None,
        archive_retention: None,
    };
    let controllers = remedy::scenario::controllers::start_in_cluster(
        &client,
        templates.path(),
        1.0,
        &stop,
        Some(archive.clone()),
        keep,
    )
    .await
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "shop" } })).unwrap(),
        )
        .await
        .unwrap();
    let before = json!({
        "DB_PASSWORD": "old-pass-1",
        "api_token": "old-token-9",
        "DATABASE_URL": "postgres://app:old-db-pw@db:5432/shop",
        "mode": "fast",
        "untouched": "yes",
    });
    create::<ConfigMap>(
        &client,
        "shop",
        json!({ "metadata": { "name": "app" }, "data": before }),
    )
    .await;
    create::<AIAnalysis>(
        &client,
        "shop",
        json!({ "apiVersion": "aianalysis.kubernaut.io/v1alpha1", "kind": "AIAnalysis",
                "metadata": { "name": "ai" }, "spec": {} }),
    )
    .await;
    let analyses: Api<AIAnalysis> = Api::namespaced(client.clone(), "shop");
    let status = json!({ "status": {
        "phase": "Completed",
        "recommendedWorkflow": { "name": "rotate" },
        "targetResource": { "kind": "ConfigMap", "name": "app", "namespace": "shop" },
        "rootCause": "the old credentials leaked: password=swordfish-7",
        "parameters": { "db_password": "new-pass-2" },
    }});
    analyses
        .patch_status("ai", &Default::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    create::<WorkflowExecution>(
        &client,
        "shop",
        json!({ "apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
                "metadata": { "name": "rotate-1" }, "spec": { "aiAnalysisRef": { "name": "ai" } } }),
    )
    .await;

    let runs: Api<WorkflowExecution> = Api::namespaced(client.clone(), "shop");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let run = loop {
        let run = runs.get("rotate-1").await.unwrap();
        if run
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(WorkflowPhase::is_terminal)
        {
            break run;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", run.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status = run.status.clone().unwrap();
    assert_eq!(status.phase, Some(WorkflowPhase::RolledBack), "{status:#?}");

    // Every key as it was: the credentials too, and those of the same patch that are not.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let data = configmaps.get("app").await.unwrap().data.unwrap();
    assert_eq!(json!(data), before);

    let clear = [
        "old-pass-1",
        "old-token-9",
        "old-db-pw",
        "new-pass-2",
        "new-token-3",
        "new-db-pw",
        "swordfish-7",
    ];
    let mut stored = vec![serde_json::to_string(&run).unwrap()];
    let lp = ListParams::default();
    let executions: Api<KubernetesExecution> = Api::namespaced(client.clone(), "shop");
    stored.extend(
        executions
            .list(&lp)
            .await
            .unwrap()
            .items
            .iter()
            .map(|k| serde_json::to_string(k).unwrap()),
    );
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "shop");
    stored.extend(
        core.list(&lp)
            .await
            .unwrap()
            .items
            .iter()
            .map(|e| serde_json::to_string(e).unwrap()),
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "shop");
    stored.extend(
        events
            .list(&lp)
            .await
            .unwrap()
            .items
            .iter()
            .map(|e| serde_json::to_string(e).unwrap()),
    );
    let key = remedy::archive::RunKey::Uid(run.metadata.uid.clone().unwrap());
    let record = loop {
        if let Some(record) = archive.get(&key).await.unwrap() {
            break record;
        }
        assert!(tokio::time::Instant::now() < deadline, "never archived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let record = serde_json::to_string(&record).unwrap();
    // Not even sealed: the archive outlives the key.
    assert!(!record.contains("$sealed"), "{record}");
    stored.push(record);
    assert!(stored.len() > 5, "{stored:?}");
    for text in &stored {
        for c in clear {
            assert!(!text.contains(c), "{c} in clear: {text}");
        }
    }
    stop.cancel();
    for handle in controllers {
        let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
    }
}
