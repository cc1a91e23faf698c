//! Read-only actions: verify_deployment, collect_diagnostics, backup_data, notify_only, wait.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use remedy::api::kubernetes_execution::{ErrorReason, ExecutionPhase};
use serde_json::json;

use crate::{NS, env, failed, phase, result, succeeded};

async fn set_status(env: &crate::Env, name: &str, available: i32, updated: i32) {
    let api = env.api::<Deployment>();
    let generation = api.get(name).await.unwrap().metadata.generation;
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": {
            "observedGeneration": generation, "replicas": updated,
            "availableReplicas": available, "readyReplicas": available, "updatedReplicas": updated
        } })),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn verify_waits_for_available_replicas_then_succeeds() {
    let env = env().await;
    env.deployment("web", 3).await;
    set_status(&env, "web", 1, 3).await;
    env.execution(
        "verify",
        "verify_deployment",
        json!({ "namespace": NS, "deployment": "web" }),
    )
    .await;
    let (action, kex) = env.reconcile("verify").await;
    assert_eq!(phase(&kex), Some(ExecutionPhase::Running));
    assert_ne!(action, Action::await_change(), "it looks again later");
    set_status(&env, "web", 3, 3).await;
    let r = succeeded(result(&env.run("verify").await));
    assert_eq!(r.output["available_replicas"], 3);
    assert_eq!(r.output["ready_replicas"], 3);
}

#[tokio::test]
async fn verify_past_its_timeout_fails_with_what_it_saw() {
    let env = env().await;
    env.deployment("web", 3).await;
    set_status(&env, "web", 1, 2).await;
    env.execution_with(
        "verify",
        "verify_deployment",
        json!({ "namespace": NS, "deployment": "web", "min_available": 2 }),
        |s| s.timeout = Some("300ms".into()),
    )
    .await;
    let kex = env.run("verify").await;
    let msg = failed(result(&kex), ErrorReason::Timeout);
    assert_eq!(
        msg,
        "Deployment shop/web has 1 of 2 replicas available and 2 updated after 300ms; the step's timeout is over"
    );
}

#[tokio::test]
async fn collect_diagnostics_summarises_state_and_events() {
    let env = env().await;
    env.deployment("web", 3).await;
    set_status(&env, "web", 2, 3).await;
    env.create(
        &env.api::<Event>(),
        json!({
            "metadata": { "name": "web.1" },
            "involvedObject": { "kind": "Deployment", "name": "web", "namespace": NS },
            "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-1 to 3", "type": "Normal", "count": 1
        }),
    )
    .await;
    env.create(
        &env.api::<Event>(),
        json!({
            "metadata": { "name": "other.1" },
            "involvedObject": { "kind": "Deployment", "name": "other", "namespace": NS },
            "reason": "Nope", "message": "not about web", "type": "Normal"
        }),
    )
    .await;
    let r = succeeded(
        env.perform(
            "diag",
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "deployment/web" }),
        )
        .await,
    );
    assert_eq!(
        r.output["summary"],
        "Deployment shop/web: 3 desired, 2 ready, 3 updated, 2 available"
    );
    assert_eq!(
        r.output["events"],
        json!(["Normal ScalingReplicaSet: Scaled up replica set web-1 to 3"])
    );
}

#[tokio::test]
async fn backup_data_copies_a_configmap_or_an_objects_spec() {
    let env = env().await;
    let cms = env.api::<ConfigMap>();
    env.create(
        &cms,
        json!({ "metadata": { "name": "settings" }, "data": { "mode": "fast" } }),
    )
    .await;
    env.deployment("web", 2).await;
    let r = succeeded(
        env.perform(
            "bk",
            "backup_data",
            json!({ "namespace": NS, "resource": "configmap/settings" }),
        )
        .await,
    );
    assert_eq!(r.output["backup"], "bk-backup");
    let copy = cms.get("bk-backup").await.unwrap();
    assert_eq!(copy.data.unwrap()["mode"], "fast");

    let r = succeeded(
        env.perform(
            "bk2",
            "backup_data",
            json!({ "namespace": NS, "resource": "deployment/web", "destination": "web-before" }),
        )
        .await,
    );
    assert_eq!(r.output["backup"], "web-before");
    let data = cms.get("web-before").await.unwrap().data.unwrap();
    let yaml = &data["deployment.web.yaml"];
    let back: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(back["spec"]["replicas"], 2);
    assert_eq!(back["kind"], "Deployment");

    // Someone else's ConfigMap is never overwritten.
    let r = env
        .perform(
            "bk3",
            "backup_data",
            json!({ "namespace": NS, "resource": "deployment/web", "destination": "settings" }),
        )
        .await;
    assert!(failed(r, ErrorReason::Conflict).contains("choose another `destination`"));
    assert_eq!(
        cms.get("settings").await.unwrap().data.unwrap()["mode"],
        "fast"
    );
}

#[tokio::test]
async fn notify_only_publishes_a_redacted_event_on_the_execution() {
    let env = env().await;
    let r = succeeded(
        env.perform(
            "note",
            "notify_only",
            json!({ "message": "db at postgres://app:hunter2@db:5432 is slow", "severity": "warning" }),
        )
        .await,
    );
    assert_eq!(r.output["event"], "note.notify");
    let event = env.api::<Event>().get("note.notify").await.unwrap();
    assert_eq!(
        event.message.as_deref(),
        Some("db at postgres://app:***@db:5432 is slow")
    );
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event.involved_object.kind.as_deref(),
        Some("KubernetesExecution")
    );
    assert_eq!(event.involved_object.name.as_deref(), Some("note"));
}

#[tokio::test]
async fn wait_requeues_until_its_time_has_passed() {
    let env = env().await;
    env.execution("pause", "wait", json!({ "duration": "300ms" }))
        .await;
    let (action, kex) = env.reconcile("pause").await;
    assert_eq!(phase(&kex), Some(ExecutionPhase::Running));
    let requeue = format!("{action:?}");
    assert!(requeue.contains("requeue_after: Some"), "{requeue}");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (_, kex) = env.reconcile("pause").await;
    succeeded(result(&kex));

    env.execution("too-long", "wait", json!({ "duration": "10m" }))
        .await;
    let msg = failed(result(&env.run("too-long").await), ErrorReason::Invalid);
    assert_eq!(
        msg,
        "wait 10m is not shorter than the step's timeout 5m; raise the timeout"
    );
}
