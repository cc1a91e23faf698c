//! Running a rehearsal: plan each case (or take planning's refusal), script its attempts,
//! simulate the run on the virtual clock and compare.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde_json::Value;

use super::compare::{CaseReport, compare};
use super::file::{AttemptOutcome, Case, RehearsalError, load};
use crate::api::workflow_execution::Failure;
use crate::api::{
    AIAnalysisStatus, AnalysisPhase, ExecutionKind, JsonMap, Outcome, StopRequest,
    WorkflowExecutionSpec, WorkflowExecutionStatus, WorkflowPhase,
};
use crate::catalog::ActionCatalog;
use crate::check::CheckContext;
use crate::dsl::ast;
use crate::engine::simulate::{AttemptScript, Script, Stop, label, simulate};
use crate::engine::{Program, initial_status};
use crate::files::{self};
use crate::plan::{ExecutionPlan, PlanContext, PlanFailure, StepStage};
use crate::template::{Template, loader};
use crate::units::duration::parse_millis;

/// The inputs planning takes from a case.
#[derive(Debug, Clone, Copy)]
pub struct CaseInput<'a> {
    /// The AIAnalysis status.
    pub analysis: &'a JsonMap,
    /// Param overrides.
    pub parameters: &'a JsonMap,
    /// Dry run.
    pub dry_run: bool,
    /// The WorkflowExecution's name.
    pub execution: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
}

/// What a rehearsed run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Actual {
    /// The status at the end.
    pub status: WorkflowExecutionStatus,
    /// Every execution started, by label.
    pub sequence: Vec<String>,
}

/// The virtual clock's start (any fixed instant: rehearsals are deterministic).
fn start() -> Timestamp {
    Timestamp::from_second(1_767_225_600).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The name of the WorkflowExecution a rehearsal pretends to run.
pub const EXECUTION: &str = "rehearsal";
/// Its namespace.
pub const NAMESPACE: &str = "rehearsal";

/// A step as rehearsal names see it: name, stage, and whether it has a compensation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepInfo {
    /// The step name.
    pub name: String,
    /// Main, verify or finally.
    pub stage: StepStage,
    /// Whether it has a `rollback` block.
    pub has_rollback: bool,
}

/// The steps of a plan.
pub fn plan_steps(plan: &ExecutionPlan) -> Vec<StepInfo> {
    plan.steps
        .iter()
        .map(|s| StepInfo {
            name: s.name.clone(),
            stage: s.stage,
            has_rollback: s.rollback.is_some(),
        })
        .collect()
}

/// The steps of a template, in declared order.
pub fn template_steps(template: &Template) -> Vec<StepInfo> {
    let mut out = Vec::new();
    let mut push = |step: &ast::Step, stage: StepStage| {
        out.push(StepInfo {
            name: step.name.name.clone(),
            stage,
            has_rollback: step
                .items
                .iter()
                .any(|i| matches!(i, ast::StepItem::Rollback(_))),
        });
    };
    for item in &template.file.workflow.items {
        match item {
            ast::Item::Step(s) => push(s, StepStage::Main),
            ast::Item::Parallel(p) => p.steps.iter().for_each(|s| push(s, StepStage::Main)),
            ast::Item::Verify(v) => v.steps.iter().for_each(|s| push(s, StepStage::Verify)),
            ast::Item::Finally(f) => f.steps.iter().for_each(|s| push(s, StepStage::Finally)),
            _ => {}
        }
    }
    out
}

/// Check a case's names against the workflow's steps.
pub fn check_names(case: &Case, steps: &[StepInfo]) -> Result<(), String> {
    let mut labels: Vec<String> = Vec::new();
    for s in steps {
        let kind = match s.stage {
            StepStage::Main => ExecutionKind::Step,
            StepStage::Verify => ExecutionKind::Verify,
            StepStage::Finally => ExecutionKind::Finally,
        };
        labels.push(label(kind, &s.name));
        if s.stage == StepStage::Main && s.has_rollback {
            labels.push(label(ExecutionKind::Rollback, &s.name));
        }
    }
    let known = |name: &str| labels.iter().any(|l| l == name);
    let runs = || labels.join(", ");
    for name in case.outcomes.keys() {
        if !known(name) {
            return Err(format!(
                "outcomes names `{name}`, which this workflow does not run (it runs: {})",
                runs()
            ));
        }
    }
    for name in case.expect.sequence.iter().flatten() {
        if !known(name) {
            return Err(format!(
                "expect.sequence names `{name}`, which this workflow does not run (it runs: {})",
                runs()
            ));
        }
    }
    for name in case.expect.steps.iter().flat_map(|s| s.keys()) {
        if !steps.iter().any(|s| &s.name == name) {
            let all: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "expect.steps names `{name}`, which is not a step of this workflow (steps: {})",
                all.join(", ")
            ));
        }
    }
    Ok(())
}

