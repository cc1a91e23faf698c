//! The catalog's actions, performed with `kube::Api`: one file per family.
//!
//! Every action has two halves. `prepare` reads the target and returns the state a
//! compensation needs (recorded in status as phase Running before anything changes); `apply`
//! makes the change and is idempotent: it compares the target with the wanted state and writes
//! only what is missing, so an executor that restarts mid-action never acts twice.

pub mod cleanup;
pub mod configmap;
pub mod cronjob;
pub mod deployment;
pub mod hpa;
pub mod migrate;
pub mod network;
pub mod node;
pub mod observe;
pub mod pod;
pub mod pvc;
pub mod quarantine;
pub mod rollout;

use std::time::Duration;

use jiff::Timestamp;
use kube::Client;
use kube::api::{DeleteParams, PatchParams, PostParams};

use super::failure::{ActionError, Target};
use super::params::Params;
use crate::api::JsonMap;
use crate::api::kubernetes_execution::ResourceChange;

/// The field manager the executor's writes carry.
pub const FIELD_MANAGER: &str = "remedy-executor";

/// Output keys starting with this are bookkeeping for a resumed `apply`, never shown in the
/// final output.
pub const INTERNAL_PREFIX: char = '_';

/// What an action needs besides its parameters.
#[derive(Clone)]
pub struct ActionContext {
    /// The client all API calls go through.
    pub client: Client,
    /// Whether writes are the API server's dry run.
    pub dry_run: bool,
    /// The KubernetesExecution being performed: its name.
    pub execution_name: String,
    /// Its namespace.
    pub execution_namespace: String,
    /// Its uid, when known.
    pub execution_uid: Option<String>,
    /// When the attempt started (status.startedAt).
    pub started_at: Timestamp,
    /// When this pass runs.
    pub now: Timestamp,
    /// How long to wait before looking again at something that is not there yet.
    pub poll_interval: Duration,
    /// The attempt was started (recorded Running) in this very pass, so nothing it creates
    /// can exist yet; false when resuming an attempt an earlier pass may have acted on.
    pub fresh: bool,
    /// The credentials the parameters held (opened from their sealed form): what the action
    /// publishes (an Event's message) is scrubbed of them.
    pub secrets: std::sync::Arc<std::collections::BTreeSet<String>>,
}

impl ActionContext {
    /// Parameters for a create, with dry run when asked.
    pub fn post_params(&self) -> PostParams {
        PostParams {
            dry_run: self.dry_run,
            field_manager: Some(FIELD_MANAGER.to_string()),
        }
    }

    /// Parameters for a patch, with dry run when asked.
    pub fn patch_params(&self) -> PatchParams {
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        if self.dry_run { pp.dry_run() } else { pp }
    }

    /// Parameters for a delete, with dry run when asked.
    pub fn delete_params(&self, grace_period_seconds: Option<u32>) -> DeleteParams {
        DeleteParams {
            dry_run: self.dry_run,
            grace_period_seconds,
            ..DeleteParams::default()
        }
    }
}

/// What one pass of an action came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The action is complete.
    Done(Outcome),
    /// Not yet (a wait, a deployment still rolling out): look again after `retry_after`.
    Waiting {
        /// When to look again.
        retry_after: Duration,
        /// What is awaited, for the timeout message.
        status: String,
    },
}

/// A completed action: its output and the objects it changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The result's output (internal keys are dropped before it is written).
    pub output: JsonMap,
    /// The objects changed, with before → after.
    pub changes: Vec<ResourceChange>,
}

impl Outcome {
    /// An outcome with this output and no change.
    pub fn with_output(output: JsonMap) -> Self {
        Outcome {
            output,
            changes: Vec::new(),
        }
    }

    /// Adds a changed object.
    pub fn changed(mut self, target: &Target, change: impl Into<String>) -> Self {
        self.changes.push(ResourceChange {
            kind: target.kind.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            change: change.into(),
        });
        self
    }
}

/// Reads the state a compensation of this action needs, before anything changes.
pub async fn prepare(ctx: &ActionContext, params: &Params) -> Result<JsonMap, ActionError> {
    match params.action() {
        "scale_deployment" => deployment::prepare_scale_deployment(ctx, params).await,
        "scale_statefulset" => deployment::prepare_scale_statefulset(ctx, params).await,
        "restart_deployment" => deployment::prepare_restart(ctx, params).await,
        "increase_resources" => deployment::prepare_increase_resources(ctx, params).await,
        "rollback_deployment" => deployment::prepare_rollback(ctx, params).await,
        "restart_pod" => pod::prepare_restart(ctx, params).await,
        "delete_pod" => pod::prepare_delete(ctx, params).await,
        "update_hpa" => hpa::prepare_update(ctx, params).await,
        "cordon_node" | "uncordon_node" => node::prepare_schedulable(ctx, params).await,
        "drain_node" => node::prepare_drain(ctx, params).await,
        "taint_node" => node::prepare_taint(ctx, params).await,
        "untaint_node" => node::prepare_untaint(ctx, params).await,
        "expand_pvc" => pvc::prepare_expand(ctx, params).await,
        "patch_configmap" => configmap::prepare_patch(ctx, params).await,
        "quarantine_pod" => quarantine::prepare_quarantine(ctx, params).await,
        "release_pod" => quarantine::prepare_release(ctx, params).await,
        "isolate_pod" => network::prepare_isolate(ctx, params).await,
        "update_network_policy" => network::prepare_update(ctx, params).await,
        "restart_statefulset" | "restart_daemonset" => rollout::prepare_restart(ctx, params).await,
        "pause_rollout" | "resume_rollout" => rollout::prepare_pause(ctx, params).await,
        "rotate_secret_consumers" => rollout::prepare_rotate(ctx, params).await,
        "suspend_cronjob" | "resume_cronjob" => cronjob::prepare_suspend(ctx, params).await,
        "cleanup_pods" => cleanup::prepare_pods(ctx, params).await,
        "cleanup_jobs" => cleanup::prepare_jobs(ctx, params).await,
        "migrate_workload" => migrate::prepare(ctx, params).await,
        "verify_rollout" => rollout::check_verify(params).map(|()| JsonMap::new()),
        "verify_deployment" | "collect_diagnostics" | "backup_data" | "notify_only" | "wait" => {
            observe::prepare(ctx, params).await
        }
        other => Err(ActionError::invalid(format!(
            "the executor cannot perform `{other}`"
        ))),
    }
}

