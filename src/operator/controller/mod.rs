//! The WorkflowExecution controller, top-down: context → `reconcile` / `error_policy` → `run`.
//!
//! Each reconcile reads the run (from the watch cache when it shows this process's last
//! write, from the API otherwise), its executions and its analysis, and moves it on:
//! Pending (waits for the analysis) → Planning (pins the plan) → Validating (safety checks,
//! per-target lock) → the engine's phases, where `engine` decides and this file only applies
//! the decision: create executions (AlreadyExists = done), write status (optimistic
//! concurrency), publish events, requeue.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Client, Resource, ResourceExt};

use super::backoff::{self, Backoffs, RetryReason, WatchBackoff};
use super::config::OperatorConfig;
use super::events::Recorder;
use super::finalizer;
use super::finished::{self, FinishedExecutions};
use super::pause::{self, PauseSwitch};
use super::planning::{self, PlanFailure, TemplateSource};
use super::retention::{self, Retention};
use super::run_state::{self, Transition};
use super::safety::{self, ProtectedNamespaces};
use super::sealing::{self, OpenedRun};
use super::target_lock::{self, Claim, LockState, TargetKey};
use super::{conditions, metrics::Metrics};
use crate::api::{
    AIAnalysis, AnalysisPhase, FailureReason, KubernetesExecution, WorkflowExecution,
    WorkflowExecutionStatus, WorkflowPhase,
};
use crate::catalog::ActionCatalog;
use crate::engine::{self, Observation, Observations, Program};
use crate::plan::ExecutionPlan;
use crate::redact::redact_text;
use crate::seal::{Keys, SealError};

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
    if let Ok(mut written) = ctx.written.lock() {
        written.insert(uid.clone(), String::new());
    }
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
    let cache_current = ctx.written.lock().is_ok_and(|written| {
        cache_shows_last_write(
            written.get(uid).map(String::as_str),
            cached.metadata.resource_version.as_deref(),
        )
    });
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

