//! Planning for the operator: find the template a run asks for, resolve it against the
//! analysis and the run's overrides (`plan::plan`), and read back a plan's target.

use kube::ResourceExt;

use super::target_lock::TargetKey;
use crate::api::{AIAnalysisStatus, FailureReason, TargetResource, WorkflowExecution};
use crate::catalog::ActionCatalog;
use crate::plan::{self, ExecutionPlan, PlanContext};

pub use super::templates::TemplateSource;

/// Why a run could not be planned: the contract's reason and a message a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFailure {
    /// TemplateNotFound, InvalidParameters or ScriptError.
    pub reason: FailureReason,
    /// What is wrong.
    pub message: String,
}

/// Plans `wfe` against its analysis with the current templates (each built once).
pub fn plan_run(
    templates: &TemplateSource,
    wfe: &WorkflowExecution,
    analysis: &AIAnalysisStatus,
) -> Result<ExecutionPlan, PlanFailure> {
    let wanted = wfe
        .spec
        .workflow_ref
        .clone()
        .or_else(|| analysis.recommended_workflow.clone());
    let Some(wanted) = wanted else {
        return Err(PlanFailure {
            reason: FailureReason::TemplateNotFound,
            message:
                "neither spec.workflowRef nor the analysis's recommendedWorkflow names a workflow"
                    .to_string(),
        });
    };
    let catalog = templates.current();
    let found = catalog
        .get(&wanted.name, wanted.version.as_deref())
        .map_err(|e| PlanFailure {
            reason: FailureReason::TemplateNotFound,
            message: e.to_string(),
        })?;
    let template = templates.built(found).map_err(|e| PlanFailure {
        // The catalog checked it; a template that loads there but not here is a script problem.
        reason: FailureReason::ScriptError,
        message: format!("{}: {e}", found.path.display()),
    })?;
    let ctx = PlanContext {
        namespace: wfe.namespace().unwrap_or_default(),
        execution: wfe.name_any(),
        actions: ActionCatalog::builtin(),
    };
    plan::plan(&template, analysis, &wfe.spec, &ctx).map_err(|e| PlanFailure {
        reason: e.reason(),
        message: e.to_string(),
    })
}

/// The resource a plan acts on: the analysis's target, pinned with the plan.
pub fn target_of(plan: &ExecutionPlan) -> Option<TargetResource> {
    let value = plan.analysis.get("targetResource")?;
    serde_json::from_value(value.clone()).ok()
}

/// The lock key of a target.
pub fn target_key(target: Option<&TargetResource>) -> Option<TargetKey> {
    let t = target?;
    Some(TargetKey {
        kind: t.kind.clone(),
        namespace: t.namespace.clone().unwrap_or_default(),
        name: t.name.clone(),
    })
}
