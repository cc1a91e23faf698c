//! Planning for the operator: find the template a run asks for, resolve it against the
//! analysis and the run's overrides (`plan::plan`), and read back a plan's target.

use kube::ResourceExt;

use super::target_lock::TargetKey;
use crate::api::{AIAnalysisStatus, FailureReason, TargetResource, WorkflowExecution};
use crate::catalog::ActionCatalog;
use crate::plan::{self, ExecutionPlan, PlanContext};
use crate::template::TemplateError;

pub use super::templates::TemplateSource;
pub use crate::plan::PlanFailure;

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
            message: left_out(
                &templates.rejected(),
                &wanted.name,
                wanted.version.as_deref(),
            )
            .unwrap_or_else(|| e.to_string()),
        })?;
    let template = found.clone();
    let ctx = PlanContext {
        namespace: wfe.namespace().unwrap_or_default(),
        execution: wfe.name_any(),
        actions: ActionCatalog::builtin(),
    };
    plan::plan(&template, analysis, &wfe.spec, &ctx).map_err(PlanFailure::from)
}

/// A template file left out of the catalog: the workflow it declares (when it parses) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The workflow name it declares, when the file parses.
    pub name: Option<String>,
    /// The version it declares, as written, when the file parses.
    pub version: Option<String>,
    /// Why it was left out: the file and its first errors.
    pub why: String,
}

/// How many of a template's errors a message names.
const ERRORS_SHOWN: usize = 3;

impl Rejected {
    /// What a loading error says about the template it concerns.
    pub fn from_error(error: &TemplateError) -> Self {
        let split = |key: Option<&str>| match key.and_then(|k| k.rsplit_once('@')) {
            Some((name, version)) => (Some(name.to_string()), Some(version.to_string())),
            None => (None, None),
        };
        match error {
            TemplateError::Invalid {
                file,
                diagnostics,
                key,
            } => {
                let mut why = format!(
                    "{} has {} lint error{}: {}",
                    file.path().display(),
                    diagnostics.len(),
                    if diagnostics.len() == 1 { "" } else { "s" },
                    diagnostics
                        .iter()
                        .take(ERRORS_SHOWN)
                        .map(|d| {
                            let at = file.line_col(d.span.start);
                            format!("{}:{}: [{}] {}", at.line, at.col, d.code, d.message)
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                if diagnostics.len() > ERRORS_SHOWN {
                    why.push_str(&format!("; and {} more", diagnostics.len() - ERRORS_SHOWN));
                }
                let (name, version) = split(key.as_deref());
                Rejected { name, version, why }
            }
            TemplateError::Duplicate { key, first, second } => {
                let (name, version) = split(Some(key));
                Rejected {
                    name,
                    version,
                    why: format!(
                        "{} and {}, which both declare it ([E0006]): neither is served; give one \
                         a new version, or remove it",
                        first.display(),
                        second.display()
                    ),
                }
            }
            TemplateError::NotServed { key, .. } => {
                let (name, version) = split(Some(key));
                Rejected {
                    name,
                    version,
                    why: error.to_string(),
                }
            }
            other => Rejected {
                name: None,
                version: None,
                why: other.to_string(),
            },
        }
    }
}

impl std::fmt::Display for Rejected {
    /// `name@version (why)`, or just why when the file does not parse.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.name, &self.version) {
            (Some(name), Some(version)) => write!(f, "{name}@{version}: {}", self.why),
            _ => write!(f, "{}", self.why),
        }
    }
}

/// Why no template answers `name` (and `version`) when the reason is that templates were left
/// out: the ones declaring that workflow with their first errors, or else the files that could
/// not be parsed (one of them may be it). `None` when nothing left out can explain it.
pub fn left_out(rejected: &[Rejected], name: &str, version: Option<&str>) -> Option<String> {
    let wanted = |r: &&Rejected| {
        r.name.as_deref() == Some(name)
            && version.is_none_or(|v| r.version.as_deref() == Some(v.trim_start_matches('v')))
    };
    let declaring: Vec<&Rejected> = rejected.iter().filter(wanted).collect();
    let label = match version {
        Some(v) => format!("{name}@{v}"),
        None => name.to_string(),
    };
    if !declaring.is_empty() {
        let whys: Vec<String> = declaring
            .iter()
            .map(|r| {
                format!(
                    "{name}@{} in {}",
                    r.version.as_deref().unwrap_or("?"),
                    r.why
                )
            })
            .collect();
        return Some(format!(
            "template \"{label}\" is not served because it does not pass lint: {}; fix it \
             (`remedy lint` shows every error) and create a new run",
            whys.join(" | ")
        ));
    }
    let unparsed: Vec<&str> = rejected
        .iter()
        .filter(|r| r.name.is_none())
        .map(|r| r.why.as_str())
        .collect();
    if unparsed.is_empty() {
        return None;
    }
    let shown = unparsed
        .iter()
        .take(ERRORS_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(" | ");
    Some(format!(
        "no template \"{label}\" is served; {} template file{} could not be loaded and may be it: \
         {shown}",
        unparsed.len(),
        if unparsed.len() == 1 { "" } else { "s" },
    ))
}

/// The resource a plan acts on: the analysis's target, pinned with the plan.
pub fn target_of(plan: &ExecutionPlan) -> Option<TargetResource> {
    let value = plan.analysis.get("targetResource")?;
    serde_json::from_value(value.clone()).ok()
}

/// The lock key of a run's target: its canonical identity (`None` when it has no target, or
/// one that does not resolve: such a run fails at Validating and never holds a lock).
pub fn target_key(target: Option<&TargetResource>, run_namespace: &str) -> Option<TargetKey> {
    super::target_lock::canonical(target?, run_namespace).ok()
}
