//! `restart_deployment`: a new rollout of the same template, as `kubectl rollout restart`.

use kube::api::Patch;
use serde_json::{Value, json};

use super::revision::current_revision;
use super::{RESTARTED_AT_ANNOTATION, deployment, get_deployment, recorded_int};
use crate::api::JsonMap;
use crate::executor::actions::{ActionContext, Outcome, Progress, map};
use crate::executor::failure::ActionError;
use crate::executor::params::Params;

/// Records `previous_revision` and the restart stamp this attempt will set.
pub async fn prepare_restart(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let d = get_deployment(&api, &target).await?;
    Ok(map([
        (
            "previous_revision",
            json!(current_revision(ctx, &d, &target).await?),
        ),
        ("_restarted_at", json!(ctx.now.to_string())),
    ]))
}

/// Sets the pod template's `restartedAt` annotation to this attempt's stamp.
pub async fn apply_restart(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let d = get_deployment(&api, &target).await?;
    let previous = match recorded_int(recorded, "previous_revision") {
        Some(r) => r,
        None => current_revision(ctx, &d, &target).await?,
    };
    let stamp = recorded
        .get("_restarted_at")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| ctx.now.to_string());
    let current = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT_ANNOTATION));
    if current != Some(&stamp) {
        let patch = json!({ "spec": { "template": { "metadata": { "annotations": {
            RESTARTED_AT_ANNOTATION: stamp
        } } } } });
        api.patch(&target.name, &ctx.patch_params(), &Patch::Merge(patch))
            .await
            .map_err(|e| ActionError::from_kube(&e, "restart", &target))?;
    }
    let revision = previous + 1;
    Ok(Progress::Done(
        Outcome::with_output(map([
            ("previous_revision", json!(previous)),
            ("revision", json!(revision)),
        ]))
        .changed(
            &target,
            format!("restarted (revision {previous}→{revision})"),
        ),
    ))
}
