//! The controller's rules: dry run, protected namespaces, error classes, at-most-once start,
//! resuming without repeating, finished means finished, redaction, timeouts, and `run`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use remedy::api::kubernetes_execution::{
    ErrorReason, ExecutionPhase, ExecutionResult, KubernetesExecution, KubernetesExecutionStatus,
};
use remedy::executor::{ExecutorConfig, reconcile, run_until};
use serde_json::json;

use crate::{NS, changes, env, failed, phase, result, snapshot, succeeded};

fn replicas(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.replicas)
}

#[tokio::test]
async fn dry_run_is_checked_by_the_server_and_persists_nothing() {
    let env = env().await;
    let before = env.deployment("web", 2).await;
    env.execution_with(
        "dry",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        |s| s.dry_run = true,
    )
    .await;
    let r = succeeded(result(&env.run("dry").await));
    assert_eq!(changes(&r), ["Deployment web: scaled 2→3"]);
    let after = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(after.resource_version(), before.resource_version());
    assert_eq!(replicas(&after), Some(2));

    env.execution_with(
        "dry-cm",
        "patch_configmap",
        json!({ "namespace": NS, "configmap": "absent", "data": { "a": "b" } }),
        |s| s.dry_run = true,
    )
    .await;
    failed(result(&env.run("dry-cm").await), ErrorReason::NotFound);
}

#[tokio::test]
async fn protected_namespaces_are_refused_before_anything_is_read() {
    let env = env().await;
    env.cluster.faults().fail_next("*", "deployments", 1, 403);
    let r = env
        .perform(
            "system",
            "scale_deployment",
            json!({ "namespace": "kube-system", "deployment": "coredns", "replicas": 0 }),
        )
        .await;
    let msg = failed(r, ErrorReason::Protected);
    assert!(
        msg.starts_with("namespace kube-system is protected"),
        "{msg}"
    );
    // The injected fault was never consumed: nothing touched deployments.
    let r = env
        .perform(
            "probe",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "x", "replicas": 1 }),
        )
        .await;
    failed(r, ErrorReason::Forbidden);
}

#[tokio::test]
async fn a_missing_target_is_not_found_with_a_message_to_act_on() {
    let env = env().await;
    let r = env
        .perform(
            "gone",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        )
        .await;
    assert_eq!(
        failed(r, ErrorReason::NotFound),
        "Deployment shop/web not found: check the AIAnalysis target and the step's parameters"
    );
    // `kubectl describe kex gone` says so too.
    let event = env.api::<Event>().get("gone.failed").await.unwrap();
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.reason.as_deref(), Some("ActionNotFound"));
    assert_eq!(
        event.message.as_deref(),
        Some(
            "scale_deployment: Deployment shop/web not found: check the AIAnalysis target and the step's parameters"
        )
    );
    assert_eq!(event.involved_object.name.as_deref(), Some("gone"));
}

#[tokio::test]
async fn invalid_calls_fail_with_the_parameter_named() {
    let env = env().await;
    env.deployment("web", 2).await;
    let cases = [
        (
            "missing",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web" }),
            "scale_deployment is missing the required parameter `replicas`",
        ),
        (
            "unknown",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 1, "force": true }),
            "scale_deployment has no parameter `force`; it takes: namespace, deployment, replicas",
        ),
        (
            "mistyped",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": "many" }),
            "scale_deployment: parameter `replicas` must be of type int, got the string \"many\"",
        ),
        (
            "negative",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": -1 }),
            "scale_deployment: `replicas` must be 0 or more, got -1",
        ),
        (
            "typo",
            "scale_deploymnet",
            json!({}),
            "unknown action `scale_deploymnet` (did you mean `scale_deployment`?)",
        ),
    ];
    for (name, action, params, expected) in cases {
        let r = env.perform(name, action, params).await;
        assert_eq!(failed(r, ErrorReason::Invalid), expected);
    }
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(replicas(&d), Some(2));
}

#[tokio::test]
async fn api_errors_are_classified() {
    let env = env().await;
    env.deployment("web", 2).await;
    for (code, reason) in [
        (403, ErrorReason::Forbidden),
        (409, ErrorReason::Conflict),
        (422, ErrorReason::Invalid),
    ] {
        // A lost race (409) is redone from a fresh read a few times before it counts.
        let times = if code == 409 { 5 } else { 1 };
        env.cluster
            .faults()
            .fail_next("patch", "deployments/scale", times, code);
        let name = format!("fault-{code}");
        let r = env
            .perform(
                &name,
                "scale_deployment",
                json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
            )
            .await;
        // The previous state was recorded before the write failed.
        assert_eq!(r.output["previous_replicas"], 2, "{code}");
        let msg = failed(r, reason);
        assert!(msg.contains("Deployment shop/web"), "{msg}");
    }
}

