//! The human renderer: `path:line:col: error[CODE]: message`, the source line with the span
//! underlined, labels, and `= help: …`. Plain text by default; [`human_colored`] adds ANSI
//! colour for terminals.

use std::fmt::Write;

use crate::check::render::{FileReport, visible};
use crate::diagnostic::{Diagnostic, Severity};
use crate::diagnostic::{SourceFile, Span};

/// ANSI escapes for the parts of a diagnostic; empty strings for plain text.
struct Style {
    error: &'static str,
    warning: &'static str,
    bold: &'static str,
    gutter: &'static str,
    label: &'static str,
    reset: &'static str,
}

const PLAIN: Style = Style {
    error: "",
    warning: "",
    bold: "",
    gutter: "",
    label: "",
    reset: "",
};

const COLOR: Style = Style {
    error: "\x1b[1;31m",
    warning: "\x1b[1;33m",
    bold: "\x1b[1m",
    gutter: "\x1b[1;34m",
    label: "\x1b[1;36m",
    reset: "\x1b[0m",
};

/// Render every diagnostic of a file as text; an empty string for a clean file.
pub fn human(report: &FileReport) -> String {
    render(report, &PLAIN)
}

/// Like [`human`], with ANSI colours (for a terminal).
pub fn human_colored(report: &FileReport) -> String {
    render(report, &COLOR)
}

fn render(report: &FileReport, style: &Style) -> String {
    let mut out = String::new();
    for d in &report.diagnostics {
        render_one(&report.source, d, style, &mut out);
    }
    out
}

fn render_one(source: &SourceFile, d: &Diagnostic, st: &Style, out: &mut String) {
    let start = source.line_col(d.span.start);
    let sev = match d.severity {
        Severity::Error => st.error,
        Severity::Warning => st.warning,
    };
    let _ = writeln!(
        out,
        "{}{}:{}:{}:{} {sev}{}[{}]{}: {}{}{}",
        st.bold,
        visible(&crate::check::render::display_path(source)),
        start.line,
        start.col,
        st.reset,
        d.severity.as_str(),
        d.code,
        st.reset,
        st.bold,
        visible(&d.message),
        st.reset,
    );
    let mut lines = vec![start.line];
    lines.extend(d.labels.iter().map(|l| source.line_col(l.span.start).line));
    let width = lines.iter().max().map_or(1, |l| l.to_string().len());
    let pad = " ".repeat(width);
    let bar = format!("{}{pad} |{}", st.gutter, st.reset);
    let _ = writeln!(out, "{bar}");
    let primary = Mark {
        ch: '^',
        color: sev,
        message: None,
    };
    snippet(source, d.span, &primary, width, st, out);
    let mut last_line = start.line;
    for label in &d.labels {
        let line = source.line_col(label.span.start).line;
        let mark = Mark {
            ch: '-',
            color: st.label,
            message: Some(&label.message),
        };
        if line == last_line {
            let _ = writeln!(out, "{bar} {}", underline(source, label.span, &mark, st));
        } else {
            let _ = writeln!(out, "{bar}");
            snippet(source, label.span, &mark, width, st, out);
        }
        last_line = line;
    }
    if let Some(help) = &d.help {
        let _ = writeln!(
            out,
            "{}{pad} ={} {}help{}: {}",
            st.gutter,
            st.reset,
            st.bold,
            st.reset,
            visible(help)
        );
    }
    out.push('\n');
}

/// How a span is marked: the character, its colour, and an optional message after it.
struct Mark<'m> {
    ch: char,
    color: &'static str,
    message: Option<&'m str>,
}

/// The source line of `span` and its underline.
fn snippet(
    source: &SourceFile,
    span: Span,
    mark: &Mark<'_>,
    width: usize,
    st: &Style,
    out: &mut String,
) {
    let line = source.line_col(span.start).line;
    let text = display_line(source.line_text(line));
    let _ = writeln!(out, "{}{line:>width$} |{} {text}", st.gutter, st.reset);
    let _ = writeln!(
        out,
        "{}{} |{} {}",
        st.gutter,
        " ".repeat(width),
        st.reset,
        underline(source, span, mark, st)
    );
}

/// The line as shown: tabs as one space so that columns (in characters) line up with the
/// underline, and control characters (a terminal escape, a NUL) as visible symbols.
fn display_line(text: &str) -> String {
    visible(text).into_owned()
}