/// Turn a case's outcomes into the simulation's script.
pub fn script_for(case: &Case) -> Result<Script, String> {
    let mut outcomes = HashMap::new();
    for (name, attempts) in &case.outcomes {
        let mut script = Vec::with_capacity(attempts.len());
        for a in attempts {
            script.push(attempt_script(a).map_err(|e| format!("outcomes of `{name}`: {e}"))?);
        }
        outcomes.insert(name.clone(), script);
    }
    let stop = match &case.stop {
        Some(stop) => {
            let at = parse_millis(&stop.at).map_err(|e| format!("stop.at: {e}"))?;
            Some((
                at,
                StopRequest {
                    mode: stop.mode,
                    reason: stop.reason.clone(),
                    requested_by: stop.requested_by.clone(),
                },
            ))
        }
        None => None,
    };
    let mut pauses = Vec::with_capacity(case.pauses.len());
    for (i, pause) in case.pauses.iter().enumerate() {
        let from = parse_millis(&pause.from).map_err(|e| format!("pauses[{i}].from: {e}"))?;
        let until = parse_millis(&pause.until).map_err(|e| format!("pauses[{i}].until: {e}"))?;
        if until <= from {
            return Err(format!(
                "pauses[{i}]: `until` ({}) must come after `from` ({})",
                pause.until, pause.from
            ));
        }
        pauses.push((from, until));
    }
    Ok(Script {
        outcomes,
        approved: case.approved,
        stop,
        pauses,
    })
}

fn attempt_script(a: &AttemptOutcome) -> Result<AttemptScript, String> {
    if a.timeout == Some(true) {
        if a.success.is_some() || a.output.is_some() || a.error.is_some() || a.duration.is_some() {
            return Err("`timeout: true` takes no other field".to_string());
        }
        return Ok(AttemptScript::Hang);
    }
    let duration_ms = match &a.duration {
        Some(d) => parse_millis(d).map_err(|e| e.to_string())?,
        None => 1000,
    };
    Ok(AttemptScript::Done {
        success: a.success.unwrap_or(true),
        output: a.output.clone().unwrap_or_default(),
        error: a.error.clone().unwrap_or_default(),
        duration_ms,
    })
}

/// Run a planned case through the interpreter on the virtual clock.
pub fn rehearse(plan: &ExecutionPlan, script: &Script) -> Result<Actual, String> {
    let program = Program::new(plan).map_err(|e| e.to_string())?;
    let sim = simulate(&program, initial_status(plan), script, start(), false);
    match sim.stop {
        Stop::Terminal | Stop::AwaitingApproval => {}
        Stop::Stalled => return Err("the run stalled (an engine bug)".to_string()),
        Stop::TooLong => return Err("the run did not end (an engine bug)".to_string()),
    }
    Ok(Actual {
        status: sim.status,
        sequence: sim.started.into_iter().map(|s| s.label).collect(),
    })
}

/// The status of a run whose planning failed.
pub fn planning_failed(failure: &PlanFailure) -> Actual {
    Actual {
        status: WorkflowExecutionStatus {
            phase: Some(WorkflowPhase::Failed),
            outcome: Some(Outcome::Failed),
            failure: Some(Failure {
                step: None,
                reason: failure.reason,
                message: failure.message.clone(),
            }),
            ..WorkflowExecutionStatus::default()
        },
        sequence: Vec::new(),
    }
}

/// Run one case given its plan (or planning's refusal) and the workflow's steps: check
/// names, rehearse, compare.
pub fn run_case(
    case: &Case,
    steps: &[StepInfo],
    plan: Result<ExecutionPlan, PlanFailure>,
) -> Result<CaseReport, String> {
    check_names(case, steps)?;
    let script = script_for(case)?;
    let actual = match plan {
        Ok(plan) => {
            let mut actual = rehearse(&plan, &script)?;
            if actual.status.parameters.is_none() {
                actual.status.parameters = Some(plan.parameters.clone());
            }
            actual
        }
        Err(failure) => planning_failed(&failure),
    };
    Ok(compare(case, &actual))
}

/// The results of one rehearsal file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    /// The rehearsal file.
    pub path: PathBuf,
    /// The workflow's name (the template file's stem), to prefix case names.
    pub workflow: String,
    /// One report per case, in order.
    pub cases: Vec<CaseReport>,
}

/// Load a rehearsal file and its template, plan and rehearse every case.
pub fn run_file(path: &Path) -> Result<FileReport, RehearsalError> {
    let file = load(path)?;
    let dir = files::parent_dir(path);
    let template_path = dir.join(&file.workflow);
    // The loader's way, as the operator loads it: checked, and from inside the rehearsal's
    // directory.
    let template = loader::load_file(dir, &template_path, &CheckContext::default())
        .into_result()
        .map_err(|e| RehearsalError::Template {
            path: template_path.clone(),
            message: e.to_string(),
        })?;
    let ctx = PlanContext {
        namespace: NAMESPACE.to_string(),
        execution: EXECUTION.to_string(),
        actions: ActionCatalog::builtin(),
    };
    let steps = template_steps(&template);
    let mut cases = Vec::with_capacity(file.cases.len());
    for case in &file.cases {
        let case_error = |message: String| RehearsalError::Case {
            path: path.to_path_buf(),
            case: case.name.clone(),
            message,
        };
        let mut analysis: AIAnalysisStatus =
            serde_json::from_value(Value::Object(case.analysis.clone()))
                .map_err(|e| case_error(format!("analysis: {e}")))?;
        analysis.phase = Some(AnalysisPhase::Completed);
        let spec = WorkflowExecutionSpec {
            parameters: (!case.parameters.is_empty()).then(|| case.parameters.clone()),
            dry_run: case.dry_run,
            approved: case.approved,
            ..WorkflowExecutionSpec::default()
        };
        let planned =
            crate::plan::plan(&template, &analysis, &spec, &ctx).map_err(PlanFailure::from);
        cases.push(run_case(case, &steps, planned).map_err(case_error)?);
    }
    let workflow = template_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(&file.workflow)
        .to_string();
    Ok(FileReport {
        path: path.to_path_buf(),
        workflow,
        cases,
    })
}
