//! HorizontalPodAutoscaler actions: change its replica bounds.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, Patch};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

fn hpa(
    ctx: &ActionContext,
    p: &Params,
) -> Result<(Api<HorizontalPodAutoscaler>, Target), ActionError> {
    let ns = p.string("namespace")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("HorizontalPodAutoscaler", ns, p.string("hpa")?),
    ))
}

/// The current (min, max) replicas; a missing minimum is Kubernetes' default of 1.
fn bounds(h: &HorizontalPodAutoscaler) -> (i64, i64) {
    let spec = h.spec.as_ref();
    (
        spec.and_then(|s| s.min_replicas).map_or(1, i64::from),
        spec.map_or(0, |s| i64::from(s.max_replicas)),
    )
}

/// The bounds after the change, checked: 1 ≤ min ≤ max.
fn wanted_bounds(
    p: &Params,
    current: (i64, i64),
    target: &Target,
) -> Result<(i64, i64), ActionError> {
    if !p.has("min_replicas") && !p.has("max_replicas") {
        return Err(ActionError::invalid(
            "update_hpa needs `min_replicas`, `max_replicas` or both",
        ));
    }
    let min = p.opt_int("min_replicas").unwrap_or(current.0);
    let max = p.opt_int("max_replicas").unwrap_or(current.1);
    if min < 1 || max > i64::from(i32::MAX) {
        return Err(ActionError::invalid(format!(
            "update_hpa: replicas bounds must be between 1 and {}, got min {min}, max {max}",
            i32::MAX
        )));
    }
    if min > max {
        return Err(ActionError::invalid(format!(
            "update_hpa would set {target} to min {min} > max {max}; change both bounds"
        )));
    }
    Ok((min, max))
}

async fn get(
    api: &Api<HorizontalPodAutoscaler>,
    target: &Target,
) -> Result<HorizontalPodAutoscaler, ActionError> {
    api.get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))
}

/// Records `previous_min_replicas` and `previous_max_replicas`.
pub async fn prepare_update(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = hpa(ctx, p)?;
    let current = bounds(&get(&api, &target).await?);
    wanted_bounds(p, current, &target)?;
    Ok(map([
        ("previous_min_replicas", json!(current.0)),
        ("previous_max_replicas", json!(current.1)),
    ]))
}

/// Patches the bounds that differ.
pub async fn apply_update(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let (api, target) = hpa(ctx, p)?;
    let current = bounds(&get(&api, &target).await?);
    let previous = (
        recorded
            .get("previous_min_replicas")
            .and_then(Value::as_i64)
            .unwrap_or(current.0),
        recorded
            .get("previous_max_replicas")
            .and_then(Value::as_i64)
            .unwrap_or(current.1),
    );
    let (min, max) = wanted_bounds(p, current, &target)?;
    if (min, max) != current {
        let patch = json!({ "spec": { "minReplicas": min, "maxReplicas": max } });
        api.patch(&target.name, &ctx.patch_params(), &Patch::Merge(patch))
            .await
            .map_err(|e| ActionError::from_kube(&e, "update", &target))?;
    }
    let mut parts = Vec::new();
    if previous.0 != min {
        parts.push(format!("minReplicas {}→{min}", previous.0));
    }
    if previous.1 != max {
        parts.push(format!("maxReplicas {}→{max}", previous.1));
    }
    let outcome = Outcome::with_output(map([
        ("previous_min_replicas", json!(previous.0)),
        ("previous_max_replicas", json!(previous.1)),
    ]));
    Ok(Progress::Done(if parts.is_empty() {
        outcome
    } else {
        outcome.changed(&target, parts.join(", "))
    }))
}
