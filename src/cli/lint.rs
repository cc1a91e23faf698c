//! `remedy lint PATH…`: check `.wf` files and directories, print diagnostics, exit 0/1/2.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::catalog::actions::closest;
use crate::check::render;
use crate::check::rules::RULES;
use crate::check::{CheckContext, sort};
use crate::diagnostic::SourceFile;
use crate::files::{self, FileError};
use crate::template::loader::{self, Loaded};

/// How `remedy lint` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// Source excerpts with underlines, then a summary line.
    Human,
    /// A JSON array of diagnostics.
    Json,
    /// A SARIF 2.1.0 log (for GitHub code scanning).
    Sarif,
}

/// When `remedy lint` colours its human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// Arguments of `remedy lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// `.wf` files, or directories searched recursively for `*.wf`.
    #[arg(required_unless_present = "explain", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print the documentation of a rule (e.g. `E0101` or `unknown_action`) and exit.
    #[arg(long, value_name = "CODE", conflicts_with = "paths")]
    pub explain: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    pub format: LintFormat,
    /// Colour the human format: auto (when stdout is a terminal and NO_COLOR is unset),
    /// always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// A namespace to protect on top of the built-in ones (repeatable).
    #[arg(long = "protect-namespace", value_name = "NAMESPACE")]
    pub protected_namespaces: Vec<String>,
}

/// Run `remedy lint`: 0 clean (warnings allowed), 1 findings, 2 usage or I/O error.
pub fn run(args: &LintArgs) -> ExitCode {
    if let Some(code) = &args.explain {
        return explain(code);
    }
    let mut io_errors = Vec::new();
    let ctx = CheckContext {
        protected_namespaces: args.protected_namespaces.clone(),
        ..CheckContext::default()
    };
    // Every file through the loader (read inside its directory, regular, bounded), so that
    // lint refuses what the operator refuses.
    let mut loaded: Vec<Loaded> = Vec::new();
    for path in &args.paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let walk = files::walk(path, &|p| files::has_extension(p, "wf"));
                io_errors.extend(walk.errors.iter().map(ToString::to_string));
                let mut found: Vec<Loaded> = walk
                    .files
                    .iter()
                    .map(|file| loader::load_file(path, file, &ctx))
                    .collect();
                // A directory is a template catalog: a name@version declared twice in it is
                // an error in each file, as the operator serves neither.
                loader::mark_duplicates(&mut found);
                loaded.extend(found);
            }
            Ok(_) => {
                let dir = files::parent_dir(path);
                loaded.push(loader::load_file(dir, path, &ctx));
            }
            Err(e) => io_errors.push(format!("cannot read {}: {e}", path.display())),
        }
    }
    let mut reports = Vec::new();
    for l in loaded {
        let mut diagnostics = l.diagnostics;
        match &l.refused {
            Some(e @ FileError::Io { .. }) => {
                io_errors.push(e.to_string());
                continue;
            }
            Some(refused) => diagnostics.push(loader::refused_diagnostic(refused)),
            None => {}
        }
        sort(&mut diagnostics);
        reports.push(render::FileReport {
            source: SourceFile::new(shown(l.source.path()), l.source.text()),
            diagnostics,
        });
    }
    let errors: usize = reports
        .iter()
        .flat_map(|r| &r.diagnostics)
        .filter(|d| d.is_error())
        .count();
    let warnings: usize = reports.iter().map(|r| r.diagnostics.len()).sum::<usize>() - errors;
    let text = match args.format {
        LintFormat::Human => {
            let colored = args.color.enabled();
            let mut s: String = reports
                .iter()
                .map(|r| {
                    if colored {
                        render::human_colored(r)
                    } else {
                        render::human(r)
                    }
                })
                .collect();
            s.push_str(&format!(
                "checked {} {}: {} {}, {} {}\n",
                reports.len(),
                plural(reports.len(), "file"),
                errors,
                plural(errors, "error"),
                warnings,
                plural(warnings, "warning"),
            ));
            s
        }
        LintFormat::Json => pretty(&render::json(&reports)),
        LintFormat::Sarif => pretty(&render::sarif(&reports)),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    if !io_errors.is_empty() {
        let mut stderr = std::io::stderr().lock();
        for e in &io_errors {
            let _ = writeln!(stderr, "error: {}", render::visible(e));
        }
        return ExitCode::from(2);
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Print one rule's documentation: 0, or 2 for an unknown code.
fn explain(code: &str) -> ExitCode {
    let wanted = code.trim();
    let rule = RULES
        .iter()
        .find(|r| r.info.code.eq_ignore_ascii_case(wanted) || r.info.name == wanted);
    match rule {
        Some(r) => {
            let i = &r.info;
            let text = format!(
                "{} {} ({})\n\n{}\n",
                i.code,
                i.name,
                i.severity.as_str(),
                i.doc_text()
            );
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        None => {
            let names = RULES.iter().flat_map(|r| [r.info.code, r.info.name]);
            let hint = match closest(wanted, names) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => "; docs/rules.md lists the rules".to_string(),
            };
            let _ = writeln!(std::io::stderr().lock(), "error: no rule `{wanted}`{hint}");
            ExitCode::from(2)
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| "[]".to_string());
    s.push('\n');
    s
}

/// The path as readers see it: relative to the working directory when it lies below it
/// (SARIF wants repository-relative paths), without a leading `./`.
fn shown(path: &Path) -> PathBuf {
    if path.is_absolute()
        && let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = path.strip_prefix(&cwd)
    {
        return rel.to_path_buf();
    }
    path.strip_prefix(".")
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}
