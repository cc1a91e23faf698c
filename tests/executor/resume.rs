//! An executor that stops after acting but before writing the result: the next one finds the
//! execution Running, sees the change already made, and finishes without a second write.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod};
use kube::api::Api;
use kube::{Client, ResourceExt};
use remedy::api::kubernetes_execution::{ExecutionPhase, KubernetesExecution};
use remedy::cluster::{Config, EmbeddedCluster};
use remedy::executor::{Context, ExecutorConfig, reconcile};
use serde_json::{Value, json};

use crate::{Env, NS, env_on, phase, result, snapshot};

/// A client whose second status write of an execution never arrives, as if the executor
/// stopped right after acting.
fn crashing_client(
    cluster: &EmbeddedCluster,
    armed: Arc<AtomicBool>,
    status_writes: Arc<AtomicUsize>,
) -> Client {
    let inner = cluster.service();
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let mut inner = inner.clone();
        let is_status_write =
            req.method() == http::Method::PUT && req.uri().path().ends_with("/status");
        let crash = is_status_write
            && armed.load(Ordering::SeqCst)
            && status_writes.fetch_add(1, Ordering::SeqCst) == 1;
        async move {
            if crash {
                return Err::<http::Response<_>, tower::BoxError>("executor stopped".into());
            }
            tower::Service::call(&mut inner, req)
                .await
                .map_err(tower::BoxError::from)
        }
    });
    Client::new(service, "default")
}

