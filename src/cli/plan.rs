//! `remedy plan TEMPLATE --analysis FILE.yaml [--set k=v]… [--templates DIR] [--format
//! table|yaml|json]`: resolve a template against an analysis and print the plan.
//!
//! Exit codes: 0 planned; 1 the template does not load or the plan fails; 2 usage or I/O error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::api::workflow_execution::RollbackStrategy;
use crate::api::{AIAnalysisStatus, JsonMap, WorkflowExecutionSpec, strict};
use crate::check::render::{FileReport, human, visible_lines};
use crate::diagnostic::Diagnostic;
use crate::plan::{ExecutionPlan, PlanContext, PlanError, PlannedAction, PlannedValue, plan};
use crate::scenario::yaml::{Positions, excerpt, segments};
use crate::template::{Template, TemplateCatalog, TemplateError};
use crate::units::duration::format_millis;

/// Arguments of `remedy plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A `.wf` file, or `NAME[@VERSION]` of a template in the templates directory.
    pub template: String,
    /// The AIAnalysis (a whole object, or just its status) as YAML.
    #[arg(long, value_name = "FILE.yaml")]
    pub analysis: PathBuf,
    /// Override a param (`--set factor=2.0`); the value is read as a YAML scalar.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Where `NAME[@VERSION]` templates are looked up.
    #[arg(long, value_name = "DIR", default_value = "workflows")]
    pub templates: PathBuf,
    /// Plan a dry run.
    #[arg(long)]
    pub dry_run: bool,
    /// Override the template's rollback mode.
    #[arg(long, value_enum)]
    pub rollback: Option<RollbackArg>,
    /// The WorkflowExecution's namespace (`workflow.namespace`; default: the target's).
    #[arg(long)]
    pub namespace: Option<String>,
    /// The WorkflowExecution's name (`workflow.execution`).
    #[arg(long, default_value = "plan")]
    pub execution: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
}

/// The rollback modes a run may force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RollbackArg {
    /// Compensate completed steps.
    Automatic,
    /// Record the compensations, run none.
    Manual,
    /// Just fail.
    None,
}

/// How the plan is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Params, then steps, for people.
    Table,
    /// The plan as YAML.
    Yaml,
    /// The plan as JSON.
    Json,
}

/// What stopped the command, with its exit code.
enum Stop {
    Usage(String),
    Failed(String),
}

/// Run `remedy plan`.
pub fn run(args: &PlanArgs) -> ExitCode {
    // The plan and its errors quote the analysis and the template: shown, never sent to
    // the terminal as control characters.
    match plan_command(args) {
        Ok(out) => {
            print!("{}", visible_lines(&out));
            ExitCode::SUCCESS
        }
        Err(Stop::Failed(message)) => {
            eprint!("{}", visible_lines(&message));
            ExitCode::from(1)
        }
        Err(Stop::Usage(message)) => {
            eprintln!("error: {}", visible_lines(&message));
            ExitCode::from(2)
        }
    }
}

fn plan_command(args: &PlanArgs) -> Result<String, Stop> {
    let overrides = parse_sets(&args.set).map_err(Stop::Usage)?;
    let analysis = read_analysis(&args.analysis).map_err(Stop::Usage)?;
    let template = find_template(&args.template, &args.templates)?;
    let spec = WorkflowExecutionSpec {
        parameters: (!overrides.is_empty()).then_some(overrides),
        dry_run: args.dry_run,
        rollback_strategy: args.rollback.map(|r| match r {
            RollbackArg::Automatic => RollbackStrategy::Automatic,
            RollbackArg::Manual => RollbackStrategy::Manual,
            RollbackArg::None => RollbackStrategy::None,
        }),
        ..WorkflowExecutionSpec::default()
    };
    let ctx = PlanContext {
        namespace: args.namespace.clone().unwrap_or_else(|| {
            analysis
                .target_resource
                .as_ref()
                .and_then(|t| t.namespace.clone())
                .unwrap_or_else(|| "default".to_string())
        }),
        execution: args.execution.clone(),
        ..PlanContext::default()
    };
    let planned = plan(&template, &analysis, &spec, &ctx).map_err(|e| plan_error(&template, &e))?;
    // What is printed never shows a credential; a real run seals them instead.
    let planned = planned.redacted();
    match args.format {
        PlanFormat::Table => Ok(table(&planned)),
        PlanFormat::Json => serde_json::to_string_pretty(&planned)
            .map(|s| s + "\n")
            .map_err(|e| Stop::Usage(e.to_string())),
        PlanFormat::Yaml => {
            serde_saphyr::to_string(&planned).map_err(|e| Stop::Usage(e.to_string()))
        }
    }
}

