//! Observations into state: the pause and stop requests, and the results of the attempts in
//! flight (adopted, succeeded, failed, timed out or lost), in the order they ended.

use std::collections::HashMap;

use crate::api::kubernetes_execution::execution_name;
use crate::api::{
    ExecutionKind, ExecutionPhase, FailureReason, StepPhase, StepStatus, StopRequest,
};
use crate::plan::OnFailure;
use crate::plan::StepStage;
use crate::units::duration::format_millis as format_duration;

use super::super::bounds::{cap_message, cap_output};
use super::super::{Observation, Observations, stop};
use super::{End, Run, add, in_flight, ms, time};

impl Run<'_> {
    // ---- 0. pause and stop requests ----

    /// Keeps the time spent paused: the workflow and `verify within` deadlines move by it,
    /// so a paused run resumes where it was instead of timing out.
    pub(super) fn track_pause(&mut self) {
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
    pub(super) fn acknowledge_stop(&mut self, request: Option<&StopRequest>) {
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

    pub(super) fn absorb(&mut self, obs: &Observations) {
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
    pub(super) fn step_failed(
        &mut self,
        i: usize,
        phase: StepPhase,
        msg: &str,
        reason: FailureReason,
    ) {
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
