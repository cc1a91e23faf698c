//! The WorkflowExecution controller, top-down: context → `reconcile` / `error_policy` → `run`.
//!
//! Each reconcile reads the run (from the watch cache when it shows this process's last
//! write, from the API otherwise), its executions and its analysis, and moves it on:
//! Pending (waits for the analysis) → Planning (pins the plan) → Validating (safety checks,
//! per-target lock) → the engine's phases, where `engine` decides and this file only applies
//! the decision: create executions (AlreadyExists = done), write status (optimistic
//! concurrency), publish events, requeue.
//!
//! This file holds the context, the reconcile entry and its dispatch by phase; each step has a
//! file: `plan` (Pending, Planning), `validate` (Validating, the lock claims), `execute` (the
//! engine's phases), `status` (status writes, events, metrics) and `watch` (the watches and
//! `run`).

mod execute;
mod plan;
mod status;
mod validate;
mod watch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};

use super::config::OperatorConfig;
use super::events::Recorder;
use super::finalizer;
use super::finished::FinishedExecutions;
use super::pause::PauseSwitch;
use super::planning::TemplateSource;
use super::retention::Retention;
use super::run_state;
use super::safety::ProtectedNamespaces;
use super::sealing::OpenedRun;
use super::target_lock::{self, TargetKey};
use crate::api::{WorkflowExecution, WorkflowPhase};
use crate::catalog::ActionCatalog;
use crate::engine;
use crate::reconcile::backoff::{self, Backoffs, RetryReason};
use crate::reconcile::metrics::Metrics;
use crate::redact::redact_text;
use crate::seal::{Keys, SealError};
use crate::sync::lock;
use execute::{engine_step, finished_but_in_flight};
use plan::plan_step;
use status::{
    note_pause, note_spec_change, note_version, note_written, pin_before_acting, report,
    write_status,
};
use validate::validate_step;

pub use watch::run;