/// Remembers the version a status write produced, or forgets a finished run: its version,
/// its compiled program and its target (a finished run is never decided again).
fn note_written(ctx: &Context, written: &WorkflowExecution) {
    let uid = written.uid().unwrap_or_default();
    let status = written.status.as_ref();
    let finished = status
        .and_then(|s| s.phase)
        .is_some_and(WorkflowPhase::is_terminal);
    if let Ok(mut map) = ctx.written.lock() {
        match (&written.metadata.resource_version, finished) {
            (Some(rv), false) => map.insert(uid.clone(), rv.clone()),
            _ => map.remove(&uid),
        };
    }
    // Executions the status no longer has in flight are in it now.
    let flying = status.map(finished::in_flight_names).unwrap_or_default();
    ctx.finished.keep_only(&uid, &flying);
    if !finished {
        return;
    }
    let digest = status
        .and_then(|s| s.workflow.as_ref())
        .map(|w| w.digest.clone())
        .unwrap_or_default();
    if let Ok(mut programs) = ctx.programs.lock() {
        programs.remove(&(uid.clone(), digest));
    }
    if let Ok(mut targets) = ctx.targets.lock() {
        targets.remove(&uid);
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
        return finished_run(&wfe, &runs, ctx).await;
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
        let written = write_status(&runs, &wfe, &status).await?;
        note_written(ctx, &written);
        if let Some((_gate, key)) = lock_guard.take()
            && status.phase.is_some_and(target_lock::holds)
            && let Ok(mut claimed) = ctx.claimed.lock()
        {
            claimed.insert(wfe.uid().unwrap_or_default(), key);
        }
        report(ctx, &wfe, &before, &status, &observed).await;
        if status.phase.is_some_and(WorkflowPhase::is_terminal) {
            // Archived (and deleted, when due) from the run just written, which is whole.
            return finished_run(&written, &runs, ctx).await;
        }
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

/// Stores the plan planned in this reconcile before the engine creates anything: the executor
/// performs an execution only if the run's stored plan holds it. Events are published once,
/// for the whole reconcile, after its last write.
async fn pin_before_acting(
    runs: &Api<WorkflowExecution>,
    ctx: &Context,
    wfe: WorkflowExecution,
    status: &WorkflowExecutionStatus,
    now: Timestamp,
) -> Result<WorkflowExecution, Error> {
    let mut pinned = status.clone();
    pinned.observed_generation = wfe.metadata.generation;
    run_state::derive_conditions(&mut pinned, wfe.metadata.generation, now);
    run_state::redact(&mut pinned);
    let written = write_status(runs, &wfe, &pinned).await?;
    note_written(ctx, &written);
    Ok(written)
}

/// A finished run: retention archives it and deletes it when it is due.
/// A run that has ended: archived, then deleted when its retention says so. A run a person
/// deletes keeps its finalizer until the archive holds its record (archive, then delete;
/// never the other way round).
async fn finished_run(
    wfe: &WorkflowExecution,
    runs: &Api<WorkflowExecution>,
    ctx: &Context,
) -> Result<Action, Error> {
    let env = retention::Env {
        client: &ctx.client,
        clock: ctx.config.clock.as_ref(),
        metrics: ctx.metrics(),
    };
    if finalizer::deleting(wfe) {
        if let Some(wait) = retention::archive_before_release(wfe, &ctx.retention, &env).await? {
            return Ok(wait);
        }
        finalizer::release(runs, wfe).await?;
        return Ok(Action::await_change());
    }
    Ok(retention::reconcile(wfe, &ctx.retention, &env).await?)
}

/// Whether an observed execution has finished while the status still shows its step in flight.
fn finished_but_in_flight(
    status: &WorkflowExecutionStatus,
    observed: &[KubernetesExecution],
) -> bool {
    observed.iter().any(|kex| {
        kex.is_finished()
            && status.steps.iter().any(|step| {
                engine::in_flight(step)
                    && step.execution_ref.as_deref() == kex.metadata.name.as_deref()
            })
    })
}

/// Whether a phase handler let the run move on in this reconcile.
enum Step {
    Continue,
    Wait(Duration),
}

/// Pending and Planning: wait for the analysis, then plan and pin.
async fn plan_step(
    wfe: &WorkflowExecution,
    ctx: &Context,
    status: &mut WorkflowExecutionStatus,
    now: Timestamp,
) -> Result<Step, Error> {
    let generation = wfe.metadata.generation;
    let ns = wfe.namespace().unwrap_or_default();
    let ana_ref = &wfe.spec.ai_analysis_ref;
    if let Some(message) = foreign_analysis(ana_ref.namespace.as_deref(), &ns) {
        conditions::remove(&mut status.conditions, "AnalysisPending");
        let reason = FailureReason::InvalidParameters;
        conditions::set(
            &mut status.conditions,
            "Planned",
            false,
            reason.as_str(),
            &message,
            generation,
            now,
        );
        run_state::fail(status, reason, None, &message, generation, now);
        return Ok(Step::Continue);
    }
    let ana_ns = ana_ref.namespace.clone().unwrap_or(ns);
    let analyses: Api<AIAnalysis> = Api::namespaced(ctx.client.clone(), &ana_ns);
    let analysis = analyses.get_opt(&ana_ref.name).await?;
    let analysis_status = analysis.as_ref().and_then(|a| a.status.clone());
    let ana_phase = analysis_status.as_ref().and_then(|s| s.phase);
    match ana_phase {
        Some(AnalysisPhase::Completed) => {}
        Some(AnalysisPhase::Failed) => {
            conditions::remove(&mut status.conditions, "AnalysisPending");
            let message = format!("AIAnalysis {ana_ns}/{} failed", ana_ref.name);
            run_state::fail(
                status,
                FailureReason::AnalysisFailed,
                None,
                &message,
                generation,
                now,
            );
            return Ok(Step::Continue);
        }
        _ => {
            let message = match &analysis {
                None => format!("waiting for AIAnalysis {ana_ns}/{} to exist", ana_ref.name),
                Some(_) => format!(
                    "waiting for AIAnalysis {ana_ns}/{} to complete (phase {})",
                    ana_ref.name,
                    ana_phase.map_or("unset".to_string(), |p| format!("{p:?}"))
                ),
            };
            status.phase = Some(WorkflowPhase::Pending);
            conditions::set(
                &mut status.conditions,
                "AnalysisPending",
                true,
                "AnalysisNotCompleted",
                &message,
                generation,
                now,
            );
            return Ok(Step::Wait(ctx.config.wait_requeue));
        }
    }
    conditions::remove(&mut status.conditions, "AnalysisPending");
    let Some(analysis_status) = analysis_status else {
        return Ok(Step::Wait(ctx.config.wait_requeue));
    };
    // Planning runs the template's scripts: off the runtime's workers, so that a slow one
    // delays only this run.
    let planned = {
        let (templates, wfe) = (ctx.templates.clone(), wfe.clone());
        tokio::task::spawn_blocking(move || planning::plan_run(&templates, &wfe, &analysis_status))
            .await
            .map_err(Error::Aborted)?
    };
    match planned {
        Err(PlanFailure { reason, message }) => {
            conditions::set(
                &mut status.conditions,
                "Planned",
                false,
                reason.as_str(),
                &message,
                generation,
                now,
            );
            run_state::fail(status, reason, None, &message, generation, now);
        }
        Ok(mut plan) => {
            let keys = ctx.keys().await?;
            let uid = wfe.uid().unwrap_or_default();
            if let Err(message) = sealing::seal_plan(&keys, &uid, &mut plan) {
                let reason = FailureReason::InvalidParameters;
                conditions::set(
                    &mut status.conditions,
                    "Planned",
                    false,
                    reason.as_str(),
                    &message,
                    generation,
                    now,
                );
                run_state::fail(status, reason, None, &message, generation, now);
                return Ok(Step::Continue);
            }
            let conds = std::mem::take(&mut status.conditions);
            *status = engine::initial_status(&plan);
            status.conditions = conds;
            status.validation = None;
            status.plan = serde_json::to_string(&plan).ok();
            status.spec_digest = Some(run_state::spec_digest(&wfe.spec));
            let message = format!(
                "pinned {}@{} ({})",
                plan.workflow, plan.version, plan.digest
            );
            conditions::set(
                &mut status.conditions,
                "Planned",
                true,
                "Planned",
                &message,
                generation,
                now,
            );
        }
    }
    Ok(Step::Continue)
}

/// Why a run may not use the analysis its spec names: one in another namespace.
fn foreign_analysis(named: Option<&str>, run_namespace: &str) -> Option<String> {
    let named = named?;
    (named != run_namespace).then(|| {
        format!(
            "spec.aiAnalysisRef names namespace `{named}`: a run may only use an AIAnalysis in              its own namespace (`{run_namespace}`); create the run in the analysis's namespace"
        )
    })
}

/// Validating: the safety checks (on the opened plan), then the per-target lock.
async fn validate_step<'c>(
    wfe: &WorkflowExecution,
    ctx: &'c Context,
    status: &mut WorkflowExecutionStatus,
    now: Timestamp,
) -> Result<(Step, Option<LockGuard<'c>>), Error> {
    let generation = wfe.metadata.generation;
    let uid = wfe.uid().unwrap_or_default();
    let run_ns = wfe.namespace().unwrap_or_default();
    let opened = program_for(ctx, &uid, status).await?;
    let plan = opened.program.plan();
    let target = planning::target_of(plan);
    let key = target.as_ref().map(|t| target_lock::canonical(t, &run_ns));
    let mut violations = safety::violations(plan, target.as_ref(), &ctx.protected, &ctx.actions);
    if let Some(Err(problem)) = &key {
        violations.insert(0, problem.clone());
    }
    if !violations.is_empty() {
        let violations: Vec<String> = violations
            .iter()
            .map(|v| crate::redact::scrub(v, &opened.secrets))
            .collect();
        let message = violations.join("; ");
        status.validation = Some(crate::api::workflow_execution::Validation {
            passed: false,
            violations,
            dry_run: None,
        });
        conditions::set(
            &mut status.conditions,
            "Validated",
            false,
            "SafetyViolation",
            &message,
            generation,
            now,
        );
        run_state::fail(
            status,
            FailureReason::SafetyViolation,
            None,
            &message,
            generation,
            now,
        );
        return Ok((Step::Continue, None));
    }
    status.validation = Some(crate::api::workflow_execution::Validation {
        passed: true,
        violations: Vec::new(),
        dry_run: None,
    });
    conditions::set(
        &mut status.conditions,
        "Validated",
        true,
        "SafetyChecksPassed",
        "",
        generation,
        now,
    );
    let Some(Ok(key)) = key else {
        conditions::remove(&mut status.conditions, "TargetBusy");
        return Ok((Step::Continue, None));
    };
    // Decide the lock one decision at a time, so two runs on one target never both pass.
    let gate = ctx.lock_gate.lock().await;
    let claims = claims_on(ctx, &key);
    let me = Claim {
        target: Some(key.clone()),
        ..claim_without_target(wfe)
    };
    match target_lock::state(&me, &claims) {
        LockState::Free => {
            conditions::remove(&mut status.conditions, "TargetBusy");
            Ok((Step::Continue, Some((gate, key))))
        }
        LockState::Busy { holder } => {
            let message =
                format!("{key} is being remediated by {holder}; this run starts when it ends");
            conditions::set(
                &mut status.conditions,
                "TargetBusy",
                true,
                "TargetLocked",
                &message,
                generation,
                now,
            );
            Ok((Step::Wait(ctx.config.wait_requeue), None))
        }
    }
}

/// The lock gate, held from the lock decision until the claim is written, and the target.
type LockGuard<'c> = (tokio::sync::MutexGuard<'c, ()>, TargetKey);

