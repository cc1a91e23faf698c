//! Deployments, StatefulSets, pods, PVCs, ConfigMaps and HPAs: each action's effect.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use remedy::api::kubernetes_execution::ErrorReason;
use serde_json::json;

use crate::{NS, changes, env, failed, succeeded};

#[tokio::test]
async fn scale_deployment_sets_replicas_and_records_the_previous_count() {
    let env = env().await;
    env.deployment("web", 2).await;
    let r = succeeded(
        env.perform(
            "scale",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        )
        .await,
    );
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    assert_eq!(
        r.output,
        json!({ "previous_replicas": 2, "replicas": 3 })
            .as_object()
            .cloned()
            .unwrap()
    );
    assert_eq!(changes(&r), ["Deployment web: scaled 2→3"]);
    assert_eq!(r.resources_affected[0].namespace.as_deref(), Some(NS));
}

#[tokio::test]
async fn scale_statefulset_goes_through_the_scale_subresource() {
    let env = env().await;
    env.create(
        &env.api::<StatefulSet>(),
        json!({
            "metadata": { "name": "db" },
            "spec": {
                "replicas": 3, "serviceName": "db",
                "selector": { "matchLabels": { "app": "db" } },
                "template": { "metadata": { "labels": { "app": "db" } },
                              "spec": { "containers": [ { "name": "db", "image": "pg:16" } ] } }
            }
        }),
    )
    .await;
    let r = succeeded(
        env.perform(
            "scale-db",
            "scale_statefulset",
            json!({ "namespace": NS, "statefulset": "db", "replicas": 1 }),
        )
        .await,
    );
    let s = env.api::<StatefulSet>().get("db").await.unwrap();
    assert_eq!(s.spec.unwrap().replicas, Some(1));
    assert_eq!(r.output["previous_replicas"], 3);
    assert_eq!(changes(&r), ["StatefulSet db: scaled 3→1"]);
}

#[tokio::test]
async fn restart_deployment_stamps_the_pod_template() {
    let env = env().await;
    env.deployment("web", 2).await;
    let r = succeeded(
        env.perform(
            "restart",
            "restart_deployment",
            json!({ "namespace": NS, "deployment": "web" }),
        )
        .await,
    );
    let d = env.api::<Deployment>().get("web").await.unwrap();
    let annotations = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap();
    assert!(annotations.contains_key("kubectl.kubernetes.io/restartedAt"));
    assert_eq!(r.output["previous_revision"], 1);
    assert_eq!(r.output["revision"], 2);
    assert!(
        !r.output.contains_key("_restarted_at"),
        "internal keys stay internal"
    );
}

#[tokio::test]
async fn increase_resources_raises_limits_and_records_the_old_ones() {
    let env = env().await;
    env.deployment("web", 2).await;
    let r = succeeded(
        env.perform(
            "more-memory",
            "increase_resources",
            json!({ "namespace": NS, "deployment": "web", "memory": "1Gi", "memory_request": "512Mi" }),
        )
        .await,
    );
    let d = env.api::<Deployment>().get("web").await.unwrap();
    let resources = d.spec.unwrap().template.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap();
    assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "1Gi");
    assert_eq!(
        resources.limits.as_ref().unwrap()["cpu"].0,
        "500m",
        "untouched"
    );
    assert_eq!(resources.requests.as_ref().unwrap()["memory"].0, "512Mi");
    assert_eq!(
        changes(&r),
        ["Deployment web: memory limit 512Mi→1Gi, memory request 256Mi→512Mi"]
    );
    assert_eq!(
        r.output["previous_resources"]["app"]["limits"]["memory"],
        "512Mi"
    );
    assert_eq!(r.output["previous_revision"], 1);
}

#[tokio::test]
async fn increase_resources_refuses_requests_above_limits_and_unknown_containers() {
    let env = env().await;
    env.deployment("web", 1).await;
    let r = env
        .perform(
            "too-much",
            "increase_resources",
            json!({ "namespace": NS, "deployment": "web", "memory_request": "2Gi" }),
        )
        .await;
    let msg = failed(r, ErrorReason::Invalid);
    assert!(
        msg.contains("request more memory (2Gi) than its limit (512Mi)"),
        "{msg}"
    );
    let r = env
        .perform(
            "no-such-container",
            "increase_resources",
            json!({ "namespace": NS, "deployment": "web", "container": "sidecar", "cpu": "1" }),
        )
        .await;
    let msg = failed(r, ErrorReason::Invalid);
    assert_eq!(
        msg,
        "Deployment shop/web has no container `sidecar` (containers: app)"
    );
}

