//! The end of a decision: the phase and outcome a run ends with, and when to look again.

use std::time::Duration;

use crate::api::{FailureReason, Outcome, StepPhase, WorkflowPhase};

use super::super::Decision;
use super::{Run, add, in_flight, ms, time};

impl Run<'_> {
    // ---- 6. the end ----

    /// The phase the run ends in, given what happened so far.
    pub(super) fn end_phase(&self) -> WorkflowPhase {
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

    pub(super) fn terminate(&mut self) {
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

    pub(super) fn into_decision(self) -> Decision {
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
