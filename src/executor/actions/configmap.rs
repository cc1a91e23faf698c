//! ConfigMap actions: set or remove keys of its data.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;
use crate::redact::REDACTED;

fn configmap(ctx: &ActionContext, p: &Params) -> Result<(Api<ConfigMap>, Target), ActionError> {
    let ns = p.string("namespace")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("ConfigMap", ns, p.string("configmap")?),
    ))
}

/// The wanted value of every key the call touches (`None`: removed). A `null` in `data`
/// removes the key too, so that `previous_data` can be passed back as-is to undo a patch.
fn wanted(p: &Params) -> Result<BTreeMap<String, Option<String>>, ActionError> {
    let mut out = BTreeMap::new();
    for (key, value) in p.opt_map("data").into_iter().flatten() {
        let text = match value {
            Value::Null => None,
            Value::String(s) if s == REDACTED => {
                return Err(ActionError::invalid(format!(
                    "patch_configmap: the value of `{key}` is a redacted credential (`***`); it cannot be restored from a status"
                )));
            }
            Value::String(s) => Some(s.clone()),
            Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
            Value::Array(_) | Value::Object(_) => {
                return Err(ActionError::invalid(format!(
                    "patch_configmap: the value of `{key}` in `data` must be a string, got a {}",
                    if value.is_array() { "list" } else { "map" }
                )));
            }
        };
        out.insert(key.clone(), text);
    }
    for key in p.opt_list("remove").into_iter().flatten() {
        let Some(key) = key.as_str() else {
            return Err(ActionError::invalid(format!(
                "patch_configmap: `remove` must list key names, got {key}"
            )));
        };
        out.insert(key.to_string(), None);
    }
    if out.is_empty() {
        return Err(ActionError::invalid(
            "patch_configmap needs `data`, `remove` or both, with at least one key",
        ));
    }
    Ok(out)
}

async fn current_data(
    api: &Api<ConfigMap>,
    target: &Target,
) -> Result<BTreeMap<String, String>, ActionError> {
    let cm = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))?;
    Ok(cm.data.unwrap_or_default())
}

/// Records `previous_data`: each touched key's value before (null: absent).
pub async fn prepare_patch(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let wanted = wanted(p)?;
    let (api, target) = configmap(ctx, p)?;
    let current = current_data(&api, &target).await?;
    let previous: JsonMap = wanted
        .keys()
        .map(|k| (k.clone(), current.get(k).map_or(Value::Null, |v| json!(v))))
        .collect();
    Ok(map([("previous_data", Value::Object(previous))]))
}

/// Writes the keys that differ (one merge patch).
pub async fn apply_patch(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let wanted = wanted(p)?;
    let (api, target) = configmap(ctx, p)?;
    let current = current_data(&api, &target).await?;
    let previous: JsonMap = match recorded.get("previous_data").and_then(Value::as_object) {
        Some(m) => m.clone(),
        None => wanted
            .keys()
            .map(|k| (k.clone(), current.get(k).map_or(Value::Null, |v| json!(v))))
            .collect(),
    };
    let patch: JsonMap = wanted
        .iter()
        .filter(|(k, v)| current.get(*k) != v.as_ref())
        .map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, |s| json!(s))))
        .collect();
    if !patch.is_empty() {
        api.patch(
            &target.name,
            &ctx.patch_params(),
            &Patch::Merge(json!({ "data": patch })),
        )
        .await
        .map_err(|e| ActionError::from_kube(&e, "patch", &target))?;
    }
    let mut set = Vec::new();
    let mut removed = Vec::new();
    for (key, value) in &wanted {
        let before = previous.get(key).and_then(Value::as_str);
        match value {
            Some(v) if before != Some(v.as_str()) => set.push(key.as_str()),
            None if before.is_some() => removed.push(key.as_str()),
            _ => {}
        }
    }
    let mut parts = Vec::new();
    if !set.is_empty() {
        parts.push(format!("set {}", set.join(", ")));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", removed.join(", ")));
    }
    let outcome = Outcome::with_output(map([("previous_data", Value::Object(previous))]));
    Ok(Progress::Done(if parts.is_empty() {
        outcome
    } else {
        outcome.changed(&target, parts.join("; "))
    }))
}