/// `--set NAME=VALUE`, each value read as a YAML scalar (`2.0` a float, `web` a string).
fn parse_sets(sets: &[String]) -> Result<JsonMap, String> {
    let mut out = JsonMap::new();
    for set in sets {
        let Some((name, text)) = set.split_once('=') else {
            return Err(format!("--set {set}: expected NAME=VALUE"));
        };
        let value: Value = if text.trim().is_empty() {
            Value::String(String::new())
        } else {
            serde_saphyr::from_str(text).map_err(|e| format!("--set {name}: {e}"))?
        };
        out.insert(name.trim().to_string(), value);
    }
    Ok(out)
}

/// An AIAnalysis object (its `status`) or a bare status, read strictly: a field the
/// contract does not have is a typo to report, not an empty status to plan with.
fn read_analysis(path: &Path) -> Result<AIAnalysisStatus, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: Value =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let positions = Positions::of(&text);
    let fail = |field: &str, key: bool, message: &str| {
        let at = if key {
            positions.key(&segments(field))
        } else {
            positions.value(&segments(field))
        };
        match at {
            Some(p) => format!(
                "{}:{}:{}: {field}: {message}\n{}",
                path.display(),
                p.line,
                p.column,
                excerpt(&text, p)
            ),
            None => format!("{}: {field}: {message}", path.display()),
        }
    };
    let Some(map) = value.as_object() else {
        return Err(format!(
            "{}: expected an AIAnalysis or its status (a map)",
            path.display()
        ));
    };
    const OBJECT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
    let is_object = map.contains_key("kind") || map.contains_key("apiVersion");
    let (status, prefix) = if is_object {
        match map.get("kind").and_then(Value::as_str) {
            Some("AIAnalysis") => {}
            Some(other) => {
                return Err(fail(
                    "kind",
                    false,
                    &format!("`{other}` is not an AIAnalysis"),
                ));
            }
            None => {
                return Err(fail(
                    "apiVersion",
                    true,
                    "an object needs `kind: AIAnalysis` (or give the status alone)",
                ));
            }
        }
        let api_version = <crate::api::AIAnalysis as kube::Resource>::api_version(&());
        if let Some(v) = map.get("apiVersion")
            && v.as_str() != Some(api_version.as_ref())
        {
            return Err(fail(
                "apiVersion",
                false,
                &format!("an AIAnalysis is {api_version}"),
            ));
        }
        if let Some(key) = map.keys().find(|k| !OBJECT_FIELDS.contains(&k.as_str())) {
            return Err(fail(
                key,
                true,
                &format!(
                    "unknown field `{key}`: an AIAnalysis has {}",
                    OBJECT_FIELDS.join(", ")
                ),
            ));
        }
        let Some(status) = map.get("status") else {
            return Err(fail(
                "kind",
                true,
                "the AIAnalysis has no status: its status is what a run plans from",
            ));
        };
        (status.clone(), "status.")
    } else {
        if let Some(key) = map
            .keys()
            .find(|k| matches!(k.as_str(), "metadata" | "spec" | "status"))
        {
            return Err(fail(
                key,
                true,
                "this looks like an AIAnalysis object: add `apiVersion: \
                 aianalysis.kubernaut.io/v1alpha1` and `kind: AIAnalysis`, or give the status alone",
            ));
        }
        (value.clone(), "")
    };
    let status: AIAnalysisStatus = strict::read(&status).map_err(|p| {
        let field = format!("{prefix}{}", p.path);
        let field = field.trim_end_matches('.');
        let field = if field.is_empty() { "status" } else { field };
        // `statuss:` in a bare status is a misspelt object field, not a status field.
        let object_field = (!is_object && !p.path.contains(['.', '[']))
            .then(|| crate::catalog::actions::closest(&p.path, OBJECT_FIELDS.iter().copied()))
            .flatten();
        let message = match object_field {
            Some(c) => format!(
                "unknown field `{}`: did you mean `{c}`? (an AIAnalysis object also needs \
                 `apiVersion: aianalysis.kubernaut.io/v1alpha1` and `kind: AIAnalysis`)",
                p.path
            ),
            None => p.message,
        };
        fail(field, message.starts_with("unknown field"), &message)
    })?;
    if let Some(phase) = status.phase
        && phase != crate::api::AnalysisPhase::Completed
    {
        eprintln!("note: the analysis is {phase:?}, not Completed; a real run would wait for it");
    }
    Ok(status)
}

