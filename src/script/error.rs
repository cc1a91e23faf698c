//! The errors of compiling and running scripts, with their position in the script source.

use rhai::{EvalAltResult, ParseError, ParseErrorType, Position};

/// A script that failed to compile or run. Positions are 1-based lines and columns within the
/// expression (or module) source; [`crate::script::position`] maps them into a `.wf` file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The source is not a valid rhai expression or module.
    #[error("invalid expression at line {line}, column {column}: {message}")]
    Syntax {
        /// What is wrong.
        message: String,
        /// 1-based line within the source.
        line: usize,
        /// 1-based column within the source.
        column: usize,
    },
    /// The script failed while running (unknown variable, type error, division by zero…).
    #[error("{message}{}", at(*line, *column))]
    Runtime {
        /// What went wrong.
        message: String,
        /// 1-based line within the source (0 when unknown).
        line: usize,
        /// 1-based column within the source (0 when unknown).
        column: usize,
    },
    /// The script went over one of the sandbox limits (operations, call depth, sizes, time).
    #[error("script over budget: {message}{}", at(*line, *column))]
    OverBudget {
        /// Which limit, and what to do.
        message: String,
        /// 1-based line within the source (0 when unknown).
        line: usize,
        /// 1-based column within the source (0 when unknown).
        column: usize,
    },
    /// The result cannot be represented as a value (a function pointer, NaN…).
    #[error("the result cannot be used as a value: {0}")]
    Result(String),
    /// An imported module failed to compile or to load.
    #[error("in module `{alias}`: {error}")]
    Module {
        /// The import alias.
        alias: String,
        /// What failed.
        error: Box<ScriptError>,
    },
}

fn at(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (at line {line}, column {column})")
    }
}

impl ScriptError {
    /// The 1-based line and column in the script source, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ScriptError::Syntax { line, column, .. }
            | ScriptError::Runtime { line, column, .. }
            | ScriptError::OverBudget { line, column, .. }
                if *line > 0 =>
            {
                Some((*line, *column))
            }
            _ => None,
        }
    }

    /// The message without the position.
    pub fn message(&self) -> String {
        match self {
            ScriptError::Syntax { message, .. } | ScriptError::Runtime { message, .. } => {
                message.clone()
            }
            ScriptError::OverBudget { message, .. } => format!("script over budget: {message}"),
            other => other.to_string(),
        }
    }

    /// True when a sandbox limit stopped the script.
    pub fn is_over_budget(&self) -> bool {
        match self {
            ScriptError::OverBudget { .. } => true,
            ScriptError::Module { error, .. } => error.is_over_budget(),
            _ => false,
        }
    }

    /// Convert a rhai compile error.
    pub(crate) fn from_parse(e: &ParseError) -> Self {
        let (line, column) = line_col(e.position());
        let message = match e.err_type() {
            ParseErrorType::ExprTooDeep => {
                "the expression nests too deeply (split it, or move it into a module function)"
                    .to_string()
            }
            ParseErrorType::UnexpectedEOF => {
                "the expression ends too early (a missing operand or closing bracket?)".to_string()
            }
            ParseErrorType::LiteralTooLarge(what, max) => {
                format!("{what} is larger than the limit of {max}")
            }
            other => other.to_string(),
        };
        ScriptError::Syntax {
            message,
            line: line.max(1),
            column: column.max(1),
        }
    }

    /// Convert a rhai run-time error.
    pub(crate) fn from_eval(mut e: EvalAltResult) -> Self {
        let (line, column) = line_col(e.position());
        let inner = e.unwrap_inner();
        let budget = match inner {
            EvalAltResult::ErrorTooManyOperations(_) => {
                Some("too many operations (the script runs too long; simplify it)".to_string())
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                Some("functions call each other too deeply (unbounded recursion?)".to_string())
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => Some(format!(
                "{what} is larger than the limit (the script builds too much data)"
            )),
            EvalAltResult::ErrorTerminated(token, _)
                if token.to_string() == super::limits::MEMORY_LIMIT =>
            {
                Some(
                    "holds more memory than its limit (the script builds too much data)"
                        .to_string(),
                )
            }
            EvalAltResult::ErrorTerminated(..) => {
                Some("ran past its time limit (the script runs too long; simplify it)".to_string())
            }
            EvalAltResult::ErrorTooManyVariables(_) => Some("too many variables".to_string()),
            _ => None,
        };
        if let EvalAltResult::ErrorTooManyModules(_) | EvalAltResult::ErrorModuleNotFound(..) =
            inner
        {
            return ScriptError::Runtime {
                message: "scripts may not `import`: import modules in the .wf file with \
                          `import \"PATH\" as ALIAS`"
                    .to_string(),
                line,
                column,
            };
        }
        if let Some(message) = budget {
            return ScriptError::OverBudget {
                message,
                line,
                column,
            };
        }
        if let EvalAltResult::ErrorParsing(kind, pos) = &e {
            let (line, column) = line_col(*pos);
            return ScriptError::Syntax {
                message: kind.to_string(),
                line: line.max(1),
                column: column.max(1),
            };
        }
        e.clear_position();
        ScriptError::Runtime {
            message: e.to_string(),
            line,
            column,
        }
    }
}

fn line_col(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}
