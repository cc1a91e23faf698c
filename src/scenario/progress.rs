//! What changed between two looks at a run, in causal order: the step results a status shows
//! come before the phase change they caused, and the steps that started come after it. So
//! `✓ report Succeeded` is reported before `● Completed`, and the last main step's result
//! before `● Monitoring` and the first verify step. A phase no step result causes (up to
//! `Executing`) comes before every step. A stop comes before the results that followed it.
//! `remedy run` and `remedy watch` both read runs through a [`Tracker`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::{StepPhase, StepStatus, StopMode, WorkflowExecutionStatus, WorkflowPhase};

use super::runner::{Progress, StepUpdate};

/// Remembers what was last reported of a run.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    phase: Option<WorkflowPhase>,
    steps: BTreeMap<String, (StepPhase, u32, u32)>,
    /// The stop mode reported (a halt raised to rollback is reported again).
    stop: Option<StopMode>,
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

/// Whether a step's result is that of its compensation.
fn is_compensation(step: &StepStatus) -> bool {
    matches!(
        step.phase,
        StepPhase::Compensated | StepPhase::CompensationFailed
    )
}

/// Whether entering `phase` starts a run rather than follows from its steps.
fn starts_execution(phase: WorkflowPhase) -> bool {
    matches!(
        phase,
        WorkflowPhase::Pending
            | WorkflowPhase::Planning
            | WorkflowPhase::Validating
            | WorkflowPhase::AwaitingApproval
            | WorkflowPhase::Executing
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
        // Results in the order they happened: by completion time, then completion order;
        // within a second, a step that never ran (no completion order: skipped because of
        // what another step did) after the steps that did.
        results.sort_by_key(|(i, s)| {
            (
                s.completed_at.is_none(),
                s.completed_at.as_ref().map(|t| t.0),
                s.completion_order.is_none(),
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
        let mut out: Vec<Progress> = Vec::new();
        let mut new_phase = None;
        if let Some(phase) = status.phase
            && self.phase != Some(phase)
        {
            self.phase = Some(phase);
            new_phase = Some(phase);
        }
        // Up to Executing, a phase is caused by planning, validation or approval, never by a
        // step: the steps seen with it happened after it.
        if let Some(phase) = new_phase
            && starts_execution(phase)
        {
            out.push(Progress::Phase(phase));
            new_phase = None;
        }
        // Compensations run in RollingBack: entering it comes before them (and after the
        // failure or stop that caused it).
        let (compensations, results): (Vec<&StepStatus>, Vec<&StepStatus>) = results
            .into_iter()
            .map(|(_, s)| s)
            .partition(|s| new_phase == Some(WorkflowPhase::RollingBack) && is_compensation(s));
        let mut results = results.into_iter().peekable();
        if let Some(stop) = &status.stop
            && self.stop != Some(stop.mode)
        {
            self.stop = Some(stop.mode);
            // Results of a second before the stop was taken up happened before it; the steps
            // it skipped and the attempts that settled after it, after it.
            let taken_up = stop.acknowledged_at.as_ref().map(|t| t.0.as_second());
            while let Some(s) = results.next_if(|s| {
                let done = s.completed_at.as_ref().map(|t| t.0.as_second());
                matches!((done, taken_up), (Some(d), Some(t)) if d < t)
            }) {
                out.push(update(s));
            }
            out.push(Progress::Stop(stop.clone()));
        }
        out.extend(results.map(update));
        if let Some(phase) = new_phase {
            out.push(Progress::Phase(phase));
        }
        out.extend(compensations.into_iter().map(update));
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
                Progress::Stop(stop) => format!("■ {}", stop.mode.as_str()),
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
    fn results_seen_together_keep_the_order_they_happened_in_and_compensations_follow_rolling_back()
    {
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
                "● RollingBack",
                "b Compensated",
                "a Compensated"
            ]
        );
    }

    #[test]
    fn a_step_skipped_because_of_a_failure_comes_after_it() {
        let mut t = Tracker::new();
        let st = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::RollingBack),
            steps: vec![
                step("raise", StepPhase::Failed, Some(10), Some(2)),
                step("healthy", StepPhase::Skipped, Some(10), None),
            ],
            ..Default::default()
        };
        assert_eq!(
            lines(&t.update(&st, Duration::ZERO)),
            ["raise Failed", "healthy Skipped", "● RollingBack"]
        );
    }

    #[test]
    fn a_run_first_seen_executing_shows_the_phase_before_its_steps() {
        // A watch that starts late sees Executing and a finished step at once: the step ran
        // in Executing, so it comes after it.
        let mut t = Tracker::new();
        let st = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Executing),
            steps: vec![
                step("scale", StepPhase::Succeeded, Some(10), Some(1)),
                step("settle", StepPhase::Running, None, None),
            ],
            ..Default::default()
        };
        assert_eq!(
            lines(&t.update(&st, Duration::ZERO)),
            ["● Executing", "scale Succeeded", "settle Running"]
        );
    }

    #[test]
    fn a_stop_comes_after_what_ended_before_it_and_before_what_it_caused() {
        use crate::api::StopStatus;
        let mut t = Tracker::new();
        let running = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Executing),
            steps: vec![
                step("scale", StepPhase::Running, None, None),
                step("settle", StepPhase::Pending, None, None),
            ],
            ..Default::default()
        };
        t.update(&running, Duration::ZERO);
        let stop = |mode| StopStatus {
            mode,
            reason: "bad".into(),
            requested_by: "alice".into(),
            acknowledged_at: Some(Time(Timestamp::from_second(20).unwrap())),
        };
        let stopped = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Cancelled),
            stop: Some(stop(StopMode::Halt)),
            steps: vec![
                step("scale", StepPhase::Succeeded, Some(12), Some(1)),
                step("settle", StepPhase::Skipped, Some(20), None),
            ],
            ..Default::default()
        };
        assert_eq!(
            lines(&t.update(&stopped, Duration::ZERO)),
            ["scale Succeeded", "■ halt", "settle Skipped", "● Cancelled"]
        );
        // The same stop is not reported twice; a raise to rollback is.
        assert!(t.update(&stopped, Duration::ZERO).is_empty());
        let raised = WorkflowExecutionStatus {
            stop: Some(stop(StopMode::Rollback)),
            ..stopped
        };
        assert_eq!(lines(&t.update(&raised, Duration::ZERO)), ["■ rollback"]);
    }
}