#[tokio::test]
async fn transient_api_errors_are_redone_within_the_attempt() {
    let env = env().await;
    env.deployment("web", 2).await;
    // An unavailable API server on a read, a failed write and a write that timed out are
    // each absorbed, and the change is made once.
    env.cluster.faults().fail_next("get", "deployments", 1, 503);
    env.cluster
        .faults()
        .fail_next("update", "deployments", 1, 500);
    env.cluster
        .faults()
        .fail_next("update", "deployments", 1, 504);
    let r = succeeded(
        env.perform(
            "raise",
            "increase_resources",
            json!({ "namespace": NS, "deployment": "web", "memory": "1Gi" }),
        )
        .await,
    );
    assert_eq!(changes(&r), ["Deployment web: memory limit 512Mi→1Gi"]);
}

#[tokio::test]
async fn a_server_error_that_lasts_past_the_deadline_fails_the_attempt_with_that_error() {
    let env = env().await;
    env.deployment("web", 2).await;
    env.cluster
        .faults()
        .fail_next("patch", "deployments/scale", 10_000, 500);
    env.execution_with(
        "broken",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        |s| s.timeout = Some("1s".into()),
    )
    .await;
    let r = result(&env.run("broken").await);
    // The previous state was recorded before the writes failed.
    assert_eq!(r.output["previous_replicas"], 2);
    let msg = failed(r, ErrorReason::Unknown);
    assert!(msg.contains("answered 500"), "{msg}");
    assert!(msg.contains("until the step's timeout"), "{msg}");
}

#[tokio::test]
async fn a_write_that_lost_a_race_is_redone_from_a_fresh_read() {
    let env = env().await;
    env.deployment("web", 2).await;
    env.cluster
        .faults()
        .fail_next("update", "deployments", 2, 409);
    let r = succeeded(
        env.perform(
            "raise",
            "increase_resources",
            json!({ "namespace": NS, "deployment": "web", "memory": "1Gi" }),
        )
        .await,
    );
    assert_eq!(changes(&r), ["Deployment web: memory limit 512Mi→1Gi"]);
}

#[tokio::test]
async fn the_attempt_timeout_is_honoured() {
    let env = env().await;
    env.deployment("web", 2).await;
    env.cluster
        .faults()
        .add_latency("patch", "deployments/scale", Duration::from_millis(500));
    env.execution_with(
        "slow",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        |s| s.timeout = Some("200ms".into()),
    )
    .await;
    let msg = failed(result(&env.run("slow").await), ErrorReason::Timeout);
    assert_eq!(
        msg,
        "scale_deployment did not complete within the step's timeout of 200ms; raise the timeout or check the target"
    );
}

/// Marks the execution Running with `output` recorded, as an executor that stopped
/// mid-action would have left it.
async fn leave_running(env: &crate::Env, name: &str, output: serde_json::Value) {
    let api = env.api::<KubernetesExecution>();
    let mut kex = api.get(name).await.unwrap();
    kex.status = Some(KubernetesExecutionStatus {
        phase: Some(ExecutionPhase::Running),
        started_at: Some(Time(jiff::Timestamp::now())),
        completed_at: None,
        result: Some(ExecutionResult {
            output: output.as_object().cloned().unwrap(),
            ..ExecutionResult::default()
        }),
    });
    api.replace_status(name, &PostParams::default(), &kex)
        .await
        .unwrap();
}

#[tokio::test]
async fn resuming_a_done_change_completes_without_a_second_write() {
    let env = env().await;
    let deployments = env.api::<Deployment>();
    env.deployment("web", 2).await;
    env.execution(
        "scale",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
    )
    .await;
    leave_running(&env, "scale", json!({ "previous_replicas": 2 })).await;
    // The executor had scaled before it stopped.
    let mut d = deployments.get("web").await.unwrap();
    d.spec.as_mut().unwrap().replicas = Some(3);
    let d = deployments
        .replace("web", &PostParams::default(), &d)
        .await
        .unwrap();

    let r = succeeded(result(&env.run("scale").await));
    assert_eq!(
        r.output["previous_replicas"], 2,
        "the recorded state stands"
    );
    assert_eq!(changes(&r), ["Deployment web: scaled 2→3"]);
    let after = deployments.get("web").await.unwrap();
    assert_eq!(
        after.resource_version(),
        d.resource_version(),
        "no second write"
    );
}

#[tokio::test]
async fn resuming_an_unmade_change_makes_it() {
    let env = env().await;
    env.deployment("web", 2).await;
    env.execution(
        "scale",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 4 }),
    )
    .await;
    leave_running(&env, "scale", json!({ "previous_replicas": 2 })).await;
    succeeded(result(&env.run("scale").await));
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(replicas(&d), Some(4));
}

