//! The new actions with the workload simulation running: a quarantined pod is replaced by its
//! ReplicaSet and kept; migrate_workload moves pods off a node one at a time and waits for
//! a PodDisruptionBudget; a DaemonSet restart rolls every pod and verify_rollout sees it done.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use kube::api::ListParams;
use remedy::api::kubernetes_execution::{ErrorReason, ExecutionResult};
use remedy::cluster::SimulationConfig;
use serde_json::{Value, json};

use crate::{Env, NS, changes, env, failed, finished, result, succeeded};

async fn simulated_env(nodes: usize) -> Env {
    let env = env().await;
    env.cluster.start_simulation(SimulationConfig {
        tick: Duration::from_millis(20),
        pod_ready_delay: Duration::from_millis(40),
        nodes,
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

async fn web(env: &Env, replicas: i32) {
    env.create(
        &env.api::<Deployment>(),
        json!({ "metadata": { "name": "web" },
                "spec": { "replicas": replicas, "selector": { "matchLabels": { "app": "web" } },
                          "template": { "metadata": { "labels": { "app": "web" } },
                                        "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] } } } }),
    )
    .await;
    succeeded(
        perform(
            env,
            "ready",
            "verify_rollout",
            json!({ "namespace": NS, "workload": "deployment/web" }),
        )
        .await,
    );
}

async fn pods(env: &Env, selector: &str) -> Vec<Pod> {
    env.api::<Pod>()
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
}

fn node_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .unwrap()
        .node_name
        .clone()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_quarantined_pod_is_replaced_and_kept_out_of_its_replicaset() {
    let env = simulated_env(2).await;
    web(&env, 2).await;
    let victim = pods(&env, "app=web").await[0].name_any();
    let r = succeeded(
        perform(
            &env,
            "quarantine",
            "quarantine_pod",
            json!({ "namespace": NS, "pod": victim }),
        )
        .await,
    );
    assert!(
        r.output["owner"]
            .as_str()
            .unwrap()
            .starts_with("ReplicaSet/web-")
    );
    let r = succeeded(
        perform(
            &env,
            "replaced",
            "verify_rollout",
            json!({ "namespace": NS, "workload": "deployment/web" }),
        )
        .await,
    );
    assert_eq!(r.output["available"], 2);
    let serving: Vec<String> = pods(&env, "app=web")
        .await
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(serving.len(), 2);
    assert!(!serving.contains(&victim));
    let kept = env.api::<Pod>().get(&victim).await.unwrap();
    assert!(
        kept.owner_references().is_empty(),
        "released by its ReplicaSet"
    );
    assert_eq!(kept.labels()["remedy.kubernaut.io/quarantined"], "true");
}

#[tokio::test]
async fn migrate_workload_moves_pods_off_a_node_one_at_a_time_within_the_budget() {
    let env = simulated_env(2).await;
    web(&env, 3).await;
    // Then node-1 gets busy with pods pinned to it, so replacements go to node-2.
    for i in 0..4 {
        env.create(
            &env.api::<Pod>(),
            json!({ "metadata": { "name": format!("pinned-{i}"), "labels": { "app": "pinned" } },
                    "spec": { "nodeName": "node-1", "containers": [ { "name": "a", "image": "x" } ] } }),
        )
        .await;
    }
    env.create(
        &env.api::<PodDisruptionBudget>(),
        json!({ "metadata": { "name": "web" },
                "spec": { "maxUnavailable": 1, "selector": { "matchLabels": { "app": "web" } } } }),
    )
    .await;
    let on_node_1: Vec<String> = pods(&env, "app=web")
        .await
        .iter()
        .filter(|p| node_of(p) == "node-1")
        .map(|p| p.name_any())
        .collect();
    assert!(!on_node_1.is_empty(), "the spread put web pods on node-1");
    let r = succeeded(
        perform(
            &env,
            "migrate",
            "migrate_workload",
            json!({ "namespace": NS, "workload": "deployment/web", "node": "node-1" }),
        )
        .await,
    );
    let mut evicted: Vec<String> = r.output["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    evicted.sort();
    let mut expected = on_node_1.clone();
    expected.sort();
    assert_eq!(evicted, expected);
    assert_eq!(r.output["returned"], json!([]));
    assert_eq!(changes(&r).len(), on_node_1.len());
    succeeded(
        perform(
            &env,
            "after",
            "verify_rollout",
            json!({ "namespace": NS, "workload": "deployment/web" }),
        )
        .await,
    );
    let nodes: Vec<String> = pods(&env, "app=web").await.iter().map(node_of).collect();
    assert!(nodes.iter().all(|n| n == "node-2"), "{nodes:?}");
    assert_eq!(
        pods(&env, "app=pinned").await.len(),
        4,
        "the rest of node-1 stays"
    );
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(env.client.clone());
    let n1 = nodes.get("node-1").await.unwrap();
    assert_ne!(
        n1.spec.and_then(|s| s.unschedulable),
        Some(true),
        "not cordoned"
    );

    // A budget that allows no disruption holds the move until the step's timeout.
    env.api::<PodDisruptionBudget>()
        .patch(
            "web",
            &Default::default(),
            &kube::api::Patch::Merge(
                json!({ "spec": { "maxUnavailable": null, "minAvailable": 3 } }),
            ),
        )
        .await
        .unwrap();
    env.execution_with(
        "held",
        "migrate_workload",
        json!({ "namespace": NS, "workload": "deployment/web", "node": "node-2" }),
        |s| s.timeout = Some("1s".into()),
    )
    .await;
    let mut held = None;
    for _ in 0..300 {
        let (_, kex) = env.reconcile("held").await;
        if finished(&kex) {
            held = Some(result(&kex));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    failed(held.expect("the held move finished"), ErrorReason::Timeout);
    assert_eq!(pods(&env, "app=web").await.len(), 3, "nothing was evicted");
}

#[tokio::test]
async fn a_daemonset_restart_rolls_every_pod_and_verify_rollout_sees_it_done() {
    let env = simulated_env(3).await;
    env.create(
        &env.api::<DaemonSet>(),
        json!({ "metadata": { "name": "agent" },
                "spec": { "selector": { "matchLabels": { "app": "agent" } },
                          "template": { "metadata": { "labels": { "app": "agent" } },
                                        "spec": { "containers": [ { "name": "a", "image": "agent:1" } ] } } } }),
    )
    .await;
    succeeded(
        perform(
            &env,
            "up",
            "verify_rollout",
            json!({ "namespace": NS, "workload": "daemonset/agent" }),
        )
        .await,
    );
    let before: Vec<String> = pods(&env, "app=agent")
        .await
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(before.len(), 3);
    succeeded(
        perform(
            &env,
            "restart",
            "restart_daemonset",
            json!({ "namespace": NS, "daemonset": "agent" }),
        )
        .await,
    );
    let r = succeeded(
        perform(
            &env,
            "rolled",
            "verify_rollout",
            json!({ "namespace": NS, "workload": "daemonset/agent" }),
        )
        .await,
    );
    assert_eq!(
        (r.output["desired"].clone(), r.output["updated"].clone()),
        (json!(3), json!(3))
    );
    let after: Vec<String> = pods(&env, "app=agent")
        .await
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(after.len(), 3);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "every pod rolled: {before:?} {after:?}"
    );
}
