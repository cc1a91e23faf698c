//! `scale_deployment`, `scale_statefulset`: set the replicas through the scale subresource.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::Resource;
use kube::api::{Api, Patch};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::recorded_int;
use crate::api::JsonMap;
use crate::executor::actions::{ActionContext, Outcome, Progress, map};
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

/// Records `previous_replicas` of the Deployment.
pub async fn prepare_scale_deployment(
    ctx: &ActionContext,
    p: &Params,
) -> Result<JsonMap, ActionError> {
    prepare_scale::<Deployment>(ctx, p, "Deployment", "deployment").await
}

/// Records `previous_replicas` of the StatefulSet.
pub async fn prepare_scale_statefulset(
    ctx: &ActionContext,
    p: &Params,
) -> Result<JsonMap, ActionError> {
    prepare_scale::<StatefulSet>(ctx, p, "StatefulSet", "statefulset").await
}

/// Sets the Deployment's replicas through its scale subresource.
pub async fn apply_scale_deployment(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    apply_scale::<Deployment>(ctx, p, recorded, "Deployment", "deployment").await
}

/// Sets the StatefulSet's replicas through its scale subresource.
pub async fn apply_scale_statefulset(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    apply_scale::<StatefulSet>(ctx, p, recorded, "StatefulSet", "statefulset").await
}

trait Workload:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Debug
{
}
impl Workload for Deployment {}
impl Workload for StatefulSet {}

fn wanted_replicas(p: &Params) -> Result<i32, ActionError> {
    let replicas = p.int("replicas")?;
    i32::try_from(replicas)
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ActionError::invalid(format!(
                "{}: `replicas` must be 0 or more, got {replicas}",
                p.action()
            ))
        })
}

async fn current_replicas<K: Workload>(api: &Api<K>, target: &Target) -> Result<i32, ActionError> {
    let scale = api
        .get_scale(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read the scale of", target))?;
    Ok(scale.spec.and_then(|s| s.replicas).unwrap_or(0))
}

async fn prepare_scale<K: Workload>(
    ctx: &ActionContext,
    p: &Params,
    kind: &str,
    param: &str,
) -> Result<JsonMap, ActionError> {
    wanted_replicas(p)?;
    let ns = p.string("namespace")?;
    let target = Target::namespaced(kind, ns, p.string(param)?);
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let previous = current_replicas(&api, &target).await?;
    Ok(map([("previous_replicas", json!(previous))]))
}

async fn apply_scale<K: Workload>(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
    kind: &str,
    param: &str,
) -> Result<Progress, ActionError> {
    let replicas = wanted_replicas(p)?;
    let ns = p.string("namespace")?;
    let target = Target::namespaced(kind, ns, p.string(param)?);
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let current = current_replicas(&api, &target).await?;
    let previous = recorded_int(recorded, "previous_replicas").unwrap_or(i64::from(current));
    if current != replicas {
        api.patch_scale(
            &target.name,
            &ctx.patch_params(),
            &Patch::Merge(json!({ "spec": { "replicas": replicas } })),
        )
        .await
        .map_err(|e| ActionError::from_kube(&e, "scale", &target))?;
    }
    let outcome = Outcome::with_output(map([
        ("previous_replicas", json!(previous)),
        ("replicas", json!(replicas)),
    ]));
    Ok(Progress::Done(if previous == i64::from(replicas) {
        outcome
    } else {
        outcome.changed(&target, format!("scaled {previous}→{replicas}"))
    }))
}
