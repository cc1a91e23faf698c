//! The actions with the workload simulation running: Deployments get a ReplicaSet per
//! revision and Pods that become Ready, so scale, resources, rollback and drain are checked
//! end to end with verify_deployment.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use remedy::api::kubernetes_execution::ExecutionResult;
use remedy::cluster::SimulationConfig;
use serde_json::{Value, json};

use crate::{Env, NS, changes, env, finished, result, succeeded};

async fn simulated_env() -> Env {
    let env = env().await;
    env.cluster.start_simulation(SimulationConfig {
        tick: Duration::from_millis(20),
        pod_ready_delay: Duration::from_millis(40),
        nodes: 2,
        ..SimulationConfig::default()
    });
    env
}

/// Runs an execution to the end, letting the simulation work meanwhile (up to 20s).
async fn perform(env: &Env, name: &str, action: &str, params: Value) -> ExecutionResult {
    env.execution(name, action, params).await;
    for _ in 0..1000 {
        let (_, kex) = env.reconcile(name).await;
        if finished(&kex) {
            return result(&kex);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} did not finish")
}

async fn verify(env: &Env, name: &str) -> ExecutionResult {
    succeeded(
        perform(
            env,
            name,
            "verify_deployment",
            json!({ "namespace": NS, "deployment": "web" }),
        )
        .await,
    )
}

fn memory_limit(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap()["memory"]
        .0
        .clone()
}

#[tokio::test]
async fn scale_raise_memory_then_roll_back_with_verification() {
    let env = simulated_env().await;
    let deployments = env.api::<Deployment>();
    env.create(
        &deployments,
        json!({
            "metadata": { "name": "web" },
            "spec": {
                "replicas": 2,
                "selector": { "matchLabels": { "app": "web" } },
                "template": {
                    "metadata": { "labels": { "app": "web" } },
                    "spec": { "containers": [ { "name": "app", "image": "shop:1",
                              "resources": { "limits": { "memory": "512Mi" } } } ] }
                }
            }
        }),
    )
    .await;
    verify(&env, "ready").await;

    let r = succeeded(
        perform(
            &env,
            "scale",
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        )
        .await,
    );
    assert_eq!(changes(&r), ["Deployment web: scaled 2→3"]);
    let r = verify(&env, "scaled").await;
    assert_eq!(r.output["available_replicas"], 3);

    let r = succeeded(
        perform(
            &env,
            "memory",
            "increase_resources",
            json!({ "namespace": NS, "deployment": "web", "memory": "1Gi" }),
        )
        .await,
    );
    assert_eq!(r.output["previous_revision"], 1);
    verify(&env, "raised").await;
    let d = deployments.get("web").await.unwrap();
    assert_eq!(memory_limit(&d), "1Gi");
    assert_eq!(
        revisions(&env).await,
        [("1Gi".to_string(), 2), ("512Mi".to_string(), 1)]
    );

    // The compensation the catalog documents for increase_resources.
    let r = succeeded(
        perform(
            &env,
            "undo",
            "rollback_deployment",
            json!({ "namespace": NS, "deployment": "web", "revision": r.output["previous_revision"] }),
        )
        .await,
    );
    assert_eq!(changes(&r), ["Deployment web: rolled back revision 2→1"]);
    verify(&env, "restored").await;
    let d = deployments.get("web").await.unwrap();
    assert_eq!(memory_limit(&d), "512Mi");
    // Like `kubectl rollout undo`: the old ReplicaSet is reused and becomes the newest revision.
    assert_eq!(
        revisions(&env).await,
        [("1Gi".to_string(), 2), ("512Mi".to_string(), 3)],
        "no third ReplicaSet"
    );
}

/// Each ReplicaSet's memory limit and revision, sorted by limit.
async fn revisions(env: &Env) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = env
        .api::<ReplicaSet>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|rs| {
            let spec = rs.spec.as_ref().unwrap().template.as_ref().unwrap();
            let container = &spec.spec.as_ref().unwrap().containers[0];
            let memory = container
                .resources
                .as_ref()
                .unwrap()
                .limits
                .as_ref()
                .unwrap()["memory"]
                .0
                .clone();
            let revision = rs.annotations()["deployment.kubernetes.io/revision"]
                .parse()
                .unwrap();
            (memory, revision)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn restart_creates_a_new_revision() {
    let env = simulated_env().await;
    env.deployment("web", 2).await;
    verify(&env, "ready").await;
    let r = succeeded(
        perform(
            &env,
            "restart",
            "restart_deployment",
            json!({ "namespace": NS, "deployment": "web" }),
        )
        .await,
    );
    verify(&env, "restarted").await;
    let replicasets = env
        .api::<ReplicaSet>()
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut revisions: Vec<String> = replicasets
        .items
        .iter()
        .map(|rs| rs.annotations()["deployment.kubernetes.io/revision"].clone())
        .collect();
    revisions.sort();
    assert_eq!(revisions, ["1", "2"]);
    assert_eq!(r.output["previous_revision"], 1);
    assert_eq!(r.output["revision"], 2);
}

fn pods_on<'a>(pods: &'a [Pod], node: &str) -> Vec<&'a Pod> {
    pods.iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test]
async fn drain_moves_workload_pods_off_the_node_and_keeps_daemonset_pods() {
    let env = simulated_env().await;
    env.deployment("web", 4).await;
    env.create(
        &env.api::<DaemonSet>(),
        json!({
            "metadata": { "name": "agent" },
            "spec": { "selector": { "matchLabels": { "app": "agent" } },
                      "template": { "metadata": { "labels": { "app": "agent" } },
                                    "spec": { "containers": [ { "name": "a", "image": "agent" } ] } } }
        }),
    )
    .await;
    verify(&env, "ready").await;
    let nodes: Api<Node> = Api::all(env.client.clone());
    let node = nodes.list(&ListParams::default()).await.unwrap().items[0].name_any();
    let pods = env
        .api::<Pod>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let web_before = pods_on(&pods, &node)
        .iter()
        .filter(|p| p.name_any().starts_with("web"))
        .count();
    assert!(web_before > 0, "the scheduler spreads pods over both nodes");

    let r = succeeded(
        perform(
            &env,
            "drain",
            "drain_node",
            json!({ "node": node, "grace_period_seconds": 0 }),
        )
        .await,
    );
    assert_eq!(r.output["evicted"].as_array().unwrap().len(), web_before);
    verify(&env, "moved").await;
    let pods = env
        .api::<Pod>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let left: Vec<String> = pods_on(&pods, &node).iter().map(|p| p.name_any()).collect();
    assert_eq!(left.len(), 1, "only the DaemonSet pod stays: {left:?}");
    assert!(left[0].starts_with("agent"), "{left:?}");
}
