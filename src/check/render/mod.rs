//! Renderers of diagnostics: human text with source excerpts, JSON, and SARIF 2.1.0.

mod human;
mod json;
mod sarif;

pub use human::{human, human_colored};
pub use json::json;
pub use sarif::sarif;

use crate::check::diagnostic::Diagnostic;
use crate::dsl::span::SourceFile;

/// The syntax error codes the parser produces: code, name, what it means.
pub const SYNTAX_CODES: &[(&str, &str, &str)] = &[
    (
        "E0001",
        "syntax_error",
        "the text does not follow the grammar; the message says what was expected",
    ),
    ("E0002", "invalid_utf8", "the file is not valid UTF-8"),
    (
        "E0003",
        "nesting_too_deep",
        "blocks, lists, maps or expressions are nested too deeply",
    ),
    (
        "E0004",
        "invalid_literal",
        "a number or duration literal is malformed or out of range",
    ),
];

/// One checked file: its source and its diagnostics.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file, with the path shown to readers.
    pub source: SourceFile,
    /// What was found, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// A 1-based line/column range of a span, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First line.
    pub line: usize,
    /// First column (characters).
    pub column: usize,
    /// Last line.
    pub end_line: usize,
    /// Column just past the end.
    pub end_column: usize,
}

/// The line/column range of `span` in `source`.
pub fn region(source: &SourceFile, span: crate::dsl::span::Span) -> Region {
    let start = source.line_col(span.start);
    let end = source.line_col(span.end.max(span.start));
    Region {
        line: start.line,
        column: start.col,
        end_line: end.line,
        end_column: end.col,
    }
}

/// The path as shown in reports, with `/` separators.
pub fn display_path(source: &SourceFile) -> String {
    source.path().to_string_lossy().replace('\\', "/")
}
