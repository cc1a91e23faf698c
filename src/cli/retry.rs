//! `remedy retry RUN`: a new run from the same analysis and the same template version as a
//! finished one, linked to it by `spec.retryOf`. It needs its own approval when the workflow
//! asks for one.

use std::process::ExitCode;

use kube::ResourceExt;
use kube::api::{ListParams, PostParams};

use super::cluster::{self, ClusterArgs, Failure, OutputFormat};
use crate::api::ai_analysis::WorkflowRef;
use crate::api::workflow_execution::ObjectRef;
use crate::api::{WorkflowExecution, WorkflowExecutionSpec, WorkflowPhase};

/// The longest name a retry gets: the run's name is a label value (63 characters).
const MAX_NAME: usize = 63;

/// Arguments of `remedy retry`.
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// The finished run to retry (a WorkflowExecution's name).
    pub run: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// `name` prints only the new run's name.
    #[arg(short = 'o', long, value_enum)]
    output: Option<OutputFormat>,
}

/// Creates the retry of one run.
pub fn run(args: &RetryArgs) -> ExitCode {
    cluster::block_on(retry(args))
}

async fn retry(args: &RetryArgs) -> Result<(), Failure> {
    let conn = args.cluster.connect().await?;
    let old = conn.run(&args.run).await?;
    let status = old.status.clone().unwrap_or_default();
    let phase = status.phase.unwrap_or(WorkflowPhase::Pending);
    if !phase.is_terminal() {
        return Err(Failure::Refused(format!(
            "error: {} \"{}\" is still running (phase {}): stop it or let it end before retrying it",
            cluster::RESOURCE,
            args.run,
            phase.as_str()
        )));
    }
    let taken: Vec<String> = conn
        .runs()
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    let name = retry_name(&args.run, &taken);
    let spec = WorkflowExecutionSpec {
        // The template version the old run was pinned to (its workflowRef if never planned).
        workflow_ref: status
            .workflow
            .as_ref()
            .map(|w| WorkflowRef {
                name: w.name.clone(),
                version: Some(w.version.clone()),
            })
            .or_else(|| old.spec.workflow_ref.clone()),
        approved: false,
        stop: None,
        retry_of: Some(ObjectRef {
            name: args.run.clone(),
            namespace: old.namespace(),
        }),
        ..old.spec.clone()
    };
    let mut new = WorkflowExecution::new(&name, spec);
    new.metadata.namespace = old.namespace();
    conn.runs().create(&PostParams::default(), &new).await?;
    let object = cluster::object_name(&name);
    if args.output == Some(OutputFormat::Name) {
        println!("{object}");
    } else {
        println!("{object} created (retry of {})", args.run);
    }
    Ok(())
}

/// `RUN-retry-N` with the first N not taken, the run's name cut so that the whole fits.
fn retry_name(run: &str, taken: &[String]) -> String {
    let base = run.split("-retry-").next().unwrap_or(run);
    for n in 1.. {
        let suffix = format!("-retry-{n}");
        let mut keep = MAX_NAME.saturating_sub(suffix.len()).min(base.len());
        while !base.is_char_boundary(keep) {
            keep -= 1;
        }
        let name = format!("{}{suffix}", base[..keep].trim_end_matches('-'));
        if !taken.contains(&name) {
            return name;
        }
    }
    unreachable!("the retries of a run are finite")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_numbered_from_the_original_and_fit_a_label() {
        assert_eq!(retry_name("web-oom-1", &[]), "web-oom-1-retry-1");
        let taken = vec!["web-oom-1-retry-1".to_string()];
        assert_eq!(retry_name("web-oom-1", &taken), "web-oom-1-retry-2");
        assert_eq!(retry_name("web-oom-1-retry-1", &taken), "web-oom-1-retry-2");
        let long = "a".repeat(80);
        let name = retry_name(&long, &[]);
        assert_eq!(name.len(), MAX_NAME);
        assert!(name.ends_with("-retry-1"));
    }
}
