//! Small pure helpers on a run's status that belong to the operator, not the engine: ending a
//! run before the engine takes it, the digest of a pinned spec, and what changed between two
//! statuses (for events and metrics).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sha2::{Digest, Sha256};

use super::conditions;
use crate::api::workflow_execution::Failure;
use crate::api::{
    FailureReason, KubernetesExecution, Outcome, StepPhase, StopStatus, WorkflowExecutionSpec,
    WorkflowExecutionStatus, WorkflowPhase,
};
use crate::redact::{redact_map, redact_text};

/// Ends a run as Failed, before any step ran (analysis failed, planning or validation failed).
pub fn fail(
    status: &mut WorkflowExecutionStatus,
    reason: FailureReason,
    step: Option<String>,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    status.phase = Some(WorkflowPhase::Failed);
    status.outcome = Some(Outcome::Failed);
    status.failure = Some(Failure {
        step,
        reason,
        message: message.to_string(),
    });
    status.completed_at = Some(Time(now));
    let conds = &mut status.conditions;
    conditions::set(
        conds,
        "Progressing",
        false,
        reason.as_str(),
        message,
        generation,
        now,
    );
    conditions::set(
        conds,
        "Ready",
        false,
        reason.as_str(),
        message,
        generation,
        now,
    );
}

/// Carries the operator's own conditions (those the engine does not know) into the engine's
/// new status.
pub fn keep_conditions(before: &WorkflowExecutionStatus, after: &mut WorkflowExecutionStatus) {
    for c in &before.conditions {
        if conditions::get(&after.conditions, &c.type_).is_none() {
            after.conditions.push(c.clone());
        }
    }
}

/// Sets the conditions that follow from the phase: Approved, Progressing and Ready.
pub fn derive_conditions(
    status: &mut WorkflowExecutionStatus,
    generation: Option<i64>,
    now: Timestamp,
) {
    let Some(phase) = status.phase else { return };
    let stop = status.stop.as_ref().map(crate::engine::describe_stop);
    let failure = match (&stop, &status.failure) {
        // A stopped run ends for the stop, whatever failed before it.
        (Some(message), _) => Some(("Cancelled", message.clone())),
        (None, f) => f.as_ref().map(|f| (f.reason.as_str(), f.message.clone())),
    };
    let conds = &mut status.conditions;
    if let (Some(message), Some(mode)) = (&stop, status.stop.as_ref().map(|s| s.mode)) {
        let reason = match mode {
            crate::api::StopMode::Halt => "Halt",
            crate::api::StopMode::Rollback => "Rollback",
        };
        conditions::set(
            conds,
            "StopRequested",
            true,
            reason,
            message,
            generation,
            now,
        );
    }
    /// The one field of the pinned plan read here (the rest is skipped, not built).
    #[derive(serde::Deserialize)]
    struct Approval {
        #[serde(rename = "approvalRequired")]
        approval_required: bool,
    }
    let approval_required = status
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str::<Approval>(p).ok())
        .map(|a| a.approval_required);
    match (phase, approval_required) {
        (WorkflowPhase::AwaitingApproval, _) => conditions::set(
            conds,
            "Approved",
            false,
            "AwaitingApproval",
            "set spec.approved to true to let the run start",
            generation,
            now,
        ),
        (
            WorkflowPhase::Executing | WorkflowPhase::Monitoring | WorkflowPhase::RollingBack,
            Some(true),
        ) if conditions::get(conds, "Approved").is_some_and(|c| c.status != "True") => {
            conditions::set(
                conds,
                "Approved",
                true,
                "Approved",
                "spec.approved is true",
                generation,
                now,
            )
        }
        (WorkflowPhase::Executing, Some(false)) if conditions::get(conds, "Approved").is_none() => {
            conditions::set(
                conds,
                "Approved",
                true,
                "NotRequired",
                "the workflow needs no approval",
                generation,
                now,
            )
        }
        _ => {}
    }
    let phase_name = format!("{phase:?}");
    if phase.is_terminal() {
        let (reason, message) = failure.unwrap_or(("Finished", String::new()));
        conditions::set(
            conds,
            "Progressing",
            false,
            reason,
            &message,
            generation,
            now,
        );
        let ok = phase == WorkflowPhase::Completed && stop.is_none();
        let reason = if ok {
            outcome_name(status.outcome)
        } else {
            reason
        };
        conditions::set(conds, "Ready", ok, reason, &message, generation, now);
    } else {
        conditions::set(conds, "Progressing", true, &phase_name, "", generation, now);
        conditions::set(
            conds,
            "Ready",
            false,
            &phase_name,
            "the run has not finished",
            generation,
            now,
        );
    }
}