/// `ns/name` of a run.
fn run_id(wfe: &WorkflowExecution) -> String {
    format!("{}/{}", wfe.namespace().unwrap_or_default(), wfe.name_any())
}

/// The claims on `key` of every run, read from the watch cache, with the claims this
/// process wrote and the cache does not show yet. Only runs that may hold `key` are
/// returned (finished runs and other targets never matter), so only their plans are parsed.
/// Every validation reads every cached run: the loop allocates only for the runs it returns.
fn claims_on(ctx: &Context, key: &TargetKey) -> Vec<Claim> {
    let (Ok(mut claimed), Ok(mut targets)) = (ctx.claimed.lock(), ctx.targets.lock()) else {
        return Vec::new();
    };
    let mut unseen = std::collections::HashSet::new();
    let mut claims = Vec::new();
    let runs = ctx.runs.state();
    for wfe in &runs {
        let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
        let status = wfe.status.as_ref();
        let phase = status
            .and_then(|s| s.phase)
            .unwrap_or(WorkflowPhase::Pending);
        let recorded = if claimed.is_empty() {
            None
        } else {
            claimed.get(uid)
        };
        if recorded.is_none() && phase.is_terminal() {
            continue;
        }
        let holds = match recorded {
            Some(target)
                if matches!(
                    phase,
                    WorkflowPhase::Pending | WorkflowPhase::Planning | WorkflowPhase::Validating
                ) =>
            {
                // The cache lags this process's own claim: the run holds its target.
                if target == key {
                    let mut claim = claim_without_target(wfe);
                    claim.phase = WorkflowPhase::Executing;
                    claim.target = Some(target.clone());
                    claims.push(claim);
                }
                unseen.insert(uid);
                continue;
            }
            _ => !phase.is_terminal() && target_of_run(&mut targets, wfe) == Some(key),
        };
        if holds {
            claims.push(Claim {
                target: Some(key.clone()),
                ..claim_without_target(wfe)
            });
        }
    }
    claimed.retain(|uid, _| unseen.contains(uid.as_str()));
    claims
}

