//! The `remedy` command line: one file per subcommand. Only this module prints.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod actions;
pub mod approve;
pub mod archive_flags;
pub mod cluster;
pub mod crds;
pub mod fmt;
pub mod get;
pub mod graph;
pub mod history;
pub mod lint;
pub mod list;
pub mod lsp;
pub mod operator;
pub mod pause;
pub mod plan;
pub mod progress;
pub mod retry;
pub mod run;
pub mod serve;
pub mod stop;
pub mod table;
pub mod test;
pub mod watch;

/// Remedy: run Kubernetes remediation workflows safely.
#[derive(Debug, Parser)]
#[command(name = "remedy", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a remediation scenario on the embedded cluster and show it step by step.
    Run(run::RunArgs),
    /// Check `.wf` templates and report problems with their place and a fix.
    Lint(lint::LintArgs),
    /// Rewrite `.wf` files in the canonical layout.
    Fmt(fmt::FmtArgs),
    /// Print a workflow's step graph.
    Graph(graph::GraphArgs),
    /// Resolve a template against an AIAnalysis and print the execution plan.
    Plan(plan::PlanArgs),
    /// Run the rehearsals (`*.rehearsal.yaml`) of templates.
    Test(test::TestArgs),
    /// List the action catalog, or show one action's parameters and effect.
    Actions(actions::ActionsArgs),
    /// Run the controllers against a Kubernetes cluster (kubeconfig or in-cluster).
    Operator(operator::OperatorArgs),
    /// Serve the embedded Kubernetes API server on a loopback port (for kubectl).
    Serve(serve::ServeArgs),
    /// Print the CustomResourceDefinitions (AIAnalysis, WorkflowExecution, KubernetesExecution).
    Crds(crds::CrdsArgs),
    /// List archived runs (by target, workflow, outcome, time), or show one.
    History(history::HistoryArgs),
    /// List the runs of a cluster: phase, outcome, workflow, target, current step, age.
    List(list::ListArgs),
    /// Show a run: its step tree with attempts, rollback, resources changed and events.
    Get(get::GetArgs),
    /// Follow a run live until it ends.
    Watch(watch::WatchArgs),
    /// Release a run that waits for approval.
    Approve(approve::ApproveArgs),
    /// Ask a run to stop: halt (undo nothing) or, with --rollback, undo what it did.
    Stop(stop::StopArgs),
    /// Start a new run from a finished one's analysis and template version.
    Retry(retry::RetryArgs),
    /// Pause all automation: no run leaves Validating, no attempt starts.
    Pause(pause::PauseArgs),
    /// Resume after `remedy pause`.
    Resume(pause::ResumeArgs),
    /// Run the language server for editors on stdin/stdout.
    Lsp(lsp::LspArgs),
}

/// Parse the command line and run it; the exit code follows each subcommand's contract.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Actions(args) => actions::run(&args),
        Command::Operator(args) => operator::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Crds(args) => crds::run(&args),
        Command::History(args) => history::run(&args),
        Command::List(args) => list::run(&args),
        Command::Get(args) => get::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Approve(args) => approve::run(&args),
        Command::Stop(args) => stop::run(&args),
        Command::Retry(args) => retry::run(&args),
        Command::Pause(args) => pause::pause(&args),
        Command::Resume(args) => pause::resume(&args),
        Command::Lsp(args) => lsp::run(&args),
    }
}

/// The runtime of a long-running command ([`crate::runtime::build`]), or exit code 2 with
/// the reason on stderr.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    crate::runtime::build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(2)
    })
}
