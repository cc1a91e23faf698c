//! The Deployment controller: one ReplicaSet per pod-template revision (annotation
//! `deployment.kubernetes.io/revision`, label `pod-template-hash`), the new one scaled up and
//! the old ones scaled down once it is ready, and the status the real controller keeps.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::api::{
    SimClient, collection_path, condition, controller_ref, deleting, int, meta, object_path,
    owned_by, write_status,
};
use crate::cluster::server::now;
use crate::pod_template::{POD_TEMPLATE_HASH, REVISION_ANNOTATION, without_empties};

const APPS: &str = "/apis/apps/v1";

/// A short stable hash of a pod template (the `pod-template-hash` label value).
pub fn template_hash(template: &Value) -> String {
    let mut t = without_empties(template).unwrap_or(Value::Null);
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let digest = Sha256::digest(t.to_string().as_bytes());
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    digest
        .iter()
        .take(10)
        .map(|b| SAFE[*b as usize % SAFE.len()] as char)
        .collect()
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// maxUnavailable as a number of pods (ints, or percentages rounded down).
fn max_unavailable(d: &Value, replicas: i64) -> i64 {
    match d.pointer("/spec/strategy/rollingUpdate/maxUnavailable") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s
            .trim_end_matches('%')
            .parse::<i64>()
            .map(|p| replicas * p / 100)
            .unwrap_or(0),
        _ if d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") => {
            replicas
        }
        _ => replicas / 4,
    }
}

/// Reconciles every Deployment.
pub async fn reconcile(client: &SimClient) {
    let deployments = client.list(&format!("{APPS}/deployments")).await;
    let all_rs = client.list(&format!("{APPS}/replicasets")).await;
    for d in deployments {
        if deleting(&d) {
            continue;
        }
        let uid = meta(&d, "uid");
        let owned: Vec<&Value> = all_rs
            .iter()
            .filter(|rs| owned_by(rs, uid) && !deleting(rs))
            .collect();
        reconcile_one(client, &d, &owned).await;
    }
}

async fn reconcile_one(client: &SimClient, d: &Value, owned: &[&Value]) {
    let ns = meta(d, "namespace");
    let name = meta(d, "name");
    let replicas = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let template = d
        .pointer("/spec/template")
        .filter(|t| t.is_object())
        .cloned()
        .unwrap_or(json!({}));
    let hash = template_hash(&template);
    let max_rev = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0);
    let new_rs = owned.iter().find(|rs| {
        rs.pointer("/metadata/labels/pod-template-hash")
            .and_then(Value::as_str)
            == Some(hash.as_str())
    });
    let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let rs_path = |rs: &Value| object_path(APPS, "replicasets", rs);
    match new_rs {
        None if !paused => {
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels[POD_TEMPLATE_HASH] = json!(hash);
            let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            if let Some(m) = selector
                .get_mut("matchLabels")
                .and_then(Value::as_object_mut)
            {
                m.insert(POD_TEMPLATE_HASH.into(), json!(hash));
            } else {
                selector["matchLabels"] = json!({POD_TEMPLATE_HASH: hash});
            }
            let mut rs_template = template.clone();
            if !rs_template.get("metadata").is_some_and(Value::is_object) {
                rs_template["metadata"] = json!({});
            }
            rs_template["metadata"]["labels"] = labels.clone();
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{name}-{hash}"),
                    "labels": labels,
                    "annotations": {REVISION_ANNOTATION: (max_rev + 1).to_string(), "deployment.kubernetes.io/desired-replicas": replicas.to_string()},
                    "ownerReferences": [controller_ref(d)],
                },
                "spec": {"replicas": replicas, "selector": selector, "template": rs_template},
            });
            client
                .create(&collection_path(APPS, "replicasets", ns), &rs)
                .await;
            return;
        }
        None => {}
        Some(rs) => {
            if revision(rs) < max_rev && !paused {
                // A rollback to an older template: that ReplicaSet becomes the newest revision.
                client.patch(&rs_path(rs), &json!({"metadata": {"annotations": {REVISION_ANNOTATION: (max_rev + 1).to_string()}}})).await;
            }
            if int(rs, "/spec/replicas") != replicas && !paused {
                client
                    .patch(&rs_path(rs), &json!({"spec": {"replicas": replicas}}))
                    .await;
            }
            let new_ready = int(rs, "/status/readyReplicas") >= replicas
                && int(rs, "/status/replicas") == replicas;
            if new_ready || replicas == 0 {
                for old in owned.iter().filter(|o| meta(o, "uid") != meta(rs, "uid")) {
                    if int(old, "/spec/replicas") != 0 {
                        client
                            .patch(&rs_path(old), &json!({"spec": {"replicas": 0}}))
                            .await;
                    }
                }
            }
        }
    }
    let limit = d
        .pointer("/spec/revisionHistoryLimit")
        .and_then(Value::as_i64)
        .unwrap_or(10);
    let mut old: Vec<&&Value> = owned
        .iter()
        .filter(|rs| {
            Some(meta(rs, "uid")) != new_rs.map(|n| meta(n, "uid"))
                && int(rs, "/spec/replicas") == 0
                && int(rs, "/status/replicas") == 0
        })
        .collect();
    old.sort_by_key(|rs| revision(rs));
    let excess = old.len().saturating_sub(limit.max(0) as usize);
    for rs in old.into_iter().take(excess) {
        client.delete(&rs_path(rs)).await;
    }
    write_status(
        client,
        &object_path(APPS, "deployments", d),
        d,
        status(d, owned, new_rs.copied(), replicas),
    )
    .await;
}

