//! `remedy stop RUN [--rollback] [--reason …]`: asks a run to stop (sets `spec.stop`). The
//! operator's engine honours it: see docs/engine.md, "Stopping a run".

use std::process::ExitCode;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::cluster::{self, ClusterArgs, Failure, OutputFormat};
use crate::api::{StepPhase, StopMode, WorkflowPhase};

/// Arguments of `remedy stop`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The run (a WorkflowExecution's name).
    pub run: String,
    /// Undo the completed steps as the run's rollback policy says (default: halt, undo
    /// nothing).
    #[arg(long)]
    rollback: bool,
    /// Why, for the people who read the run.
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// `name` prints only the run's name.
    #[arg(short = 'o', long, value_enum)]
    output: Option<OutputFormat>,
}

/// Asks one run to stop.
pub fn run(args: &StopArgs) -> ExitCode {
    cluster::block_on(stop(args))
}

async fn stop(args: &StopArgs) -> Result<(), Failure> {
    if args.reason.len() > 1024 {
        return Err(Failure::Usage(
            "error: --reason is longer than 1024 bytes".to_string(),
        ));
    }
    let conn = args.cluster.connect().await?;
    let run = conn.run(&args.run).await?;
    let status = run.status.clone().unwrap_or_default();
    if status.phase.is_some_and(WorkflowPhase::is_terminal) {
        return Err(cluster::not_running(&run, "there is nothing to stop"));
    }
    let mode = if args.rollback {
        StopMode::Rollback
    } else {
        StopMode::Halt
    };
    let name = cluster::object_name(&args.run);
    let current = status
        .stop
        .as_ref()
        .map(|s| s.mode)
        .or(run.spec.stop.as_ref().map(|s| s.mode));
    match (current, mode) {
        (Some(StopMode::Rollback), _) | (Some(StopMode::Halt), StopMode::Halt) => {
            let current = current.map_or("halt", StopMode::as_str);
            println!("{name} is already stopping ({current})");
            return Ok(());
        }
        (Some(StopMode::Halt), StopMode::Rollback) if finally_started(&status) => {
            return Err(Failure::Refused(format!(
                "error: {} \"{}\" is already halting and its finally steps have started: \
                 too late to roll back (compensations run before finally)",
                cluster::RESOURCE,
                args.run
            )));
        }
        _ => {}
    }
    let patch = json!({ "spec": { "stop": {
        "mode": mode.as_str(), "reason": args.reason, "requestedBy": conn.user } } });
    conn.runs()
        .patch(&args.run, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    if args.output == Some(OutputFormat::Name) {
        println!("{name}");
    } else {
        println!("{name} stop requested ({})", mode.as_str());
    }
    Ok(())
}

/// Whether a finally step of the run has left Pending: the engine then keeps a halt a halt.
fn finally_started(status: &crate::api::WorkflowExecutionStatus) -> bool {
    #[derive(serde::Deserialize)]
    struct Plan {
        steps: Vec<Planned>,
    }
    #[derive(serde::Deserialize)]
    struct Planned {
        name: String,
        stage: crate::plan::StepStage,
    }
    let Some(plan) = status
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str::<Plan>(p).ok())
    else {
        return false;
    };
    plan.steps
        .iter()
        .filter(|s| s.stage == crate::plan::StepStage::Finally)
        .any(|p| {
            status
                .steps
                .iter()
                .any(|s| s.name == p.name && s.phase != StepPhase::Pending)
        })
}