/// Why a reconcile failed; it is retried with a backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The run's pinned plan could not be read back.
    #[error("the pinned plan in status is unreadable: {0}")]
    PinnedPlan(#[source] serde_json::Error),
    /// The installation's sealing key could not be read or created.
    #[error("{0}")]
    Keys(#[from] crate::seal::store::StoreError),
    /// A sealed value of the pinned plan does not open (the sealing key was replaced).
    #[error("the pinned plan does not open: {0}")]
    Seal(#[from] SealError),
    /// The pinned plan does not compile (a template the engine rejects).
    #[error("the engine rejected the plan: {0}")]
    Engine(#[from] engine::ProgramError),
    /// The object lacks a namespace or name.
    #[error("the WorkflowExecution has no {0}")]
    MissingField(&'static str),
    /// The reconcile's task panicked or was cancelled.
    #[error("the reconcile stopped before it finished: {0}")]
    Aborted(#[source] tokio::task::JoinError),
}

impl Error {
    /// The label of this error in the reconcile metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(_) => "api_error",
            Error::PinnedPlan(_) => "pinned_plan",
            Error::Keys(_) => "keys",
            Error::Seal(_) => "seal",
            Error::Engine(_) => "engine",
            Error::MissingField(_) => "invalid_object",
            Error::Aborted(_) => "aborted",
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    client: Client,
    config: OperatorConfig,
    recorder: Recorder,
    templates: Arc<TemplateSource>,
    protected: ProtectedNamespaces,
    actions: ActionCatalog,
    /// Opened plans' programs by run uid and plan digest: a plan is pinned, so it is opened
    /// and compiled once.
    programs: Mutex<HashMap<(String, String), Arc<OpenedRun>>>,
    /// The installation's keys (`seal::store`), read or created once.
    keys: tokio::sync::OnceCell<Arc<Keys>>,
    /// Serialises the target-lock decision (check the lock, then claim it by a status write).
    lock_gate: tokio::sync::Mutex<()>,
    /// The runs as the controller's watch cache holds them.
    runs: Store<WorkflowExecution>,
    /// Runs this process moved past Validating (run uid → target), kept until the watch
    /// cache shows that write: the lock decision reads the cache, which may lag.
    claimed: Mutex<HashMap<String, TargetKey>>,
    /// The target of each run's pinned plan by run uid, with the plan's template digest.
    targets: Mutex<HashMap<String, (String, Option<TargetKey>)>>,
    /// The resourceVersion of this process's last status write per run uid (empty after a
    /// conflict): the cached run is used only when it shows that version.
    written: Mutex<HashMap<String, String>>,
    /// Executions seen finished, by run: a decision whose in-flight executions are all
    /// here needs no list of the run's executions.
    finished: Arc<FinishedExecutions>,
    /// Archive and deletion of finished runs.
    retention: Arc<Retention>,
    /// The cluster-wide pause switch as last seen.
    pause: Arc<PauseSwitch>,
    /// Consecutive failed reconciles by run uid: the per-run error backoff.
    backoffs: Backoffs,
}

impl Context {
    fn metrics(&self) -> &Metrics {
        &self.config.metrics
    }

    /// The installation's keys; the Secret that holds them is created if missing.
    async fn keys(&self) -> Result<Arc<Keys>, Error> {
        let keys = self
            .keys
            .get_or_try_init(|| async {
                let ns = &self.config.operator_namespace;
                crate::seal::store::load_or_create(&self.client, ns)
                    .await
                    .map(Arc::new)
            })
            .await?;
        Ok(keys.clone())
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Reconciles one run, timing it in the metrics.
pub async fn reconcile(wfe: Arc<WorkflowExecution>, ctx: Arc<Context>) -> Result<Action, Error> {
    // kube-runtime polls every reconcile inside the controller's one task, so however many
    // runs are ready they would share one core; a task of its own lets them spread over the
    // runtime's workers. The controller still runs one reconcile per run at a time.
    tokio::spawn(reconcile_timed(wfe, ctx))
        .await
        .unwrap_or_else(|e| Err(Error::Aborted(e)))
}

async fn reconcile_timed(wfe: Arc<WorkflowExecution>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut timer = ctx.metrics().reconcile_timer();
    let result = reconcile_run(&wfe, &ctx).await;
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    match &result {
        Ok(_) => {
            ctx.backoffs.succeeded(uid);
            ctx.metrics().unreconciled_runs.succeeded(uid);
        }
        Err(e) => {
            timer.failed(e.metric_label());
            ctx.metrics().unreconciled_runs.failed(uid);
        }
    }
    result
}

/// Retries a failed reconcile after the run's backoff (`backoff.rs`): exponential per run,
/// from 20 ms after a conflict and 100 ms after other errors, up to 10 s of clock time.
pub fn error_policy(wfe: Arc<WorkflowExecution>, error: &Error, ctx: Arc<Context>) -> Action {
    let uid = wfe.uid().unwrap_or_default();
    // Whatever failed, the next reconcile reads the run from the API.
    lock(&ctx.written).insert(uid.clone(), String::new());
    let (wait, reason) = match error {
        Error::Kube(e) => (ctx.backoffs.failed(&uid, e), RetryReason::of(e)),
        _ => (ctx.backoffs.failed_otherwise(&uid), RetryReason::Other),
    };
    ctx.metrics().retried("workflow", reason);
    tracing::warn!(run = %wfe.name_any(), error = %redact_text(&error.to_string()), wait = ?wait, "reconcile failed; retrying");
    Action::requeue(ctx.config.clock.real_delay(wait))
}

/// The run as it is now: the cached object when it shows this process's last status write
/// (or this process never wrote the run), else a read from the API. A stale cache is still
/// caught: the status write is guarded by the resourceVersion and answers Conflict.
async fn current_run(
    cached: &WorkflowExecution,
    runs: &Api<WorkflowExecution>,
    name: &str,
    ctx: &Context,
) -> Result<Option<WorkflowExecution>, Error> {
    let uid = cached.metadata.uid.as_deref().unwrap_or_default();
    let cache_current = cache_shows_last_write(
        lock(&ctx.written).get(uid).map(String::as_str),
        cached.metadata.resource_version.as_deref(),
    );
    if cache_current {
        return Ok(Some(cached.clone()));
    }
    Ok(runs.get_opt(name).await?)
}

/// Whether a cached run can be acted on: this process never wrote it, or the cache shows the
/// version its last write produced (an empty `written` never matches: read from the API).
fn cache_shows_last_write(written: Option<&str>, cached: Option<&str>) -> bool {
    match written {
        None => true,
        Some(rv) => !rv.is_empty() && Some(rv) == cached,
    }
}

async fn reconcile_run(cached: &WorkflowExecution, ctx: &Context) -> Result<Action, Error> {
    let ns = cached.namespace().ok_or(Error::MissingField("namespace"))?;
    let name = cached
        .metadata
        .name
        .clone()
        .ok_or(Error::MissingField("name"))?;
    let runs: Api<WorkflowExecution> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(mut wfe) = current_run(cached, &runs, &name, ctx).await? else {
        return Ok(Action::await_change());
    };
    let before = wfe.status.clone().unwrap_or_default();
    let phase = before.phase.unwrap_or(WorkflowPhase::Pending);
    if phase.is_terminal() {
        // Finished: retention's keeper looks after it (the cache drops finished runs, so
        // this is a run that finished while its reconcile was queued).
        return Ok(Action::await_change());
    }
    if let Some(written) = finalizer::add(&runs, &wfe).await? {
        note_version(ctx, &written);
        wfe = written;
    }
    let now = ctx.config.clock.now();
    let mut status = before.clone();
    let mut requeue = None;
    let stop = finalizer::requested_stop(&wfe);
    let paused = ctx.pause.current();

    if let Some(stop) = &stop
        && matches!(phase, WorkflowPhase::Pending | WorkflowPhase::Planning)
    {
        // Nothing is planned yet: the run ends here (the engine's rule for unstarted runs).
        engine::cancel_unstarted(&mut status, stop, now);
    } else if matches!(phase, WorkflowPhase::Pending | WorkflowPhase::Planning) {
        match plan_step(&wfe, ctx, &mut status, now).await? {
            Step::Wait(delay) => requeue = Some(delay),
            Step::Continue => {}
        }
    } else {
        note_spec_change(&wfe, &mut status, now);
    }
    // Held until the status is written, so that the lock decision and the claim (the phase
    // moving past Validating) are one step for every other run.
    let mut lock_guard = None;
    if status.phase == Some(WorkflowPhase::Validating) && stop.is_none() {
        let (step, guard) = validate_step(&wfe, ctx, &mut status, now).await?;
        lock_guard = guard;
        if let Step::Wait(delay) = step {
            requeue = Some(delay);
        }
    }
    let in_engine = status.phase.is_some_and(|p| {
        !p.is_terminal() && !matches!(p, WorkflowPhase::Pending | WorkflowPhase::Planning)
    }) && !(status.phase == Some(WorkflowPhase::Validating) && requeue.is_some());
    if in_engine && matches!(phase, WorkflowPhase::Pending | WorkflowPhase::Planning) {
        wfe = pin_before_acting(&runs, ctx, wfe, &status, now).await?;
    }
    let mut observed = Vec::new();
    if in_engine {
        let (next, delay, obs, existed) =
            engine_step(&wfe, ctx, &status, now, stop.as_ref(), paused.paused).await?;
        status = next;
        observed = obs;
        requeue = delay.map(|d| ctx.config.clock.real_delay(d));
        if existed || finished_but_in_flight(&status, &observed) {
            // An execution that existed before this decision started it (created by an
            // earlier reconcile whose status write failed) may have finished already: its
            // end is news that no watch event will bring again, so decide again at once.
            requeue = Some(Duration::from_millis(10));
        }
    }
    status.observed_generation = wfe.metadata.generation;
    note_pause(&mut status, &paused, wfe.metadata.generation, now);
    run_state::derive_conditions(&mut status, wfe.metadata.generation, now);
    run_state::redact(&mut status);
    if status != before {
        // A run this write finishes is left to retention's keeper once its events are out.
        let _finishing = status
            .phase
            .is_some_and(WorkflowPhase::is_terminal)
            .then(|| ctx.retention.finishing(&wfe.uid().unwrap_or_default()));
        let written = write_status(&runs, &wfe, &status).await?;
        note_written(ctx, &written);
        if let Some((_gate, key)) = lock_guard.take()
            && status.phase.is_some_and(target_lock::holds)
        {
            lock(&ctx.claimed).insert(wfe.uid().unwrap_or_default(), key);
        }
        // A run that has just finished is retention's from here: the watch event of this
        // write hands it to the keeper, which archives it (and deletes it when due).
        report(ctx, &wfe, &before, &status, &observed).await;
    }
    // A run that is not finished is looked at again at least every RESYNC, whatever it waits for.
    let resync = ctx.config.clock.real_delay(backoff::RESYNC);
    let finished = status.phase.is_some_and(WorkflowPhase::is_terminal);
    Ok(match requeue {
        Some(d) => Action::requeue(d.min(resync)),
        None if finished => Action::await_change(),
        None => Action::requeue(resync),
    })
}

/// Whether a phase handler let the run move on in this reconcile.
enum Step {
    Continue,
    Wait(Duration),
}

#[cfg(test)]
mod tests {
    use super::cache_shows_last_write;

    #[test]
    fn the_cached_run_is_used_only_when_it_shows_the_last_write() {
        // Never written by this process: the cache is as good as a read.
        assert!(cache_shows_last_write(None, Some("7")));
        // The cache has caught up with the last write.
        assert!(cache_shows_last_write(Some("7"), Some("7")));
        // The cache lags the last write (or someone wrote since): read from the API.
        assert!(!cache_shows_last_write(Some("9"), Some("7")));
        assert!(!cache_shows_last_write(Some("9"), None));
        // After a failed reconcile nothing matches until the next write.
        assert!(!cache_shows_last_write(Some(""), Some("")));
        assert!(!cache_shows_last_write(Some(""), None));
    }
}
