//! PersistentVolumeClaim actions: raise the storage request (volumes never shrink).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, Patch};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;
use crate::units::Quantity;

fn pvc(
    ctx: &ActionContext,
    p: &Params,
) -> Result<(Api<PersistentVolumeClaim>, Target), ActionError> {
    let ns = p.string("namespace")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("PersistentVolumeClaim", ns, p.string("pvc")?),
    ))
}

/// The claim's storage request as written, and parsed.
async fn storage(
    api: &Api<PersistentVolumeClaim>,
    target: &Target,
) -> Result<(String, Quantity), ActionError> {
    let claim = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))?;
    let text = claim
        .spec
        .and_then(|s| s.resources)
        .and_then(|r| r.requests)
        .and_then(|r| r.get("storage").map(|q| q.0.clone()))
        .ok_or_else(|| ActionError::invalid(format!("{target} has no storage request")))?;
    let parsed = Quantity::parse(&text).map_err(|e| {
        ActionError::invalid(format!(
            "{target} has a storage request the executor cannot read: {e}"
        ))
    })?;
    Ok((text, parsed))
}

/// Records `previous_size`; refuses a size that is not larger.
pub async fn prepare_expand(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let size = p.quantity("size")?;
    let (api, target) = pvc(ctx, p)?;
    let (text, current) = storage(&api, &target).await?;
    if size <= current {
        return Err(ActionError::invalid(format!(
            "expand_pvc: {target} already requests {text}; the new size {size} must be larger (volumes never shrink)"
        )));
    }
    Ok(map([("previous_size", json!(text))]))
}

/// Sets the storage request unless it is already the new size.
pub async fn apply_expand(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let size = p.quantity("size")?;
    let (api, target) = pvc(ctx, p)?;
    let (text, current) = storage(&api, &target).await?;
    let previous = recorded
        .get("previous_size")
        .and_then(Value::as_str)
        .map_or(text.clone(), str::to_string);
    if current > size {
        return Err(ActionError::invalid(format!(
            "expand_pvc: {target} already requests {text}, more than {size}"
        )));
    }
    if current != size {
        let patch =
            json!({ "spec": { "resources": { "requests": { "storage": size.as_str() } } } });
        api.patch(&target.name, &ctx.patch_params(), &Patch::Merge(patch))
            .await
            .map_err(|e| ActionError::from_kube(&e, "expand", &target))?;
    }
    Ok(Progress::Done(
        Outcome::with_output(map([
            ("previous_size", json!(previous)),
            ("size", json!(size.as_str())),
        ]))
        .changed(&target, format!("storage {previous}→{size}")),
    ))
}
