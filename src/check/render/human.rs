//! The human renderer: `path:line:col: error[CODE]: message`, the source line with the span
//! underlined, labels, and `= help: …`. Plain text, no colour.

use std::fmt::Write;

use crate::check::diagnostic::Diagnostic;
use crate::check::render::FileReport;
use crate::dsl::span::{SourceFile, Span};

/// Render every diagnostic of a file as text; an empty string for a clean file.
pub fn human(report: &FileReport) -> String {
    let mut out = String::new();
    for d in &report.diagnostics {
        render_one(&report.source, d, &mut out);
    }
    out
}

fn render_one(source: &SourceFile, d: &Diagnostic, out: &mut String) {
    let start = source.line_col(d.span.start);
    let _ = writeln!(
        out,
        "{}:{}:{}: {}[{}]: {}",
        crate::check::render::display_path(source),
        start.line,
        start.col,
        d.severity.as_str(),
        d.code,
        d.message
    );
    let mut lines = vec![start.line];
    lines.extend(d.labels.iter().map(|l| source.line_col(l.span.start).line));
    let width = lines.iter().max().map_or(1, |l| l.to_string().len());
    let pad = " ".repeat(width);
    let _ = writeln!(out, "{pad} |");
    snippet(source, d.span, '^', None, width, out);
    let mut last_line = start.line;
    for label in &d.labels {
        let line = source.line_col(label.span.start).line;
        if line == last_line {
            let _ = writeln!(
                out,
                "{pad} | {}",
                underline(source, label.span, '-', Some(&label.message))
            );
        } else {
            let _ = writeln!(out, "{pad} |");
            snippet(source, label.span, '-', Some(&label.message), width, out);
        }
        last_line = line;
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "{pad} = help: {help}");
    }
    out.push('\n');
}

/// The source line of `span` and its underline.
fn snippet(
    source: &SourceFile,
    span: Span,
    mark: char,
    message: Option<&str>,
    width: usize,
    out: &mut String,
) {
    let line = source.line_col(span.start).line;
    let text = display_line(source.line_text(line));
    let _ = writeln!(out, "{line:>width$} | {text}");
    let _ = writeln!(
        out,
        "{} | {}",
        " ".repeat(width),
        underline(source, span, mark, message)
    );
}

/// Tabs shown as one space so that columns (in characters) line up with the underline.
fn display_line(text: &str) -> String {
    text.replace('\t', " ")
}

/// Spaces up to the span's column, then marks under it (to the end of its first line).
fn underline(source: &SourceFile, span: Span, mark: char, message: Option<&str>) -> String {
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
    s.extend(std::iter::repeat_n(mark, len));
    if let Some(m) = message {
        s.push(' ');
        s.push_str(m);
    }
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
}
