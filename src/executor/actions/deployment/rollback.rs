//! `rollback_deployment`: return a Deployment to an earlier revision's pod template, as
//! `kubectl rollout undo`.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;
use kube::api::Api;
use serde_json::{Value, json};

use super::revision::{current_revision, revisions, same_template, template_without_hash};
use super::{deployment, get_deployment, recorded_int};
use crate::api::JsonMap;
use crate::executor::actions::{ActionContext, Outcome, Progress, map};
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

/// Resolves the revision to return to and records it with `previous_revision`.
pub async fn prepare_rollback(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let d = get_deployment(&api, &target).await?;
    let owned = revisions(ctx, &d, &target).await?;
    let current = current_revision(ctx, &d, &target).await?;
    let wanted = p.opt_int("revision").filter(|r| *r > 0);
    let known: Vec<String> = owned.iter().map(|(r, _)| r.to_string()).collect();
    let chosen = match wanted {
        Some(r) => owned.iter().find(|(rev, _)| *rev == r),
        None => owned.iter().rev().find(|(rev, _)| *rev < current),
    };
    let Some((revision, rs)) = chosen else {
        let what = wanted.map_or("an earlier revision".to_string(), |r| {
            format!("revision {r}")
        });
        return Err(ActionError::new(
            crate::api::kubernetes_execution::ErrorReason::NotFound,
            format!(
                "{target} has no {what} to roll back to (revisions: {}); check the step's `revision`",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    Ok(map([
        ("previous_revision", json!(current)),
        ("revision", json!(revision)),
        ("_replicaset", json!(rs.name_any())),
    ]))
}

/// Copies the chosen revision's pod template into the Deployment, like `kubectl rollout undo`.
pub async fn apply_rollback(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let mut d = get_deployment(&api, &target).await?;
    let rs_name = recorded
        .get("_replicaset")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ActionError::invalid("rollback_deployment: the revision to return to was not recorded")
        })?;
    let previous = recorded_int(recorded, "previous_revision").unwrap_or(0);
    let revision = recorded_int(recorded, "revision").unwrap_or(0);
    let ns = target.namespace.as_deref().unwrap_or_default();
    let rs_target = Target::namespaced("ReplicaSet", ns, rs_name);
    let rs: ReplicaSet = Api::namespaced(ctx.client.clone(), ns)
        .get(rs_name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &rs_target))?;
    let Some(template) = rs.spec.as_ref().and_then(|s| s.template.as_ref()) else {
        return Err(ActionError::invalid(format!(
            "{rs_target} has no pod template"
        )));
    };
    let wanted = template_without_hash(template);
    let Some(spec) = d.spec.as_mut() else {
        return Err(ActionError::invalid(format!("{target} has no spec")));
    };
    let output = map([
        ("previous_revision", json!(previous)),
        ("revision", json!(revision)),
    ]);
    if same_template(&template_without_hash(&spec.template), &wanted) {
        let outcome = Outcome::with_output(output);
        return Ok(Progress::Done(if previous == revision {
            outcome
        } else {
            outcome.changed(
                &target,
                format!("rolled back revision {previous}→{revision}"),
            )
        }));
    }
    spec.template = wanted;
    api.replace(&target.name, &ctx.post_params(), &d)
        .await
        .map_err(|e| ActionError::from_kube(&e, "roll back", &target))?;
    Ok(Progress::Done(Outcome::with_output(output).changed(
        &target,
        format!("rolled back revision {previous}→{revision}"),
    )))
}
