//! The run's deadlines: the workflow timeout and `verify within`, which stand still while
//! Remedy is paused.

use crate::api::{FailureReason, WorkflowPhase};
use crate::plan::StepStage;
use crate::units::duration::format_millis as format_duration;

use super::{Run, add, in_flight, is_done, ms};

impl Run<'_> {
    // ---- 2. deadlines of the run ----

    /// True when every main and verify step is over (nothing of the body left to run).
    fn body_settled(&self) -> bool {
        self.st.steps.iter().enumerate().all(|(i, s)| {
            self.stage(i) == StepStage::Finally || (is_done(s.phase) && !in_flight(s))
        })
    }

    pub(super) fn workflow_deadline(&self) -> Option<i64> {
        let start = self.st.started_at.as_ref()?;
        Some(add(
            add(ms(start), self.p.plan.timeout_ms),
            self.st.paused_millis,
        ))
    }

    pub(super) fn verify_deadline(&self) -> Option<i64> {
        if self.st.phase != Some(WorkflowPhase::Monitoring) {
            return None;
        }
        let start = self.st.monitoring_started_at.as_ref()?;
        Some(add(ms(start), self.p.plan.verify_within_ms?))
    }

    /// Deadlines apply while the body runs, nothing failed or stopped it yet, and Remedy is
    /// not paused.
    pub(super) fn deadlines_apply(&self) -> bool {
        !self.halted()
            && !self.paused
            && matches!(
                self.st.phase,
                Some(WorkflowPhase::Executing | WorkflowPhase::Monitoring)
            )
            && !self.body_settled()
    }

    pub(super) fn deadlines(&mut self) {
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
}
