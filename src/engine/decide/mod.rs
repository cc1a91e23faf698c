//! The state machine behind [`Program::decide`](super::Program::decide): one pass from the
//! observed executions to the next status, in a fixed order (absorb results, check deadlines,
//! stop what a failing run must not start, then advance stages and start what is ready).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::api::kubernetes_execution::{ActionCall, execution_name};
use crate::api::names::label_value;
use crate::api::workflow_execution::{Failure, ObjectRef};
use crate::api::{
    ExecutionKind, ExecutionPhase, FailureReason, JsonMap, KubernetesExecutionSpec, LABEL_KIND,
    LABEL_STEP, LABEL_WORKFLOW, Outcome, StepPhase, StepStatus, StopMode, StopRequest,
    WorkflowExecutionStatus, WorkflowPhase,
};
use crate::dsl::ast::{OnFailure, RollbackMode};
use crate::plan::StepStage;
use crate::script::EvalContext;
use crate::units::duration::format_millis as format_duration;

use super::bounds::{cap_message, cap_output};
use super::program::{ActionProgram, Arg, Compiled};
use super::stop;
use super::{Decision, NewExecution, Observation, Observations, Program};

/// How an attempt ended.
enum End<'o> {
    Succeeded(&'o JsonMap),
    Failed(String),
    TimedOut(String),
}

/// One decision in the making.
struct Run<'a> {
    p: &'a Program,
    st: WorkflowExecutionStatus,
    now: i64,
    /// Remedy is paused: nothing starts, deadlines of the run stand still.
    paused: bool,
    create: Vec<NewExecution>,
    next_order: u32,
    /// Bumped by every change, to find the fixpoint and to keep the `steps` cache fresh.
    changes: u64,
    steps_ctx: Option<(u64, JsonMap)>,
}

pub(super) fn run(
    p: &Program,
    status: &WorkflowExecutionStatus,
    obs: &Observations,
    now: Timestamp,
) -> Decision {
    let mut st = status.clone();
    let now_ms = now.as_millisecond();
    if st.phase.is_some_and(WorkflowPhase::is_terminal) {
        // A finished run never changes, stop or no stop.
        return idle(st);
    }
    if let Some(request) = &obs.stop
        && stop::stops_at_once(st.phase)
    {
        if obs.executions.is_empty() {
            align(p, &mut st);
            stop::cancel_unstarted(&mut st, request, now);
            return idle(st);
        }
        // An earlier decision started the run and lost its status write (to the stop's own
        // spec change): the run has started, and stops as a started run does.
        st.phase = Some(WorkflowPhase::Executing);
        st.started_at = Some(time(now_ms));
    }
    match st.phase {
        None | Some(WorkflowPhase::Pending | WorkflowPhase::Planning) => return idle(st),
        Some(WorkflowPhase::Validating) => {
            if !st.validation.as_ref().is_some_and(|v| v.passed) || obs.paused {
                return idle(st);
            }
            if p.plan.approval_required && !obs.approved {
                st.phase = Some(WorkflowPhase::AwaitingApproval);
                align(p, &mut st);
                return idle(st);
            }
            st.phase = Some(WorkflowPhase::Executing);
            st.started_at = Some(time(now_ms));
        }
        Some(WorkflowPhase::AwaitingApproval) => {
            if !obs.approved || obs.paused {
                return idle(st);
            }
            st.phase = Some(WorkflowPhase::Executing);
            st.started_at = Some(time(now_ms));
        }
        Some(_) => {}
    }
    let next_order = align(p, &mut st);
    let mut run = Run {
        p,
        st,
        now: now_ms,
        paused: obs.paused,
        create: Vec::new(),
        next_order,
        changes: 0,
        steps_ctx: None,
    };
    run.track_pause();
    run.acknowledge_stop(obs.stop.as_ref());
    run.absorb(obs);
    run.deadlines();
    run.stop_pending();
    let mut done = false;
    // Each round either changes something monotone (a step moves forward) or ends the loop.
    for _ in 0..(4 * p.plan.steps.len() + 8) {
        let before = run.changes;
        done = run.progress();
        run.start_eligible();
        run.stop_pending();
        if run.changes == before {
            break;
        }
    }
    if done {
        run.terminate();
    }
    run.into_decision()
}

/// Nothing to do: the status unchanged, nothing to create, no timer.
fn idle(status: WorkflowExecutionStatus) -> Decision {
    Decision {
        create: Vec::new(),
        status,
        requeue_after: None,
    }
}

