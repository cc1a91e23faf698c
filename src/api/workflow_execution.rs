//! WorkflowExecution (`workflowexecution.kubernaut.io/v1alpha1`, short name `wfe`): a request to
//! run a workflow for an AIAnalysis, and the run's whole state in its status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::JsonMap;
use super::ai_analysis::WorkflowRef;
use super::schema::free_form_object;

/// What the run should do. Immutable once Planning has started, except `approved` and `stop`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "workflowexecution.kubernaut.io",
    version = "v1alpha1",
    kind = "WorkflowExecution",
    plural = "workflowexecutions",
    shortname = "wfe",
    namespaced,
    status = "WorkflowExecutionStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Workflow","type":"string","jsonPath":".status.workflow.name"}"#,
    printcolumn = r#"{"name":"Step","type":"string","jsonPath":".status.currentStep"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = super::rules::spec_frozen_after_planning(),
    validation = super::rules::run_end_is_final(),
    validation = super::rules::run_outcome_when_ended(),
    validation = super::rules::run_completed_when_ended()
)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowExecutionSpec {
    /// The analysis that motivates the run.
    pub ai_analysis_ref: ObjectRef,
    /// The workflow to run; overrides the analysis's recommendation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_ref: Option<WorkflowRef>,
    /// Param overrides (highest precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Option<JsonMap>,
    /// Plan, validate and dry-run every step; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Overrides the template's rollback mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_strategy: Option<RollbackStrategy>,
    /// Set true to release a run waiting in AwaitingApproval.
    #[serde(default)]
    pub approved: bool,
    /// The remediation request this run serves (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation_request_ref: Option<ObjectRef>,
    /// Set to ask the run to stop (at any phase; a finished run ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopRequest>,
    /// The run this one retries (`remedy retry`; informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<ObjectRef>,
}

/// A request to stop a run: how, why and by whom.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StopRequest {
    /// `halt` (nothing is undone) or `rollback` (then compensate as the rollback policy says).
    #[serde(default)]
    pub mode: StopMode,
    /// Why the run is stopped, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Who asked (informative: whoever may patch the spec may write any name here).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requested_by: String,
}

/// How a stopped run ends.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StopMode {
    /// No new step starts, attempts in flight settle, `finally` runs; nothing is undone.
    #[default]
    Halt,
    /// As halt, then the completed steps are compensated as the run's rollback policy says.
    Rollback,
}

impl StopMode {
    /// The mode's name as the spec spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StopMode::Halt => "halt",
            StopMode::Rollback => "rollback",
        }
    }
}

/// A reference to a namespaced object; the namespace defaults to the referrer's.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ObjectRef {
    /// The object's name.
    pub name: String,
    /// The object's namespace (default: the referring object's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// How a failed run compensates its completed steps.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RollbackStrategy {
    /// Run the compensations in reverse order of completion.
    Automatic,
    /// Record the compensations that would run, and stop.
    Manual,
    /// Just fail.
    None,
}

/// The observed state of a run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowExecutionStatus {
    /// Where the run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<WorkflowPhase>,
    /// The generation of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The template pinned at Planning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<PinnedWorkflow>,
    /// The params and lets resolved at Planning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Option<JsonMap>,
    /// One entry per step (main, verify and finally), in declared order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepStatus>,
    /// The step running (or last run) now, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<String>,
    /// The result of the safety checks at Validating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// When Executing began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When Monitoring began (the start of the `verify within` bound); kept by the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring_started_at: Option<Time>,
    /// When the run reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// How the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why the run failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The compensations that would run, recorded when the rollback mode is `manual`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_plan: Vec<String>,
    /// The resolved plan pinned at Planning, as JSON text (the engine's own format; one
    /// opaque field, so status writes and field ownership do not walk it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// `sha256:…` of the spec the plan was made from, `approved` aside: a later spec change
    /// shows as the condition SpecChangeIgnored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_digest: Option<String>,
    /// The stop the run is honouring, as the engine first saw it (a later request can only
    /// raise `halt` to `rollback`, and only before the `finally` stage starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopStatus>,
    /// When the engine saw Remedy paused while this run was under way; cleared on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<Time>,
    /// Milliseconds this run has spent paused since it started executing: the workflow
    /// deadline moves by this much.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub paused_millis: u64,
    /// Standard conditions: Planned, Validated, Approved, Progressing, Ready (and
    /// AnalysisPending, TargetBusy, SpecChangeIgnored, StopRequested, Paused while they apply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The stop a run honours.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StopStatus {
    /// The mode in force.
    pub mode: StopMode,
    /// Why, as requested.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Who asked, as requested.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requested_by: String,
    /// When the engine first saw the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Time>,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// The phases of a run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum WorkflowPhase {
    /// Created, not yet looked at.
    Pending,
    /// Resolving the template and params.
    Planning,
    /// Running the safety checks.
    Validating,
    /// Waiting for `spec.approved`.
    AwaitingApproval,
    /// Running the main steps.
    Executing,
    /// Running the verify steps.
    Monitoring,
    /// Running compensations.
    RollingBack,
    /// Ended without a failure that stops it.
    Completed,
    /// Ended failed, nothing compensated.
    Failed,
    /// Ended failed, every compensation succeeded.
    RolledBack,
    /// A compensation failed.
    RollbackFailed,
    /// Ended because a stop was requested (`spec.stop`, or the run was deleted).
    Cancelled,
}

