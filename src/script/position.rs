//! Positions in script source (rhai's 1-based line and column) as byte offsets, so errors in a
//! `${ … }` can point into the `.wf` file.

use crate::diagnostic::Span;

/// The byte offset in `source` of a 1-based `line` and `column` (columns count characters);
/// clamped to the source.
pub fn offset_of(source: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (n, text) in source.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            let within = text
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(text.trim_end_matches('\n').len(), |(i, _)| i);
            return offset + within;
        }
        offset += text.len();
    }
    source.len()
}

/// The span in the file of a position inside an expression whose source starts at
/// `source_span.start`: from the position to the end of the token-ish word there (at least one
/// character), or the whole source when the position is unknown.
pub fn span_in_file(source: &str, source_span: Span, position: Option<(usize, usize)>) -> Span {
    let Some((line, column)) = position else {
        return trimmed(source, source_span);
    };
    let start = offset_of(source, line, column);
    let rest = source.get(start..).unwrap_or("");
    let word = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    let len = if word == 0 {
        rest.chars().next().map_or(0, char::len_utf8)
    } else {
        word
    };
    Span::new(source_span.start + start, source_span.start + start + len)
}

/// The span of the source without its surrounding whitespace.
pub fn trimmed(source: &str, source_span: Span) -> Span {
    let lead = source.len() - source.trim_start().len();
    let trail = source.len() - source.trim_end().len();
    let end = source_span
        .end
        .saturating_sub(trail)
        .max(source_span.start + lead);
    Span::new(source_span.start + lead, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_line_and_column_to_offsets() {
        let src = " a +\n  bé + c";
        assert_eq!(offset_of(src, 1, 2), 1);
        assert_eq!(offset_of(src, 2, 3), 7);
        assert_eq!(offset_of(src, 2, 6), 11);
        assert_eq!(offset_of(src, 9, 1), src.len());
    }

    #[test]
    fn spans_a_word_in_the_file() {
        let src = " nope + 1 ";
        assert_eq!(
            span_in_file(src, Span::new(100, 110), Some((1, 2))),
            Span::new(101, 105)
        );
        assert_eq!(
            span_in_file(src, Span::new(100, 110), None),
            Span::new(101, 109)
        );
        assert_eq!(
            span_in_file(src, Span::new(100, 110), Some((1, 7))),
            Span::new(106, 107)
        );
    }
}
