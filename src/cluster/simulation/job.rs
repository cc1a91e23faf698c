//! The Job controller: keeps `min(parallelism, completions)` Pods of a Job running, owned by
//! it. The simulated kubelets run no processes, so Pods never finish and a Job stays active
//! (it never reports succeeded or failed Pods); a suspended Job has its Pods removed.

use serde_json::{Value, json};

use super::api::{
    SimClient, collection_path, deleting, meta, object_path, owned_by, pod_ready, write_status,
};
use super::replicaset::pod_for;

const BATCH: &str = "/apis/batch/v1";

/// Reconciles every Job.
pub async fn reconcile(client: &SimClient) {
    let jobs = client.list(&format!("{BATCH}/jobs")).await;
    if jobs.is_empty() {
        return;
    }
    let pods = client.list("/api/v1/pods").await;
    for job in jobs {
        if deleting(&job) {
            continue;
        }
        let uid = meta(&job, "uid");
        let owned: Vec<&Value> = pods
            .iter()
            .filter(|p| owned_by(p, uid) && !deleting(p))
            .collect();
        let suspended = job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
        let parallelism = job
            .pointer("/spec/parallelism")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0);
        let completions = job
            .pointer("/spec/completions")
            .and_then(Value::as_i64)
            .unwrap_or(parallelism);
        let want = if suspended {
            0
        } else {
            parallelism.min(completions).max(0) as usize
        };
        let ns = meta(&job, "namespace");
        if owned.len() < want {
            for _ in owned.len()..want.min(owned.len() + super::replicaset::BURST_REPLICAS) {
                client
                    .create(
                        &collection_path("/api/v1", "pods", ns),
                        &pod_for(&job, &format!("{}-", meta(&job, "name"))),
                    )
                    .await;
            }
        } else if owned.len() > want {
            for p in owned
                .iter()
                .skip(want)
                .take(super::replicaset::BURST_REPLICAS)
            {
                client.delete(&object_path("/api/v1", "pods", p)).await;
            }
        }
        let active = owned.len().min(want);
        let ready = owned.iter().take(want).filter(|p| pod_ready(p)).count();
        let mut status = job.get("status").cloned().unwrap_or_else(|| json!({}));
        if let Some(s) = status.as_object_mut() {
            if !suspended && !s.contains_key("startTime") {
                s.insert("startTime".into(), json!(crate::cluster::server::now()));
            }
            s.insert("active".into(), json!(active));
            s.insert("ready".into(), json!(ready));
            s.insert("terminating".into(), json!(0));
            s.insert("uncountedTerminatedPods".into(), json!({}));
            if active == 0 {
                s.remove("active");
            }
        }
        write_status(client, &object_path(BATCH, "jobs", &job), &job, status).await;
    }
}