impl WorkflowPhase {
    /// True for phases a run never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            WorkflowPhase::Completed
                | WorkflowPhase::Failed
                | WorkflowPhase::RolledBack
                | WorkflowPhase::RollbackFailed
                | WorkflowPhase::Cancelled
        )
    }

    /// The phase's name as status shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowPhase::Pending => "Pending",
            WorkflowPhase::Planning => "Planning",
            WorkflowPhase::Validating => "Validating",
            WorkflowPhase::AwaitingApproval => "AwaitingApproval",
            WorkflowPhase::Executing => "Executing",
            WorkflowPhase::Monitoring => "Monitoring",
            WorkflowPhase::RollingBack => "RollingBack",
            WorkflowPhase::Completed => "Completed",
            WorkflowPhase::Failed => "Failed",
            WorkflowPhase::RolledBack => "RolledBack",
            WorkflowPhase::RollbackFailed => "RollbackFailed",
            WorkflowPhase::Cancelled => "Cancelled",
        }
    }
}

/// The template a run is pinned to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PinnedWorkflow {
    /// The workflow name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `sha256:…` of the template source and its imports.
    pub digest: String,
}

/// The state of one step of a run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    /// The step name.
    pub name: String,
    /// Where the step is.
    pub phase: StepPhase,
    /// Attempts started so far.
    #[serde(default)]
    pub attempts: u32,
    /// The KubernetesExecution of the last attempt (or compensation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_ref: Option<String>,
    /// When the first attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the step reached a final phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// What the executed action returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub output: Option<JsonMap>,
    /// A message a person can act on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the attempt (or compensation attempt) in flight started; its timeout counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_started_at: Option<Time>,
    /// When the step (or its next attempt, or its compensation) may start: set while it waits
    /// for a slot or a backoff, cleared when the attempt starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<Time>,
    /// The position of this step among the run's completed steps (1 = first done); the
    /// rollback saga compensates in reverse of this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_order: Option<u32>,
    /// Compensation attempts started so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rollback_attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The phases of a step.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum StepPhase {
    /// Not ready yet.
    #[default]
    Pending,
    /// Ready, waiting for a slot (max_parallel) or a backoff.
    Waiting,
    /// An attempt is running.
    Running,
    /// An attempt failed; another will run.
    Retrying,
    /// Done.
    Succeeded,
    /// The last attempt failed.
    Failed,
    /// `when` was false, or the run stopped before it.
    Skipped,
    /// The last attempt ran past its timeout.
    TimedOut,
    /// Its compensation is running.
    Compensating,
    /// Its compensation succeeded.
    Compensated,
    /// Its compensation failed.
    CompensationFailed,
}

/// The safety checks' result.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    /// True when every check passed.
    pub passed: bool,
    /// What failed, one message each.
    #[serde(default)]
    pub violations: Vec<String>,
    /// Per step result of a dry run, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub dry_run: Option<JsonMap>,
}

/// How a run ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Outcome {
    /// The remediation ran and verified.
    Success,
    /// It ran but verification failed.
    Ineffective,
    /// It failed and nothing was compensated.
    Failed,
    /// It failed and was compensated.
    RolledBack,
    /// A dry run that passed.
    DryRun,
    /// Stopped on request before it ended by itself.
    Cancelled,
}

impl Outcome {
    /// The outcome's name as status shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "Success",
            Outcome::Ineffective => "Ineffective",
            Outcome::Failed => "Failed",
            Outcome::RolledBack => "RolledBack",
            Outcome::DryRun => "DryRun",
            Outcome::Cancelled => "Cancelled",
        }
    }
}

/// Why a run failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Failure {
    /// The step that failed, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The reason, from a fixed set.
    pub reason: FailureReason,
    /// A message a person can act on.
    pub message: String,
}

/// The reasons a run fails.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum FailureReason {
    /// No template of that name (and version).
    TemplateNotFound,
    /// Params missing, mistyped or out of their constraints.
    InvalidParameters,
    /// A script failed or ran over its budget.
    ScriptError,
    /// A safety check failed at Validating.
    SafetyViolation,
    /// A step failed after its retries.
    StepFailed,
    /// A step's last attempt ran past its timeout.
    StepTimedOut,
    /// The workflow ran past its timeout.
    WorkflowTimedOut,
    /// Verification failed: the remediation did not work.
    Ineffective,
    /// The referenced AIAnalysis failed.
    AnalysisFailed,
}

impl FailureReason {
    /// The reason's name as status and events show it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::TemplateNotFound => "TemplateNotFound",
            FailureReason::InvalidParameters => "InvalidParameters",
            FailureReason::ScriptError => "ScriptError",
            FailureReason::SafetyViolation => "SafetyViolation",
            FailureReason::StepFailed => "StepFailed",
            FailureReason::StepTimedOut => "StepTimedOut",
            FailureReason::WorkflowTimedOut => "WorkflowTimedOut",
            FailureReason::Ineffective => "Ineffective",
            FailureReason::AnalysisFailed => "AnalysisFailed",
        }
    }
}
