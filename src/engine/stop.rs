//! Stopping a run on request (`spec.stop`, or a deletion) and pausing: the rules that do not
//! need a step loop. The ones that do (which attempts settle, what is compensated) are in
//! `decide/`, which calls these.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::{
    Outcome, StepPhase, StopMode, StopRequest, StopStatus, WorkflowExecutionStatus, WorkflowPhase,
};

/// The message of a step that never started because the run was stopped.
pub(super) const NOT_STARTED: &str = "not started: the run was stopped";

/// Whether a run in `phase` has not started executing yet: a stop ends it at once (unless
/// an execution of it exists: then a decision started it and lost its status write).
pub fn stops_at_once(phase: Option<WorkflowPhase>) -> bool {
    matches!(
        phase,
        None | Some(
            WorkflowPhase::Pending
                | WorkflowPhase::Planning
                | WorkflowPhase::Validating
                | WorkflowPhase::AwaitingApproval
        )
    )
}

/// Ends a run that has not started executing (Pending, Planning, Validating,
/// AwaitingApproval) because of `request`: phase and outcome Cancelled, every step Skipped,
/// no `finally` (nothing ran, so there is nothing to report on or clean up). A finished or
/// started run is left as it is.
pub fn cancel_unstarted(
    status: &mut WorkflowExecutionStatus,
    request: &StopRequest,
    now: Timestamp,
) {
    if !stops_at_once(status.phase) {
        return;
    }
    let at = Time(now);
    status.stop = Some(record(request, &at));
    for step in &mut status.steps {
        if step.phase == StepPhase::Pending {
            step.phase = StepPhase::Skipped;
            step.message = NOT_STARTED.to_string();
            step.completed_at = Some(at.clone());
            step.ready_at = None;
        }
    }
    status.phase = Some(WorkflowPhase::Cancelled);
    status.outcome = Some(Outcome::Cancelled);
    status.completed_at = Some(at);
}

/// The stop as status records it, first seen at `at`.
pub(super) fn record(request: &StopRequest, at: &Time) -> StopStatus {
    StopStatus {
        mode: request.mode,
        reason: super::bounds::cap_message(&request.reason),
        requested_by: super::bounds::cap_message(&request.requested_by),
        acknowledged_at: Some(at.clone()),
    }
}

/// Whether a recorded `halt` may become `rollback` now: only while no `finally` step has
/// started (compensations run before `finally`, never after it).
pub(super) fn may_raise(
    recorded: &StopStatus,
    request: &StopRequest,
    finally_started: bool,
) -> bool {
    recorded.mode == StopMode::Halt && request.mode == StopMode::Rollback && !finally_started
}

/// The condition message that says who stopped a run, how and why.
pub fn describe(stop: &StopStatus) -> String {
    let who = if stop.requested_by.is_empty() {
        String::new()
    } else {
        format!(" by {}", stop.requested_by)
    };
    let why = if stop.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", stop.reason)
    };
    format!("stop ({}) requested{who}{why}", stop.mode.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StepStatus;

    fn request(mode: StopMode) -> StopRequest {
        StopRequest {
            mode,
            reason: "change freeze".into(),
            requested_by: "alice".into(),
        }
    }

    #[test]
    fn an_unstarted_run_is_cancelled_at_once_and_its_steps_skipped() {
        let now = Timestamp::from_second(1000).unwrap();
        let mut st = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::AwaitingApproval),
            steps: vec![StepStatus {
                name: "a".into(),
                ..StepStatus::default()
            }],
            ..Default::default()
        };
        cancel_unstarted(&mut st, &request(StopMode::Rollback), now);
        assert_eq!(st.phase, Some(WorkflowPhase::Cancelled));
        assert_eq!(st.outcome, Some(Outcome::Cancelled));
        assert_eq!(st.steps[0].phase, StepPhase::Skipped);
        let stop = st.stop.unwrap();
        assert_eq!(stop.mode, StopMode::Rollback);
        assert_eq!(
            describe(&stop),
            "stop (rollback) requested by alice: change freeze"
        );
    }

    #[test]
    fn a_started_or_finished_run_is_not_cancelled_here() {
        let now = Timestamp::from_second(1000).unwrap();
        for phase in [WorkflowPhase::Executing, WorkflowPhase::Completed] {
            let mut st = WorkflowExecutionStatus {
                phase: Some(phase),
                ..Default::default()
            };
            let before = st.clone();
            cancel_unstarted(&mut st, &request(StopMode::Halt), now);
            assert_eq!(st, before);
        }
    }

    #[test]
    fn only_halt_is_raised_and_only_before_finally() {
        let halt = record(&request(StopMode::Halt), &Time(Timestamp::UNIX_EPOCH));
        assert!(may_raise(&halt, &request(StopMode::Rollback), false));
        assert!(!may_raise(&halt, &request(StopMode::Rollback), true));
        assert!(!may_raise(&halt, &request(StopMode::Halt), false));
        let rollback = record(&request(StopMode::Rollback), &Time(Timestamp::UNIX_EPOCH));
        assert!(!may_raise(&rollback, &request(StopMode::Halt), false));
    }
}
