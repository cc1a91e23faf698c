//! `remedy approve RUN`: releases a run that waits for approval (sets `spec.approved`).

use std::process::ExitCode;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::cluster::{self, ClusterArgs, Failure, OutputFormat};
use crate::api::WorkflowPhase;

/// Arguments of `remedy approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The run (a WorkflowExecution's name).
    pub run: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// `name` prints only the run's name.
    #[arg(short = 'o', long, value_enum)]
    output: Option<OutputFormat>,
}

/// Approves one run.
pub fn run(args: &ApproveArgs) -> ExitCode {
    cluster::block_on(approve(args))
}

async fn approve(args: &ApproveArgs) -> Result<(), Failure> {
    let conn = args.cluster.connect().await?;
    let run = conn.run(&args.run).await?;
    let phase = run.status.as_ref().and_then(|s| s.phase);
    if phase.is_some_and(WorkflowPhase::is_terminal) {
        return Err(cluster::not_running(&run, "there is nothing to approve"));
    }
    let name = cluster::object_name(&args.run);
    if run.spec.approved {
        println!("{name} already approved");
        return Ok(());
    }
    let patch = json!({ "spec": { "approved": true } });
    conn.runs()
        .patch(&args.run, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    if args.output == Some(OutputFormat::Name) {
        println!("{name}");
    } else if phase == Some(WorkflowPhase::AwaitingApproval) {
        println!("{name} approved");
    } else {
        let phase = phase.map_or("Pending", WorkflowPhase::as_str);
        println!(
            "{name} approved (phase {phase}: it starts without waiting if it asks for approval)"
        );
    }
    Ok(())
}
