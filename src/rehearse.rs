//! Rehearsals (`NAME.rehearsal.yaml` beside `NAME.wf`): run a template offline through the
//! real planner and interpreter on a virtual clock, with every attempt's outcome scripted, and
//! compare what happened with what the case expects.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::api::workflow_execution::Failure;
use crate::api::{
    AIAnalysisStatus, AnalysisPhase, ExecutionKind, FailureReason, JsonMap, Outcome, StepPhase,
    StopMode, StopRequest, WorkflowExecutionSpec, WorkflowExecutionStatus, WorkflowPhase,
};
use crate::catalog::ActionCatalog;
use crate::check::CheckContext;
use crate::dsl::ast;
use crate::engine::simulate::{AttemptScript, Script, Stop, label, simulate};
use crate::engine::{Program, initial_status};
use crate::files::{self, FileError, MAX_FILE_BYTES};
use crate::plan::{ExecutionPlan, PlanContext, StepStage};
use crate::template::{Template, loader};
use crate::units::duration::parse_millis;

/// The suffix that marks a rehearsal file.
pub const SUFFIX: &str = ".rehearsal.yaml";

/// A rehearsal file: the template it tests and its cases.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearsalFile {
    /// The template, relative to the rehearsal file.
    pub workflow: String,
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One case: inputs, scripted outcomes and expectations.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows, in words.
    pub name: String,
    /// The AIAnalysis status (taken as Completed).
    #[serde(default)]
    pub analysis: JsonMap,
    /// WorkflowExecution param overrides.
    #[serde(default)]
    pub parameters: JsonMap,
    /// Per execution (`step`, `rollback:step`, `verify:step`, `finally:step`), one entry per
    /// attempt; attempts not listed succeed after 1s with an empty output.
    #[serde(default)]
    pub outcomes: BTreeMap<String, Vec<AttemptOutcome>>,
    /// Whether an approval-gated run is approved (default true).
    #[serde(default = "yes")]
    pub approved: bool,
    /// Run as a dry run.
    #[serde(default)]
    pub dry_run: bool,
    /// A stop requested at a moment of the run.
    #[serde(default)]
    pub stop: Option<CaseStop>,
    /// Intervals while Remedy is paused.
    #[serde(default)]
    pub pauses: Vec<CasePause>,
    /// What must have happened.
    #[serde(default)]
    pub expect: Expect,
}

fn yes() -> bool {
    true
}

/// A stop request in a case: when (virtual time since the run was validated), how, why.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseStop {
    /// When the request is made, as a duration since the start (`0s`, `2500ms`, `1m`).
    pub at: String,
    /// `halt` (default) or `rollback`.
    #[serde(default)]
    pub mode: StopMode,
    /// The reason given.
    #[serde(default)]
    pub reason: String,
    /// Who asks.
    #[serde(default)]
    pub requested_by: String,
}

/// An interval of a case while Remedy is paused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasePause {
    /// When the pause starts, as a duration since the start.
    pub from: String,
    /// When it ends (resume), as a duration since the start.
    pub until: String,
}

/// The scripted outcome of one attempt.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptOutcome {
    /// Whether the action succeeds (default true).
    pub success: Option<bool>,
    /// What it returns.
    pub output: Option<JsonMap>,
    /// Its error message.
    pub error: Option<String>,
    /// How long it runs (default 1s).
    pub duration: Option<String>,
    /// True: the attempt runs past its timeout.
    pub timeout: Option<bool>,
}

/// What a case expects; every field is optional, `parameters` and `steps` are subsets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The final phase.
    pub phase: Option<WorkflowPhase>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// Every execution in the order it started, once per attempt.
    pub sequence: Option<Vec<String>>,
    /// Some resolved params and lets.
    pub parameters: Option<JsonMap>,
    /// Some steps' final phases.
    pub steps: Option<BTreeMap<String, StepPhase>>,
    /// The failure reason.
    pub failure_reason: Option<FailureReason>,
}

/// A rehearsal that cannot run: unreadable, malformed, or naming what the template lacks.
#[derive(Debug, thiserror::Error)]
pub enum RehearsalError {
    /// The file cannot be read (or is refused: see [`crate::files`]).
    #[error(transparent)]
    Read(#[from] FileError),
    /// The YAML does not match the rehearsal format.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its place.
        message: String,
    },
    /// A case names an execution or step the template does not have, or a bad duration.
    #[error("{path}: case `{case}`: {message}")]
    Case {
        /// The file.
        path: PathBuf,
        /// The case.
        case: String,
        /// What is wrong.
        message: String,
    },
    /// The template cannot be loaded or compiled.
    #[error("{path}: {message}")]
    Template {
        /// The template file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Parse a rehearsal file's text; `path` is for messages.
pub fn parse(text: &str, path: &Path) -> Result<RehearsalFile, RehearsalError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let message = e.to_string();
        RehearsalError::Format {
            path: path.to_path_buf(),
            message: message
                .strip_prefix("error: ")
                .unwrap_or(&message)
                .replace("<input>", &path.display().to_string()),
        }
    })
}

/// Read and parse a rehearsal file (a regular file within the size limit).
pub fn load(path: &Path) -> Result<RehearsalFile, RehearsalError> {
    let text = files::read_text(path, MAX_FILE_BYTES)?;
    parse(&text, path)
}