/// The target a run's pinned plan acts on, read from the plan once per run and plan (a pinned
/// plan never changes); `targets` caches it by run uid, with the plan's digest.
fn target_of_run<'a>(
    targets: &'a mut HashMap<String, (String, Option<TargetKey>)>,
    wfe: &WorkflowExecution,
) -> Option<&'a TargetKey> {
    let status = wfe.status.as_ref()?;
    let text = status.plan.as_deref()?;
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    let digest = status
        .workflow
        .as_ref()
        .map(|w| w.digest.as_str())
        .unwrap_or_default();
    let cached = targets.get(uid).is_some_and(|(d, _)| d == digest);
    if !cached {
        let run_ns = wfe.metadata.namespace.as_deref().unwrap_or_default();
        let target = serde_json::from_str::<ExecutionPlan>(text)
            .ok()
            .and_then(|p| planning::target_key(planning::target_of(&p).as_ref(), run_ns));
        if targets.len() > 4096 {
            targets.clear();
        }
        targets.insert(uid.to_string(), (digest.to_string(), target));
    }
    targets.get(uid).and_then(|(_, t)| t.as_ref())
}

fn claim_without_target(wfe: &WorkflowExecution) -> Claim {
    let status = wfe.status.as_ref();
    Claim {
        run: run_id(wfe),
        phase: status
            .and_then(|s| s.phase)
            .unwrap_or(WorkflowPhase::Pending),
        created: wfe.metadata.creation_timestamp.as_ref().map(|t| t.0),
        target: None,
    }
}

/// The engine's phases: observe, decide, create what it asks for.
async fn engine_step(
    wfe: &WorkflowExecution,
    ctx: &Context,
    status: &WorkflowExecutionStatus,
    now: Timestamp,
    stop: Option<&crate::api::StopRequest>,
    paused: bool,
) -> Result<
    (
        WorkflowExecutionStatus,
        Option<Duration>,
        Vec<KubernetesExecution>,
        bool,
    ),
    Error,
