//! `remedy get RUN`: a run as `remedy run` shows it at the end: what it is, the step tree
//! with every attempt (and compensation), durations and messages, then the rollback, the
//! resources changed and the events.

use std::process::ExitCode;

use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::cluster::{self, ClusterArgs, Connection, Failure, OutputFormat};
use super::progress::first_line;
use crate::api::{
    ExecutionKind, KubernetesExecution, LABEL_KIND, LABEL_WORKFLOW, StepPhase, WorkflowExecution,
};
use crate::plan::StepStage;
use crate::scenario::Summary;

/// Arguments of `remedy get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The run (a WorkflowExecution's name).
    pub run: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Output format: wide (execution names too), json, yaml or name.
    #[arg(short = 'o', long, value_enum)]
    output: Option<OutputFormat>,
}

/// Shows one run.
pub fn run(args: &GetArgs) -> ExitCode {
    cluster::block_on(get(args))
}

async fn get(args: &GetArgs) -> Result<(), Failure> {
    let conn = args.cluster.connect().await?;
    let run = conn.run(&args.run).await?;
    match args.output {
        Some(format @ (OutputFormat::Json | OutputFormat::Yaml)) => {
            cluster::print_structured(&cluster::printable(&run), format)
        }
        Some(OutputFormat::Name) => {
            println!("{}", cluster::object_name(&run.name_any()));
            Ok(())
        }
        wide => {
            let text = view(&conn, &run, wide == Some(OutputFormat::Wide)).await?;
            print!("{text}");
            Ok(())
        }
    }
}

/// The run's executions (owned by it), oldest first.
pub async fn executions(
    conn: &Connection,
    run: &WorkflowExecution,
) -> Result<Vec<KubernetesExecution>, Failure> {
    let ns = run.namespace().unwrap_or_else(|| conn.namespace.clone());
    let api: Api<KubernetesExecution> = Api::namespaced(conn.client.clone(), &ns);
    let lp = ListParams::default().labels(&format!("{LABEL_WORKFLOW}={}", run.name_any()));
    let uid = run.uid().unwrap_or_default();
    let mut items: Vec<KubernetesExecution> = api
        .list(&lp)
        .await?
        .items
        .into_iter()
        .filter(|k| k.owner_references().iter().any(|o| o.uid == uid))
        .collect();
    items.sort_by_key(|k| {
        (
            k.metadata.creation_timestamp.as_ref().map(|t| t.0),
            k.resource_version().and_then(|v| v.parse::<u64>().ok()),
        )
    });
    Ok(items)
}

/// The events about the run and its executions (readable or not: an empty list then).
async fn events(conn: &Connection, run: &WorkflowExecution, names: &[String]) -> Vec<Event> {
    let ns = run.namespace().unwrap_or_else(|| conn.namespace.clone());
    let api: Api<Event> = Api::namespaced(conn.client.clone(), &ns);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return Vec::new();
    };
    let me = run.name_any();
    list.items
        .into_iter()
        .filter(|e| {
            let name = e.involved_object.name.as_deref().unwrap_or_default();
            name == me || names.iter().any(|n| n == name)
        })
        .collect()
}

/// The whole view of a run, as text.
pub async fn view(
    conn: &Connection,
    run: &WorkflowExecution,
    wide: bool,
) -> Result<String, Failure> {
    let kexes = executions(conn, run).await?;
    let names: Vec<String> = kexes.iter().map(ResourceExt::name_any).collect();
    let evs = events(conn, run, &names).await;
    Ok(render(run, &kexes, evs, wide))
}

/// Renders the view from the objects.
pub fn render(
    run: &WorkflowExecution,
    kexes: &[KubernetesExecution],
    events: Vec<Event>,
    wide: bool,
) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let status = run.status.clone().unwrap_or_default();
    let ns = run.namespace().unwrap_or_default();
    let _ = writeln!(o, "Run {ns}/{}", run.name_any());
    // Values come from the cluster (reasons, names, messages): control characters are shown,
    // not sent to the terminal.
    let mut field = |k: &str, v: String| {
        let _ = writeln!(o, "  {k:<10} {}", crate::check::render::visible(&v));
    };
    if let Some(w) = &status.workflow {
        field(
            "Workflow:",
            format!("{}@{} ({})", w.name, w.version, w.digest),
        );
    }
    let analysis = &run.spec.ai_analysis_ref;
    field(
        "Analysis:",
        format!(
            "{}/{}",
            analysis.namespace.as_deref().unwrap_or(&ns),
            analysis.name
        ),
    );
    if let Some(target) = super::list::target(run) {
        field("Target:", target);
    }
    field(
        "Phase:",
        format!(
            "{}{}",
            status.phase.map_or("Pending", |p| p.as_str()),
            status
                .outcome
                .map(|o| format!(" (outcome {})", o.as_str()))
                .unwrap_or_default()
        ),
    );
    if let Some(started) = &status.started_at {
        let end = status
            .completed_at
            .as_ref()
            .map_or_else(jiff::Timestamp::now, |t| t.0);
        let took = end.duration_since(started.0).as_secs_f64();
        field("Started:", format!("{} ({took:.0}s)", started.0));
    }
    if let Some(stop) = &status.stop {
        field("Stop:", crate::engine::describe_stop(stop));
    } else if let Some(asked) = &run.spec.stop {
        field(
            "Stop:",
            format!("{} asked, not yet taken up", asked.mode.as_str()),
        );
    }
    if run.metadata.deletion_timestamp.is_some() {
        field(
            "Deleting:",
            "the run stays until it has stopped (finalizer)".to_string(),
        );
    }
    if let Some(f) = &status.failure {
        let step = f
            .step
            .as_ref()
            .map(|s| format!(" at step {s}"))
            .unwrap_or_default();
        field(
            "Failure:",
            format!(
                "{}{step}: {}",
                f.reason.as_str(),
                first_line(&f.message, 100)
            ),
        );
    }
    if let Some(r) = &run.spec.retry_of {
        field("Retry of:", r.name.clone());
    }
    for c in &status.conditions {
        if matches!(
            c.type_.as_str(),
            "Paused" | "TargetBusy" | "AnalysisPending"
        ) && c.status == "True"
        {
            field("Waiting:", format!("{}: {}", c.reason, c.message));
        }
    }
    o.push_str(&step_tree(run, kexes, wide));
    let mut summary = Summary::default();
    summary.fill_executions(kexes.to_vec());
    summary.fill_events(events);
    super::run::render_sections(&mut o, &summary);
    o
}

