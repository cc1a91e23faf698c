//! Pod actions: restart a pod (delete it so that its controller recreates it) or delete it.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Preconditions};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

fn pod(ctx: &ActionContext, p: &Params) -> Result<(Api<Pod>, Target), ActionError> {
    let ns = p.string("namespace")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("Pod", ns, p.string("pod")?),
    ))
}

fn grace_period(p: &Params) -> Result<Option<u32>, ActionError> {
    p.opt_int("grace_period_seconds")
        .map(|g| {
            u32::try_from(g).map_err(|_| {
                ActionError::invalid(format!(
                    "{}: `grace_period_seconds` must be 0 or more, got {g}",
                    p.action()
                ))
            })
        })
        .transpose()
}

/// The pod's controller as `Kind/name`, if it has one.
pub fn controller_of(pod: &Pod) -> Option<String> {
    pod.owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| format!("{}/{}", o.kind, o.name))
}

async fn prepare_pod(ctx: &ActionContext, p: &Params) -> Result<(Pod, Target), ActionError> {
    grace_period(p)?;
    let (api, target) = pod(ctx, p)?;
    let pod = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    Ok((pod, target))
}

/// Records the pod's uid and controller; refuses a pod nothing would recreate.
pub async fn prepare_restart(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (pod, target) = prepare_pod(ctx, p).await?;
    let Some(owner) = controller_of(&pod) else {
        return Err(ActionError::invalid(format!(
            "{target} has no controller, so nothing would recreate it; use delete_pod if it should go for good"
        )));
    };
    Ok(map([
        ("owner", json!(owner)),
        ("_uid", json!(pod.uid().unwrap_or_default())),
    ]))
}

/// Records the pod's uid.
pub async fn prepare_delete(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (pod, _) = prepare_pod(ctx, p).await?;
    Ok(map([
        ("deleted", json!(pod.name_any())),
        ("_uid", json!(pod.uid().unwrap_or_default())),
    ]))
}

/// Deletes the recorded pod (by uid, so a replacement with the same name is left alone).
pub async fn apply_delete(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let grace = grace_period(p)?;
    let (api, target) = pod(ctx, p)?;
    let uid = recorded
        .get("_uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let mut dp = ctx.delete_params(grace);
    dp.preconditions = uid.clone().map(|uid| Preconditions {
        uid: Some(uid),
        resource_version: None,
    });
    let current = api
        .get_opt(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    let already_gone = match (&current, &uid) {
        (None, _) => true,
        (Some(pod), Some(uid)) => {
            pod.meta().uid.as_ref() != Some(uid) || pod.meta().deletion_timestamp.is_some()
        }
        (Some(pod), None) => pod.meta().deletion_timestamp.is_some(),
    };
    if !already_gone {
        match api.delete(&target.name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(ActionError::from_kube(&e, "delete", &target)),
        }
    }
    let mut output = JsonMap::new();
    for key in ["owner", "deleted"] {
        if let Some(v) = recorded.get(key) {
            output.insert(key.to_string(), v.clone());
        }
    }
    if p.action() == "delete_pod" && !output.contains_key("deleted") {
        output.insert("deleted".to_string(), json!(target.name));
    }
    let change = if p.action() == "restart_pod" {
        "deleted for its controller to recreate"
    } else {
        "deleted"
    };
    Ok(Progress::Done(
        Outcome::with_output(output).changed(&target, change),
    ))
}