/// The name of an outcome as metrics and conditions show it (`Failed` when unset).
pub fn outcome_name(outcome: Option<Outcome>) -> &'static str {
    outcome.map_or("Failed", Outcome::as_str)
}

/// Redacts credential-looking values from what status shows people: the resolved
/// parameters, step messages, the failure, validation messages and condition messages.
/// The pinned plan is the engine's input and stays whole.
pub fn redact(status: &mut WorkflowExecutionStatus) {
    if let Some(params) = status.parameters.as_mut() {
        redact_map(params);
    }
    for step in &mut status.steps {
        step.message = redact_text(&step.message);
    }
    if let Some(f) = status.failure.as_mut() {
        f.message = redact_text(&f.message);
    }
    if let Some(v) = status.validation.as_mut() {
        v.violations = v.violations.iter().map(|m| redact_text(m)).collect();
    }
    for c in &mut status.conditions {
        c.message = redact_text(&c.message);
    }
}

/// The digest of a spec without `approved` and `stop`, the fields that may change after
/// Planning.
pub fn spec_digest(spec: &WorkflowExecutionSpec) -> String {
    let mut pinned = spec.clone();
    pinned.approved = false;
    pinned.stop = None;
    let bytes = serde_json::to_vec(&pinned).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

/// The executions that finished since `before` was written: those `before` shows in flight
/// (a step Running or Compensating on them) that are now Succeeded or Failed. Each is
/// absorbed by exactly one decision, so each is counted once.
pub fn absorbed<'a>(
    before: &WorkflowExecutionStatus,
    observed: &'a [KubernetesExecution],
) -> Vec<&'a KubernetesExecution> {
    let in_flight: Vec<&str> = before
        .steps
        .iter()
        .filter(|s| matches!(s.phase, StepPhase::Running | StepPhase::Compensating))
        .filter_map(|s| s.execution_ref.as_deref())
        .collect();
    observed
        .iter()
        .filter(|k| {
            k.metadata
                .name
                .as_deref()
                .is_some_and(|n| in_flight.contains(&n))
        })
        .filter(|k| k.is_finished())
        .collect()
}

/// One change between two statuses of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The run moved to another phase.
    Phase {
        /// The phase before (None: new run).
        from: Option<WorkflowPhase>,
        /// The phase now.
        to: WorkflowPhase,
        /// The failure message, when the new phase ends a failed run.
        failure: Option<(FailureReason, String)>,
    },
    /// The run reached a terminal phase with this outcome.
    RunEnded(Option<Outcome>),
    /// A step (or its compensation) reached a final phase.
    StepFinished {
        /// The step.
        step: String,
        /// Its new phase.
        phase: StepPhase,
        /// The execution of its last attempt.
        execution: Option<String>,
        /// Its message.
        message: String,
    },
    /// The run took up a stop request (or raised `halt` to `rollback`).
    StopRequested(StopStatus),
    /// A step's attempt failed and it will be retried.
    StepRetrying {
        /// The step.
        step: String,
        /// Attempts so far.
        attempts: u32,
        /// Its message.
        message: String,
    },
}

impl Transition {
    /// The event to publish for this change, if any: (normal?, reason, note).
    pub fn event(&self) -> Option<(bool, &'static str, String)> {
        match self {
            Transition::Phase { from, to, failure } => {
                let from = from.map_or("(new run)".to_string(), |p| format!("{p:?}"));
                let normal = matches!(
                    to,
                    WorkflowPhase::Pending
                        | WorkflowPhase::Planning
                        | WorkflowPhase::Validating
                        | WorkflowPhase::AwaitingApproval
                        | WorkflowPhase::Executing
                        | WorkflowPhase::Monitoring
                        | WorkflowPhase::Completed
                        | WorkflowPhase::Cancelled
                );
                let mut note = format!("phase {from} → {to:?}");
                if let Some((reason, message)) = failure {
                    note.push_str(&format!(": {}: {message}", reason.as_str()));
                }
                Some((normal, phase_reason(*to), note))
            }
            Transition::RunEnded(_) => None,
            Transition::StopRequested(stop) => {
                Some((true, "StopRequested", crate::engine::describe_stop(stop)))
            }
            Transition::StepFinished {
                step,
                phase,
                message,
                ..
            } => {
                let reason = match phase {
                    StepPhase::Failed => "StepFailed",
                    StepPhase::TimedOut => "StepTimedOut",
                    StepPhase::CompensationFailed => "CompensationFailed",
                    _ => return None,
                };
                Some((false, reason, format!("step {step}: {message}")))
            }
            Transition::StepRetrying {
                step,
                attempts,
                message,
            } => Some((
                false,
                "StepRetrying",
                format!("step {step} will be retried (attempts so far: {attempts}): {message}"),
            )),
        }
    }
}

fn phase_reason(phase: WorkflowPhase) -> &'static str {
    phase.as_str()
}

