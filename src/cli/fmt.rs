//! `remedy fmt [--check] PATH…`: rewrite `.wf` files in the canonical layout.
//!
//! Exit codes: 0 all formatted (or, with `--check`, nothing to change); 1 with `--check` some
//! file would change, or some file does not parse (it is reported and left untouched);
//! 2 usage or I/O error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::check::render::visible;
use crate::diagnostic::Diagnostic;
use crate::diagnostic::SourceFile;
use crate::dsl::{format, parse_bytes};
use crate::files::{self, FileError, MAX_FILE_BYTES};

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
        for e in collect(path, &mut files) {
            eprintln!("error: {e}");
            io_error = true;
        }
    }
    let mut failed = false;
    for (root, file) in &files {
        match format_file(root, file, args.check) {
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
                eprintln!("error: {e}");
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

/// Format `path`, read from inside `root` as the loader reads templates (a regular file
/// within the size limit, whose real path stays inside).
fn format_file(root: &Path, path: &Path, check: bool) -> Result<Outcome, FileError> {
    let bytes = files::read_inside(root, path, MAX_FILE_BYTES)?;
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
        std::fs::write(path, formatted).map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(Outcome::Changed)
}

/// `path` itself (in its own directory) if it is a file, else every `*.wf` under it (see
/// [`files::walk`]: no hidden entries, no symlink loops), each with the directory it must
/// stay in; and what could not be walked.
fn collect(path: &Path, out: &mut Vec<(PathBuf, PathBuf)>) -> Vec<FileError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let walk = files::walk(path, &|p| files::has_extension(p, "wf"));
            out.extend(walk.files.into_iter().map(|f| (path.to_path_buf(), f)));
            walk.errors
        }
        Ok(_) => {
            let dir = files::parent_dir(path).to_path_buf();
            out.push((dir, path.to_path_buf()));
            Vec::new()
        }
        Err(source) => vec![FileError::Io {
            path: path.to_path_buf(),
            source,
        }],
    }
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