/// The Progressing condition: NewReplicaSetAvailable when complete; ReplicaSetUpdated while
/// counts move (each move refreshes lastUpdateTime); ProgressDeadlineExceeded (False) when
/// nothing moved for `progressDeadlineSeconds`.
fn progressing_condition(
    d: &Value,
    complete: bool,
    new_name: &str,
    counts: [i64; 4],
    now: &str,
) -> Value {
    let old = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"));
    if complete {
        return condition(
            Some(d),
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            now,
        );
    }
    let before = [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ]
    .map(|k| int(d, &format!("/status/{k}")));
    let moved = before != counts || old.is_none_or(|c| c["reason"] == "NewReplicaSetAvailable");
    let old_reason = old.and_then(|c| c["reason"].as_str()).unwrap_or_default();
    let since = old
        .and_then(|c| c["lastUpdateTime"].as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let now_ts = now.parse::<jiff::Timestamp>().ok();
    let deadline = d
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(600);
    let stalled = match (since, now_ts) {
        (Some(s), Some(n)) => n.as_second() - s.as_second() >= deadline,
        _ => false,
    };
    if !moved && (old_reason == "ProgressDeadlineExceeded" || stalled) {
        return condition(
            Some(d),
            "Progressing",
            false,
            "ProgressDeadlineExceeded",
            &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
            now,
        );
    }
    let mut c = condition(
        Some(d),
        "Progressing",
        true,
        "ReplicaSetUpdated",
        &format!("ReplicaSet \"{new_name}\" is progressing."),
        now,
    );
    if moved {
        c["lastUpdateTime"] = json!(now);
    }
    c
}

fn status(d: &Value, owned: &[&Value], new_rs: Option<&Value>, replicas: i64) -> Value {
    let sum = |p: &str| owned.iter().map(|rs| int(rs, p)).sum::<i64>();
    let total = sum("/status/replicas");
    let ready = sum("/status/readyReplicas");
    let available = sum("/status/availableReplicas");
    let updated = new_rs.map(|rs| int(rs, "/status/replicas")).unwrap_or(0);
    let t = now();
    let is_available = available >= replicas - max_unavailable(d, replicas);
    let complete = updated == replicas && total == replicas && available == replicas;
    let new_name = new_rs.map(|rs| meta(rs, "name")).unwrap_or_default();
    let available_cond = condition(
        Some(d),
        "Available",
        is_available,
        if is_available {
            "MinimumReplicasAvailable"
        } else {
            "MinimumReplicasUnavailable"
        },
        if is_available {
            "Deployment has minimum availability."
        } else {
            "Deployment does not have minimum availability."
        },
        &t,
    );
    let progressing = progressing_condition(
        d,
        complete,
        new_name,
        [total, updated, ready, available],
        &t,
    );
    let mut s = json!({
        "observedGeneration": int(d, "/metadata/generation"),
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "conditions": [available_cond, progressing],
    });
    if replicas - available > 0 {
        s["unavailableReplicas"] = json!(replicas - available);
    }
    for key in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        if s[key] == json!(0)
            && let Some(m) = s.as_object_mut()
        {
            m.remove(key);
        }
    }
    s
}