/// What changed from `before` to `after`, in a stable order.
pub fn transitions(
    before: &WorkflowExecutionStatus,
    after: &WorkflowExecutionStatus,
) -> Vec<Transition> {
    let mut out = Vec::new();
    if let Some(stop) = &after.stop
        && before.stop.as_ref().map(|s| s.mode) != Some(stop.mode)
    {
        out.push(Transition::StopRequested(stop.clone()));
    }
    for step in &after.steps {
        let old = before.steps.iter().find(|s| s.name == step.name);
        let old_phase = old.map(|s| s.phase);
        if old_phase == Some(step.phase) && old.map(|s| s.attempts) == Some(step.attempts) {
            continue;
        }
        let finished = matches!(
            step.phase,
            StepPhase::Succeeded
                | StepPhase::Failed
                | StepPhase::TimedOut
                | StepPhase::Compensated
                | StepPhase::CompensationFailed
        );
        if finished && old_phase != Some(step.phase) {
            out.push(Transition::StepFinished {
                step: step.name.clone(),
                phase: step.phase,
                execution: step.execution_ref.clone(),
                message: step.message.clone(),
            });
        } else if step.phase == StepPhase::Retrying {
            out.push(Transition::StepRetrying {
                step: step.name.clone(),
                attempts: step.attempts,
                message: step.message.clone(),
            });
        }
    }
    if let Some(to) = after.phase
        && before.phase != Some(to)
    {
        let failure = after
            .failure
            .as_ref()
            .filter(|_| to.is_terminal())
            .map(|f| (f.reason, f.message.clone()));
        out.push(Transition::Phase {
            from: before.phase,
            to,
            failure,
        });
        if to.is_terminal() {
            out.push(Transition::RunEnded(after.outcome));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StepStatus;

    fn step(name: &str, phase: StepPhase, attempts: u32) -> StepStatus {
        StepStatus {
            name: name.into(),
            phase,
            attempts,
            message: "boom".into(),
            ..StepStatus::default()
        }
    }

    #[test]
    fn a_failed_step_and_a_rollback_are_reported() {
        let before = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Executing),
            steps: vec![
                step("a", StepPhase::Succeeded, 1),
                step("b", StepPhase::Running, 2),
            ],
            ..Default::default()
        };
        let after = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::RollingBack),
            steps: vec![
                step("a", StepPhase::Succeeded, 1),
                step("b", StepPhase::Failed, 2),
            ],
            ..Default::default()
        };
        let events: Vec<_> = transitions(&before, &after)
            .iter()
            .filter_map(Transition::event)
            .collect();
        assert_eq!(
            events,
            vec![
                (false, "StepFailed", "step b: boom".to_string()),
                (
                    false,
                    "RollingBack",
                    "phase Executing → RollingBack".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_run_that_ends_counts_once_with_its_outcome() {
        let before = WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Monitoring),
            ..Default::default()
        };
        let mut after = before.clone();
        after.phase = Some(WorkflowPhase::Completed);
        after.outcome = Some(Outcome::Success);
        let t = transitions(&before, &after);
        assert!(
            t.contains(&Transition::RunEnded(Some(Outcome::Success))),
            "{t:?}"
        );
        assert!(transitions(&after, &after).is_empty());
    }

    #[test]
    fn the_spec_digest_ignores_only_approved() {
        let spec = WorkflowExecutionSpec::default();
        let approved = WorkflowExecutionSpec {
            approved: true,
            ..spec.clone()
        };
        let dry = WorkflowExecutionSpec {
            dry_run: true,
            ..spec.clone()
        };
        let stopped = WorkflowExecutionSpec {
            stop: Some(crate::api::StopRequest::default()),
            ..spec.clone()
        };
        assert_eq!(spec_digest(&spec), spec_digest(&approved));
        assert_eq!(spec_digest(&spec), spec_digest(&stopped));
        assert_ne!(spec_digest(&spec), spec_digest(&dry));
    }

    #[test]
    fn credentials_are_redacted_from_what_people_read() {
        let mut status = WorkflowExecutionStatus {
            parameters: serde_json::from_value(
                serde_json::json!({ "api_token": "s3cr3t", "replicas": 3 }),
            )
            .ok(),
            failure: Some(Failure {
                step: None,
                reason: FailureReason::InvalidParameters,
                message: "bad url postgres://admin:hunter2@db:5432/app".into(),
            }),
            ..Default::default()
        };
        redact(&mut status);
        let params = status.parameters.unwrap();
        assert_eq!(params["api_token"], serde_json::json!("***"));
        assert_eq!(params["replicas"], serde_json::json!(3));
        let message = status.failure.unwrap().message;
        assert!(!message.contains("hunter2"), "{message}");
    }
}