/// Make `status.steps` list the plan's steps in plan order; return the next completion order.
fn align(p: &Program, st: &mut WorkflowExecutionStatus) -> u32 {
    let steps = &p.plan.steps;
    let aligned = st.steps.len() == steps.len()
        && st.steps.iter().zip(steps).all(|(s, ps)| s.name == ps.name);
    if !aligned {
        let mut old: HashMap<String, StepStatus> =
            st.steps.drain(..).map(|s| (s.name.clone(), s)).collect();
        st.steps = steps
            .iter()
            .map(|ps| {
                old.remove(&ps.name).unwrap_or_else(|| StepStatus {
                    name: ps.name.clone(),
                    ..StepStatus::default()
                })
            })
            .collect();
    }
    st.steps
        .iter()
        .filter_map(|s| s.completion_order)
        .max()
        .unwrap_or(0)
        + 1
}

fn time(ms: i64) -> Time {
    Time(Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX))
}

fn ms(t: &Time) -> i64 {
    t.0.as_millisecond()
}

fn add(t: i64, ms: u64) -> i64 {
    t.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A step that is over for ordering purposes (its dependents may start).
fn is_done(phase: StepPhase) -> bool {
    matches!(
        phase,
        StepPhase::Succeeded
            | StepPhase::Failed
            | StepPhase::Skipped
            | StepPhase::TimedOut
            | StepPhase::Compensating
            | StepPhase::Compensated
            | StepPhase::CompensationFailed
    )
}

/// A step with an attempt (or a compensation attempt) running now: its `executionRef` names
/// the execution it waits for.
pub fn in_flight(s: &StepStatus) -> bool {
    match s.phase {
        StepPhase::Running => true,
        StepPhase::Compensating => s.ready_at.is_none() && s.rollback_attempts > 0,
        _ => false,
    }
}

fn phase_name<T: std::fmt::Debug>(phase: T) -> String {
    format!("{phase:?}")
}

impl<'a> Run<'a> {
    fn stage(&self, i: usize) -> StepStage {
        self.p.plan.steps[i].stage
    }

    fn failing(&self) -> bool {
        self.st.failure.is_some()
    }

    /// The mode of the stop the run honours, if one was requested.
    fn stop_mode(&self) -> Option<StopMode> {
        self.st.stop.as_ref().map(|s| s.mode)
    }

    /// No new main or verify step starts: the run is failing or stopping.
    fn halted(&self) -> bool {
        self.failing() || self.st.stop.is_some()
    }

    // ---- 0. pause and stop requests ----

    /// Keeps the time spent paused: the workflow and `verify within` deadlines move by it,
    /// so a paused run resumes where it was instead of timing out.
    fn track_pause(&mut self) {
        let now = self.now;
        match (self.paused, self.st.paused_at.as_ref().map(ms)) {
            (true, None) => {
                self.st.paused_at = Some(time(now));
                self.changed();
            }
            (false, Some(since)) => {
                let length = u64::try_from(now.saturating_sub(since)).unwrap_or(0);
                self.st.paused_millis = self.st.paused_millis.saturating_add(length);
                if let Some(start) = self.st.monitoring_started_at.as_ref().map(ms) {
                    // Only the part of the pause after Monitoring began counts against it.
                    let shift = now.saturating_sub(start.max(since)).max(0);
                    self.st.monitoring_started_at = Some(time(start.saturating_add(shift)));
                }
                self.st.paused_at = None;
                self.changed();
            }
            _ => {}
        }
    }

    /// Records the first stop request seen; a later `rollback` raises a recorded `halt` while
    /// no `finally` step has started.
    fn acknowledge_stop(&mut self, request: Option<&StopRequest>) {
        let Some(request) = request else { return };
        let at = time(self.now);
        match &self.st.stop {
            None => self.st.stop = Some(stop::record(request, &at)),
            Some(recorded) => {
                let finally_started = self.st.steps.iter().enumerate().any(|(i, s)| {
                    self.stage(i) == StepStage::Finally && s.phase != StepPhase::Pending
                });
                if !stop::may_raise(recorded, request, finally_started) {
                    return;
                }
                let acknowledged = recorded.acknowledged_at.clone();
                let mut raised = stop::record(request, &at);
                raised.acknowledged_at = acknowledged;
                self.st.stop = Some(raised);
            }
        }
        self.changed();
    }

    fn changed(&mut self) {
        self.changes += 1;
    }

    /// Record the first failure of the run; later ones only mark their steps.
    fn fail(&mut self, step: Option<&str>, reason: FailureReason, message: &str) {
        if self.st.failure.is_none() {
            self.st.failure = Some(Failure {
                step: step.map(str::to_string),
                reason,
                message: cap_message(message),
            });
            self.changed();
        }
    }

    // ---- 1. results of attempts in flight ----

    /// Takes up attempts that exist although the status does not show them started: the
    /// decision that created them lost its status write (a conflict with a spec change such
    /// as a stop, or a crash). Such an attempt runs whatever this decision would do, so the
    /// step waits for it like any attempt in flight, instead of being skipped or started
    /// again.
    fn adopt(&mut self, obs: &Observations) {
        if obs.executions.is_empty() {
            return;
        }
        let p = self.p;
        for i in 0..self.st.steps.len() {
            let s = &self.st.steps[i];
            let (kind, attempt) = match s.phase {
                StepPhase::Pending | StepPhase::Waiting | StepPhase::Retrying => {
                    (p.steps[i].kind, s.attempts + 1)
                }
                StepPhase::Compensating if !in_flight(s) => {
                    (ExecutionKind::Rollback, s.rollback_attempts + 1)
                }
                _ => continue,
            };
            let name = execution_name(&p.execution, &p.plan.steps[i].name, kind, attempt);
            let Some(o) = obs.executions.iter().find(|o| o.name == name) else {
                continue;
            };
            let started = time(o.started_at.map_or(self.now, |t| t.as_millisecond()));
            let s = &mut self.st.steps[i];
            if kind == ExecutionKind::Rollback {
                s.rollback_attempts = attempt;
            } else {
                s.phase = StepPhase::Running;
                s.attempts = attempt;
                if s.started_at.is_none() {
                    s.started_at = Some(started.clone());
                }
            }
            s.execution_ref = Some(name);
            s.attempt_started_at = Some(started);
            s.ready_at = None;
            self.changes += 1;
        }
    }

    fn absorb(&mut self, obs: &Observations) {
        self.adopt(obs);
        let flying: Vec<usize> = (0..self.st.steps.len())
            .filter(|&i| in_flight(&self.st.steps[i]))
            .collect();
        if flying.is_empty() {
            return;
        }
        let by_name = index(&obs.executions, &flying, &self.st.steps);
        let mut ends: Vec<(i64, usize, End<'_>)> = Vec::new();
        for i in flying {
            let s = &self.st.steps[i];
            let compensation = s.phase == StepPhase::Compensating;
            let planned = &self.p.plan.steps[i];
            let timeout_ms = match (&planned.rollback, compensation) {
                (Some(rb), true) => rb.timeout_ms,
                _ => planned.action.timeout_ms,
            };
            let attempt = if compensation {
                s.rollback_attempts
            } else {
                s.attempts
            };
            let what = if compensation {
                "compensation attempt"
            } else {
                "attempt"
            };
            let started = s.attempt_started_at.as_ref().map_or(self.now, ms);
            let deadline = add(started, timeout_ms);
            let name = s.execution_ref.as_deref().unwrap_or("");
            match by_name.get(name) {
                None => ends.push((
                    self.now,
                    i,
                    End::Failed(format!(
                        "ExecutionLost: execution {name} of {what} {attempt} disappeared before it finished"
                    )),
                )),
                Some(o) => {
                    let at = o
                        .completed_at
                        .map_or(self.now, |t| t.as_millisecond().min(self.now));
                    match o.phase {
                        ExecutionPhase::Succeeded => ends.push((at, i, End::Succeeded(&o.output))),
                        ExecutionPhase::Failed if o.timed_out => ends.push((
                            at,
                            i,
                            End::TimedOut(format!(
                                "{what} {attempt} ran past its timeout: {}",
                                o.error
                            )),
                        )),
                        ExecutionPhase::Failed => {
                            let error = if o.error.is_empty() {
                                "the action failed without a message"
                            } else {
                                &o.error
                            };
                            ends.push((at, i, End::Failed(format!("{what} {attempt}: {error}"))));
                        }
                        ExecutionPhase::Pending | ExecutionPhase::Running => {
                            if self.now >= deadline {
                                ends.push((
                                    deadline,
                                    i,
                                    End::TimedOut(format!(
                                        "{what} {attempt} ran past its timeout of {}",
                                        format_duration(timeout_ms)
                                    )),
                                ));
                            }
                        }
                    }
                }
            }
        }
        ends.sort_by_key(|(at, i, _)| (*at, *i));
        for (_, i, end) in ends {
            if self.st.steps[i].phase == StepPhase::Compensating {
                self.end_compensation(i, end);
            } else {
                self.end_attempt(i, end);
            }
        }
    }

    fn end_attempt(&mut self, i: usize, end: End<'_>) {
        self.changed();
        let now = self.now;
        let (msg, timed_out) = match end {
            End::Succeeded(output) => {
                let order = self.next_order;
                self.next_order += 1;
                let s = &mut self.st.steps[i];
                s.phase = StepPhase::Succeeded;
                s.output = Some(cap_output(output));
                s.message.clear();
                s.completed_at = Some(time(now));
                s.attempt_started_at = None;
                s.completion_order = Some(order);
                return;
            }
            End::Failed(m) => (m, false),
            End::TimedOut(m) => (m, true),
        };
        let retry = self.p.plan.steps[i].action.retry;
        let stopped = self.halted() && self.stage(i) != StepStage::Finally;
        let s = &mut self.st.steps[i];
        s.attempt_started_at = None;
        if s.attempts <= retry.retries && !stopped {
            s.phase = StepPhase::Retrying;
            s.ready_at = Some(time(add(now, retry.delay_before(s.attempts + 1))));
            s.message = cap_message(&msg);
            return;
        }
        let (phase, reason) = if timed_out {
            (StepPhase::TimedOut, FailureReason::StepTimedOut)
        } else {
            (StepPhase::Failed, FailureReason::StepFailed)
        };
        self.step_failed(i, phase, &msg, reason);
    }

    /// A step is over and failed: record it, and fail the run if its policy says so.
    fn step_failed(&mut self, i: usize, phase: StepPhase, msg: &str, reason: FailureReason) {
        self.changed();
        let order = self.next_order;
        self.next_order += 1;
        let now = self.now;
        let s = &mut self.st.steps[i];
        s.phase = phase;
        s.message = cap_message(msg);
        s.completed_at = Some(time(now));
        s.attempt_started_at = None;
        s.ready_at = None;
        s.completion_order = Some(order);
        let planned = &self.p.plan.steps[i];
        let name = planned.name.as_str();
        match planned.stage {
            StepStage::Main => {
                if planned.on_failure != OnFailure::Continue {
                    self.fail(Some(name), reason, &format!("step {name} failed: {msg}"));
                }
            }
            StepStage::Verify => {
                let reason = if reason == FailureReason::ScriptError {
                    reason
                } else {
                    FailureReason::Ineffective
                };
                self.fail(
                    Some(name),
                    reason,
                    &format!("verification step {name} failed: {msg}"),
                );
            }
            StepStage::Finally => {}
        }
    }

    fn end_compensation(&mut self, i: usize, end: End<'_>) {
        self.changed();
        let now = self.now;
        let retry = self.p.plan.steps[i]
            .rollback
            .as_ref()
            .map(|r| r.retry)
            .unwrap_or_default();
        let s = &mut self.st.steps[i];
        s.attempt_started_at = None;
        let msg = match end {
            End::Succeeded(_) => {
                s.phase = StepPhase::Compensated;
                s.completed_at = Some(time(now));
                s.message.clear();
                return;
            }
            End::Failed(m) | End::TimedOut(m) => m,
        };
        if s.rollback_attempts <= retry.retries {
            s.ready_at = Some(time(add(now, retry.delay_before(s.rollback_attempts + 1))));
            s.message = cap_message(&msg);
        } else {
            s.phase = StepPhase::CompensationFailed;
            s.completed_at = Some(time(now));
            s.message = cap_message(&format!("compensation failed: {msg}"));
        }
    }

    // ---- 2. deadlines of the run ----

    /// True when every main and verify step is over (nothing of the body left to run).
    fn body_settled(&self) -> bool {
        self.st.steps.iter().enumerate().all(|(i, s)| {
            self.stage(i) == StepStage::Finally || (is_done(s.phase) && !in_flight(s))
        })
    }

    fn workflow_deadline(&self) -> Option<i64> {
        let start = self.st.started_at.as_ref()?;
        Some(add(
            add(ms(start), self.p.plan.timeout_ms),
            self.st.paused_millis,
        ))
    }

    fn verify_deadline(&self) -> Option<i64> {
        if self.st.phase != Some(WorkflowPhase::Monitoring) {
            return None;
        }
        let start = self.st.monitoring_started_at.as_ref()?;
        Some(add(ms(start), self.p.plan.verify_within_ms?))
    }

    /// Deadlines apply while the body runs, nothing failed or stopped it yet, and Remedy is
    /// not paused.
    fn deadlines_apply(&self) -> bool {
        !self.halted()
            && !self.paused
            && matches!(
                self.st.phase,
                Some(WorkflowPhase::Executing | WorkflowPhase::Monitoring)
            )
            && !self.body_settled()
    }

    fn deadlines(&mut self) {
        if !self.deadlines_apply() {
            return;
        }
        if self.workflow_deadline().is_some_and(|d| self.now >= d) {
            let msg = format!(
                "the workflow ran past its timeout of {}",
                format_duration(self.p.plan.timeout_ms)
            );
            self.fail(None, FailureReason::WorkflowTimedOut, &msg);
        } else if self.verify_deadline().is_some_and(|d| self.now >= d) {
            let msg = format!(
                "verification did not pass within {}",
                format_duration(self.p.plan.verify_within_ms.unwrap_or(0))
            );
            self.fail(None, FailureReason::Ineffective, &msg);
        }
    }

    // ---- 3. a failing or stopping run starts no new main or verify step ----

    fn stop_pending(&mut self) {
        if !self.halted() {
            return;
        }
        let why = if self.failing() {
            "the run is failing"
        } else {
            "the run was stopped"
        };
        let now = self.now;
        for i in 0..self.st.steps.len() {
            if self.stage(i) == StepStage::Finally {
                continue;
            }
            let s = &mut self.st.steps[i];
            match s.phase {
                StepPhase::Pending | StepPhase::Waiting => {
                    s.phase = StepPhase::Skipped;
                    s.message = format!("not started: {why}");
                }
                StepPhase::Retrying => {
                    s.phase = StepPhase::Failed;
                    s.message = cap_message(&format!("{} (not retried: {why})", s.message));
                }
                _ => continue,
            }
            s.ready_at = None;
            s.completed_at = Some(time(now));
            self.changes += 1;
        }
    }

    // ---- 4. stages: main, verify, saga, finally ----

    /// Advance the stages; true when the run is over (finally settled).
    fn progress(&mut self) -> bool {
        if !self.halted() {
            self.ready_pass(StepStage::Main);
        }
        if !self.settled(StepStage::Main) {
            return false;
        }
        if !self.halted() && self.has(StepStage::Verify) {
            if self.p.plan.dry_run {
                self.skip_all(StepStage::Verify, "dry run: verification skipped");
            } else {
                if self.st.phase == Some(WorkflowPhase::Executing) {
                    self.st.phase = Some(WorkflowPhase::Monitoring);
                    self.st.monitoring_started_at = Some(time(self.now));
                    self.changed();
                }
                self.ready_pass(StepStage::Verify);
            }
        }
        if !self.settled(StepStage::Verify) {
            return false;
        }
        if self.halted() && !self.saga() {
            return false;
        }
        self.ready_pass(StepStage::Finally);
        self.settled(StepStage::Finally)
    }

    fn has(&self, stage: StepStage) -> bool {
        self.p.plan.steps.iter().any(|s| s.stage == stage)
    }

    fn settled(&self, stage: StepStage) -> bool {
        self.st
            .steps
            .iter()
            .enumerate()
            .all(|(i, s)| self.stage(i) != stage || (is_done(s.phase) && !in_flight(s)))
    }

    fn skip(&mut self, i: usize, message: &str) {
        let now = self.now;
        let s = &mut self.st.steps[i];
        s.phase = StepPhase::Skipped;
        s.message = message.to_string();
        s.completed_at = Some(time(now));
        s.ready_at = None;
        self.changed();
    }

    fn skip_all(&mut self, stage: StepStage, message: &str) {
        for i in 0..self.st.steps.len() {
            if self.stage(i) == stage && self.st.steps[i].phase == StepPhase::Pending {
                self.skip(i, message);
            }
        }
    }

    /// Make ready every pending step of `stage` whose dependencies are done, evaluating its
    /// `when`. Dependencies come earlier in the plan, so one pass in order follows cascades.
    fn ready_pass(&mut self, stage: StepStage) {
        for i in 0..self.st.steps.len() {
            if self.stage(i) != stage || self.st.steps[i].phase != StepPhase::Pending {
                continue;
            }
            if stage != StepStage::Finally && self.halted() {
                return;
            }
            let p = self.p;
            if !p.steps[i]
                .deps
                .iter()
                .all(|&d| is_done(self.st.steps[d].phase))
            {
                continue;
            }
            if let Some(when) = &p.steps[i].when {
                match self.eval_when(i, when) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.skip(i, "skipped: `when` was false");
                        continue;
                    }
                    Err(msg) => {
                        self.script_failed(i, &format!("`when`: {msg}"));
                        continue;
                    }
                }
            }
            let now = self.now;
            let s = &mut self.st.steps[i];
            s.phase = StepPhase::Waiting;
            s.ready_at = Some(time(now));
            self.changed();
        }
    }

    fn script_failed(&mut self, i: usize, msg: &str) {
        self.step_failed(
            i,
            StepPhase::Failed,
            &format!("script error: {msg}"),
            FailureReason::ScriptError,
        );
    }

    /// Whether the failure calls for compensation.
    fn failure_compensates(&self) -> bool {
        let Some(failure) = &self.st.failure else {
            return false;
        };
        match failure.reason {
            FailureReason::StepFailed
            | FailureReason::StepTimedOut
            | FailureReason::ScriptError => {
                match failure.step.as_deref().and_then(|s| self.p.step_index(s)) {
                    Some(i) => {
                        let planned = &self.p.plan.steps[i];
                        planned.stage == StepStage::Verify
                            || planned.on_failure == OnFailure::Rollback
                    }
                    None => true,
                }
            }
            _ => true,
        }
    }

    /// Succeeded main steps with a compensation, latest completed first.
    fn compensation_candidates(&self) -> Vec<usize> {
        let mut c: Vec<usize> = (0..self.st.steps.len())
            .filter(|&i| {
                let planned = &self.p.plan.steps[i];
                planned.stage == StepStage::Main
                    && planned.rollback.is_some()
                    && self.st.steps[i].phase == StepPhase::Succeeded
            })
            .collect();
        c.sort_by_key(|&i| std::cmp::Reverse((self.st.steps[i].completion_order, i)));
        c
    }

    /// Whether the run compensates: a stop decides by its mode; otherwise the failure does.
    fn compensates(&self) -> bool {
        match self.stop_mode() {
            Some(StopMode::Rollback) => true,
            Some(StopMode::Halt) => false,
            None => self.failure_compensates(),
        }
    }

    /// Run the saga one compensation at a time; true when it is over. A compensation under
    /// way always finishes (its retries included), even when a `halt` arrives meanwhile.
    fn saga(&mut self) -> bool {
        if self.p.plan.dry_run {
            return true;
        }
        let compensate = self.compensates();
        match self.p.plan.rollback {
            RollbackMode::None => true,
            RollbackMode::Manual => {
                if compensate && self.st.rollback_plan.is_empty() {
                    let plan: Vec<String> = self
                        .compensation_candidates()
                        .into_iter()
                        .map(|i| self.p.plan.steps[i].name.clone())
                        .collect();
                    if !plan.is_empty() {
                        self.st.rollback_plan = plan;
                        self.changed();
                    }
                }
                true
            }
            RollbackMode::Automatic => {
                let phases = self.st.steps.iter().map(|s| s.phase);
                let mut compensating = false;
                for phase in phases {
                    match phase {
                        StepPhase::CompensationFailed => return true,
                        StepPhase::Compensating => compensating = true,
                        _ => {}
                    }
                }
                if compensating {
                    return false;
                }
                if !compensate {
                    return true;
                }
                let Some(&i) = self.compensation_candidates().first() else {
                    return true;
                };
                let now = self.now;
                let s = &mut self.st.steps[i];
                s.phase = StepPhase::Compensating;
                s.ready_at = Some(time(now));
                s.rollback_attempts = 0;
                self.st.phase = Some(WorkflowPhase::RollingBack);
                self.changed();
                false
            }
        }
    }

    // ---- 5. starting attempts ----

    fn start_eligible(&mut self) {
        if self.paused {
            return;
        }
        let max = self.p.plan.max_parallel.max(1) as usize;
        let mut flying = self.st.steps.iter().filter(|s| in_flight(s)).count();
        if flying >= max {
            return;
        }
        let now = self.now;
        let mut eligible: Vec<(i64, usize)> = self
            .st
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(
                    s.phase,
                    StepPhase::Waiting | StepPhase::Retrying | StepPhase::Compensating
                )
            })
            .filter_map(|(i, s)| s.ready_at.as_ref().map(|t| (ms(t), i)))
            .filter(|&(t, _)| t <= now)
            .collect();
        eligible.sort_unstable();
        for (_, i) in eligible {
            if flying >= max {
                break;
            }
            let compensation = self.st.steps[i].phase == StepPhase::Compensating;
            if !compensation && self.stage(i) != StepStage::Finally && self.halted() {
                continue;
            }
            if self.start(i, compensation) {
                flying += 1;
            }
        }
    }

    /// Start the next attempt of step `i` (or of its compensation); false if it could not
    /// start because a deferred value failed to evaluate.
    fn start(&mut self, i: usize, compensation: bool) -> bool {
        let p = self.p;
        let planned = &p.plan.steps[i];
        let prog = &p.steps[i];
        let (action, aprog, kind) = match (compensation, &planned.rollback, &prog.rollback) {
            (true, Some(a), Some(ap)) => (a, ap, ExecutionKind::Rollback),
            (true, _, _) => return false,
            (false, _, _) => (&planned.action, &prog.action, prog.kind),
        };
        let attempt = if compensation {
            self.st.steps[i].rollback_attempts + 1
        } else {
            self.st.steps[i].attempts + 1
        };
        let parameters = match self.resolve(i, aprog, compensation) {
            Ok(params) => params,
            Err(msg) if compensation => {
                let now = self.now;
                let s = &mut self.st.steps[i];
                s.phase = StepPhase::CompensationFailed;
                s.completed_at = Some(time(now));
                s.ready_at = None;
                s.message = cap_message(&format!("compensation failed: script error: {msg}"));
                self.changed();
                return false;
            }
            Err(msg) => {
                self.script_failed(i, &msg);
                return false;
            }
        };
        let name = execution_name(&p.execution, &planned.name, kind, attempt);
        let labels = BTreeMap::from([
            (LABEL_WORKFLOW.to_string(), label_value(&p.execution)),
            (LABEL_STEP.to_string(), label_value(&planned.name)),
            (LABEL_KIND.to_string(), kind.as_str().to_string()),
        ]);
        let spec = KubernetesExecutionSpec {
            workflow_execution_ref: ObjectRef {
                name: p.execution.clone(),
                namespace: p.namespace.clone(),
            },
            step: planned.name.clone(),
            attempt,
            action: ActionCall {
                action_type: action.action_type.clone(),
                parameters,
            },
            timeout: Some(format_duration(action.timeout_ms)),
            dry_run: p.plan.dry_run && kind != ExecutionKind::Rollback,
        };
        let now = time(self.now);
        let s = &mut self.st.steps[i];
        if compensation {
            s.rollback_attempts = attempt;
        } else {
            s.phase = StepPhase::Running;
            s.attempts = attempt;
            if s.started_at.is_none() {
                s.started_at = Some(now.clone());
            }
        }
        s.execution_ref = Some(name.clone());
        s.attempt_started_at = Some(now);
        s.ready_at = None;
        self.st.current_step = Some(planned.name.clone());
        self.create.push(NewExecution { name, labels, spec });
        self.changed();
        true
    }

    // ---- expressions ----

    fn resolve(
        &mut self,
        i: usize,
        action: &ActionProgram,
        self_step: bool,
    ) -> Result<JsonMap, String> {
        let mut out = JsonMap::new();
        if !action.deferred {
            for (k, arg) in &action.args {
                if let Arg::Value(v) = arg {
                    out.insert(k.clone(), v.clone());
                }
            }
            return Ok(out);
        }
        let ctx = self.context(i, self_step);
        for (k, arg) in &action.args {
            let value = match arg {
                Arg::Value(v) => v.clone(),
                Arg::Deferred(expr) => {
                    self.p.eval(expr, &ctx).map_err(|e| format!("`{k}`: {e}"))?
                }
            };
            out.insert(k.clone(), value);
        }
        Ok(out)
    }

    fn eval_when(&mut self, i: usize, when: &Compiled) -> Result<bool, String> {
        let ctx = self.context(i, false);
        match self.p.eval(when, &ctx) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("must be true or false, got {other}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// What an expression of step `i` sees at run time.
    fn context(&mut self, i: usize, self_step: bool) -> EvalContext {
        let mut ctx = self.p.base.clone();
        ctx.steps = Some(self.steps_map());
        if self_step {
            ctx.self_step = Some(step_map(&self.st.steps[i]));
        }
        if self.stage(i) == StepStage::Finally {
            ctx.workflow
                .insert("phase".into(), Value::String(phase_name(self.end_phase())));
            ctx.workflow
                .insert("failed".into(), Value::Bool(self.failing()));
        }
        ctx
    }

    fn steps_map(&mut self) -> JsonMap {
        if let Some((at, map)) = &self.steps_ctx
            && *at == self.changes
        {
            return map.clone();
        }
        let map: JsonMap = self
            .st
            .steps
            .iter()
            .filter(|s| s.phase != StepPhase::Pending)
            .map(|s| (s.name.clone(), Value::Object(step_map(s))))
            .collect();
        self.steps_ctx = Some((self.changes, map.clone()));
        map
    }

    // ---- 6. the end ----

    /// The phase the run ends in, given what happened so far.
    fn end_phase(&self) -> WorkflowPhase {
        let phases = || self.st.steps.iter().map(|s| s.phase);
        if self.st.stop.is_some() {
            return if phases().any(|p| p == StepPhase::CompensationFailed) {
                WorkflowPhase::RollbackFailed
            } else {
                WorkflowPhase::Cancelled
            };
        }
        if !self.failing() {
            return WorkflowPhase::Completed;
        }
        if phases().any(|p| p == StepPhase::CompensationFailed) {
            WorkflowPhase::RollbackFailed
        } else if phases().any(|p| p == StepPhase::Compensated) {
            WorkflowPhase::RolledBack
        } else {
            WorkflowPhase::Failed
        }
    }

    fn terminate(&mut self) {
        let phase = self.end_phase();
        let ineffective = self
            .st
            .failure
            .as_ref()
            .is_some_and(|f| f.reason == FailureReason::Ineffective);
        self.st.outcome = Some(match phase {
            _ if self.st.stop.is_some() => Outcome::Cancelled,
            WorkflowPhase::Completed if self.p.plan.dry_run => Outcome::DryRun,
            WorkflowPhase::Completed => Outcome::Success,
            _ if ineffective => Outcome::Ineffective,
            WorkflowPhase::RolledBack => Outcome::RolledBack,
            _ => Outcome::Failed,
        });
        self.st.phase = Some(phase);
        self.st.completed_at = Some(time(self.now));
        self.st.paused_at = None;
    }

    fn into_decision(self) -> Decision {
        let requeue_after = self.wake().map(|at| {
            Duration::from_millis(
                u64::try_from(at.saturating_sub(self.now))
                    .unwrap_or(0)
                    .max(1),
            )
        });
        Decision {
            create: self.create,
            status: self.st,
            requeue_after,
        }
    }

    /// The earliest moment something changes without an observation: a backoff ends, an
    /// attempt's or the run's deadline passes.
    fn wake(&self) -> Option<i64> {
        if self.st.phase.is_none_or(|p| p.is_terminal()) {
            return None;
        }
        let mut wake: Option<i64> = None;
        let mut at = |t: i64| wake = Some(wake.map_or(t, |w: i64| w.min(t)));
        for (i, s) in self.st.steps.iter().enumerate() {
            if in_flight(s) {
                let planned = &self.p.plan.steps[i];
                let timeout = match (&planned.rollback, s.phase) {
                    (Some(rb), StepPhase::Compensating) => rb.timeout_ms,
                    _ => planned.action.timeout_ms,
                };
                let start = s.attempt_started_at.as_ref().map_or(self.now, ms);
                at(add(start, timeout));
            } else if let Some(ready) = &s.ready_at
                && !self.paused
            {
                let ready = ms(ready);
                if ready > self.now {
                    at(ready);
                }
            }
        }
        if self.deadlines_apply() {
            if let Some(d) = self.workflow_deadline() {
                at(d);
            }
            if let Some(d) = self.verify_deadline() {
                at(d);
            }
        }
        wake
    }
}

/// The observations of the executions in flight, by name. With few in flight (the usual
/// case) one pass compares names directly; otherwise every observation is hashed once.
fn index<'o>(
    executions: &'o [Observation],
    flying: &[usize],
    steps: &[StepStatus],
) -> HashMap<&'o str, &'o Observation> {
    let wanted: Vec<&str> = flying
        .iter()
        .filter_map(|&i| steps[i].execution_ref.as_deref())
        .collect();
    if wanted.len() > 8 {
        return executions.iter().map(|o| (o.name.as_str(), o)).collect();
    }
    let mut found = HashMap::with_capacity(wanted.len());
    for o in executions {
        if wanted.iter().any(|w| *w == o.name) {
            found.insert(o.name.as_str(), o);
        }
    }
    found
}

/// A step as expressions see it under `steps.NAME` or `self`.
fn step_map(s: &StepStatus) -> JsonMap {
    let mut m = JsonMap::new();
    m.insert("phase".into(), Value::String(phase_name(s.phase)));
    m.insert("attempts".into(), Value::from(s.attempts));
    m.insert(
        "output".into(),
        Value::Object(s.output.clone().unwrap_or_default()),
    );
    let stamp = |t: &Option<Time>| {
        t.as_ref()
            .map_or(Value::Null, |t| Value::String(t.0.to_string()))
    };
    m.insert("started_at".into(), stamp(&s.started_at));
    m.insert("completed_at".into(), stamp(&s.completed_at));
    m
}