#[tokio::test]
async fn a_finished_execution_is_never_acted_on_again() {
    let env = env().await;
    let deployments = env.api::<Deployment>();
    env.deployment("web", 2).await;
    env.execution(
        "scale",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
    )
    .await;
    let done = env.run("scale").await;
    // Someone scales back by hand; reconciling the finished execution must not undo that.
    let mut d = deployments.get("web").await.unwrap();
    d.spec.as_mut().unwrap().replicas = Some(2);
    let d = deployments
        .replace("web", &PostParams::default(), &d)
        .await
        .unwrap();
    let (action, again) = env.reconcile("scale").await;
    assert_eq!(action, Action::await_change());
    assert_eq!(again.resource_version(), done.resource_version());
    assert_eq!(
        deployments.get("web").await.unwrap().resource_version(),
        d.resource_version()
    );
}

#[tokio::test]
async fn a_stale_cached_copy_of_a_new_execution_acts_on_nothing() {
    let env = env().await;
    env.deployment("web", 2).await;
    let created = env
        .execution(
            "scale",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        )
        .await;
    let done = env.run("scale").await;
    // Someone scales back by hand; a watch cache that still shows the execution as created
    // (no status) must not make the executor scale again.
    let deployments = env.api::<Deployment>();
    let mut d = deployments.get("web").await.unwrap();
    d.spec.as_mut().unwrap().replicas = Some(2);
    let d = deployments
        .replace("web", &PostParams::default(), &d)
        .await
        .unwrap();
    let stale = Arc::new(created);
    let action = reconcile(stale.clone(), env.ctx.clone()).await.unwrap();
    assert_ne!(action, Action::await_change(), "it looks again");
    // The next reconcile reads the execution from the API: finished, nothing to do.
    let action = reconcile(stale, env.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    let now = env.api::<KubernetesExecution>().get("scale").await.unwrap();
    assert_eq!(now.resource_version(), done.resource_version());
    assert_eq!(
        deployments.get("web").await.unwrap().resource_version(),
        d.resource_version()
    );
}

#[tokio::test]
async fn a_lost_race_to_start_acts_on_nothing() {
    let env = env().await;
    let before = env.deployment("web", 2).await;
    env.execution(
        "scale",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
    )
    .await;
    // Another executor wrote the status between our read and our write.
    env.cluster
        .faults()
        .fail_next("update", "kubernetesexecutions/status", 1, 409);
    let (action, kex) = env.reconcile("scale").await;
    assert_ne!(action, Action::await_change());
    assert_eq!(phase(&kex), None);
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.resource_version(), before.resource_version());
}

#[tokio::test]
async fn credentials_never_reach_the_status() {
    let env = env().await;
    env.create(
        &env.api::<ConfigMap>(),
        json!({ "metadata": { "name": "app" }, "data": { "db_password": "hunter2", "mode": "fast" } }),
    )
    .await;
    env.create(
        &env.api::<Event>(),
        json!({
            "metadata": { "name": "app.1" },
            "involvedObject": { "kind": "ConfigMap", "name": "app", "namespace": NS },
            "reason": "Failed", "message": "login with Bearer abc.def.ghi refused", "type": "Warning"
        }),
    )
    .await;
    let r = succeeded(
        env.perform(
            "patch",
            "patch_configmap",
            json!({ "namespace": NS, "configmap": "app", "data": { "db_password": "new-pass", "mode": "safe" } }),
        )
        .await,
    );
    // The previous credential is sealed for the run, not in clear and not lost.
    let previous = &r.output["previous_data"];
    assert_eq!(previous["mode"], "fast");
    assert!(
        remedy::redact::is_sealed(&previous["db_password"]),
        "{previous}"
    );
    let kex = env.api::<KubernetesExecution>().get("patch").await.unwrap();
    let stored = serde_json::to_string(&kex).unwrap();
    assert!(
        !stored.contains("hunter2") && !stored.contains("new-pass"),
        "{stored}"
    );
    let r = succeeded(
        env.perform(
            "diag",
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "configmap/app" }),
        )
        .await,
    );
    assert_eq!(
        r.output["events"],
        json!(["Warning Failed: login with Bearer *** refused"])
    );
    // Restoring a redacted value would write `***` over the real one: refused.
    let r = env
        .perform(
            "undo",
            "patch_configmap",
            json!({ "namespace": NS, "configmap": "app", "data": { "db_password": "***" } }),
        )
        .await;
    assert!(failed(r, ErrorReason::Invalid).contains("redacted credential"));
}

