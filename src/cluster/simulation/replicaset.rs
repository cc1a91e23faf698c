//! The ReplicaSet controller: keeps `spec.replicas` Pods from the template, owned by the set;
//! a Pod relabelled out of its selector is released (and replaced), a matching orphan adopted.

use serde_json::{Value, json};

use super::api::{
    SimClient, collection_path, controller_ref, deleting, int, meta, object_path, pod_ready,
    write_status,
};

const APPS: &str = "/apis/apps/v1";

/// The most Pods a controller creates or deletes for one owner in one tick (the
/// kube-controller-manager's `burstReplicas`), so a huge `replicas` is worked off over many
/// ticks and a deletion in between stops it.
pub const BURST_REPLICAS: usize = 500;

/// Reconciles every ReplicaSet.
pub async fn reconcile(client: &SimClient) {
    let sets = client.list(&format!("{APPS}/replicasets")).await;
    let pods = client.list("/api/v1/pods").await;
    for rs in sets {
        if deleting(&rs) {
            continue;
        }
        let mut owned: Vec<&Value> = super::claim::claim(client, &rs, &pods).await;
        let want = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        let ns = meta(&rs, "namespace");
        if owned.len() < want {
            for _ in owned.len()..want.min(owned.len() + BURST_REPLICAS) {
                client
                    .create(
                        &collection_path("/api/v1", "pods", ns),
                        &pod_for(&rs, &format!("{}-", meta(&rs, "name"))),
                    )
                    .await;
            }
        } else if owned.len() > want {
            // Like the real controller: remove unready and unscheduled pods first, then the newest.
            owned.sort_by_key(|p| {
                (
                    pod_ready(p),
                    p.pointer("/spec/nodeName").is_some(),
                    std::cmp::Reverse(meta(p, "creationTimestamp").to_string()),
                )
            });
            let surplus = (owned.len() - want).min(BURST_REPLICAS);
            for p in owned.iter().take(surplus) {
                client.delete(&object_path("/api/v1", "pods", p)).await;
            }
            owned.drain(..surplus);
        }
        let ready = owned.iter().filter(|p| pod_ready(p)).count() as i64;
        let mut status = json!({
            "replicas": owned.len(),
            "fullyLabeledReplicas": owned.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": int(&rs, "/metadata/generation"),
        });
        for key in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
            if status[key] == json!(0)
                && let Some(m) = status.as_object_mut()
            {
                m.remove(key);
            }
        }
        write_status(client, &object_path(APPS, "replicasets", &rs), &rs, status).await;
    }
}

/// A Pod from a workload's template, owned by it (`generateName` gives the suffix).
pub fn pod_for(owner: &Value, generate_name: &str) -> Value {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": generate_name,
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
            "ownerReferences": [controller_ref(owner)],
        },
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    })
}