/// Each step with its phase, attempts and message, and under it every attempt and
/// compensation it ran; verify and finally steps under their own headings.
fn step_tree(run: &WorkflowExecution, kexes: &[KubernetesExecution], wide: bool) -> String {
    use std::fmt::Write as _;
    #[derive(serde::Deserialize)]
    struct Plan {
        steps: Vec<Planned>,
    }
    #[derive(serde::Deserialize)]
    struct Planned {
        name: String,
        stage: StepStage,
    }
    let status = run.status.clone().unwrap_or_default();
    let stages: Vec<(String, StepStage)> = status
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str::<Plan>(p).ok())
        .map(|p| p.steps.into_iter().map(|s| (s.name, s.stage)).collect())
        .unwrap_or_default();
    let stage_of = |name: &str| {
        stages
            .iter()
            .find(|(n, _)| n == name)
            .map_or(StepStage::Main, |(_, s)| *s)
    };
    let mut o = String::new();
    let _ = writeln!(o, "\nSteps");
    if status.steps.is_empty() {
        let _ = writeln!(o, "  none (not planned)");
        return o;
    }
    let mut last = None;
    for step in &status.steps {
        let stage = stage_of(&step.name);
        if last != Some(stage) && stage != StepStage::Main {
            let heading = match stage {
                StepStage::Verify => "verify",
                _ => "finally",
            };
            let _ = writeln!(o, "  {heading}");
        }
        last = Some(stage);
        let duration = match (&step.started_at, &step.completed_at) {
            (Some(a), Some(b)) => format!("{:.1}s", b.0.duration_since(a.0).as_secs_f64()),
            _ => "-".to_string(),
        };
        let attempts = match step.attempts {
            0 => String::new(),
            1 => "1 attempt".to_string(),
            n => format!("{n} attempts"),
        };
        let mut line = format!(
            "  {} {:<22} {:<18} {:<11} {:>7}",
            mark(step.phase),
            step.name,
            super::progress::name_of(&step.phase),
            attempts,
            duration
        );
        if !step.message.is_empty() {
            line.push_str("  ");
            line.push_str(&first_line(&step.message, 90));
        }
        let _ = writeln!(o, "{}", line.trim_end());
        for kex in kexes.iter().filter(|k| k.spec.step == step.name) {
            let rollback = kex.labels().get(LABEL_KIND).map(String::as_str)
                == Some(ExecutionKind::Rollback.as_str());
            let what = if rollback {
                format!("compensation {}", kex.spec.attempt)
            } else {
                format!("attempt {}", kex.spec.attempt)
            };
            let st = kex.status.clone().unwrap_or_default();
            let took = match (&st.started_at, &st.completed_at) {
                (Some(a), Some(b)) => format!("{:.1}s", b.0.duration_since(a.0).as_secs_f64()),
                _ => "-".to_string(),
            };
            let phase = st
                .phase
                .map_or_else(|| "Pending".to_string(), |p| super::progress::name_of(&p));
            let error = st
                .result
                .as_ref()
                .map(|r| first_line(&r.error, 80))
                .unwrap_or_default();
            let mut line = format!("      {what:<20} {phase:<18} {:<11} {took:>7}", "");
            if wide {
                line.push_str("  ");
                line.push_str(&kex.name_any());
            }
            if !error.is_empty() {
                line.push_str("  ");
                line.push_str(&error);
            }
            let _ = writeln!(o, "{}", line.trim_end());
        }
    }
    o
}

fn mark(phase: StepPhase) -> &'static str {
    match phase {
        StepPhase::Succeeded => "✓",
        StepPhase::Failed | StepPhase::TimedOut | StepPhase::CompensationFailed => "✗",
        StepPhase::Skipped => "–",
        StepPhase::Compensating | StepPhase::Compensated => "↺",
        StepPhase::Pending => " ",
        _ => "…",
    }
}