/// Creates the fixtures every case needs.
async fn fixtures(env: &Env) {
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
    let rs: ReplicaSet = env.api::<ReplicaSet>().get("web-1").await.unwrap();
    // The Deployment is at revision 2 (no workload controller runs here to say so).
    env.api::<Deployment>()
        .patch(
            "web",
            &Default::default(),
            &kube::api::Patch::Merge(
                json!({ "metadata": { "annotations": { "deployment.kubernetes.io/revision": "2" } } }),
            ),
        )
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(env.client.clone());
    env.create(
        &nodes,
        json!({ "metadata": { "name": "n1" }, "spec": { "taints": [ { "key": "old", "effect": "NoSchedule" } ] } }),
    )
    .await;
    env.create(&nodes, json!({ "metadata": { "name": "n2" } }))
        .await;
    for (name, node) in [("p1", "n1"), ("p2", "n2"), ("p3", "n2")] {
        env.create(
            &env.api::<Pod>(),
            json!({ "metadata": { "name": name, "ownerReferences": [ { "apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "web-1", "uid": rs.uid().unwrap(), "controller": true } ] },
                    "spec": { "nodeName": node, "containers": [ { "name": "a", "image": "x" } ] } }),
        )
        .await;
    }
    env.create(
        &env.api::<Pod>(),
        json!({ "metadata": { "name": "q1", "labels": { "app": "web", "tier": "front" },
                              "ownerReferences": [ { "apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "web-1", "uid": rs.uid().unwrap(), "controller": true } ] },
                "spec": { "containers": [ { "name": "a", "image": "x" } ] } }),
    )
    .await;
    env.create(
        &env.api::<Pod>(),
        json!({ "metadata": { "name": "old" }, "spec": { "containers": [ { "name": "a", "image": "x" } ] } }),
    )
    .await;
    env.api::<Pod>()
        .patch_status(
            "old",
            &Default::default(),
            &kube::api::Patch::Merge(json!({ "status": { "phase": "Failed" } })),
        )
        .await
        .unwrap();
    let template = |app: &str| {
        json!({ "metadata": { "labels": { "app": app } },
                "spec": { "containers": [ { "name": "a", "image": "x",
                          "envFrom": [ { "secretRef": { "name": "creds" } } ] } ] } })
    };
    env.create(
        &env.api::<StatefulSet>(),
        json!({ "metadata": { "name": "db" },
                "spec": { "serviceName": "db", "selector": { "matchLabels": { "app": "db" } }, "template": template("db") } }),
    )
    .await;
    env.create(
        &env.api::<DaemonSet>(),
        json!({ "metadata": { "name": "agent" },
                "spec": { "selector": { "matchLabels": { "app": "agent" } }, "template": template("agent") } }),
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
}

#[tokio::test]
async fn no_action_is_repeated_after_a_stop_between_acting_and_recording() {
    let cluster = EmbeddedCluster::new(Config::default());
    let armed = Arc::new(AtomicBool::new(false));
    let status_writes = Arc::new(AtomicUsize::new(0));
    let crashing = crashing_client(&cluster, armed.clone(), status_writes.clone());
    let client = cluster.client();
    let env = env_on(cluster, client, crashing).await;
    fixtures(&env).await;
    // The restarted executor's requests, to count its writes.
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = requests.clone();
    let recording = tower::ServiceBuilder::new()
        .map_request(move |req: http::Request<kube::client::Body>| {
            log.lock()
                .unwrap()
                .push(format!("{} {}", req.method(), req.uri().path()));
            req
        })
        .service(env.cluster.service());
    let restarted = Arc::new(Context::new(
        Client::new(recording, "default"),
        ExecutorConfig::default(),
    ));
    let executions = env.api::<KubernetesExecution>();

    let calls: Vec<(&str, Value)> = vec![
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
        (
            "rollback_deployment",
            json!({ "namespace": NS, "deployment": "web", "revision": 1 }),
        ),
        ("restart_pod", json!({ "namespace": NS, "pod": "p1" })),
        ("delete_pod", json!({ "namespace": NS, "pod": "p2" })),
        (
            "update_hpa",
            json!({ "namespace": NS, "hpa": "web", "min_replicas": 2 }),
        ),
        (
            "taint_node",
            json!({ "node": "n1", "key": "k", "value": "v", "effect": "NoExecute" }),
        ),
        ("untaint_node", json!({ "node": "n1", "key": "old" })),
        ("cordon_node", json!({ "node": "n1" })),
        ("drain_node", json!({ "node": "n2" })),
        (
            "expand_pvc",
            json!({ "namespace": NS, "pvc": "data", "size": "2Gi" }),
        ),
        (
            "patch_configmap",
            json!({ "namespace": NS, "configmap": "cfg", "data": { "a": "2" }, "remove": ["b"] }),
        ),
        (
            "backup_data",
            json!({ "namespace": NS, "resource": "deployment/web" }),
        ),
        ("notify_only", json!({ "message": "hello" })),
        ("quarantine_pod", json!({ "namespace": NS, "pod": "q1" })),
        (
            "release_pod",
            json!({ "namespace": NS, "pod": "q1", "labels": { "app": "web" } }),
        ),
        ("isolate_pod", json!({ "namespace": NS, "pod": "q1" })),
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
            "suspend_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        ),
        ("cleanup_pods", json!({ "namespace": NS, "max": 5 })),
        (
            "cleanup_jobs",
            json!({ "namespace": NS, "state": "any", "max": 5 }),
        ),
        (
            "rotate_secret_consumers",
            json!({ "namespace": NS, "secret": "creds" }),
        ),
    ];
    for (i, (action, params)) in calls.into_iter().enumerate() {
        let name = format!("crash-{i}");
        env.execution(&name, action, params).await;
        status_writes.store(0, Ordering::SeqCst);
        armed.store(true, Ordering::SeqCst);
        let kex = executions.get(&name).await.unwrap();
        let stopped = reconcile(Arc::new(kex), env.ctx.clone()).await;
        armed.store(false, Ordering::SeqCst);
        assert!(stopped.is_err(), "{action}: the result write was lost");
        let kex = executions.get(&name).await.unwrap();
        assert_eq!(phase(&kex), Some(ExecutionPhase::Running), "{action}");

        let before = snapshot(&env).await;
        requests.lock().unwrap().clear();
        reconcile(Arc::new(kex), restarted.clone()).await.unwrap();
        let writes: Vec<String> = requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !r.starts_with("GET ") && !r.ends_with(&format!("/{name}/status")))
            .cloned()
            .collect();
        assert!(writes.is_empty(), "{action} wrote again: {writes:?}");
        let kex = executions.get(&name).await.unwrap();
        let r = result(&kex);
        assert!(r.success, "{action}: {}", r.error);
        assert!(
            !r.resources_affected.is_empty() || action == "notify_only",
            "{action}: the change made before counts"
        );
        let new_objects: Vec<_> = snapshot(&env)
            .await
            .into_iter()
            .filter(|o| !before.contains(o))
            .collect();
        assert!(
            new_objects.is_empty(),
            "{action} wrote again: {new_objects:?}"
        );
        // And it really was done, once.
        if action == "scale_deployment" {
            let d = env.api::<Deployment>().get("web").await.unwrap();
            assert_eq!(d.spec.unwrap().replicas, Some(3));
            assert_eq!(r.output["previous_replicas"], 2);
        }
    }
}
