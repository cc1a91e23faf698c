//! Renderers of diagnostics: human text with source excerpts, JSON, and SARIF 2.1.0.

mod human;
mod json;
mod sarif;

pub use human::{human, human_colored};
pub use json::json;
pub use sarif::sarif;

use std::borrow::Cow;

use crate::diagnostic::Diagnostic;
use crate::diagnostic::SourceFile;

/// `text` safe to show on a terminal, one character for one so that columns stay aligned: a
/// tab becomes a space, the other C0 controls (ESC, NUL, newline…) and DEL their Unicode
/// control pictures (`␛`, `␀`, `␊`…), and C1 controls and the invisible direction marks and
/// overrides (which reorder what a reader sees) `�`. Text from a file or a cluster goes
/// through it before it is printed, so that it can neither drive the terminal nor hide
/// what it says.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\t' => ' ',
                '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
                '\u{7f}' => '\u{2421}',
                c if needs_escape(c) => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
}

/// [`visible`] line by line: the line breaks of a multi-line text are kept.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && needs_escape(c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.split('\n').map(visible).collect::<Vec<_>>().join("\n"))
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

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
pub fn region(source: &SourceFile, span: crate::diagnostic::Span) -> Region {
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

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn control_characters_become_visible_one_for_one() {
        assert_eq!(visible("plain é ✓"), "plain é ✓");
        let hostile = "a\u{1b}[2Jb\0c\td\u{7f}e\u{9b}f\u{202e}g\nh";
        let shown = visible(hostile);
        assert_eq!(
            shown,
            "a\u{241b}[2Jb\u{2400}c d\u{2421}e\u{fffd}f\u{fffd}g\u{240a}h"
        );
        assert_eq!(shown.chars().count(), hostile.chars().count());
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(super::visible_lines("a\u{1b}\nb\n"), "a\u{241b}\nb\n");
    }
}