/// Every `*.rehearsal.yaml` under `paths` (files are taken as given), sorted per directory;
/// directories are walked as the loader walks them (no hidden entries, no symlink loops).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, RehearsalError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| FileError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut walk = files::walk(path, &|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(SUFFIX))
            });
            if !walk.errors.is_empty() {
                return Err(walk.errors.remove(0).into());
            }
            out.extend(walk.files);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

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

/// Why planning refused a case's inputs: the run ends Failed with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFailure {
    /// The failure reason (InvalidParameters, ScriptError, SafetyViolation, …).
    pub reason: FailureReason,
    /// The message.
    pub message: String,
}

/// What a rehearsed run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Actual {
    /// The status at the end.
    pub status: WorkflowExecutionStatus,
    /// Every execution started, by label.
    pub sequence: Vec<String>,
}

/// One field that did not match.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// A scalar field: expected vs actual, as text.
    Field {
        /// The field, e.g. `phase` or `steps.scale_out`.
        field: String,
        /// What the case expects.
        expected: String,
        /// What happened.
        actual: String,
    },
    /// The sequence: both lists.
    Sequence {
        /// What the case expects.
        expected: Vec<String>,
        /// What happened.
        actual: Vec<String>,
    },
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// What did not match; empty when the case passed.
    pub mismatches: Vec<Mismatch>,
    /// The run's failure, shown to explain a mismatch.
    pub failure: Option<Failure>,
}

impl CaseReport {
    /// True when every expectation matched.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// The readable difference, indented, one field after another (empty if passed).
    pub fn render_diff(&self) -> String {
        let mut out = String::new();
        for m in &self.mismatches {
            match m {
                Mismatch::Field {
                    field,
                    expected,
                    actual,
                } => {
                    let _ = writeln!(out, "    {field}: expected {expected}, got {actual}");
                }
                Mismatch::Sequence { expected, actual } => {
                    render_sequence(&mut out, expected, actual);
                }
            }
        }
        if !self.mismatches.is_empty()
            && let Some(f) = &self.failure
        {
            let step = f
                .step
                .as_deref()
                .map(|s| format!(" at step {s}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    (the run failed{step}: {}: {})",
                f.reason.as_str(),
                f.message
            );
        }
        out
    }
}

fn render_sequence(out: &mut String, expected: &[String], actual: &[String]) {
    let first = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    let _ = writeln!(out, "    sequence differs at #{}:", first + 1);
    let width = expected
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("expected".len());
    let _ = writeln!(out, "         {:<width$}  actual", "expected");
    for row in 0..expected.len().max(actual.len()) {
        let mark = if row == first { '>' } else { ' ' };
        let e = expected.get(row).map_or("", String::as_str);
        let a = actual.get(row).map_or("", String::as_str);
        let line = format!("    {mark}{:>3} {e:<width$}  {a}", row + 1);
        let _ = writeln!(out, "{}", line.trim_end());
    }
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

/// Compare what happened with what the case expects.
pub fn compare(case: &Case, actual: &Actual) -> CaseReport {
    let st = &actual.status;
    let mut mismatches = Vec::new();
    let mut field = |name: String, expected: String, got: String| {
        if expected != got {
            mismatches.push(Mismatch::Field {
                field: name,
                expected,
                actual: got,
            });
        }
    };
    let show = |v: Option<String>| v.unwrap_or_else(|| "nothing".to_string());
    let e = &case.expect;
    if let Some(phase) = e.phase {
        field(
            "phase".into(),
            format!("{phase:?}"),
            show(st.phase.map(|p| format!("{p:?}"))),
        );
    }
    if let Some(outcome) = e.outcome {
        field(
            "outcome".into(),
            format!("{outcome:?}"),
            show(st.outcome.map(|o| format!("{o:?}"))),
        );
    }
    if let Some(reason) = e.failure_reason {
        field(
            "failure_reason".into(),
            reason.as_str().to_string(),
            show(st.failure.as_ref().map(|f| f.reason.as_str().to_string())),
        );
    }
    if let Some(params) = &e.parameters {
        let resolved = st.parameters.clone().unwrap_or_default();
        for (k, want) in params {
            match resolved.get(k) {
                Some(got) if same_value(want, got) => {}
                got => field(
                    format!("parameters.{k}"),
                    want.to_string(),
                    show(got.map(Value::to_string)),
                ),
            }
        }
    }
    if let Some(steps) = &e.steps {
        for (name, want) in steps {
            let got = st.steps.iter().find(|s| &s.name == name).map(|s| s.phase);
            field(
                format!("steps.{name}"),
                format!("{want:?}"),
                show(got.map(|p| format!("{p:?}"))),
            );
        }
    }
    if let Some(seq) = &e.sequence
        && seq != &actual.sequence
    {
        mismatches.push(Mismatch::Sequence {
            expected: seq.clone(),
            actual: actual.sequence.clone(),
        });
    }
    CaseReport {
        name: case.name.clone(),
        mismatches,
        failure: st.failure.clone(),
    }
}

/// JSON equality where numbers compare by value (`2` equals `2.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
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
            crate::plan::plan(&template, &analysis, &spec, &ctx).map_err(|e| PlanFailure {
                reason: e.reason(),
                message: e.to_string(),
            });
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
