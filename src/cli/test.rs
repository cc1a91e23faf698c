//! `remedy test [PATH…]`: run the rehearsals (`*.rehearsal.yaml`) found in the given files and
//! directories (default `workflows/`), one line per case, a diff for each failure.
//!
//! Exit codes: 0 every case passed; 1 a case failed; 2 usage, read or parse error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::check::render::{visible, visible_lines};
use crate::rehearse::{discover, run_file};

/// Arguments of `remedy test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Rehearsal files, or directories searched for `*.rehearsal.yaml` (default `workflows/`).
    pub paths: Vec<PathBuf>,
}

/// Run `remedy test`.
pub fn run(args: &TestArgs) -> ExitCode {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("workflows")]
    } else {
        args.paths.clone()
    };
    let files = match discover(&paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if files.is_empty() {
        eprintln!("error: no *.rehearsal.yaml found in {}", show_paths(&paths));
        return ExitCode::from(2);
    }
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    for file in files {
        match run_file(&file) {
            Ok(report) => {
                for case in &report.cases {
                    if case.passed() {
                        passed += 1;
                        println!("ok   {}: {}", report.workflow, visible(&case.name));
                    } else {
                        failed += 1;
                        println!("FAIL {}: {}", report.workflow, visible(&case.name));
                        print!("{}", visible_lines(&case.render_diff()));
                    }
                }
            }
            Err(e) => {
                broken += 1;
                eprintln!("error: {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if broken > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
