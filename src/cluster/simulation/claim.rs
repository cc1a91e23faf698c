//! How controllers claim Pods, as the real ones do: a Pod they control whose labels no longer
//! match their selector is released (its controller reference removed, so a relabelled Pod
//! leaves its ReplicaSet, which replaces it), and an orphan Pod that matches is adopted.

use serde_json::{Value, json};

use super::api::{SimClient, controller_ref, deleting, meta, object_path, owned_by};
use crate::cluster::selector::LabelSelector;

fn has_controller(pod: &Value) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r["controller"] == true))
}

/// The live Pods `owner` controls once it has released those its selector no longer matches
/// and adopted the matching orphans of its namespace.
pub async fn claim<'p>(client: &SimClient, owner: &Value, pods: &'p [Value]) -> Vec<&'p Value> {
    let uid = meta(owner, "uid");
    let ns = meta(owner, "namespace");
    let selector = owner
        .pointer("/spec/selector")
        .map(LabelSelector::from_object)
        .filter(|s| !s.is_empty());
    let mut claimed = Vec::new();
    for pod in pods
        .iter()
        .filter(|p| meta(p, "namespace") == ns && !deleting(p))
    {
        let matches = selector.as_ref().is_some_and(|s| s.matches(pod));
        if owned_by(pod, uid) {
            if matches || selector.is_none() {
                claimed.push(pod);
                continue;
            }
            let kept: Vec<Value> = pod
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .map(|refs| refs.iter().filter(|r| r["uid"] != uid).cloned().collect())
                .unwrap_or_default();
            client
                .patch(
                    &object_path("/api/v1", "pods", pod),
                    &json!({"metadata": {"ownerReferences": kept}}),
                )
                .await;
        } else if matches && !has_controller(pod) {
            let mut refs: Vec<Value> = pod
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            refs.push(controller_ref(owner));
            client
                .patch(
                    &object_path("/api/v1", "pods", pod),
                    &json!({"metadata": {"ownerReferences": refs}}),
                )
                .await;
            claimed.push(pod);
        }
    }
    claimed
}
