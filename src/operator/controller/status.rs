//! Writing a run's status (guarded by its resourceVersion) and what a write reports: the
//! versions written, conditions, Events and metrics.

use jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use super::{Context, Error};
use crate::api::{KubernetesExecution, WorkflowExecution, WorkflowExecutionStatus, WorkflowPhase};
use crate::operator::run_state::{self, Transition};
use crate::operator::{conditions, finished, pause};
use crate::redact::redact_text;
use crate::sync::lock;

/// Remembers the version a status write produced, or forgets a finished run: its version,
/// its compiled program and its target (a finished run is never decided again).
pub(super) fn note_written(ctx: &Context, written: &WorkflowExecution) {
    let uid = written.uid().unwrap_or_default();
    let status = written.status.as_ref();
    let finished = status
        .and_then(|s| s.phase)
        .is_some_and(WorkflowPhase::is_terminal);
    {
        let mut map = lock(&ctx.written);
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
    lock(&ctx.programs).remove(&(uid.clone(), digest));
    lock(&ctx.targets).remove(&uid);
}

/// Stores the plan planned in this reconcile before the engine creates anything: the executor
/// performs an execution only if the run's stored plan holds it. Events are published once,
/// for the whole reconcile, after its last write.
pub(super) async fn pin_before_acting(
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

/// Reports a spec change after Planning (other than `approved` and `stop`) with a condition;
/// the change is ignored.
pub(super) fn note_spec_change(
    wfe: &WorkflowExecution,
    status: &mut WorkflowExecutionStatus,
    now: Timestamp,
) {
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
pub(super) fn note_pause(
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
pub(super) fn note_version(ctx: &Context, written: &WorkflowExecution) {
    if let (Some(uid), Some(rv)) = (
        written.metadata.uid.as_deref(),
        written.metadata.resource_version.as_deref(),
    ) {
        let mut map = lock(&ctx.written);
        if map.contains_key(uid) {
            map.insert(uid.to_string(), rv.to_string());
        }
    }
}

/// Writes status with the resourceVersion read: a concurrent change answers Conflict.
pub(super) async fn write_status(
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
pub(super) async fn report(
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
