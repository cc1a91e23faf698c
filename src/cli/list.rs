//! `remedy list`: the runs with phase, outcome, workflow, target, current step and age.

use std::process::ExitCode;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::cluster::{self, ClusterArgs, Connection, Failure, OutputFormat};
use super::table::{self, Layout};
use crate::api::WorkflowExecution;
use crate::operator::pause::{PAUSE_CONFIGMAP, Pause};

/// Arguments of `remedy list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// List the runs of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output format: wide, json, yaml or name.
    #[arg(short = 'o', long, value_enum)]
    output: Option<OutputFormat>,
    /// The namespace of the pause switch (the operator's).
    #[arg(long, env = "REMEDY_OPERATOR_NAMESPACE", default_value = crate::catalog::DEFAULT_OPERATOR_NAMESPACE)]
    operator_namespace: String,
}

/// Lists the runs.
pub fn run(args: &ListArgs) -> ExitCode {
    cluster::block_on(list(args))
}

async fn list(args: &ListArgs) -> Result<(), Failure> {
    let conn = args.cluster.connect().await?;
    let api: Api<WorkflowExecution> = if args.all_namespaces {
        Api::all(conn.client.clone())
    } else {
        conn.runs()
    };
    let mut runs = api.list(&ListParams::default()).await?.items;
    runs.sort_by_key(|a| (a.namespace(), a.name_any()));
    match args.output {
        Some(format @ (OutputFormat::Json | OutputFormat::Yaml)) => {
            let items: Vec<serde_json::Value> = runs.iter().map(cluster::printable).collect();
            let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
            return cluster::print_structured(&list, format);
        }
        Some(OutputFormat::Name) => {
            for run in &runs {
                println!("{}", cluster::object_name(&run.name_any()));
            }
            return Ok(());
        }
        _ => {}
    }
    paused_banner(&conn, &args.operator_namespace).await;
    if runs.is_empty() {
        if args.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", conn.namespace);
        }
        return Ok(());
    }
    let wide = args.output == Some(OutputFormat::Wide);
    let now = jiff::Timestamp::now();
    let mut header = vec![];
    if args.all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend([
        "NAME", "PHASE", "OUTCOME", "WORKFLOW", "TARGET", "STEP", "AGE",
    ]);
    if wide {
        header.extend(["ANALYSIS", "STOP", "RETRY-OF"]);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            let mut row = Vec::new();
            if args.all_namespaces {
                row.push(run.namespace().unwrap_or_default());
            }
            row.extend(columns(run, now));
            if wide {
                row.extend(wide_columns(run));
            }
            row
        })
        .collect();
    let mut out = String::new();
    table::write(&mut out, Layout::KUBECTL, &header, &rows);
    print!("{out}");
    Ok(())
}

/// The standard columns of a run: name, phase, outcome, workflow, target, step, age.
pub fn columns(run: &WorkflowExecution, now: jiff::Timestamp) -> Vec<String> {
    let status = run.status.as_ref();
    let dash = || "-".to_string();
    let workflow = status
        .and_then(|s| s.workflow.as_ref())
        .map(|w| format!("{}@{}", w.name, w.version))
        .unwrap_or_else(dash);
    let age = run
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| cluster::age(now.duration_since(t.0).as_secs()))
        .unwrap_or_else(dash);
    vec![
        run.name_any(),
        status
            .and_then(|s| s.phase)
            .map_or_else(|| "Pending".to_string(), |p| p.as_str().to_string()),
        status
            .and_then(|s| s.outcome)
            .map_or_else(dash, |o| o.as_str().to_string()),
        workflow,
        target(run).unwrap_or_else(dash),
        status
            .and_then(|s| s.current_step.clone())
            .unwrap_or_else(dash),
        age,
    ]
}

fn wide_columns(run: &WorkflowExecution) -> Vec<String> {
    let analysis = &run.spec.ai_analysis_ref;
    let stop = run
        .status
        .as_ref()
        .and_then(|s| s.stop.as_ref())
        .map(|s| {
            if s.requested_by.is_empty() {
                s.mode.as_str().to_string()
            } else {
                format!("{}:{}", s.mode.as_str(), s.requested_by)
            }
        })
        .or_else(|| {
            run.spec
                .stop
                .as_ref()
                .map(|s| format!("{} (asked)", s.mode.as_str()))
        })
        .unwrap_or_else(|| "-".to_string());
    vec![
        match &analysis.namespace {
            Some(ns) => format!("{ns}/{}", analysis.name),
            None => analysis.name.clone(),
        },
        stop,
        run.spec
            .retry_of
            .as_ref()
            .map_or_else(|| "-".to_string(), |r| r.name.clone()),
    ]
}

/// `KIND/NS/NAME` of the run's target, read from its pinned plan.
pub fn target(run: &WorkflowExecution) -> Option<String> {
    let text = run.status.as_ref()?.plan.as_deref()?;
    let t = crate::plan::pinned_target(text)?;
    Some(match t.namespace {
        Some(ns) => format!("{}/{ns}/{}", t.kind, t.name),
        None => format!("{}/{}", t.kind, t.name),
    })
}

/// Says on stderr that Remedy is paused, when it is (and the switch can be read).
async fn paused_banner(conn: &Connection, operator_namespace: &str) {
    let maps: Api<ConfigMap> = Api::namespaced(conn.client.clone(), operator_namespace);
    if let Ok(Some(cm)) = maps.get_opt(PAUSE_CONFIGMAP).await {
        let pause = Pause::from_data(cm.data.as_ref());
        if pause.paused {
            eprintln!("{}\n", crate::check::render::visible(&pause.message()));
        }
    }
}
