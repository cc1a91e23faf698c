//! Workload actions, one file per family: scale a Deployment or StatefulSet (`scale`), restart a
//! Deployment (`restart`), set its container resources (`resources`), roll it back to an
//! earlier revision (`rollback`). This file holds what they share: the Deployment an action
//! names (its revisions are `revision.rs`).

mod resources;
mod restart;
mod revision;
mod rollback;
mod scale;

pub use resources::{apply_increase_resources, prepare_increase_resources};
pub use restart::{apply_restart, prepare_restart};
pub use rollback::{apply_rollback, prepare_rollback};
pub use scale::{
    apply_scale_deployment, apply_scale_statefulset, prepare_scale_deployment,
    prepare_scale_statefulset,
};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use serde_json::Value;

use crate::api::JsonMap;
use crate::executor::actions::ActionContext;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;
use crate::pod_template::REVISION_ANNOTATION;

/// The pod template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

/// The revision recorded in an object's annotations.
pub fn revision_of(meta: &ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)?
        .parse()
        .ok()
}

/// The Deployment an action names, with its `Api`.
pub(super) fn deployment(
    ctx: &ActionContext,
    p: &Params,
) -> Result<(Api<Deployment>, Target), ActionError> {
    let ns = p.string("namespace")?;
    let name = p.string("deployment")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("Deployment", ns, name),
    ))
}

pub(super) async fn get_deployment(
    api: &Api<Deployment>,
    target: &Target,
) -> Result<Deployment, ActionError> {
    api.get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))
}

pub(super) fn recorded_int(recorded: &JsonMap, key: &str) -> Option<i64> {
    recorded.get(key).and_then(Value::as_i64)
}