#[tokio::test]
async fn run_until_drives_executions_to_the_end_and_stops() {
    let env = env().await;
    env.deployment("web", 1).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ExecutorConfig {
        namespace: Some(NS.into()),
        ..ExecutorConfig::default()
    };
    assert!(!config.protected_namespaces.contains(&NS.to_string()));
    let executor = tokio::spawn(run_until(env.client.clone(), config, async move {
        let _ = stopped.await;
    }));
    env.execution(
        "scale",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 2 }),
    )
    .await;
    let api = env.api::<KubernetesExecution>();
    let mut finished = None;
    for _ in 0..100 {
        let kex = api.get("scale").await.unwrap();
        if phase(&kex) == Some(ExecutionPhase::Succeeded) {
            finished = Some(kex);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(finished.is_some(), "the controller finished the execution");
    assert_eq!(
        replicas(&env.api::<Deployment>().get("web").await.unwrap()),
        Some(2)
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), executor)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // The reconcile function is the same one tests call directly.
    let kex = api.get("scale").await.unwrap();
    assert_eq!(
        reconcile(Arc::new(kex), env.ctx.clone()).await.unwrap(),
        Action::await_change()
    );
}

#[tokio::test]
async fn every_writing_action_persists_nothing_in_a_dry_run() {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
    use kube::api::Api;
    let env = env().await;
    env.deployment("web", 2).await;
    let nodes: Api<Node> = Api::all(env.client.clone());
    env.create(&nodes, json!({ "metadata": { "name": "n1" } }))
        .await;
    for name in ["p1", "p2"] {
        env.create(
            &env.api::<Pod>(),
            json!({ "metadata": { "name": name },
                    "spec": { "nodeName": "n1", "containers": [ { "name": "a", "image": "x" } ] } }),
        )
        .await;
    }
    env.create(
        &env.api::<PersistentVolumeClaim>(),
        json!({ "metadata": { "name": "data" }, "spec": { "resources": { "requests": { "storage": "1Gi" } } } }),
    )
    .await;
    env.create(
        &env.api::<ConfigMap>(),
        json!({ "metadata": { "name": "cfg" }, "data": { "a": "1" } }),
    )
    .await;
    env.create(
        &env.api::<HorizontalPodAutoscaler>(),
        json!({ "metadata": { "name": "web" },
                "spec": { "maxReplicas": 5, "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" } } }),
    )
    .await;
    let before = snapshot(&env).await;
    let calls = [
        (
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        ),
        (
            "restart_deployment",
            json!({ "namespace": NS, "deployment": "web" }),
        ),
        (
            "increase_resources",
            json!({ "namespace": NS, "deployment": "web", "memory": "1Gi" }),
        ),
        ("delete_pod", json!({ "namespace": NS, "pod": "p1" })),
        (
            "update_hpa",
            json!({ "namespace": NS, "hpa": "web", "max_replicas": 6 }),
        ),
        (
            "taint_node",
            json!({ "node": "n1", "key": "k", "effect": "NoSchedule" }),
        ),
        ("drain_node", json!({ "node": "n1" })),
        (
            "expand_pvc",
            json!({ "namespace": NS, "pvc": "data", "size": "2Gi" }),
        ),
        (
            "patch_configmap",
            json!({ "namespace": NS, "configmap": "cfg", "data": { "a": "2" } }),
        ),
        (
            "backup_data",
            json!({ "namespace": NS, "resource": "configmap/cfg" }),
        ),
        ("notify_only", json!({ "message": "hello" })),
    ];
    for (i, (action, params)) in calls.into_iter().enumerate() {
        let name = format!("dry-{i}");
        env.execution_with(&name, action, params, |s| s.dry_run = true)
            .await;
        let r = result(&env.run(&name).await);
        assert!(r.success, "{action}: {}", r.error);
        assert!(
            !r.resources_affected.is_empty() || action == "notify_only",
            "{action} says what it would change"
        );
    }
    assert_eq!(snapshot(&env).await, before);
}

#[tokio::test]
async fn the_configured_operator_and_extra_namespaces_are_protected() {
    let env = env().await;
    let config = ExecutorConfig {
        operator_namespace: "ops".into(),
        protected_namespaces: vec!["payments".into()],
        ..ExecutorConfig::default()
    };
    env.share_key_with("ops").await;
    let ctx = Arc::new(remedy::executor::Context::new(env.client.clone(), config));
    // However they are spelled: namespace names are lower-case, a mis-cased one is the same.
    for (i, ns) in [
        "ops",
        "payments",
        "Ops",
        "PAYMENTS",
        "Kube-System",
        " kube-public",
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("protected-{i}");
        env.execution(
            &name,
            "scale_deployment",
            json!({ "namespace": ns, "deployment": "web", "replicas": 1 }),
        )
        .await;
        let api = env.api::<KubernetesExecution>();
        reconcile(Arc::new(api.get(&name).await.unwrap()), ctx.clone())
            .await
            .unwrap();
        failed(
            result(&api.get(&name).await.unwrap()),
            ErrorReason::Protected,
        );
    }
}