/// Spaces up to the span's column, then marks under it (to the end of its first line).
fn underline(source: &SourceFile, span: Span, mark: &Mark<'_>, st: &Style) -> String {
    let start = source.line_col(span.start);
    let end = source.line_col(span.end.max(span.start));
    let line_len = source.line_text(start.line).chars().count();
    let end_col = if end.line == start.line {
        end.col
    } else {
        line_len + 1
    };
    let len = end_col.saturating_sub(start.col).max(1);
    let mut s = " ".repeat(start.col.saturating_sub(1));
    s.push_str(mark.color);
    s.extend(std::iter::repeat_n(mark.ch, len));
    if let Some(m) = mark.message {
        s.push(' ');
        s.push_str(&visible(m));
    }
    s.push_str(st.reset);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_header_line_underline_label_and_help() {
        let text = "workflow \"x\" version \"1\" {\n  step a {\n    action \"nope\"\n  }\n}\n";
        let source = SourceFile::new("x.wf", text);
        let start = text.find("\"nope\"").unwrap_or(0);
        let d = Diagnostic::error("E0101", "unknown action", Span::new(start, start + 6))
            .with_label(Span::new(18, 21), "here")
            .with_help("fix it");
        let report = FileReport {
            source,
            diagnostics: vec![d],
        };
        let expected = "x.wf:3:12: error[E0101]: unknown action\n  |\n3 |     action \"nope\"\n  |            ^^^^^^\n  |\n1 | workflow \"x\" version \"1\" {\n  |                   --- here\n  = help: fix it\n\n";
        assert_eq!(human(&report), expected);
    }

    #[test]
    fn multi_line_spans_underline_the_first_line_and_tabs_keep_columns() {
        let text = "a\n\tstep x {\n  y\n}\n";
        let source = SourceFile::new("t.wf", text);
        let start = text.find("step").unwrap_or(0);
        let d = Diagnostic::warning("W0101", "spans lines", Span::new(start, text.len() - 1));
        let out = human(&FileReport {
            source,
            diagnostics: vec![d],
        });
        assert_eq!(
            out,
            "t.wf:2:2: warning[W0101]: spans lines\n  |\n2 |  step x {\n  |  ^^^^^^^^\n\n"
        );
    }

    #[test]
    fn colour_wraps_the_same_text() {
        let text = "workflow \"x\" version \"1\" {}\n";
        let source = SourceFile::new("x.wf", text);
        let d = Diagnostic::error("E0115", "bad", Span::new(9, 12)).with_help("fix");
        let report = FileReport {
            source,
            diagnostics: vec![d],
        };
        let colored = human_colored(&report);
        assert!(colored.contains("\x1b[1;31merror[E0115]"), "{colored:?}");
        let mut stripped = String::new();
        let mut chars = colored.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                stripped.push(c);
            }
        }
        assert_eq!(stripped, human(&report));
    }

    #[test]
    fn escapes_and_nul_bytes_from_the_source_are_shown_not_sent_to_the_terminal() {
        // A template whose action name clears the screen and hides a NUL.
        let text = "workflow \"x\" version \"1\" {\n  step a {\n    action \"\u{1b}[2J\u{1b}[31mok\0\"\n  }\n}\n";
        let source = SourceFile::new("x\u{1b}]0;t\u{7}.wf", text);
        let start = text.find("\"\u{1b}").unwrap_or(0);
        let d = Diagnostic::error(
            "E0101",
            "unknown action `\u{1b}[2J\u{1b}[31mok\0`",
            Span::new(start, start + 12),
        )
        .with_label(Span::new(start, start + 1), "\u{1b}[0m")
        .with_help("did you mean \u{9b}31m?");
        let out = human(&FileReport {
            source,
            diagnostics: vec![d],
        });
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert!(
            out.contains("action \"\u{241b}[2J\u{241b}[31mok\u{2400}\""),
            "{out}"
        );
        assert!(out.contains("x\u{241b}]0;t\u{2407}.wf:3:12"), "{out}");
        // The underline and the label still start under the quote.
        assert!(out.contains("\n  |            ^^^^^^^^^^^^\n"), "{out}");
        assert!(out.contains("\n  |            - \u{241b}[0m\n"), "{out}");
        assert!(out.contains("help: did you mean \u{fffd}31m?"), "{out}");
    }

    #[test]
    fn empty_span_at_end_of_file_still_gets_a_mark() {
        let text = "workflow";
        let source = SourceFile::new("t.wf", text);
        let d = Diagnostic::error("E0001", "expected `\"`", Span::new(8, 8));
        let out = human(&FileReport {
            source,
            diagnostics: vec![d],
        });
        assert!(out.contains("1 | workflow\n  |         ^\n"), "{out}");
    }
}
