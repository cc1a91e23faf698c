//! Quarantine: take a pod out of its controller's and its Services' selectors (its controller
//! releases it and starts a replacement; the pod stays for forensics), and give it back.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch};
use serde_json::{Value, json};

use super::pod::controller_of;
use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

/// The label a quarantined pod carries.
pub const QUARANTINE_LABEL: &str = "remedy.kubernaut.io/quarantined";

fn pod(ctx: &ActionContext, p: &Params) -> Result<(Api<Pod>, Target), ActionError> {
    let ns = p.string("namespace")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("Pod", ns, p.string("pod")?),
    ))
}

async fn get_pod(api: &Api<Pod>, target: &Target) -> Result<Pod, ActionError> {
    api.get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))
}

/// The label keys a selector needs to match: removing one of them takes a pod out.
fn selector_keys(selector: &LabelSelector) -> Vec<String> {
    let mut keys: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(
        selector
            .match_expressions
            .iter()
            .flatten()
            .filter(|e| e.operator == "In" || e.operator == "Exists")
            .map(|e| e.key.clone()),
    );
    keys
}

/// The selector of the pod's controller, read from it.
async fn owner_selector(
    ctx: &ActionContext,
    ns: &str,
    owner: &str,
    pod_target: &Target,
) -> Result<Vec<String>, ActionError> {
    let (kind, name) = owner.split_once('/').unwrap_or((owner, ""));
    let target = Target::namespaced(kind, ns, name);
    let read = |e: kube::Error| ActionError::from_kube(&e, "read", &target);
    let selector = match kind {
        "ReplicaSet" => Api::<ReplicaSet>::namespaced(ctx.client.clone(), ns)
            .get(name)
            .await
            .map_err(read)?
            .spec
            .map(|s| s.selector),
        "DaemonSet" => Api::<DaemonSet>::namespaced(ctx.client.clone(), ns)
            .get(name)
            .await
            .map_err(read)?
            .spec
            .map(|s| s.selector),
        "Job" => Api::<Job>::namespaced(ctx.client.clone(), ns)
            .get(name)
            .await
            .map_err(read)?
            .spec
            .and_then(|s| s.selector),
        "StatefulSet" => {
            return Err(ActionError::invalid(format!(
                "{pod_target} belongs to StatefulSet {name}, which cannot start a replacement while the quarantined pod keeps its name; use restart_pod or scale_statefulset"
            )));
        }
        other => {
            return Err(ActionError::invalid(format!(
                "{pod_target} is controlled by {other} {name}; quarantine_pod knows the selectors of ReplicaSets, DaemonSets and Jobs only"
            )));
        }
    };
    Ok(selector.as_ref().map(selector_keys).unwrap_or_default())
}

/// The label keys of the Services in the namespace that select the pod (none when the
/// cluster serves no Services).
async fn service_keys(
    ctx: &ActionContext,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<String>, ActionError> {
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    let services = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
        Err(e) => {
            return Err(ActionError::from_kube(
                &e,
                "list",
                &Target::namespaced("Service", ns, "*"),
            ));
        }
    };
    let mut keys = Vec::new();
    for svc in services {
        let Some(selector) = svc.spec.and_then(|s| s.selector).filter(|s| !s.is_empty()) else {
            continue;
        };
        if selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            keys.extend(selector.into_keys());
        }
    }
    Ok(keys)
}

/// Records the labels the quarantine removes (`previous_labels`) and the controller.
pub async fn prepare_quarantine(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = pod(ctx, p)?;
    let ns = p.string("namespace")?;
    let pod = get_pod(&api, &target).await?;
    let owner = controller_of(&pod);
    let mut keys = match &owner {
        Some(owner) => owner_selector(ctx, ns, owner, &target).await?,
        None => Vec::new(),
    };
    let labels = pod.labels().clone();
    keys.extend(service_keys(ctx, ns, &labels).await?);
    let removed: JsonMap = labels
        .iter()
        .filter(|(k, _)| keys.contains(k) && k.as_str() != QUARANTINE_LABEL)
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    Ok(map([
        ("previous_labels", Value::Object(removed)),
        ("owner", owner.map_or(Value::Null, |o| json!(o))),
        ("_uid", json!(pod.uid().unwrap_or_default())),
    ]))
}

