//! deploy/rbac/executor.yaml grants exactly what the executor uses: every request it makes
//! while performing every action is allowed, and every right granted is used.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod};
use kube::api::Api;
use kube::{Client, ResourceExt};
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::executor::{ExecutorConfig, run_until};
use serde_json::{Value, json};

use crate::{Env, NS, env_on};

/// One request as RBAC sees it: API group, resource (with subresource), verb.
type Request = (String, String, String);

/// Reads `/api/v1/namespaces/ns/pods/name/eviction` and the like as RBAC does.
fn classify(method: &http::Method, uri: &http::Uri) -> Request {
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest.to_vec()),
        ["apis", group, _version, rest @ ..] => (group.to_string(), rest.to_vec()),
        _ => panic!("unexpected path {uri}"),
    };
    let rest = match rest.as_slice() {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        _ => rest,
    };
    let (resource, named) = match rest.as_slice() {
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => panic!("unexpected path {uri}"),
    };
    let watch = uri
        .query()
        .is_some_and(|q| q.contains("watch=true") || q.contains("watch=1"));
    let verb = match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => panic!("unexpected method {method}"),
    };
    (group, resource, verb.to_string())
}

/// The (group, resource, verb) triples the ClusterRole and the Roles grant.
fn granted() -> BTreeSet<Request> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/rbac/executor.yaml"
    ))
    .unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut out = BTreeSet::new();
    let roles = docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role");
    for rule in roles.flat_map(|r| r["rules"].as_array().unwrap()) {
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    out.insert((
                        group.as_str().unwrap().to_string(),
                        resource.as_str().unwrap().to_string(),
                        verb.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    out
}

/// Every request the executor sent: as RBAC classifies it, and its path.
type Log = Arc<Mutex<Vec<(Request, String)>>>;

/// An environment whose executor client records every request it sends.
async fn recording_env() -> (Env, Log, Client) {
    let cluster = EmbeddedCluster::new(Config::default());
    let seen: Log = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let service = tower::ServiceBuilder::new()
        .map_request(move |req: http::Request<kube::client::Body>| {
            let request = classify(req.method(), req.uri());
            log.lock()
                .unwrap()
                .push((request, req.uri().path().to_string()));
            req
        })
        .service(cluster.service());
    let executor = Client::new(service, "default");
    let client = cluster.client();
    (
        env_on(cluster, client, executor.clone()).await,
        seen,
        executor,
    )
}

#[tokio::test]
async fn the_cluster_role_grants_exactly_what_the_actions_use() {
    let (env, seen, executor) = recording_env().await;
    let d = env.deployment("web", 2).await;
    env.create(
        &env.api::<ReplicaSet>(),
        json!({
            "metadata": { "name": "web-1", "labels": { "app": "web" },
                          "annotations": { "deployment.kubernetes.io/revision": "1" },
                          "ownerReferences": [ { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                 "uid": d.uid().unwrap(), "controller": true } ] },
            "spec": { "selector": { "matchLabels": { "app": "web" } },
                      "template": { "metadata": { "labels": { "app": "web" } },
                                    "spec": { "containers": [ { "name": "app", "image": "shop:0" } ] } } }
        }),
    )
    .await;
    env.create(
        &env.api::<StatefulSet>(),
        json!({ "metadata": { "name": "db" },
                "spec": { "serviceName": "db", "selector": { "matchLabels": { "app": "db" } },
                          "template": { "metadata": { "labels": { "app": "db" } },
                                        "spec": { "containers": [ { "name": "db", "image": "pg" } ] } } } }),
    )
    .await;
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
        json!({ "metadata": { "name": "data" },
                "spec": { "resources": { "requests": { "storage": "1Gi" } } } }),
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

    // The objects the newer actions act on.
    let q: ReplicaSet = env
        .create(
            &env.api::<ReplicaSet>(),
            json!({ "metadata": { "name": "q-1" },
                    "spec": { "replicas": 0, "selector": { "matchLabels": { "app": "q" } },
                              "template": { "metadata": { "labels": { "app": "q" } },
                                            "spec": { "containers": [ { "name": "a", "image": "x" } ] } } } }),
        )
        .await;
    env.create(
        &env.api::<Pod>(),
        json!({ "metadata": { "name": "q1", "labels": { "app": "q" },
                              "ownerReferences": [ { "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "q-1",
                                                     "uid": q.uid().unwrap(), "controller": true } ] },
                "spec": { "containers": [ { "name": "a", "image": "x" } ] } }),
    )
    .await;
    env.create(
        &env.api::<Pod>(),
        json!({ "metadata": { "name": "w1", "labels": { "app": "web" } },
                "spec": { "nodeName": "n1", "containers": [ { "name": "a", "image": "x" } ] } }),
    )
    .await;
    env.create(
        &env.api::<Pod>(),
        json!({ "metadata": { "name": "evicted" }, "spec": { "containers": [ { "name": "a", "image": "x" } ] } }),
    )
    .await;
    env.api::<Pod>()
        .patch_status(
            "evicted",
            &Default::default(),
            &kube::api::Patch::Merge(
                json!({ "status": { "phase": "Failed", "reason": "Evicted" } }),
            ),
        )
        .await
        .unwrap();
    env.create(
        &env.api::<DaemonSet>(),
        json!({ "metadata": { "name": "agent" },
                "spec": { "selector": { "matchLabels": { "app": "agent" } },
                          "template": { "metadata": { "labels": { "app": "agent" } },
                                        "spec": { "containers": [ { "name": "a", "image": "x",
                                                  "envFrom": [ { "secretRef": { "name": "creds" } } ] } ] } } } }),
    )
    .await;
    env.create(
        &env.api::<CronJob>(),
        json!({ "metadata": { "name": "report" },
                "spec": { "schedule": "@hourly", "jobTemplate": { "spec": { "template": { "spec": {
                    "restartPolicy": "Never", "containers": [ { "name": "r", "image": "r" } ] } } } } } }),
    )
    .await;
    env.create(
        &env.api::<Job>(),
        json!({ "metadata": { "name": "report-1" },
                "spec": { "template": { "spec": { "restartPolicy": "Never",
                          "containers": [ { "name": "r", "image": "r" } ] } } } }),
    )
    .await;

    let calls = [
        (
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        ),
        (
            "scale_statefulset",
            json!({ "namespace": NS, "statefulset": "db", "replicas": 2 }),
        ),
        (
            "restart_deployment",
            json!({ "namespace": NS, "deployment": "web" }),
        ),
        (
            "increase_resources",
            json!({ "namespace": NS, "deployment": "web", "memory": "1Gi" }),
        ),
        (
            "rollback_deployment",
            json!({ "namespace": NS, "deployment": "web", "revision": 1 }),
        ),
        ("delete_pod", json!({ "namespace": NS, "pod": "p1" })),
        (
            "update_hpa",
            json!({ "namespace": NS, "hpa": "web", "max_replicas": 6 }),
        ),
        ("quarantine_pod", json!({ "namespace": NS, "pod": "q1" })),
        (
            "release_pod",
            json!({ "namespace": NS, "pod": "q1", "labels": { "app": "q" } }),
        ),
        ("isolate_pod", json!({ "namespace": NS, "pod": "q1" })),
        (
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "remedy-isolate-q1", "spec": { "podSelector": {} } }),
        ),
        (
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "remedy-isolate-q1", "state": "absent" }),
        ),
        (
            "restart_statefulset",
            json!({ "namespace": NS, "statefulset": "db" }),
        ),
        (
            "restart_daemonset",
            json!({ "namespace": NS, "daemonset": "agent" }),
        ),
        (
            "pause_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        ),
        (
            "resume_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        ),
        (
            "suspend_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        ),
        (
            "resume_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        ),
        ("cleanup_pods", json!({ "namespace": NS, "max": 3 })),
        (
            "cleanup_jobs",
            json!({ "namespace": NS, "state": "any", "max": 3 }),
        ),
        (
            "migrate_workload",
            json!({ "namespace": NS, "workload": "deployment/web", "node": "n1" }),
        ),
        (
            "rotate_secret_consumers",
            json!({ "namespace": NS, "secret": "creds" }),
        ),
        (
            "verify_rollout",
            json!({ "namespace": NS, "workload": "daemonset/agent", "min_available": 0 }),
        ),
        (
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "cronjob/report" }),
        ),
        (
            "taint_node",
            json!({ "node": "n1", "key": "k", "effect": "NoSchedule" }),
        ),
        ("untaint_node", json!({ "node": "n1", "key": "k" })),
        ("drain_node", json!({ "node": "n1" })),
        ("uncordon_node", json!({ "node": "n1" })),
        (
            "expand_pvc",
            json!({ "namespace": NS, "pvc": "data", "size": "2Gi" }),
        ),
        (
            "patch_configmap",
            json!({ "namespace": NS, "configmap": "cfg", "data": { "a": "2", "api_token": "t-123" } }),
        ),
        (
            "verify_deployment",
            json!({ "namespace": NS, "deployment": "web", "min_available": 0 }),
        ),
        (
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "deployment/web" }),
        ),
        (
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "statefulset/db", "events": false }),
        ),
        (
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "daemonset/agent" }),
        ),
        (
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "service/web" }),
        ),
        (
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "job/migrate" }),
        ),
        (
            "backup_data",
            json!({ "namespace": NS, "resource": "configmap/cfg" }),
        ),
        ("notify_only", json!({ "message": "hello" })),
        // Long enough to be resumed from a fresh read (a get).
        ("wait", json!({ "duration": "300ms" })),
    ];
    for (i, (action, params)) in calls.into_iter().enumerate() {
        if action == "verify_deployment" {
            // No workload controller runs here: report the rollout as seen.
            env.api::<k8s_openapi::api::apps::v1::Deployment>()
                .patch_status(
                    "web",
                    &Default::default(),
                    &kube::api::Patch::Merge(json!({ "status": { "observedGeneration": 1000 } })),
                )
                .await
                .unwrap();
        }
        if action == "verify_rollout" {
            env.api::<DaemonSet>()
                .patch_status(
                    "agent",
                    &Default::default(),
                    &kube::api::Patch::Merge(json!({ "status": { "observedGeneration": 1000,
                        "desiredNumberScheduled": 0, "currentNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0 } })),
                )
                .await
                .unwrap();
        }
        let r = env.perform(&format!("call-{i}"), action, params).await;
        assert!(
            r.success || action == "collect_diagnostics",
            "{action}: {}",
            r.error
        );
    }
    // The controller's own list and watch.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(run_until(executor, ExecutorConfig::default(), async move {
        let _ = stopped.await;
    }));
    // Until its watch is sent (a fixed 200 ms was too short on a loaded machine).
    for _ in 0..200 {
        let watching = seen
            .lock()
            .unwrap()
            .iter()
            .any(|(r, _)| r.1 == "kubernetesexecutions" && r.2 == "watch");
        if watching {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();

    let seen = seen.lock().unwrap().clone();
    let used: BTreeSet<Request> = seen.iter().map(|(r, _)| r.clone()).collect();
    // The one Secret it reads is the sealing key, in the operator's namespace.
    let secrets: BTreeSet<&str> = seen
        .iter()
        .filter(|(r, _)| r.1 == "secrets")
        .map(|(_, path)| path.as_str())
        .collect();
    assert_eq!(
        secrets,
        BTreeSet::from(["/api/v1/namespaces/remedy-system/secrets/remedy-seal-key"])
    );
    let granted = granted();
    let not_granted: Vec<&Request> = used.difference(&granted).collect();
    assert!(
        not_granted.is_empty(),
        "the executor needs rights it lacks: {not_granted:?}"
    );
    let unused: Vec<&Request> = granted.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "rights granted but never used: {unused:?}"
    );
}
