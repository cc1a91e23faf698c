//! `remedy graph FILE [--format dot|mermaid|text]`: print a workflow's step graph.
//!
//! Exit codes: 0 printed; 1 the file does not parse; 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::dsl::parse_bytes;
use crate::files::{self, MAX_FILE_BYTES};
use crate::graph::StepGraph;

use super::fmt::plain_diagnostic;

/// Arguments of `remedy graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The `.wf` file.
    pub file: PathBuf,
    /// How to print the graph.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

/// The output forms of `remedy graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// One line per step: phase, name, what it waits for.
    Text,
}

/// Run `remedy graph`.
pub fn run(args: &GraphArgs) -> ExitCode {
    let dir = files::parent_dir(&args.file);
    let bytes = match files::read_inside(dir, &args.file, MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let file = match parse_bytes(&bytes) {
        Ok(f) => f,
        Err(d) => {
            let text = String::from_utf8_lossy(&bytes);
            eprintln!("{}", plain_diagnostic(&args.file, &text, &d));
            return ExitCode::from(1);
        }
    };
    let graph = StepGraph::build(&file.workflow);
    let out = match args.format {
        GraphFormat::Dot => graph.to_dot(),
        GraphFormat::Mermaid => graph.to_mermaid(),
        GraphFormat::Text => graph.to_text(),
    };
    print!("{out}");
    ExitCode::SUCCESS
}
