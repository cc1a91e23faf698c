//! CronJob actions: suspend one (it creates no more Jobs; those running go on) or resume it.

use k8s_openapi::api::batch::v1::CronJob;
use kube::api::{Api, Patch};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

fn cronjob(ctx: &ActionContext, p: &Params) -> Result<(Api<CronJob>, Target), ActionError> {
    let ns = p.string("namespace")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("CronJob", ns, p.string("cronjob")?),
    ))
}

async fn suspended(api: &Api<CronJob>, target: &Target) -> Result<bool, ActionError> {
    let cj = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))?;
    Ok(cj.spec.and_then(|s| s.suspend).unwrap_or(false))
}

/// Records `was_suspended`.
pub async fn prepare_suspend(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = cronjob(ctx, p)?;
    Ok(map([(
        "was_suspended",
        json!(suspended(&api, &target).await?),
    )]))
}

/// Sets `spec.suspend` to `suspend` unless it already is.
pub async fn apply_suspend(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
    suspend: bool,
) -> Result<Progress, ActionError> {
    let (api, target) = cronjob(ctx, p)?;
    let current = suspended(&api, &target).await?;
    let was = recorded
        .get("was_suspended")
        .and_then(Value::as_bool)
        .unwrap_or(current);
    if current != suspend {
        api.patch(
            &target.name,
            &ctx.patch_params(),
            &Patch::Merge(json!({ "spec": { "suspend": suspend } })),
        )
        .await
        .map_err(|e| {
            ActionError::from_kube(&e, if suspend { "suspend" } else { "resume" }, &target)
        })?;
    }
    let outcome = Outcome::with_output(map([("was_suspended", json!(was))]));
    Ok(Progress::Done(if was == suspend {
        outcome
    } else {
        outcome.changed(&target, if suspend { "suspended" } else { "resumed" })
    }))
}