/// A `.wf` path as given, or `NAME[@VERSION]` from the template catalog of `dir` (newest
/// release when no version is given); both through the loader, checked.
fn find_template(reference: &str, dir: &Path) -> Result<Arc<Template>, Stop> {
    let as_path = Path::new(reference);
    if reference.ends_with(".wf") || as_path.is_file() {
        if !as_path.exists() {
            return Err(Stop::Usage(format!("{reference}: no such file")));
        }
        return Template::load(as_path)
            .map(Arc::new)
            .map_err(|e| template_error(&e));
    }
    if !dir.is_dir() {
        return Err(Stop::Usage(format!(
            "{}: no such templates directory (use --templates DIR)",
            dir.display()
        )));
    }
    let (catalog, problems) = TemplateCatalog::load_dir_lenient(dir);
    catalog.resolve(reference).cloned().map_err(|e| {
        let reason = crate::api::FailureReason::TemplateNotFound.as_str();
        let mut message = format!("error[{reason}]: {e} in {}\n", dir.display());
        for p in &problems {
            let _ = writeln!(message, "  note: not loaded: {p}");
        }
        Stop::Failed(message)
    })
}

fn template_error(e: &TemplateError) -> Stop {
    match (e, e.diagnostics()) {
        (TemplateError::File(crate::files::FileError::Io { .. }), _) => Stop::Usage(e.to_string()),
        (_, Some((source, diagnostics))) => Stop::Failed(human(&FileReport {
            source: source.clone(),
            diagnostics: diagnostics.to_vec(),
        })),
        (_, None) => Stop::Failed(format!("error: {e}\n")),
    }
}

fn plan_error(template: &Template, e: &PlanError) -> Stop {
    let reason = e.reason().as_str();
    match e.span() {
        Some(span) => {
            let d = Diagnostic::error(reason, e.to_string(), span)
                .with_help("planning stops here; fix the template or the values it reads");
            Stop::Failed(human(&FileReport {
                source: template.source.clone(),
                diagnostics: vec![d],
            }))
        }
        None => Stop::Failed(format!(
            "error[{reason}]: {e}\n  = planning {} {} stops here\n",
            template.name(),
            template.version()
        )),
    }
}

/// The plan for people: the run's settings, the params, then every step.
pub fn table(p: &ExecutionPlan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "workflow {} {}  {}", p.workflow, p.version, p.digest);
    let _ = writeln!(
        out,
        "timeout {} · max_parallel {} · rollback {} · approval {} · dry run {}{}",
        format_millis(p.timeout_ms),
        p.max_parallel,
        p.rollback.as_str(),
        if p.approval_required {
            "required"
        } else {
            "not required"
        },
        if p.dry_run { "yes" } else { "no" },
        p.verify_within_ms
            .map(|ms| format!(" · verify within {}", format_millis(ms)))
            .unwrap_or_default()
    );
    out.push_str("\nparams\n");
    if p.parameters.is_empty() {
        out.push_str("  (none)\n");
    }
    let width = p.parameters.keys().map(String::len).max().unwrap_or(0);
    for (name, value) in &p.parameters {
        let _ = writeln!(out, "  {name:width$}  {value}");
    }
    out.push_str("\nsteps\n");
    for (i, s) in p.steps.iter().enumerate() {
        let stage = match s.stage {
            crate::plan::StepStage::Main => "",
            crate::plan::StepStage::Verify => "verify ",
            crate::plan::StepStage::Finally => "finally ",
        };
        let after = if s.depends_on.is_empty() {
            String::new()
        } else {
            format!("  after {}", s.depends_on.join(", "))
        };
        let _ = writeln!(
            out,
            "  {}. {stage}{}  {} ({}){after}",
            i + 1,
            s.name,
            s.action.action_type,
            s.effect.as_str()
        );
        action_lines(&mut out, &s.action, "       ");
        if let Some(when) = &s.when {
            let _ = writeln!(out, "       when {when}  (at run time)");
        }
        // A finally step's failure changes no outcome, whatever its policy says.
        if s.stage != crate::plan::StepStage::Finally {
            let _ = writeln!(out, "       on_failure {}", s.on_failure.as_str());
        }
        if let Some(rb) = &s.rollback {
            let _ = writeln!(out, "       rollback {}", rb.action_type);
            action_lines(&mut out, rb, "         ");
        }
    }
    out
}

fn action_lines(out: &mut String, a: &PlannedAction, indent: &str) {
    let retry = &a.retry;
    let retry = if retry.retries == 0 {
        "no retry".to_string()
    } else {
        format!(
            "retry {} backoff {} max {}",
            retry.retries,
            format_millis(retry.backoff_ms),
            format_millis(retry.max_backoff_ms)
        )
    };
    let _ = writeln!(
        out,
        "{indent}timeout {} · {retry}",
        format_millis(a.timeout_ms)
    );
    let width = a.with.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in &a.with {
        let shown = match value {
            PlannedValue::Value(v) => v.to_string(),
            PlannedValue::Deferred(src) => format!("${{ {src} }}  (at run time)"),
        };
        let _ = writeln!(out, "{indent}with {key:width$} = {shown}");
    }
}
