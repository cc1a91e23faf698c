//! The three custom resources of the contract (`shared/spec/crds.md`) and their generated
//! CustomResourceDefinitions.

pub mod ai_analysis;
pub mod crd;
pub mod kubernetes_execution;
pub mod names;
pub mod rules;
pub mod schema;
pub mod strict;
pub mod workflow_execution;

pub use ai_analysis::{AIAnalysis, AIAnalysisStatus, AnalysisPhase, TargetResource};
pub use kubernetes_execution::{
    ExecutionKind, ExecutionPhase, ExecutionResult, KubernetesExecution, KubernetesExecutionSpec,
    KubernetesExecutionStatus,
};
pub use workflow_execution::{
    FailureReason, Outcome, StepPhase, StepStatus, StopMode, StopRequest, StopStatus,
    WorkflowExecution, WorkflowExecutionSpec, WorkflowExecutionStatus, WorkflowPhase,
};

/// A free-form JSON object (parameters, metrics, outputs).
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Label naming the WorkflowExecution an execution belongs to (its name as a label value:
/// [`names::label_value`]).
pub const LABEL_WORKFLOW: &str = "workflowexecution.kubernaut.io/name";
/// Label naming the step an execution runs (as a label value: [`names::label_value`]).
pub const LABEL_STEP: &str = "workflowexecution.kubernaut.io/step";
/// Label naming the kind of execution: `step`, `rollback`, `verify` or `finally`.
pub const LABEL_KIND: &str = "workflowexecution.kubernaut.io/kind";
/// Annotation the workflow controller writes on each execution it creates: a keyed digest
/// of the execution (`seal`), by which the executor knows who made it.
pub const ANNOTATION_DIGEST: &str = "kubernetesexecution.kubernaut.io/digest";

/// The label selector of the executions of the WorkflowExecution `name` (a long name is
/// shortened in the label as it is when the executions are created).
pub fn executions_of(name: &str) -> String {
    format!("{LABEL_WORKFLOW}={}", names::label_value(name))
}
