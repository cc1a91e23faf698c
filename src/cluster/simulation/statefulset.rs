//! The StatefulSet controller: Pods `<name>-<ordinal>` created in order (each after the
//! previous is Ready), removed from the highest ordinal, replaced one at a time (highest
//! first) when the template changes.

use serde_json::{Value, json};

use super::api::{
    SimClient, collection_path, deleting, int, meta, object_path, owned_by, pod_ready, write_status,
};
use super::deployment::template_hash;
use super::replicaset::pod_for;

const APPS: &str = "/apis/apps/v1";
const REVISION_LABEL: &str = "controller-revision-hash";

fn ordinal(pod: &Value, set: &str) -> Option<i64> {
    meta(pod, "name")
        .strip_prefix(&format!("{set}-"))?
        .parse()
        .ok()
}

/// Reconciles every StatefulSet.
pub async fn reconcile(client: &SimClient) {
    let sets = client.list(&format!("{APPS}/statefulsets")).await;
    let pods = client.list("/api/v1/pods").await;
    for sts in sets {
        if deleting(&sts) {
            continue;
        }
        let name = meta(&sts, "name");
        let ns = meta(&sts, "namespace");
        let want = sts
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0);
        let revision = format!(
            "{name}-{}",
            template_hash(sts.pointer("/spec/template").unwrap_or(&Value::Null))
        );
        let mut owned: Vec<&Value> = pods
            .iter()
            .filter(|p| owned_by(p, meta(&sts, "uid")))
            .collect();
        owned.sort_by_key(|p| ordinal(p, name).unwrap_or(i64::MAX));
        let live: Vec<&&Value> = owned.iter().filter(|p| !deleting(p)).collect();
        let all_ready = live.iter().all(|p| pod_ready(p)) && owned.len() == live.len();
        let existing: Vec<i64> = owned.iter().filter_map(|p| ordinal(p, name)).collect();
        if let Some(missing) = (0..want).find(|o| !existing.contains(o)) {
            if all_ready {
                let mut pod = pod_for(&sts, "");
                pod["metadata"]["name"] = json!(format!("{name}-{missing}"));
                pod["metadata"]["labels"][REVISION_LABEL] = json!(revision);
                pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] =
                    json!(format!("{name}-{missing}"));
                client
                    .create(&collection_path("/api/v1", "pods", ns), &pod)
                    .await;
            }
        } else if let Some(extra) = live
            .iter()
            .rev()
            .find(|p| ordinal(p, name).is_some_and(|o| o >= want))
        {
            if all_ready {
                client.delete(&object_path("/api/v1", "pods", extra)).await;
            }
        } else if all_ready
            && let Some(stale) = live.iter().rev().find(|p| {
                p.pointer(&format!("/metadata/labels/{REVISION_LABEL}"))
                    .and_then(Value::as_str)
                    != Some(revision.as_str())
            })
        {
            client.delete(&object_path("/api/v1", "pods", stale)).await;
        }
        let ready = live.iter().filter(|p| pod_ready(p)).count() as i64;
        let updated = live
            .iter()
            .filter(|p| {
                p.pointer(&format!("/metadata/labels/{REVISION_LABEL}"))
                    .and_then(Value::as_str)
                    == Some(revision.as_str())
            })
            .count() as i64;
        let status = json!({
            "observedGeneration": int(&sts, "/metadata/generation"),
            "replicas": live.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": updated,
            "updatedReplicas": updated,
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
        });
        write_status(
            client,
            &object_path(APPS, "statefulsets", &sts),
            &sts,
            status,
        )
        .await;
    }
}