/// How many times a write that lost a race to another writer (a controller updating the
/// same object) is redone from a fresh read before the attempt fails with Conflict.
const STALE_WRITE_RETRIES: u32 = 5;

/// Makes the change (or finds it already made), given the state `prepare` recorded. A write
/// that lost a race is redone from a fresh read (the actions are idempotent), like
/// `kubectl`'s retry on conflict.
pub async fn apply(
    ctx: &ActionContext,
    params: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let mut tries = 1;
    loop {
        match apply_once(ctx, params, recorded).await {
            Err(e) if e.stale_write && tries < STALE_WRITE_RETRIES => {
                tokio::time::sleep(Duration::from_millis(20 * u64::from(tries))).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

async fn apply_once(
    ctx: &ActionContext,
    params: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    match params.action() {
        "scale_deployment" => deployment::apply_scale_deployment(ctx, params, recorded).await,
        "scale_statefulset" => deployment::apply_scale_statefulset(ctx, params, recorded).await,
        "restart_deployment" => deployment::apply_restart(ctx, params, recorded).await,
        "increase_resources" => deployment::apply_increase_resources(ctx, params, recorded).await,
        "rollback_deployment" => deployment::apply_rollback(ctx, params, recorded).await,
        "restart_pod" | "delete_pod" => pod::apply_delete(ctx, params, recorded).await,
        "update_hpa" => hpa::apply_update(ctx, params, recorded).await,
        "cordon_node" => node::apply_schedulable(ctx, params, recorded, true).await,
        "uncordon_node" => node::apply_schedulable(ctx, params, recorded, false).await,
        "drain_node" => node::apply_drain(ctx, params, recorded).await,
        "taint_node" => node::apply_taint(ctx, params, recorded).await,
        "untaint_node" => node::apply_untaint(ctx, params, recorded).await,
        "expand_pvc" => pvc::apply_expand(ctx, params, recorded).await,
        "patch_configmap" => configmap::apply_patch(ctx, params, recorded).await,
        "verify_deployment" => observe::apply_verify(ctx, params).await,
        "collect_diagnostics" => observe::apply_collect(ctx, params).await,
        "backup_data" => observe::apply_backup(ctx, params).await,
        "notify_only" => observe::apply_notify(ctx, params).await,
        "wait" => observe::apply_wait(ctx, params).await,
        "quarantine_pod" => quarantine::apply_quarantine(ctx, params, recorded).await,
        "release_pod" => quarantine::apply_release(ctx, params, recorded).await,
        "isolate_pod" => network::apply_isolate(ctx, params, recorded).await,
        "update_network_policy" => network::apply_update(ctx, params, recorded).await,
        "restart_statefulset" | "restart_daemonset" => {
            rollout::apply_restart(ctx, params, recorded).await
        }
        "pause_rollout" | "resume_rollout" => {
            let pause = params
                .opt_bool("paused")
                .unwrap_or(params.action() == "pause_rollout");
            rollout::apply_pause(ctx, params, recorded, pause).await
        }
        "rotate_secret_consumers" => rollout::apply_rotate(ctx, params, recorded).await,
        "suspend_cronjob" | "resume_cronjob" => {
            let suspend = params
                .opt_bool("suspended")
                .unwrap_or(params.action() == "suspend_cronjob");
            cronjob::apply_suspend(ctx, params, recorded, suspend).await
        }
        "cleanup_pods" => cleanup::apply_pods(ctx, params, recorded).await,
        "cleanup_jobs" => cleanup::apply_jobs(ctx, params, recorded).await,
        "migrate_workload" => migrate::apply(ctx, params, recorded).await,
        "verify_rollout" => rollout::apply_verify(ctx, params).await,
        other => Err(ActionError::invalid(format!(
            "the executor cannot perform `{other}`"
        ))),
    }
}

/// The output a person and later steps see: `output` without the internal keys.
pub fn public_output(output: &JsonMap) -> JsonMap {
    output
        .iter()
        .filter(|(k, _)| !k.starts_with(INTERNAL_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Builds a JSON object from key/value pairs.
pub(crate) fn map<const N: usize>(entries: [(&str, serde_json::Value); N]) -> JsonMap {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Lists with a field selector; a server that refuses the selector (400) gets a plain list.
/// Callers filter the items themselves either way.
pub(crate) async fn list_with_fields<K>(
    api: &kube::Api<K>,
    fields: &str,
    target: &Target,
    verb: &str,
) -> Result<Vec<K>, ActionError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    use kube::api::ListParams;
    match api.list(&ListParams::default().fields(fields)).await {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(s)) if s.code == 400 => api
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .map_err(|e| ActionError::from_kube(&e, verb, target)),
        Err(e) => Err(ActionError::from_kube(&e, verb, target)),
    }
}
