//! Why planning failed: a typed error per failure reason of the contract, with a message a
//! person can act on.

use crate::api::FailureReason;
use crate::diagnostic::Span;
use crate::param::ParamError;
use crate::script::ScriptError;

/// A run that cannot be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// No template of that name (and version).
    #[error("{0}")]
    TemplateNotFound(String),
    /// A param is missing, mistyped or outside its constraints (or an override names no param).
    #[error("{message}")]
    InvalidParameters {
        /// The param concerned, when there is one.
        param: Option<String>,
        /// What is wrong and where the value came from.
        message: String,
    },
    /// A script failed or ran over its budget.
    #[error("{what}: {}", error.message())]
    ScriptError {
        /// What was being computed, e.g. "let `new_limit`" or "`with.replicas` of step `scale_out`".
        what: String,
        /// The step concerned, when there is one.
        step: Option<String>,
        /// Where in the template, when known.
        span: Option<Span>,
        /// The script's error.
        error: ScriptError,
    },
    /// The plan would be larger than a run's status may hold.
    #[error(
        "the plan is larger than the limit of {limit} bytes (the analysis, the params or the \
         `with` values are too large)"
    )]
    TooLarge {
        /// The limit, in bytes of JSON.
        limit: usize,
    },
}

impl PlanError {
    /// The contract's failure reason for this error.
    pub fn reason(&self) -> FailureReason {
        match self {
            PlanError::TemplateNotFound(_) => FailureReason::TemplateNotFound,
            PlanError::InvalidParameters { .. } | PlanError::TooLarge { .. } => {
                FailureReason::InvalidParameters
            }
            PlanError::ScriptError { .. } => FailureReason::ScriptError,
        }
    }

    /// The step the error belongs to, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            PlanError::ScriptError { step, .. } => step.as_deref(),
            _ => None,
        }
    }

    /// Where in the template, when known.
    pub fn span(&self) -> Option<Span> {
        match self {
            PlanError::ScriptError { span, .. } => *span,
            _ => None,
        }
    }

    pub(crate) fn invalid(param: &str, message: impl Into<String>) -> Self {
        PlanError::InvalidParameters {
            param: Some(param.to_string()),
            message: message.into(),
        }
    }
}

/// Why a run could not be planned, as its status records it: the contract's reason and a
/// message a person can act on. The operator ends a refused run with it; a rehearsal expects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFailure {
    /// TemplateNotFound, InvalidParameters, ScriptError, SafetyViolation, …
    pub reason: FailureReason,
    /// What is wrong.
    pub message: String,
}

impl From<PlanError> for PlanFailure {
    fn from(e: PlanError) -> Self {
        PlanFailure {
            reason: e.reason(),
            message: e.to_string(),
        }
    }
}

impl From<ParamError> for PlanError {
    fn from(e: ParamError) -> Self {
        PlanError::InvalidParameters {
            param: Some(e.param),
            message: e.message,
        }
    }
}
