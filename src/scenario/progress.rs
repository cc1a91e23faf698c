//! What changed between two looks at a run, in causal order: the step results a status shows
//! come before the phase change they caused, and the steps that started come after it. So
//! `✓ report Succeeded` is reported before `● Completed`, and the last main step's result
//! before `● Monitoring` and the first verify step. `remedy run` and `remedy watch` both read
//! runs through a [`Tracker`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::{StepPhase, StepStatus, WorkflowExecutionStatus, WorkflowPhase};

use super::runner::{Progress, StepUpdate};

/// Remembers what was last reported of a run.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    phase: Option<WorkflowPhase>,
    steps: BTreeMap<String, (StepPhase, u32, u32)>,
}

/// Whether a step phase is the result of something that ran (as opposed to a start).
fn is_result(phase: StepPhase) -> bool {
    matches!(
        phase,
        StepPhase::Succeeded
            | StepPhase::Failed
            | StepPhase::Skipped
            | StepPhase::TimedOut
            | StepPhase::Retrying
            | StepPhase::Compensated
            | StepPhase::CompensationFailed
    )
}

impl Tracker {
    /// A tracker that has reported nothing yet.
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// The changes from the last status seen to `status`, in causal order; `elapsed` is the
    /// time each change is stamped with.
    pub fn update(&mut self, status: &WorkflowExecutionStatus, elapsed: Duration) -> Vec<Progress> {
        let mut results: Vec<(usize, &StepStatus)> = Vec::new();
        let mut starts: Vec<&StepStatus> = Vec::new();
        for (i, step) in status.steps.iter().enumerate() {
            let key = (step.phase, step.attempts, step.rollback_attempts);
            if self.steps.get(&step.name) == Some(&key) {
                continue;
            }
            self.steps.insert(step.name.clone(), key);
            if step.phase == StepPhase::Pending {
                continue;
            }
            if is_result(step.phase) {
                results.push((i, step));
            } else {
                starts.push(step);
            }
        }
        // Results in the order they happened: by completion time, then completion order.
        results.sort_by_key(|(i, s)| {
            (
                s.completed_at.is_none(),
                s.completed_at.as_ref().map(|t| t.0),
                s.completion_order,
                *i,
            )
        });
        let update = |s: &StepStatus| {
            Progress::Step(StepUpdate {
                name: s.name.clone(),
                phase: s.phase,
                attempts: s.attempts,
                rollback_attempts: s.rollback_attempts,
                elapsed,
                message: s.message.clone(),
            })
        };
        let mut out: Vec<Progress> = results.iter().map(|(_, s)| update(s)).collect();
        if let Some(phase) = status.phase
            && self.phase != Some(phase)
        {
            self.phase = Some(phase);
            out.push(Progress::Phase(phase));
        }
        out.extend(starts.into_iter().map(update));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn step(name: &str, phase: StepPhase, done_at: Option<i64>, order: Option<u32>) -> StepStatus {
        StepStatus {
            name: name.into(),
            phase,
            attempts: 1,
            completed_at: done_at.map(|s| Time(Timestamp::from_second(s).unwrap())),
            completion_order: order,
            ..StepStatus::default()
        }
    }

    fn lines(progress: &[Progress]) -> Vec<String> {
        progress
            .iter()
            .map(|p| match p {
                Progress::Phase(phase) => format!("● {}", phase.as_str()),
                Progress::Step(s) => format!("{} {:?}", s.name, s.phase),
                Progress::Started { run } => format!("▶ {run}"),
            })
            .collect()
    }

    #[test]
    fn a_result_comes_before_the_phase_it_caused_and_starts_after_it() {
        let mut t = Tracker::new();
        let executing = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Executing),
            steps: vec![
                step("fix", StepPhase::Running, None, None),
                step("check", StepPhase::Pending, None, None),
                step("report", StepPhase::Pending, None, None),
            ],
            ..Default::default()
        };
        assert_eq!(
            lines(&t.update(&executing, Duration::ZERO)),
            ["● Executing", "fix Running"]
        );
        let monitoring = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Monitoring),
            steps: vec![
                step("fix", StepPhase::Succeeded, Some(10), Some(1)),
                step("check", StepPhase::Running, None, None),
                step("report", StepPhase::Pending, None, None),
            ],
            ..Default::default()
        };
        assert_eq!(
            lines(&t.update(&monitoring, Duration::ZERO)),
            ["fix Succeeded", "● Monitoring", "check Running"]
        );
        let completed = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Completed),
            steps: vec![
                step("fix", StepPhase::Succeeded, Some(10), Some(1)),
                step("check", StepPhase::Succeeded, Some(12), Some(2)),
                step("report", StepPhase::Succeeded, Some(13), Some(3)),
            ],
            ..Default::default()
        };
        assert_eq!(
            lines(&t.update(&completed, Duration::ZERO)),
            ["check Succeeded", "report Succeeded", "● Completed"]
        );
        assert!(t.update(&completed, Duration::ZERO).is_empty());
    }

    #[test]
    fn results_seen_together_keep_the_order_they_happened_in() {
        let mut t = Tracker::new();
        let st = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::RollingBack),
            steps: vec![
                step("a", StepPhase::Compensated, Some(30), Some(1)),
                step("b", StepPhase::Compensated, Some(20), Some(2)),
                step("c", StepPhase::Failed, Some(10), Some(3)),
            ],
            ..Default::default()
        };
        assert_eq!(
            lines(&t.update(&st, Duration::ZERO)),
            [
                "c Failed",
                "b Compensated",
                "a Compensated",
                "● RollingBack"
            ]
        );
    }
}
