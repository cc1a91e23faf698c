//! `remedy fmt [--check] PATH…`: rewrite `.wf` files in the canonical layout.
//!
//! Exit codes: 0 all formatted (or, with `--check`, nothing to change); 1 with `--check` some
//! file would change, or some file does not parse (it is reported and left untouched);
//! 2 usage or I/O error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::check::Diagnostic;
use crate::check::render::visible;
use crate::dsl::span::SourceFile;
use crate::dsl::{format, parse_bytes};

/// Arguments of `remedy fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Change nothing: print the files that would change and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
    /// Files or directories (searched recursively for `*.wf`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Run `remedy fmt`.
pub fn run(args: &FmtArgs) -> ExitCode {
    let mut files = Vec::new();
    let mut io_error = false;
    for path in &args.paths {
        if let Err(e) = collect(path, &mut files) {
            eprintln!("{}: {e}", path.display());
            io_error = true;
        }
    }
    let mut failed = false;
    for file in &files {
        match format_file(file, args.check) {
            Ok(Outcome::Unchanged) => {}
            Ok(Outcome::Changed) => {
                if args.check {
                    println!("{}", file.display());
                    failed = true;
                }
            }
            Ok(Outcome::Invalid(text, d)) => {
                eprintln!("{}", plain_diagnostic(file, &text, &d));
                failed = true;
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                io_error = true;
            }
        }
    }
    if io_error {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

enum Outcome {
    Unchanged,
    Changed,
    /// The file does not parse: its text (lossy) and the error.
    Invalid(String, Diagnostic),
}

fn format_file(path: &Path, check: bool) -> std::io::Result<Outcome> {
    let bytes = std::fs::read(path)?;
    let file = match parse_bytes(&bytes) {
        Ok(f) => f,
        Err(d) => {
            return Ok(Outcome::Invalid(
                String::from_utf8_lossy(&bytes).into_owned(),
                d,
            ));
        }
    };
    let formatted = format(&file);
    if formatted.as_bytes() == bytes.as_slice() {
        return Ok(Outcome::Unchanged);
    }
    if !check {
        std::fs::write(path, formatted)?;
    }
    Ok(Outcome::Changed)
}

/// `path` itself if it is a file, else every `*.wf` under it, sorted.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !std::fs::metadata(path)?.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "wf") {
            out.push(entry);
        }
    }
    Ok(())
}

/// A diagnostic on one line: `path:line:col: error[CODE]: message`.
pub fn plain_diagnostic(path: &Path, text: &str, d: &Diagnostic) -> String {
    let source = SourceFile::new(path, text);
    let at = source.line_col(d.span.start);
    format!(
        "{}:{}:{}: {}[{}]: {}",
        visible(&path.display().to_string()),
        at.line,
        at.col,
        d.severity.as_str(),
        d.code,
        visible(&d.message)
    )
}
