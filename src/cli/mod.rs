//! The `remedy` command line: one file per subcommand. Only this module prints.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod crds;
pub mod serve;

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
    /// Print the CustomResourceDefinitions (AIAnalysis, WorkflowExecution, KubernetesExecution).
    Crds(crds::CrdsArgs),
    /// Serve the embedded Kubernetes API server on a loopback port (for kubectl).
    Serve(serve::ServeArgs),
}

/// Parse the command line and run it; the exit code follows each subcommand's contract.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds(args) => crds::run(&args),
        Command::Serve(args) => serve::run(args),
    }
}
