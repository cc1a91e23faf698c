//! The interpreter: a pure state machine. [`Program::decide`] takes a run's plan, its status
//! (the engine's memory), the observed KubernetesExecutions and the time, and returns what to
//! create, the new status and when to look again. No I/O, no clock of its own, no async:
//! the operator, the rehearsal runner and the tests all drive the same function.
//!
//! The engine starts where the operator leaves off: a status in `Validating` whose validation
//! passed (see [`initial_status`]). Planning and validation belong to the operator.

mod bounds;
mod decide;
mod observation;
mod program;
pub mod simulate;
mod stop;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::api::workflow_execution::{PinnedWorkflow, Validation, WorkflowPhase};
use crate::api::{KubernetesExecutionSpec, StepPhase, StepStatus, WorkflowExecutionStatus};
use crate::plan::ExecutionPlan;

pub use bounds::{MAX_MESSAGE_BYTES, MAX_OUTPUT_BYTES};
pub use decide::in_flight;
pub use observation::{Observation, Observations};
pub use program::{Program, ProgramError};
pub use stop::{cancel_unstarted, describe as describe_stop, stops_at_once};

/// What the caller should do after a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Executions to create, in the order they start (AlreadyExists means done).
    pub create: Vec<NewExecution>,
    /// The run's new status.
    pub status: WorkflowExecutionStatus,
    /// Call `decide` again after this long even if nothing is observed (a backoff or a
    /// deadline ends then); `None` when only an observed change can move the run.
    pub requeue_after: Option<Duration>,
}

/// One KubernetesExecution the engine wants to exist.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    /// Its deterministic name (`kubernetes_execution::execution_name`).
    pub name: String,
    /// The labels of the contract: workflow, step and kind.
    pub labels: BTreeMap<String, String>,
    /// Its spec.
    pub spec: KubernetesExecutionSpec,
}

/// Build the program of `plan` and decide once: convenient, but compiles every expression
/// each call; keep a [`Program`] to decide repeatedly.
pub fn decide(
    plan: &ExecutionPlan,
    status: &WorkflowExecutionStatus,
    observations: &Observations,
    now: Timestamp,
) -> Result<Decision, ProgramError> {
    Ok(Program::new(plan)?.decide(status, observations, now))
}

/// The status of a run after Planning and a passed Validating: what the engine starts from.
pub fn initial_status(plan: &ExecutionPlan) -> WorkflowExecutionStatus {
    WorkflowExecutionStatus {
        phase: Some(WorkflowPhase::Validating),
        workflow: Some(PinnedWorkflow {
            name: plan.workflow.clone(),
            version: plan.version.clone(),
            digest: plan.digest.clone(),
        }),
        parameters: Some(plan.parameters.clone()),
        steps: plan
            .steps
            .iter()
            .map(|s| StepStatus {
                name: s.name.clone(),
                phase: StepPhase::Pending,
                ..StepStatus::default()
            })
            .collect(),
        validation: Some(Validation {
            passed: true,
            violations: Vec::new(),
            dry_run: None,
        }),
        ..WorkflowExecutionStatus::default()
    }
}
