//! The run's finalizer: deleting a WorkflowExecution that is under way is a stop in its
//! rollback mode, and the run (with the executions it owns, the evidence of what it changed)
//! stays until that stop has played out.
//!
//! The controller adds [`FINALIZER`] to every run it reconciles. While the run is being
//! deleted, [`requested_stop`] turns the deletion into a `rollback` stop for the engine; once
//! [`release_check`] allows it, [`release`] takes the finalizer off and the API server
//! deletes the run, then garbage-collects its executions.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::api::{StopMode, StopRequest, WorkflowExecution, WorkflowPhase};

/// The finalizer the workflow controller puts on every run.
pub const FINALIZER: &str = "workflowexecution.kubernaut.io/finalizer";

/// The reason a deletion gives the engine's stop.
pub const DELETION_REASON: &str = "the WorkflowExecution was deleted";

/// Why the finalizer stays on a run that is being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The run has not ended: attempts in flight are settling or compensations running.
    Running(WorkflowPhase),
}

impl Hold {
    /// What a person reads about the hold.
    pub fn message(&self) -> String {
        match self {
            Hold::Running(phase) => format!(
                "deletion waits for the run to stop (phase {}): attempts in flight settle and \
                 compensations run first",
                phase.as_str()
            ),
        }
    }
}

/// Whether the run carries the finalizer.
pub fn has_finalizer(wfe: &WorkflowExecution) -> bool {
    wfe.finalizers().iter().any(|f| f == FINALIZER)
}

/// Whether the run is being deleted (a deletionTimestamp is set).
pub fn deleting(wfe: &WorkflowExecution) -> bool {
    wfe.meta().deletion_timestamp.is_some()
}

/// The stop the engine must honour: the spec's request, raised to `rollback` while the run is
/// being deleted (a deletion is a stop in the run's rollback mode).
pub fn requested_stop(wfe: &WorkflowExecution) -> Option<StopRequest> {
    let asked = wfe.spec.stop.clone();
    if !deleting(wfe) {
        return asked;
    }
    let mut stop = asked.unwrap_or_default();
    if stop.mode != StopMode::Rollback {
        stop.mode = StopMode::Rollback;
        stop.reason = DELETION_REASON.to_string();
    }
    Some(stop)
}

/// The one rule for taking the finalizer off a run being deleted: the run has ended, so
/// nothing of it is in flight and its compensations have run. (With an archive configured,
/// the controller also waits for the archive to hold the run's record before it calls
/// [`release`]: `retention::archive_before_release`.)
pub fn release_check(wfe: &WorkflowExecution) -> Result<(), Hold> {
    let status = wfe.status.as_ref();
    let phase = status
        .and_then(|s| s.phase)
        .unwrap_or(WorkflowPhase::Pending);
    let settled = status.is_none_or(|s| !s.steps.iter().any(crate::engine::in_flight));
    if phase.is_terminal() && settled {
        Ok(())
    } else {
        Err(Hold::Running(phase))
    }
}

/// Adds the finalizer, unless the run is being deleted (the API server forbids new finalizers
/// then) or has it already. Returns the run as written.
pub async fn add(
    runs: &Api<WorkflowExecution>,
    wfe: &WorkflowExecution,
) -> Result<Option<WorkflowExecution>, kube::Error> {
    if has_finalizer(wfe) || deleting(wfe) {
        return Ok(None);
    }
    // `test` makes the patch fail (and the reconcile retry) if the list changed meanwhile.
    let patch = match wfe.meta().finalizers.as_deref() {
        None | Some([]) => json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] },
        ]),
        Some(current) => json!([
            { "op": "test", "path": "/metadata/finalizers", "value": current },
            { "op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER },
        ]),
    };
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    let written = runs
        .patch(
            &wfe.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await?;
    Ok(Some(written))
}

/// Takes the finalizer off when [`release_check`] allows it; answers whether it did.
pub async fn release(
    runs: &Api<WorkflowExecution>,
    wfe: &WorkflowExecution,
) -> Result<bool, kube::Error> {
    let Some(index) = wfe.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(false);
    };
    if let Err(hold) = release_check(wfe) {
        tracing::debug!(run = %wfe.name_any(), "{}", hold.message());
        return Ok(false);
    }
    let path = format!("/metadata/finalizers/{index}");
    let patch = json!([
        { "op": "test", "path": path, "value": FINALIZER },
        { "op": "remove", "path": path },
    ]);
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    match runs
        .patch(
            &wfe.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        // Gone already: released by an earlier reconcile.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{StepPhase, StepStatus, WorkflowExecutionSpec, WorkflowExecutionStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn run(phase: WorkflowPhase, deleting: bool) -> WorkflowExecution {
        let mut wfe = WorkflowExecution::new("r", WorkflowExecutionSpec::default());
        wfe.status = Some(WorkflowExecutionStatus {
            phase: Some(phase),
            ..Default::default()
        });
        if deleting {
            wfe.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        }
        wfe
    }

    #[test]
    fn a_deletion_is_a_rollback_stop_and_raises_a_halt() {
        assert_eq!(requested_stop(&run(WorkflowPhase::Executing, false)), None);
        let stop = requested_stop(&run(WorkflowPhase::Executing, true)).unwrap();
        assert_eq!(stop.mode, StopMode::Rollback);
        assert_eq!(stop.reason, DELETION_REASON);
        let mut halted = run(WorkflowPhase::Executing, true);
        halted.spec.stop = Some(StopRequest {
            mode: StopMode::Halt,
            reason: "freeze".into(),
            requested_by: "alice".into(),
        });
        let stop = requested_stop(&halted).unwrap();
        assert_eq!(stop.mode, StopMode::Rollback);
        assert_eq!(stop.requested_by, "alice");
    }

    #[test]
    fn only_an_ended_run_with_nothing_in_flight_is_released() {
        assert_eq!(
            release_check(&run(WorkflowPhase::RollingBack, true)),
            Err(Hold::Running(WorkflowPhase::RollingBack))
        );
        assert!(release_check(&run(WorkflowPhase::Cancelled, true)).is_ok());
        let mut odd = run(WorkflowPhase::Cancelled, true);
        if let Some(s) = odd.status.as_mut() {
            s.steps.push(StepStatus {
                name: "a".into(),
                phase: StepPhase::Running,
                ..StepStatus::default()
            });
        }
        assert!(release_check(&odd).is_err());
    }
}