/// A ReplicaSet of `web` at `revision` whose container runs `image`.
async fn replicaset(env: &crate::Env, owner: &Deployment, revision: i64, image: &str) {
    env.create(
        &env.api::<ReplicaSet>(),
        json!({
            "metadata": {
                "name": format!("web-{revision}"),
                "labels": { "app": "web", "pod-template-hash": format!("h{revision}") },
                "annotations": { "deployment.kubernetes.io/revision": revision.to_string() },
                "ownerReferences": [ { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                       "uid": owner.uid().unwrap(), "controller": true } ]
            },
            "spec": {
                "replicas": 0,
                "selector": { "matchLabels": { "app": "web", "pod-template-hash": format!("h{revision}") } },
                "template": {
                    "metadata": { "labels": { "app": "web", "pod-template-hash": format!("h{revision}") } },
                    "spec": { "containers": [ { "name": "app", "image": image } ] }
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn rollback_restores_the_previous_revision_template() {
    let env = env().await;
    let api = env.api::<Deployment>();
    let mut d = env.deployment("web", 2).await;
    replicaset(&env, &d, 1, "shop:1").await;
    replicaset(&env, &d, 2, "shop:2").await;
    d.annotations_mut()
        .insert("deployment.kubernetes.io/revision".into(), "2".into());
    let spec = d.spec.as_mut().unwrap();
    spec.template.spec.as_mut().unwrap().containers[0].image = Some("shop:2".into());
    spec.template.spec.as_mut().unwrap().containers[0].resources = None;
    api.replace("web", &Default::default(), &d).await.unwrap();

    let r = succeeded(
        env.perform(
            "undo",
            "rollback_deployment",
            json!({ "namespace": NS, "deployment": "web" }),
        )
        .await,
    );
    let d = api.get("web").await.unwrap();
    let template = d.spec.unwrap().template;
    assert_eq!(
        template.spec.unwrap().containers[0].image.as_deref(),
        Some("shop:1")
    );
    let labels = template.metadata.unwrap().labels.unwrap();
    assert!(!labels.contains_key("pod-template-hash"), "{labels:?}");
    assert_eq!(r.output["previous_revision"], 2);
    assert_eq!(r.output["revision"], 1);
    assert_eq!(changes(&r), ["Deployment web: rolled back revision 2→1"]);
}

#[tokio::test]
async fn rollback_to_a_missing_revision_names_the_ones_there_are() {
    let env = env().await;
    let d = env.deployment("web", 2).await;
    replicaset(&env, &d, 1, "shop:1").await;
    let r = env
        .perform(
            "undo-7",
            "rollback_deployment",
            json!({ "namespace": NS, "deployment": "web", "revision": 7 }),
        )
        .await;
    let msg = failed(r, ErrorReason::NotFound);
    assert_eq!(
        msg,
        "Deployment shop/web has no revision 7 to roll back to (revisions: 1); check the step's `revision`"
    );
}

/// A pod, owned by a (created) ReplicaSet `owner` if given.
async fn pod(env: &crate::Env, name: &str, owner: Option<&str>) {
    let owners = match owner {
        Some(o) => {
            let rs: ReplicaSet = env
                .create(
                    &env.api::<ReplicaSet>(),
                    json!({
                        "metadata": { "name": o },
                        "spec": { "replicas": 0, "selector": { "matchLabels": { "app": o } },
                                  "template": { "metadata": { "labels": { "app": o } },
                                                "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] } } }
                    }),
                )
                .await;
            json!([ { "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o, "uid": rs.uid().unwrap(), "controller": true } ])
        }
        None => json!([]),
    };
    env.create(
        &env.api::<Pod>(),
        json!({
            "metadata": { "name": name, "ownerReferences": owners },
            "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] }
        }),
    )
    .await;
}

#[tokio::test]
async fn restart_pod_deletes_a_pod_that_its_controller_recreates() {
    let env = env().await;
    pod(&env, "web-abc", Some("web-1")).await;
    let r = succeeded(
        env.perform(
            "restart-pod",
            "restart_pod",
            json!({ "namespace": NS, "pod": "web-abc" }),
        )
        .await,
    );
    assert!(env.api::<Pod>().get_opt("web-abc").await.unwrap().is_none());
    assert_eq!(
        r.output,
        json!({ "owner": "ReplicaSet/web-1" })
            .as_object()
            .cloned()
            .unwrap()
    );

    pod(&env, "lonely", None).await;
    let r = env
        .perform(
            "restart-lonely",
            "restart_pod",
            json!({ "namespace": NS, "pod": "lonely" }),
        )
        .await;
    let msg = failed(r, ErrorReason::Invalid);
    assert!(msg.contains("use delete_pod"), "{msg}");
    assert!(env.api::<Pod>().get_opt("lonely").await.unwrap().is_some());

    let r = succeeded(
        env.perform(
            "delete-lonely",
            "delete_pod",
            json!({ "namespace": NS, "pod": "lonely", "grace_period_seconds": 0 }),
        )
        .await,
    );
    assert_eq!(r.output["deleted"], "lonely");
    assert!(env.api::<Pod>().get_opt("lonely").await.unwrap().is_none());
}

#[tokio::test]
async fn expand_pvc_only_grows() {
    let env = env().await;
    env.create(
        &env.api::<PersistentVolumeClaim>(),
        json!({
            "metadata": { "name": "data" },
            "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "10Gi" } } }
        }),
    )
    .await;
    let r = env
        .perform(
            "shrink",
            "expand_pvc",
            json!({ "namespace": NS, "pvc": "data", "size": "10240Mi" }),
        )
        .await;
    let msg = failed(r, ErrorReason::Invalid);
    assert!(msg.contains("already requests 10Gi"), "{msg}");
    let r = succeeded(
        env.perform(
            "grow",
            "expand_pvc",
            json!({ "namespace": NS, "pvc": "data", "size": "20Gi" }),
        )
        .await,
    );
    let pvc = env
        .api::<PersistentVolumeClaim>()
        .get("data")
        .await
        .unwrap();
    assert_eq!(
        pvc.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
        "20Gi"
    );
    assert_eq!(r.output["previous_size"], "10Gi");
    assert_eq!(
        changes(&r),
        ["PersistentVolumeClaim data: storage 10Gi→20Gi"]
    );
}

#[tokio::test]
async fn a_compensation_restores_credential_keys_exactly_without_showing_them() {
    use remedy::api::kubernetes_execution::{ActionCall, ExecutionKind, KubernetesExecutionSpec};
    use remedy::api::workflow_execution::ObjectRef;
    use remedy::catalog::Effect;
    use remedy::plan::OnFailure;
    use remedy::plan::{PlannedAction, PlannedStep, PlannedValue, RetryPolicy, StepStage};

    let env = env().await;
    let api = env.api::<ConfigMap>();
    let before = json!({ "DB_PASSWORD": "old-pass-1", "api_token": "old-token-9", "mode": "fast" });
    env.create(
        &api,
        json!({ "metadata": { "name": "app" }, "data": before }),
    )
    .await;
    // One run: the patch, and its compensation reading `self.output.previous_data`.
    let new_data =
        json!({ "DB_PASSWORD": "new-pass-2", "api_token": "new-token-3", "mode": "safe" });
    let with = |data: PlannedValue| -> std::collections::BTreeMap<String, PlannedValue> {
        [
            ("namespace".to_string(), PlannedValue::Value(json!(NS))),
            ("configmap".to_string(), PlannedValue::Value(json!("app"))),
            ("data".to_string(), data),
        ]
        .into()
    };
    let action = |data: PlannedValue| PlannedAction {
        action_type: "patch_configmap".into(),
        with: with(data),
        timeout_ms: 60_000,
        retry: RetryPolicy::default(),
    };
    let step = PlannedStep {
        name: "patch".into(),
        stage: StepStage::Main,
        depends_on: vec![],
        action: action(PlannedValue::Value(new_data.clone())),
        effect: Effect::Reversible,
        when: None,
        on_failure: OnFailure::Rollback,
        rollback: Some(action(PlannedValue::Deferred(
            "self.output.previous_data".into(),
        ))),
    };
    let run = env.run_with("run-cm", vec![step], false).await;
    let call = |data: serde_json::Value| KubernetesExecutionSpec {
        workflow_execution_ref: ObjectRef {
            name: "run-cm".into(),
            namespace: None,
        },
        step: "patch".into(),
        attempt: 1,
        action: ActionCall {
            action_type: "patch_configmap".into(),
            parameters: json!({ "namespace": NS, "configmap": "app", "data": data })
                .as_object()
                .cloned()
                .unwrap(),
        },
        timeout: None,
        dry_run: false,
    };
    let kex = env.signed("run-cm-patch-1", &run, call(new_data), ExecutionKind::Step);
    env.api::<remedy::api::KubernetesExecution>()
        .create(&Default::default(), &kex)
        .await
        .unwrap();
    let r = succeeded(crate::result(&env.run("run-cm-patch-1").await));
    assert_eq!(
        changes(&r),
        ["ConfigMap app: set DB_PASSWORD, api_token, mode"]
    );
    let previous = r.output["previous_data"].clone();
    assert_eq!(previous["mode"], "fast");
    let stored = previous.to_string();
    assert!(
        !stored.contains("old-pass-1") && !stored.contains("old-token-9"),
        "{stored}"
    );

    // The engine records the step done, passes the output on as it is, and the executor
    // opens it when it restores.
    env.set_step(
        "run-cm",
        remedy::api::StepStatus {
            name: "patch".into(),
            phase: remedy::api::StepPhase::Succeeded,
            attempts: 1,
            execution_ref: Some("run-cm-patch-1".into()),
            ..Default::default()
        },
    )
    .await;
    let undo = env.signed(
        "run-cm-patch-rb-1",
        &run,
        call(previous),
        ExecutionKind::Rollback,
    );
    env.api::<remedy::api::KubernetesExecution>()
        .create(&Default::default(), &undo)
        .await
        .unwrap();
    let undone = env.run("run-cm-patch-rb-1").await;
    succeeded(crate::result(&undone));
    let data = api.get("app").await.unwrap().data.unwrap();
    assert_eq!(
        json!(data),
        before,
        "every key as it was, credentials included"
    );
    let stored = serde_json::to_string(&undone).unwrap();
    for clear in ["old-pass-1", "old-token-9", "new-pass-2", "new-token-3"] {
        assert!(!stored.contains(clear), "{clear} in {stored}");
    }
}

#[tokio::test]
async fn patch_configmap_sets_and_removes_keys_and_its_output_undoes_it() {
    let env = env().await;
    let api = env.api::<ConfigMap>();
    env.create(
        &api,
        json!({ "metadata": { "name": "settings" }, "data": { "mode": "fast", "old": "x" } }),
    )
    .await;
    let r = succeeded(
        env.perform(
            "patch",
            "patch_configmap",
            json!({ "namespace": NS, "configmap": "settings", "data": { "mode": "safe", "level": 3 }, "remove": ["old"] }),
        )
        .await,
    );
    let data = api.get("settings").await.unwrap().data.unwrap();
    assert_eq!(data.get("mode").map(String::as_str), Some("safe"));
    assert_eq!(data.get("level").map(String::as_str), Some("3"));
    assert!(!data.contains_key("old"));
    assert_eq!(
        r.output["previous_data"],
        json!({ "mode": "fast", "level": null, "old": "x" })
    );
    assert_eq!(
        changes(&r),
        ["ConfigMap settings: set level, mode; removed old"]
    );

    // The compensation the catalog documents: data = previous_data.
    succeeded(
        env.perform(
            "undo",
            "patch_configmap",
            json!({ "namespace": NS, "configmap": "settings", "data": r.output["previous_data"] }),
        )
        .await,
    );
    let data = api.get("settings").await.unwrap().data.unwrap();
    assert_eq!(
        data,
        [
            ("mode".to_string(), "fast".to_string()),
            ("old".to_string(), "x".to_string())
        ]
        .into_iter()
        .collect()
    );
}

#[tokio::test]
async fn update_hpa_changes_bounds_and_checks_them() {
    let env = env().await;
    let api = env.api::<HorizontalPodAutoscaler>();
    env.create(
        &api,
        json!({
            "metadata": { "name": "web" },
            "spec": { "minReplicas": 2, "maxReplicas": 5,
                      "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" } }
        }),
    )
    .await;
    let r = succeeded(
        env.perform(
            "hpa",
            "update_hpa",
            json!({ "namespace": NS, "hpa": "web", "max_replicas": 10 }),
        )
        .await,
    );
    let spec = api.get("web").await.unwrap().spec.unwrap();
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 10));
    assert_eq!(r.output["previous_max_replicas"], 5);
    assert_eq!(r.output["previous_min_replicas"], 2);
    assert_eq!(
        changes(&r),
        ["HorizontalPodAutoscaler web: maxReplicas 5→10"]
    );
    let r = env
        .perform(
            "hpa-bad",
            "update_hpa",
            json!({ "namespace": NS, "hpa": "web", "min_replicas": 20 }),
        )
        .await;
    assert!(failed(r, ErrorReason::Invalid).contains("min 20 > max 10"));
}
