//! The rehearsal format (`NAME.rehearsal.yaml`), its loading and discovery.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::api::{FailureReason, JsonMap, Outcome, StepPhase, StopMode, WorkflowPhase};
use crate::files::{self, FileError, MAX_FILE_BYTES};

/// The suffix that marks a rehearsal file.
pub const SUFFIX: &str = ".rehearsal.yaml";

/// A rehearsal file: the template it tests and its cases.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearsalFile {
    /// The template, relative to the rehearsal file.
    pub workflow: String,
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One case: inputs, scripted outcomes and expectations.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows, in words.
    pub name: String,
    /// The AIAnalysis status (taken as Completed).
    #[serde(default)]
    pub analysis: JsonMap,
    /// WorkflowExecution param overrides.
    #[serde(default)]
    pub parameters: JsonMap,
    /// Per execution (`step`, `rollback:step`, `verify:step`, `finally:step`), one entry per
    /// attempt; attempts not listed succeed after 1s with an empty output.
    #[serde(default)]
    pub outcomes: BTreeMap<String, Vec<AttemptOutcome>>,
    /// Whether an approval-gated run is approved (default true).
    #[serde(default = "yes")]
    pub approved: bool,
    /// Run as a dry run.
    #[serde(default)]
    pub dry_run: bool,
    /// A stop requested at a moment of the run.
    #[serde(default)]
    pub stop: Option<CaseStop>,
    /// Intervals while Remedy is paused.
    #[serde(default)]
    pub pauses: Vec<CasePause>,
    /// What must have happened.
    #[serde(default)]
    pub expect: Expect,
}

fn yes() -> bool {
    true
}

/// A stop request in a case: when (virtual time since the run was validated), how, why.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseStop {
    /// When the request is made, as a duration since the start (`0s`, `2500ms`, `1m`).
    pub at: String,
    /// `halt` (default) or `rollback`.
    #[serde(default)]
    pub mode: StopMode,
    /// The reason given.
    #[serde(default)]
    pub reason: String,
    /// Who asks.
    #[serde(default)]
    pub requested_by: String,
}

/// An interval of a case while Remedy is paused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasePause {
    /// When the pause starts, as a duration since the start.
    pub from: String,
    /// When it ends (resume), as a duration since the start.
    pub until: String,
}

/// The scripted outcome of one attempt.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptOutcome {
    /// Whether the action succeeds (default true).
    pub success: Option<bool>,
    /// What it returns.
    pub output: Option<JsonMap>,
    /// Its error message.
    pub error: Option<String>,
    /// How long it runs (default 1s).
    pub duration: Option<String>,
    /// True: the attempt runs past its timeout.
    pub timeout: Option<bool>,
}

/// What a case expects; every field is optional, `parameters` and `steps` are subsets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The final phase.
    pub phase: Option<WorkflowPhase>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// Every execution in the order it started, once per attempt.
    pub sequence: Option<Vec<String>>,
    /// Some resolved params and lets.
    pub parameters: Option<JsonMap>,
    /// Some steps' final phases.
    pub steps: Option<BTreeMap<String, StepPhase>>,
    /// The failure reason.
    pub failure_reason: Option<FailureReason>,
}

/// A rehearsal that cannot run: unreadable, malformed, or naming what the template lacks.
#[derive(Debug, thiserror::Error)]
pub enum RehearsalError {
    /// The file cannot be read (or is refused: see [`crate::files`]).
    #[error(transparent)]
    Read(#[from] FileError),
    /// The YAML does not match the rehearsal format.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its place.
        message: String,
    },
    /// A case names an execution or step the template does not have, or a bad duration.
    #[error("{path}: case `{case}`: {message}")]
    Case {
        /// The file.
        path: PathBuf,
        /// The case.
        case: String,
        /// What is wrong.
        message: String,
    },
    /// The template cannot be loaded or compiled.
    #[error("{path}: {message}")]
    Template {
        /// The template file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Parse a rehearsal file's text; `path` is for messages.
pub fn parse(text: &str, path: &Path) -> Result<RehearsalFile, RehearsalError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let message = e.to_string();
        RehearsalError::Format {
            path: path.to_path_buf(),
            message: message
                .strip_prefix("error: ")
                .unwrap_or(&message)
                .replace("<input>", &path.display().to_string()),
        }
    })
}

/// Read and parse a rehearsal file (a regular file within the size limit).
pub fn load(path: &Path) -> Result<RehearsalFile, RehearsalError> {
    let text = files::read_text(path, MAX_FILE_BYTES)?;
    parse(&text, path)
}

/// Every `*.rehearsal.yaml` under `paths` (files are taken as given), sorted per directory;
/// directories are walked as the loader walks them (no hidden entries, no symlink loops).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, RehearsalError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| FileError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut walk = files::walk(path, &|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(SUFFIX))
            });
            if !walk.errors.is_empty() {
                return Err(walk.errors.remove(0).into());
            }
            out.extend(walk.files);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}
