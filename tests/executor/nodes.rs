//! Node actions: cordon, uncordon, taint, untaint, drain.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::Api;
use remedy::api::kubernetes_execution::ErrorReason;
use serde_json::{Value, json};

use crate::{Env, NS, changes, env, failed, succeeded};

async fn node(env: &Env, name: &str) -> Api<Node> {
    let api: Api<Node> = Api::all(env.client.clone());
    env.create(&api, json!({ "metadata": { "name": name }, "spec": {} }))
        .await;
    api
}

fn unschedulable(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

#[tokio::test]
async fn cordon_and_uncordon_record_what_was_there() {
    let env = env().await;
    let nodes = node(&env, "n1").await;
    let r = succeeded(
        env.perform("cordon", "cordon_node", json!({ "node": "n1" }))
            .await,
    );
    assert!(unschedulable(&nodes.get("n1").await.unwrap()));
    assert_eq!(r.output["was_unschedulable"], false);
    assert_eq!(changes(&r), ["Node n1: cordoned"]);

    let r = succeeded(
        env.perform("cordon-again", "cordon_node", json!({ "node": "n1" }))
            .await,
    );
    assert_eq!(r.output["was_unschedulable"], true);
    assert!(r.resources_affected.is_empty(), "nothing changed: {r:?}");

    let r = succeeded(
        env.perform("uncordon", "uncordon_node", json!({ "node": "n1" }))
            .await,
    );
    assert!(!unschedulable(&nodes.get("n1").await.unwrap()));
    assert_eq!(r.output["was_unschedulable"], true);
    assert_eq!(changes(&r), ["Node n1: uncordoned"]);
}

#[tokio::test]
async fn taint_replaces_same_key_and_effect_and_untaint_removes_it() {
    let env = env().await;
    let nodes = node(&env, "n1").await;
    let r = succeeded(
        env.perform(
            "taint",
            "taint_node",
            json!({ "node": "n1", "key": "dedicated", "value": "gpu", "effect": "NoSchedule" }),
        )
        .await,
    );
    assert_eq!(r.output["previous_taint"], Value::Null);
    assert_eq!(changes(&r), ["Node n1: tainted dedicated=gpu:NoSchedule"]);
    let r = succeeded(
        env.perform(
            "retaint",
            "taint_node",
            json!({ "node": "n1", "key": "dedicated", "value": "db", "effect": "NoSchedule" }),
        )
        .await,
    );
    assert_eq!(r.output["previous_taint"]["value"], "gpu");
    let taints = nodes.get("n1").await.unwrap().spec.unwrap().taints.unwrap();
    assert_eq!(taints.len(), 1);
    assert_eq!(taints[0].value.as_deref(), Some("db"));

    let r = succeeded(
        env.perform(
            "untaint",
            "untaint_node",
            json!({ "node": "n1", "key": "dedicated" }),
        )
        .await,
    );
    assert_eq!(r.output["removed"][0]["key"], "dedicated");
    let spec = nodes.get("n1").await.unwrap().spec.unwrap();
    assert!(spec.taints.unwrap_or_default().is_empty());
}

async fn pod_on(env: &Env, name: &str, node: &str, extra: Value) {
    let mut pod = json!({
        "metadata": { "name": name },
        "spec": { "nodeName": node, "containers": [ { "name": "app", "image": "x" } ] }
    });
    json_merge(&mut pod, extra);
    env.create(&env.api::<Pod>(), pod).await;
}

fn json_merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                json_merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

#[tokio::test]
async fn drain_cordons_and_evicts_all_but_daemonset_and_mirror_pods() {
    let env = env().await;
    let nodes = node(&env, "n1").await;
    node(&env, "n2").await;
    let ds: DaemonSet = env
        .create(
            &env.api::<DaemonSet>(),
            json!({
                "metadata": { "name": "agent" },
                "spec": { "selector": { "matchLabels": { "app": "agent" } },
                          "template": { "metadata": { "labels": { "app": "agent" } },
                                        "spec": { "containers": [ { "name": "a", "image": "agent" } ] } } }
            }),
        )
        .await;
    pod_on(&env, "web-1", "n1", json!({})).await;
    pod_on(&env, "web-2", "n1", json!({})).await;
    pod_on(&env, "elsewhere", "n2", json!({})).await;
    pod_on(
        &env,
        "agent-n1",
        "n1",
        json!({ "metadata": { "ownerReferences": [ { "apiVersion": "apps/v1", "kind": "DaemonSet",
                "name": "agent", "uid": ds.uid().unwrap(), "controller": true } ] } }),
    )
    .await;
    pod_on(
        &env,
        "static-n1",
        "n1",
        json!({ "metadata": { "annotations": { "kubernetes.io/config.mirror": "abc" } } }),
    )
    .await;

    let r = succeeded(
        env.perform(
            "drain",
            "drain_node",
            json!({ "node": "n1", "grace_period_seconds": 0 }),
        )
        .await,
    );
    assert!(unschedulable(&nodes.get("n1").await.unwrap()));
    let left: Vec<String> = env
        .api::<Pod>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(left, ["agent-n1", "elsewhere", "static-n1"]);
    assert_eq!(
        r.output["evicted"],
        json!([format!("{NS}/web-1"), format!("{NS}/web-2")])
    );
    assert_eq!(r.output["was_unschedulable"], false);
    assert_eq!(
        changes(&r),
        [
            "Node n1: cordoned",
            "Pod web-1: evicted from n1",
            "Pod web-2: evicted from n1"
        ]
    );
}

#[tokio::test]
async fn drain_refuses_to_lose_emptydir_data_unless_told() {
    let env = env().await;
    let nodes = node(&env, "n1").await;
    pod_on(
        &env,
        "cache",
        "n1",
        json!({ "spec": { "volumes": [ { "name": "tmp", "emptyDir": {} } ] } }),
    )
    .await;
    let r = env
        .perform("drain", "drain_node", json!({ "node": "n1" }))
        .await;
    let msg = failed(r, ErrorReason::Invalid);
    assert!(msg.contains("emptyDir data of shop/cache"), "{msg}");
    assert!(
        !unschedulable(&nodes.get("n1").await.unwrap()),
        "refused before cordoning"
    );
    succeeded(
        env.perform(
            "drain-anyway",
            "drain_node",
            json!({ "node": "n1", "delete_emptydir_data": true }),
        )
        .await,
    );
    assert!(env.api::<Pod>().get_opt("cache").await.unwrap().is_none());
}
