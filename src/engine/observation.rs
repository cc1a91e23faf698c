//! What the engine sees of the cluster: the run's KubernetesExecutions and the approval flag.

use jiff::Timestamp;

use crate::api::kubernetes_execution::ErrorReason;
use crate::api::{
    ExecutionKind, ExecutionPhase, JsonMap, KubernetesExecution, LABEL_KIND, StopRequest,
};

/// One KubernetesExecution of the run, as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Its name.
    pub name: String,
    /// The step it runs.
    pub step: String,
    /// Step, rollback, verify or finally.
    pub kind: ExecutionKind,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// Where it is (Pending until the executor picks it up).
    pub phase: ExecutionPhase,
    /// What the action returned.
    pub output: JsonMap,
    /// The error message, if it failed.
    pub error: String,
    /// True when the executor reports the attempt ran past its timeout.
    pub timed_out: bool,
    /// When the executor started it.
    pub started_at: Option<Timestamp>,
    /// When it finished.
    pub completed_at: Option<Timestamp>,
}

/// Everything the engine observes besides its own status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// The run's executions (any order).
    pub executions: Vec<Observation>,
    /// `spec.approved` of the WorkflowExecution.
    pub approved: bool,
    /// `spec.stop` of the WorkflowExecution (a deletion is a `rollback` stop).
    pub stop: Option<StopRequest>,
    /// Remedy is paused: no run leaves Validating, no attempt starts.
    pub paused: bool,
}

impl From<&KubernetesExecution> for Observation {
    fn from(kex: &KubernetesExecution) -> Self {
        let kind = match kex
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_KIND))
            .map(String::as_str)
        {
            Some("rollback") => ExecutionKind::Rollback,
            Some("verify") => ExecutionKind::Verify,
            Some("finally") => ExecutionKind::Finally,
            _ => ExecutionKind::Step,
        };
        let status = kex.status.as_ref();
        let result = status.and_then(|s| s.result.as_ref());
        Observation {
            name: kex.metadata.name.clone().unwrap_or_default(),
            step: kex.spec.step.clone(),
            kind,
            attempt: kex.spec.attempt,
            phase: status
                .and_then(|s| s.phase)
                .unwrap_or(ExecutionPhase::Pending),
            output: result.map(|r| r.output.clone()).unwrap_or_default(),
            error: result.map(|r| r.error.clone()).unwrap_or_default(),
            timed_out: result.and_then(|r| r.reason) == Some(ErrorReason::Timeout),
            started_at: status.and_then(|s| s.started_at.as_ref()).map(|t| t.0),
            completed_at: status.and_then(|s| s.completed_at.as_ref()).map(|t| t.0),
        }
    }
}
