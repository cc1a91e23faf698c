//! The CronJob controller: at each scheduled minute (the latest one missed, as the real
//! controller does) a Job `<name>-<minutes since the epoch>` from the job template, owned by
//! the CronJob; nothing while suspended; `concurrencyPolicy` Forbid skips a run while a Job
//! is active and Replace deletes the active ones first; `startingDeadlineSeconds` skips runs
//! started too late; finished Jobs beyond the history limits are deleted; the status lists
//! the active Jobs and the last schedule and success times.

use std::time::Instant;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::api::{SimClient, collection_path, controller_ref, deleting, meta, object_path};
use crate::cluster::cron::Schedule;

const BATCH: &str = "/apis/batch/v1";
/// The annotation the real controller puts on the Jobs it creates.
const SCHEDULED_AT: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The controller's clock: real time, `speed` times faster, from the simulation's start.
#[derive(Debug, Clone)]
pub struct SimClock {
    origin: Timestamp,
    started: Instant,
    speed: f64,
}

impl SimClock {
    /// A clock starting now at `speed` (below 1, or not a number, counts as 1).
    pub fn new(speed: f64) -> Self {
        SimClock {
            origin: Timestamp::now(),
            started: Instant::now(),
            speed: if speed.is_finite() && speed >= 1.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// The simulated time now.
    pub fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed().mul_f64(self.speed);
        let elapsed = SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX);
        self.origin.checked_add(elapsed).unwrap_or(Timestamp::MAX)
    }
}

fn timestamp(v: Option<&Value>) -> Option<Timestamp> {
    v.and_then(Value::as_str).and_then(|s| s.parse().ok())
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A Job's condition that ends it: `Complete` or `Failed` with status True.
pub fn finished(job: &Value) -> Option<&'static str> {
    let conditions = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)?;
    ["Complete", "Failed"].into_iter().find(|t| {
        conditions
            .iter()
            .any(|c| c["type"] == *t && c["status"] == "True")
    })
}

/// Reconciles every CronJob.
pub async fn reconcile(client: &SimClient, clock: &SimClock) {
    let cronjobs = client.list(&format!("{BATCH}/cronjobs")).await;
    if cronjobs.is_empty() {
        return;
    }
    let jobs = client.list(&format!("{BATCH}/jobs")).await;
    let now = clock.now();
    for cj in cronjobs {
        if deleting(&cj) {
            continue;
        }
        let uid = meta(&cj, "uid");
        let owned: Vec<&Value> = jobs
            .iter()
            .filter(|j| {
                j.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r["uid"] == uid && r["controller"] == true)
                    })
                    && !deleting(j)
            })
            .collect();
        reconcile_one(client, &cj, &owned, now).await;
    }
}

async fn reconcile_one(client: &SimClient, cj: &Value, owned: &[&Value], now: Timestamp) {
    let ns = meta(cj, "namespace");
    let mut active: Vec<&Value> = owned
        .iter()
        .copied()
        .filter(|j| finished(j).is_none())
        .collect();
    let mut status = cj.get("status").cloned().unwrap_or_else(|| json!({}));
    let suspended = cj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
    let schedule = cj
        .pointer("/spec/schedule")
        .and_then(Value::as_str)
        .and_then(|s| Schedule::parse(s).ok());
    let tz = cj
        .pointer("/spec/timeZone")
        .and_then(Value::as_str)
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let last = timestamp(status.get("lastScheduleTime"))
        .or_else(|| timestamp(cj.pointer("/metadata/creationTimestamp")));
    let due = match (&schedule, last) {
        (Some(s), Some(last)) if !suspended => s.latest_between(last, now, &tz),
        _ => None,
    };
    let late = |t: Timestamp| {
        cj.pointer("/spec/startingDeadlineSeconds")
            .and_then(Value::as_i64)
            .is_some_and(|d| now.as_second() - t.as_second() > d)
    };
    if let Some(at) = due.filter(|t| !late(*t)) {
        let policy = cj
            .pointer("/spec/concurrencyPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Allow");
        let name = format!("{}-{}", meta(cj, "name"), at.as_second() / 60);
        let exists = owned.iter().any(|j| meta(j, "name") == name);
        let run = match policy {
            "Forbid" => active.is_empty(),
            "Replace" => {
                for job in &active {
                    client.delete(&object_path(BATCH, "jobs", job)).await;
                }
                active.clear();
                true
            }
            _ => true,
        };
        if run && !exists {
            let template = cj
                .pointer("/spec/jobTemplate")
                .cloned()
                .unwrap_or(json!({}));
            let mut annotations = template
                .pointer("/metadata/annotations")
                .cloned()
                .unwrap_or(json!({}));
            annotations[SCHEDULED_AT] = json!(rfc3339(at));
            let job = json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {
                    "name": name,
                    "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                    "annotations": annotations,
                    "ownerReferences": [controller_ref(cj)],
                },
                "spec": template.get("spec").cloned().unwrap_or(json!({})),
            });
            client
                .create(&collection_path(BATCH, "jobs", ns), &job)
                .await;
        }
        if run || exists {
            status["lastScheduleTime"] = json!(rfc3339(at));
        }
    }
    trim_history(client, cj, owned).await;
    let refs: Vec<Value> = active
        .iter()
        .map(|j| {
            json!({"apiVersion": "batch/v1", "kind": "Job", "namespace": ns,
                   "name": meta(j, "name"), "uid": meta(j, "uid"),
                   "resourceVersion": meta(j, "resourceVersion")})
        })
        .collect();
    if let Some(s) = status.as_object_mut() {
        if refs.is_empty() {
            s.remove("active");
        } else {
            s.insert("active".into(), Value::Array(refs));
        }
        let succeeded = owned
            .iter()
            .filter(|j| finished(j) == Some("Complete"))
            .filter_map(|j| j.pointer("/status/completionTime").and_then(Value::as_str))
            .max();
        if let Some(t) = succeeded {
            s.insert("lastSuccessfulTime".into(), json!(t));
        }
    }
    super::api::write_status(client, &object_path(BATCH, "cronjobs", cj), cj, status).await;
}

/// Deletes the oldest finished Jobs beyond `successfulJobsHistoryLimit` and
/// `failedJobsHistoryLimit`.
async fn trim_history(client: &SimClient, cj: &Value, owned: &[&Value]) {
    for (condition, limit, default) in [
        ("Complete", "/spec/successfulJobsHistoryLimit", 3),
        ("Failed", "/spec/failedJobsHistoryLimit", 1),
    ] {
        let keep = cj
            .pointer(limit)
            .and_then(Value::as_i64)
            .unwrap_or(default)
            .max(0) as usize;
        let mut done: Vec<&&Value> = owned
            .iter()
            .filter(|j| finished(j) == Some(condition))
            .collect();
        done.sort_by_key(|j| {
            (
                j.pointer("/status/completionTime")
                    .and_then(Value::as_str)
                    .unwrap_or(meta(j, "creationTimestamp"))
                    .to_string(),
                meta(j, "name").to_string(),
            )
        });
        let excess = done.len().saturating_sub(keep);
        for job in done.into_iter().take(excess) {
            client.delete(&object_path(BATCH, "jobs", job)).await;
        }
    }
}
