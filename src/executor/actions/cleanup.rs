//! Cleanup actions: delete finished pods or Jobs matching a selector, at most as many as the
//! template states, oldest first. The objects to delete are chosen (and recorded) before
//! anything is deleted, and each delete is guarded by the object's uid, so a resumed attempt
//! never deletes a newer object of the same name.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Preconditions, PropagationPolicy};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

/// The most objects one attempt may delete, whatever `max` says.
pub const MAX_CLEANUP: i64 = 1000;

fn max(p: &Params) -> Result<usize, ActionError> {
    let n = p.int("max")?;
    if !(1..=MAX_CLEANUP).contains(&n) {
        return Err(ActionError::invalid(format!(
            "{}: `max` must be between 1 and {MAX_CLEANUP}, got {n}",
            p.action()
        )));
    }
    Ok(n as usize)
}

fn list_params(p: &Params) -> ListParams {
    match p.opt_string("selector").filter(|s| !s.trim().is_empty()) {
        Some(s) => ListParams::default().labels(s),
        None => ListParams::default(),
    }
}

/// Whether a pod is in the state `cleanup_pods` asks for.
fn pod_matches(pod: &Pod, state: &str) -> bool {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or_default();
    let evicted = status.and_then(|s| s.reason.as_deref()) == Some("Evicted");
    match state {
        "evicted" => phase == "Failed" && evicted,
        "succeeded" => phase == "Succeeded",
        "finished" => phase == "Failed" || phase == "Succeeded",
        _ => phase == "Failed",
    }
}

/// The condition that ended a Job (`Complete` or `Failed`), if it has ended.
pub fn job_end(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    ["Complete", "Failed"].into_iter().find(|t| {
        conditions
            .iter()
            .any(|c| c.type_ == *t && c.status == "True")
    })
}

fn job_matches(job: &Job, state: &str, cronjob: Option<&str>) -> bool {
    let owned = cronjob.is_none_or(|cj| {
        job.owner_references()
            .iter()
            .any(|o| o.controller == Some(true) && o.kind == "CronJob" && o.name == cj)
    });
    let end = job_end(job);
    let in_state = match state {
        "failed" => end == Some("Failed"),
        "succeeded" => end == Some("Complete"),
        "active" => end.is_none(),
        "any" => true,
        _ => end.is_some(),
    };
    owned && in_state
}

/// The oldest first, then by name.
fn age_key<K: Resource>(obj: &K) -> (Option<jiff::Timestamp>, String) {
    (
        obj.meta().creation_timestamp.as_ref().map(|t| t.0),
        obj.name_any(),
    )
}

/// What the cleanup will delete: `(name, uid)` of the chosen, and how many are left over.
fn choose<K: Resource>(mut matching: Vec<K>, max: usize) -> (Vec<(String, String)>, usize) {
    matching.sort_by_key(age_key);
    let remaining = matching.len().saturating_sub(max);
    let chosen = matching
        .iter()
        .take(max)
        .map(|o| (o.name_any(), o.uid().unwrap_or_default()))
        .collect();
    (chosen, remaining)
}

fn record(chosen: Vec<(String, String)>, remaining: usize) -> JsonMap {
    let names: Vec<Value> = chosen.iter().map(|(n, _)| json!(n)).collect();
    let targets: Vec<Value> = chosen
        .iter()
        .map(|(n, u)| json!({ "name": n, "uid": u }))
        .collect();
    map([
        ("deleted", Value::Array(names)),
        ("remaining", json!(remaining)),
        ("_targets", Value::Array(targets)),
    ])
}

/// Chooses the pods to delete (at most `max`, oldest first) and records them.
pub async fn prepare_pods(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let max = max(p)?;
    let ns = p.string("namespace")?;
    let state = p.opt_string("state").unwrap_or("failed");
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let target = Target::namespaced("Pod", ns, "*");
    let pods = api
        .list(&list_params(p))
        .await
        .map_err(|e| ActionError::from_kube(&e, "list", &target))?;
    let matching: Vec<Pod> = pods
        .items
        .into_iter()
        .filter(|pod| pod.meta().deletion_timestamp.is_none() && pod_matches(pod, state))
        .collect();
    let (chosen, remaining) = choose(matching, max);
    Ok(record(chosen, remaining))
}

/// Chooses the Jobs to delete (at most `max`, oldest first) and records them.
pub async fn prepare_jobs(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let max = max(p)?;
    let ns = p.string("namespace")?;
    let state = p.opt_string("state").unwrap_or("finished");
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let target = Target::namespaced("Job", ns, "*");
    let jobs = api
        .list(&list_params(p))
        .await
        .map_err(|e| ActionError::from_kube(&e, "list", &target))?;
    let matching: Vec<Job> = jobs
        .items
        .into_iter()
        .filter(|job| {
            job.meta().deletion_timestamp.is_none()
                && job_matches(job, state, p.opt_string("cronjob"))
        })
        .collect();
    let (chosen, remaining) = choose(matching, max);
    Ok(record(chosen, remaining))
}

/// Deletes the recorded objects still there (by uid: a newer object of the same name stays).
async fn delete_recorded<K>(
    ctx: &ActionContext,
    api: &Api<K>,
    kind: &str,
    ns: &str,
    recorded: &JsonMap,
    propagation: Option<PropagationPolicy>,
) -> Result<Outcome, ActionError>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let targets = recorded
        .get("_targets")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| ActionError::invalid("the objects to delete were not recorded"))?;
    let mut outcome = Outcome::default();
    for t in &targets {
        let name = t["name"].as_str().unwrap_or_default();
        let uid = t["uid"].as_str().unwrap_or_default();
        let target = Target::namespaced(kind, ns, name);
        let current = api
            .get_opt(name)
            .await
            .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
        let present = current.is_some_and(|o| {
            o.meta().uid.as_deref() == Some(uid) && o.meta().deletion_timestamp.is_none()
        });
        if present {
            let mut dp = ctx.delete_params(None);
            dp.propagation_policy = propagation.clone();
            dp.preconditions = Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            });
            match api.delete(name, &dp).await {
                Ok(_) => {}
                // Gone meanwhile, or replaced by a newer object of the same name.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => continue,
                Err(e) => return Err(ActionError::from_kube(&e, "delete", &target)),
            }
        }
        outcome = outcome.changed(&target, "deleted");
    }
    outcome.output = recorded
        .iter()
        .filter(|(k, _)| *k == "deleted" || *k == "remaining")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(outcome)
}

/// Deletes the recorded pods.
pub async fn apply_pods(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let ns = p.string("namespace")?;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    Ok(Progress::Done(
        delete_recorded(ctx, &api, "Pod", ns, recorded, None).await?,
    ))
}

/// Deletes the recorded Jobs and, in the background, their pods.
pub async fn apply_jobs(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let ns = p.string("namespace")?;
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    Ok(Progress::Done(
        delete_recorded(
            ctx,
            &api,
            "Job",
            ns,
            recorded,
            Some(PropagationPolicy::Background),
        )
        .await?,
    ))
}
