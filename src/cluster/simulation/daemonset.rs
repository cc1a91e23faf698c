//! The DaemonSet controller: one Pod per Ready node matching the template's nodeSelector
//! (cordoned nodes included, as the real controller tolerates `unschedulable`), replaced one
//! at a time when the template changes.

use serde_json::{Value, json};

use super::api::{
    SimClient, collection_path, deleting, int, meta, node_ready, object_path, pod_ready,
    write_status,
};
use super::deployment::template_hash;
use super::replicaset::pod_for;

const APPS: &str = "/apis/apps/v1";
const HASH_LABEL: &str = "controller-revision-hash";

fn selects(node: &Value, selector: Option<&Value>) -> bool {
    let labels = node.pointer("/metadata/labels");
    selector.and_then(Value::as_object).is_none_or(|sel| {
        sel.iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    })
}

/// Reconciles every DaemonSet.
pub async fn reconcile(client: &SimClient) {
    let sets = client.list(&format!("{APPS}/daemonsets")).await;
    if sets.is_empty() {
        return;
    }
    let nodes = client.list("/api/v1/nodes").await;
    let pods = client.list("/api/v1/pods").await;
    for ds in sets {
        if deleting(&ds) {
            continue;
        }
        let hash = template_hash(ds.pointer("/spec/template").unwrap_or(&Value::Null));
        let owned: Vec<&Value> = super::claim::claim(client, &ds, &pods).await;
        let eligible: Vec<&str> = nodes
            .iter()
            .filter(|n| node_ready(n) && selects(n, ds.pointer("/spec/template/spec/nodeSelector")))
            .map(|n| meta(n, "name"))
            .collect();
        let on_node = |p: &Value, node: &str| {
            p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
        };
        for node in &eligible {
            if !owned.iter().any(|p| on_node(p, node)) {
                let mut pod = pod_for(&ds, &format!("{}-", meta(&ds, "name")));
                pod["spec"]["nodeName"] = json!(node);
                pod["metadata"]["labels"][HASH_LABEL] = json!(hash);
                client
                    .create(
                        &collection_path("/api/v1", "pods", meta(&ds, "namespace")),
                        &pod,
                    )
                    .await;
            }
        }
        for p in owned
            .iter()
            .filter(|p| !eligible.iter().any(|n| on_node(p, n)))
        {
            client.delete(&object_path("/api/v1", "pods", p)).await;
        }
        let stale = |p: &&&Value| {
            p.pointer(&format!("/metadata/labels/{HASH_LABEL}"))
                .and_then(Value::as_str)
                != Some(hash.as_str())
        };
        if owned.iter().all(|p| pod_ready(p))
            && let Some(old) = owned.iter().find(stale)
        {
            client.delete(&object_path("/api/v1", "pods", old)).await;
        }
        let scheduled = owned
            .iter()
            .filter(|p| eligible.iter().any(|n| on_node(p, n)))
            .count();
        let ready = owned.iter().filter(|p| pod_ready(p)).count();
        let updated = owned.iter().filter(|p| !stale(p)).count();
        let status = json!({
            "desiredNumberScheduled": eligible.len(),
            "currentNumberScheduled": scheduled,
            "numberMisscheduled": owned.len() - scheduled,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": updated,
            "observedGeneration": int(&ds, "/metadata/generation"),
        });
        write_status(client, &object_path(APPS, "daemonsets", &ds), &ds, status).await;
    }
}