> {
    let ns = wfe.namespace().unwrap_or_default();
    let name = wfe.name_any();
    let uid = wfe.metadata.uid.clone().unwrap_or_default();
    let opened = program_for(ctx, &uid, status).await?;
    let executions: Api<KubernetesExecution> = Api::namespaced(ctx.client.clone(), &ns);
    // The engine reads only the executions in flight: when the watch has shown each of
    // them finished (or none is in flight), those copies are what a list would return.
    let flying = finished::in_flight_names(status);
    // A stopping run reads every execution: one created by a decision whose status write
    // the stop made conflict is not in flight in the status, and the engine must adopt it.
    let seen = match stop {
        None => ctx.finished.all_of(&uid, &flying),
        Some(_) => None,
    };
    let observed = match seen {
        Some(seen) => seen,
        None => {
            let selector = crate::api::executions_of(&name);
            let owned = executions
                .list(&ListParams::default().labels(&selector))
                .await?;
            owned
                .items
                .into_iter()
                .filter(|k| k.owner_references().iter().any(|o| o.uid == uid))
                .collect()
        }
    };
    let observations = Observations {
        executions: observed.iter().map(Observation::from).collect(),
        approved: wfe.spec.approved,
        stop: stop.cloned(),
        paused,
    };
    // Deciding runs `when` and deferred `with` scripts: off the runtime's workers, like
    // planning. A plan without them is decided in place (no scripts, no thread hand-off).
    let decision = if opened.program.runs_scripts() {
        let (opened, status) = (opened.clone(), status.clone());
        tokio::task::spawn_blocking(move || opened.program.decide(&status, &observations, now))
            .await
            .map_err(Error::Aborted)?
    } else {
        opened.program.decide(status, &observations, now)
    };
    let owner = owner_reference(wfe)?;
    let keys = ctx.keys().await?;
    let mut existed = false;
    for new in &decision.create {
        let mut kex = KubernetesExecution {
            metadata: ObjectMeta {
                name: Some(new.name.clone()),
                namespace: Some(ns.clone()),
                labels: Some(new.labels.clone()),
                owner_references: Some(vec![owner.clone()]),
                ..ObjectMeta::default()
            },
            spec: new.spec.clone(),
            status: None,
        };
        sealing::seal_execution(&keys, &uid, &mut kex, &opened.secrets)?;
        match executions.create(&PostParams::default(), &kex).await {
            Ok(_) => ctx
                .metrics()
                .execution_created(&new.spec.action.action_type),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Created by an earlier decision whose status write failed: it may have
                // finished already, and no event will tell. Decide again soon.
                tracing::debug!(execution = %new.name, "already exists; created before");
                existed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut next = decision.status;
    run_state::keep_conditions(status, &mut next);
    sealing::scrub_status(&mut next, &opened.secrets);
    Ok((next, decision.requeue_after, observed, existed))
}

/// The run's pinned plan, opened, and its compiled program; read, opened and compiled once per
/// run (off the runtime's workers: loading the plan's modules runs their scripts).
async fn program_for(
    ctx: &Context,
    uid: &str,
    status: &WorkflowExecutionStatus,
) -> Result<Arc<OpenedRun>, Error> {
    let digest = status
        .workflow
        .as_ref()
        .map(|w| w.digest.as_str())
        .unwrap_or_default();
    let key = (uid.to_string(), digest.to_string());
    if let Ok(cache) = ctx.programs.lock()
        && let Some(p) = cache.get(&key)
    {
        return Ok(p.clone());
    }
    let keys = ctx.keys().await?;
    let text = status.plan.clone();
    let uid_owned = uid.to_string();
    let opened = tokio::task::spawn_blocking(move || -> Result<OpenedRun, Error> {
        let pinned = parse_plan(text.as_deref())?;
        let (plan, secrets) = sealing::open_plan(&keys, &uid_owned, &pinned)?;
        Ok(OpenedRun {
            program: Program::new(&plan)?,
            secrets,
        })
    })
    .await
    .map_err(Error::Aborted)??;
    let program = Arc::new(opened);
    if let Ok(mut cache) = ctx.programs.lock() {
        // Compiled programs are small; a bound keeps a long-lived operator's memory flat.
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(key, program.clone());
    }
    Ok(program)
}

fn parse_plan(text: Option<&str>) -> Result<ExecutionPlan, Error> {
    serde_json::from_str(text.unwrap_or("null")).map_err(Error::PinnedPlan)
}

fn owner_reference(wfe: &WorkflowExecution) -> Result<OwnerReference, Error> {
    wfe.controller_owner_ref(&())
        .ok_or(Error::MissingField("uid"))
}

/// Reports a spec change after Planning (other than `approved` and `stop`) with a condition;
/// the change is ignored.
fn note_spec_change(wfe: &WorkflowExecution, status: &mut WorkflowExecutionStatus, now: Timestamp) {
    let current = run_state::spec_digest(&wfe.spec);
    match status.spec_digest.as_deref() {
        Some(p) if p != current => conditions::set(
            &mut status.conditions,
            "SpecChangeIgnored",
            true,
            "SpecImmutable",
            "the spec changed after Planning; only `approved` and `stop` may change, the change is ignored",
            wfe.metadata.generation,
            now,
        ),
        _ => conditions::remove(&mut status.conditions, "SpecChangeIgnored"),
    }
}

/// Shows the pause on a run that has not ended (condition `Paused`), and clears it otherwise;
/// an ended run loses the conditions of waiting.
fn note_pause(
    status: &mut WorkflowExecutionStatus,
    pause: &pause::Pause,
    generation: Option<i64>,
    now: Timestamp,
) {
    let ended = status.phase.is_some_and(WorkflowPhase::is_terminal);
    if ended {
        // An ended run (a stopped one included) waits for nothing any more.
        conditions::remove(&mut status.conditions, "AnalysisPending");
        conditions::remove(&mut status.conditions, "TargetBusy");
    }
    if pause.paused && !ended {
        conditions::set(
            &mut status.conditions,
            "Paused",
            true,
            "RemedyPaused",
            &pause.message(),
            generation,
            now,
        );
    } else {
        conditions::remove(&mut status.conditions, "Paused");
    }
}

/// Remembers the version a metadata write (the finalizer) produced, so that the next
/// reconcile may act on the cache once it shows it.
fn note_version(ctx: &Context, written: &WorkflowExecution) {
    if let (Some(uid), Some(rv), Ok(mut map)) = (
        written.metadata.uid.as_deref(),
        written.metadata.resource_version.as_deref(),
        ctx.written.lock(),
    ) && map.contains_key(uid)
    {
        map.insert(uid.to_string(), rv.to_string());
    }
}

/// Writes status with the resourceVersion read: a concurrent change answers Conflict.
async fn write_status(
    runs: &Api<WorkflowExecution>,
    wfe: &WorkflowExecution,
    status: &WorkflowExecutionStatus,
) -> Result<WorkflowExecution, Error> {
    let mut obj = wfe.clone();
    obj.status = Some(status.clone());
    Ok(runs
        .replace_status(&wfe.name_any(), &PostParams::default(), &obj)
        .await?)
}

/// Events and metrics for what changed.
async fn report(
    ctx: &Context,
    wfe: &WorkflowExecution,
    before: &WorkflowExecutionStatus,
    after: &WorkflowExecutionStatus,
    observed: &[KubernetesExecution],
) {
    let reference = wfe.object_ref(&());
    for kex in run_state::absorbed(before, observed) {
        let status = kex.status.as_ref();
        if let (Some(s), Some(c)) = (
            status.and_then(|s| s.started_at.as_ref()),
            status.and_then(|s| s.completed_at.as_ref()),
        ) {
            let seconds = c.0.duration_since(s.0).as_secs_f64();
            ctx.metrics()
                .execution_finished(&kex.spec.action.action_type, seconds);
        }
    }
    for t in run_state::transitions(before, after) {
        if let Transition::RunEnded(outcome) = &t {
            ctx.metrics().run_ended(run_state::outcome_name(*outcome));
        }
        if let Some((type_, reason, note)) = t.event() {
            let event = Event {
                type_: if type_ {
                    EventType::Normal
                } else {
                    EventType::Warning
                },
                reason: reason.to_string(),
                note: Some(redact_text(&note)),
                action: "Reconcile".to_string(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&event, &reference).await {
                tracing::debug!(error = %e, "could not publish an event");
            }
        }
    }
}

/// The executions whose run has something to decide: those that finished, went away, or
/// were (re)listed. An execution picked up by the executor (Pending → Running) changes no
/// decision (the engine treats both alike; deadlines come back as requeues), so it does not
/// cost its run a reconcile. Every event first goes to `finished`, so the reconcile it
/// causes finds the execution there.
fn ended_executions(
    executions: Api<KubernetesExecution>,
    finished: Arc<FinishedExecutions>,
    runs: Store<WorkflowExecution>,
) -> impl futures::Stream<Item = Result<KubernetesExecution, watcher::Error>> + Send + 'static {
    watcher(executions, watcher::Config::default().any_semantic()).filter_map(move |event| {
        if let Ok(event) = &event {
            finished.observe(event, |ns, name, uid| {
                runs.get(&ObjectRef::new(name).within(ns)).is_some_and(|w| {
                    w.metadata.uid.as_deref() == Some(uid) && !finished::run_ended(&w)
                })
            });
        }
        async move {
            match event {
                Ok(watcher::Event::Apply(kex)) => kex.is_finished().then_some(Ok(kex)),
                Ok(watcher::Event::InitApply(kex) | watcher::Event::Delete(kex)) => Some(Ok(kex)),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(e) => Some(Err(e)),
            }
        }
    })
}

/// Runs the controller until `shutdown` completes.
pub async fn run(
    client: Client,
    config: OperatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let ns = config.namespace.clone();
    let runs: Api<WorkflowExecution> = namespaced_or_all(&client, ns.as_deref());
    let executions: Api<KubernetesExecution> = namespaced_or_all(&client, ns.as_deref());
    let analyses: Api<AIAnalysis> = namespaced_or_all(&client, ns.as_deref());
    // Loading builds every template (their modules' scripts run): off the runtime's workers.
    let dir = config.templates.clone();
    let templates = match tokio::task::spawn_blocking(move || TemplateSource::load(&dir)).await {
        Ok(t) => Arc::new(t),
        Err(e) => {
            tracing::error!(error = %e, "loading the templates stopped");
            return;
        }
    };
    let reporter = Reporter {
        controller: config.reporter.clone(),
        instance: config.instance.clone(),
    };
    // A run is reconciled when it is first seen and when its spec changes (`approved`), not
    // on its own status writes: each decision is complete, and what comes next is announced
    // by its executions, its analysis, or a requeue.
    let finished = Arc::new(FinishedExecutions::default());
    let (retention, triggered) = Retention::new(config.retention.clone(), config.archive.clone());
    let retention = Arc::new(retention);
    let pause_switch = Arc::new(PauseSwitch::default());
    pause::read_once(client.clone(), &config.operator_namespace, &pause_switch).await;
    let pause_changes = pause::changes(
        client.clone(),
        &config.operator_namespace,
        pause_switch.clone(),
    );
    let (reader, writer) = reflector::store();
    // The cache keeps runs without managedFields (nothing here reads them, and they are a
    // large part of every object), and of a finished run only what is read of it
    // (`finished::slim_run`): its memory follows the runs in flight, not those retained.
    // Retention reads a finished run's target before it is slimmed.
    let noted = retention.clone();
    let run_events = reflector(
        writer,
        watcher(runs, watcher::Config::default().any_semantic())
            .inspect_ok(move |event| noted.observe(event))
            .modify(|wfe| {
                wfe.metadata.managed_fields = None;
                finished::slim_run(wfe);
            }),
    )
    .applied_objects()
    .predicate_filter(spec_or_deletion, Default::default());
    let controller = Controller::for_stream(run_events, reader);
    let store = controller.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        protected: ProtectedNamespaces::new(
            &config.operator_namespace,
            config.protected_namespaces.iter().cloned(),
        ),
        actions: ActionCatalog::builtin(),
        templates: templates.clone(),
        programs: Mutex::new(HashMap::new()),
        keys: tokio::sync::OnceCell::new(),
        lock_gate: tokio::sync::Mutex::new(()),
        runs: store.clone(),
        claimed: Mutex::new(HashMap::new()),
        targets: Mutex::new(HashMap::new()),
        written: Mutex::new(HashMap::new()),
        finished: finished.clone(),
        retention: retention.clone(),
        pause: pause_switch,
        backoffs: Backoffs::default(),
        config,
    });
    // One signal, fanned out: the controller's graceful shutdown and the background tasks.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (controller_stop, controller_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = controller_stop.send(());
    });
    let by_analysis = store.clone();
    let reload = templates.changes(ctx.config.template_poll, stop_rx.clone());
    let active = tokio::spawn(track_active(store.clone(), ctx.clone(), stop_rx.clone()));
    let expiry = match (&ctx.config.archive, ctx.config.retention.archive_retention) {
        (Some(archive), Some(keep)) => Some(tokio::spawn(retention::expire_archive(
            archive.clone(),
            keep,
            stop_rx.clone(),
        ))),
        _ => None,
    };
    // Ready once the API answers and the CRD is served: listing runs works.
    let ready = ctx.config.ready.clone();
    let probe: Api<WorkflowExecution> = namespaced_or_all(&client, ns.as_deref());
    let readiness = tokio::spawn(async move {
        loop {
            match probe.list(&ListParams::default().limit(1)).await {
                Ok(_) => {
                    ready.set(true);
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "cannot list WorkflowExecutions yet"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    tracing::info!(
        namespace = ns.as_deref().unwrap_or("(all)"),
        "workflow controller started"
    );
    // kube-runtime holds its runner until the store is ready, and a graceful shutdown
    // requested before that would wait for it forever: shut down only once ready.
    let store_ready = store.clone();
    let driving = controller
        .owns_stream(ended_executions(executions, finished, store.clone()))
        .watches(
            analyses,
            watcher::Config::default().any_semantic(),
            move |ana: AIAnalysis| runs_of_analysis(&by_analysis, &ana),
        )
        .reconcile_all_on(reload)
        .reconcile_on(triggered)
        .reconcile_all_on(pause_changes)
        .trigger_backoff(WatchBackoff::new(ctx.config.clock.clone(), "workflow"))
        .graceful_shutdown_on(async move {
            let _ = controller_stopped.await;
            let _ = store_ready.wait_until_ready().await;
        })
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        });
    let mut stopping = stop_rx.clone();
    let never_synced = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        if store.wait_until_ready().now_or_never().is_some() {
            // Synced: the graceful shutdown is under way; let it finish.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = driving => {}
        // No reconcile ever ran, so there is nothing to finish: just stop.
        () = never_synced => tracing::warn!("stopping before the watches synced"),
    }
    active.abort();
    readiness.abort();
    if let Some(expiry) = expiry {
        expiry.abort();
    }
    tracing::info!("workflow controller stopped");
}

/// Wakes a run when its spec changes (generation) and when its deletion starts: the embedded
/// cluster, unlike Kubernetes, does not bump the generation on deletion.
fn spec_or_deletion(wfe: &WorkflowExecution) -> Option<u64> {
    let generation = predicates::generation(wfe)?;
    let deleting = u64::from(wfe.metadata.deletion_timestamp.is_some());
    Some(generation.wrapping_mul(2).wrapping_add(deleting))
}

fn namespaced_or_all<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The runs that reference an analysis.
fn runs_of_analysis(
    store: &Store<WorkflowExecution>,
    ana: &AIAnalysis,
) -> Vec<ObjectRef<WorkflowExecution>> {
    let ana_ns = ana.namespace().unwrap_or_default();
    let ana_name = ana.name_any();
    // A finished run reads its analysis no more.
    store
        .state()
        .iter()
        .filter(|w| {
            let r = &w.spec.ai_analysis_ref;
            let ns = r
                .namespace
                .as_deref()
                .or(w.metadata.namespace.as_deref())
                .unwrap_or_default();
            r.name == ana_name && ns == ana_ns && !finished::run_ended(w)
        })
        .map(|w| ObjectRef::from_obj(w.as_ref()))
        .collect()
}

/// Every 2 s: [`tend_runs`].
async fn track_active(
    store: Store<WorkflowExecution>,
    ctx: Arc<Context>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tend_runs(&store, &ctx);
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Sets the active-runs gauge, and forgets the versions, programs and targets of runs no
/// longer in the cache (deleted without finishing).
fn tend_runs(store: &Store<WorkflowExecution>, ctx: &Context) {
    let runs = store.state();
    let active = runs.iter().filter(|w| !finished::run_ended(w)).count();
    ctx.metrics().set_active_runs(active);
    let uids: std::collections::HashSet<&str> = runs
        .iter()
        .filter_map(|w| w.metadata.uid.as_deref())
        .collect();
    if let Ok(mut written) = ctx.written.lock() {
        written.retain(|uid, _| uids.contains(uid.as_str()));
    }
    if let Ok(mut programs) = ctx.programs.lock() {
        programs.retain(|(uid, _), _| uids.contains(uid.as_str()));
    }
    if let Ok(mut targets) = ctx.targets.lock() {
        targets.retain(|uid, _| uids.contains(uid.as_str()));
    }
    ctx.backoffs.retain(|uid| uids.contains(uid));
    let ongoing: std::collections::HashSet<&str> = runs
        .iter()
        .filter(|w| !finished::run_ended(w))
        .filter_map(|w| w.metadata.uid.as_deref())
        .collect();
    ctx.finished.retain_runs(|uid| ongoing.contains(uid));
    ctx.metrics()
        .set_unarchived_runs(ctx.retention.unarchived());
    let unreconciled = &ctx.metrics().unreconciled_runs;
    unreconciled.retain(|uid| ongoing.contains(uid));
    for uid in &ongoing {
        unreconciled.seen(uid);
    }
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