/// The recorded pod as it is now; NotFound when it is gone or is another pod of that name.
async fn recorded_pod(
    api: &Api<Pod>,
    target: &Target,
    recorded: &JsonMap,
) -> Result<Pod, ActionError> {
    let pod = get_pod(api, target).await?;
    let uid = recorded.get("_uid").and_then(Value::as_str);
    if uid.is_some_and(|u| !u.is_empty() && pod.uid().as_deref() != Some(u)) {
        return Err(ActionError::new(
            crate::api::kubernetes_execution::ErrorReason::NotFound,
            format!("{target} was replaced by another pod of the same name meanwhile"),
        ));
    }
    Ok(pod)
}

/// Removes the recorded labels and adds the quarantine label (one merge patch).
pub async fn apply_quarantine(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let (api, target) = pod(ctx, p)?;
    let pod = recorded_pod(&api, &target, recorded).await?;
    let removed = recorded
        .get("previous_labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let labels = pod.labels();
    let mut patch = JsonMap::new();
    for key in removed.keys() {
        if labels.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    if labels.get(QUARANTINE_LABEL).map(String::as_str) != Some("true") {
        patch.insert(QUARANTINE_LABEL.to_string(), json!("true"));
    }
    if !patch.is_empty() {
        api.patch(
            &target.name,
            &ctx.patch_params(),
            &Patch::Merge(json!({ "metadata": { "labels": patch } })),
        )
        .await
        .map_err(|e| ActionError::from_kube(&e, "quarantine", &target))?;
    }
    let keys: Vec<&str> = removed.keys().map(String::as_str).collect();
    let change = if keys.is_empty() {
        "quarantined (no selector label to remove)".to_string()
    } else {
        format!("quarantined: removed labels {}", keys.join(", "))
    };
    let output = map([
        ("previous_labels", Value::Object(removed.clone())),
        (
            "owner",
            recorded.get("owner").cloned().unwrap_or(Value::Null),
        ),
    ]);
    Ok(Progress::Done(
        Outcome::with_output(output).changed(&target, change),
    ))
}

fn wanted_labels(p: &Params) -> Result<BTreeMap<String, String>, ActionError> {
    let given = p.opt_map("labels").cloned().unwrap_or_default();
    given
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(ActionError::invalid(format!(
                "release_pod: the value of label `{k}` must be a string, got {other}"
            ))),
        })
        .collect()
}

/// Checks the labels and records the pod's uid.
pub async fn prepare_release(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    wanted_labels(p)?;
    let (api, target) = pod(ctx, p)?;
    let pod = get_pod(&api, &target).await?;
    Ok(map([("_uid", json!(pod.uid().unwrap_or_default()))]))
}

/// Puts the labels back and removes the quarantine label (one merge patch).
pub async fn apply_release(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let wanted = wanted_labels(p)?;
    let (api, target) = pod(ctx, p)?;
    let pod = recorded_pod(&api, &target, recorded).await?;
    let labels = pod.labels();
    let mut patch = JsonMap::new();
    for (k, v) in &wanted {
        if labels.get(k) != Some(v) {
            patch.insert(k.clone(), json!(v));
        }
    }
    if labels.contains_key(QUARANTINE_LABEL) {
        patch.insert(QUARANTINE_LABEL.to_string(), Value::Null);
    }
    if !patch.is_empty() {
        api.patch(
            &target.name,
            &ctx.patch_params(),
            &Patch::Merge(json!({ "metadata": { "labels": patch } })),
        )
        .await
        .map_err(|e| ActionError::from_kube(&e, "release", &target))?;
    }
    let keys: Vec<&str> = wanted.keys().map(String::as_str).collect();
    let output = map([(
        "restored",
        Value::Object(wanted.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
    )]);
    let change = if keys.is_empty() {
        "released".to_string()
    } else {
        format!("released: labels {} restored", keys.join(", "))
    };
    Ok(Progress::Done(
        Outcome::with_output(output).changed(&target, change),
    ))
}
