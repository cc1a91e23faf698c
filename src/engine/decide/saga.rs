//! The saga: whether a failing or stopping run compensates, and its compensations one at a
//! time, latest completed first.

use crate::api::{FailureReason, StepPhase, StopMode, WorkflowPhase};
use crate::plan::StepStage;
use crate::plan::{OnFailure, RollbackMode};

use super::{Run, time};

impl Run<'_> {
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
    pub(super) fn saga(&mut self) -> bool {
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
}
