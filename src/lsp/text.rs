//! Positions: LSP's (line, character) in the negotiated encoding ⇄ byte offsets, and the
//! incremental edits of `textDocument/didChange`.

use tower_lsp_server::ls_types::{Position, Range};

use crate::diagnostic::Span;

/// How `Position::character` counts: UTF-16 code units (the protocol's default) or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-16 code units.
    Utf16,
    /// UTF-8 bytes.
    Utf8,
}

/// The start offset of every line of a text, and where its non-ASCII characters are, for
/// converting positions both ways. A position costs two binary searches, whatever the
/// length of its line: a long line of many tokens (a minified file) stays linear to answer.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
    /// Every non-ASCII character: its offset and its length in bytes.
    wide: Vec<(usize, u8)>,
    /// `saved[k]`: how many more bytes than UTF-16 units `wide[..k]` take.
    saved: Vec<usize>,
}

impl LineIndex {
    /// Index `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr_newlines(text));
        let mut wide = Vec::new();
        let mut saved = vec![0];
        if !text.is_ascii() {
            for (i, c) in text.char_indices().filter(|(_, c)| !c.is_ascii()) {
                let len = c.len_utf8();
                wide.push((i, len as u8));
                saved.push(saved[saved.len() - 1] + len - c.len_utf16());
            }
        }
        LineIndex {
            starts,
            len: text.len(),
            wide,
            saved,
        }
    }

    /// The byte offset of a position, clamped to its line and the text, on a char boundary.
    pub fn offset(&self, text: &str, pos: Position, enc: Encoding) -> usize {
        let line = pos.line as usize;
        let Some(&start) = self.starts.get(line) else {
            return self.len;
        };
        let end = self
            .starts
            .get(line + 1)
            .map_or(self.len, |&next| next.saturating_sub(1));
        let line_text = text.get(start..end).unwrap_or("");
        let want = pos.character as usize;
        let mut units = 0;
        for (i, c) in line_text.char_indices() {
            let len = match enc {
                Encoding::Utf16 => c.len_utf16(),
                Encoding::Utf8 => c.len_utf8(),
            };
            // A position inside a character (half a surrogate pair) means its start.
            if units + len > want {
                return start + i;
            }
            units += len;
        }
        start + line_text.len()
    }

    /// The position of a byte offset (clamped to the text; inside a character, the
    /// character's end).
    pub fn position(&self, _text: &str, offset: usize, enc: Encoding) -> Position {
        let mut offset = offset.min(self.len);
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let before = self.wide.partition_point(|&(at, _)| at < offset);
        if let Some(&(at, len)) = before.checked_sub(1).and_then(|k| self.wide.get(k))
            && at + usize::from(len) > offset
        {
            offset = at + usize::from(len);
        }
        let character = match enc {
            Encoding::Utf8 => offset - start,
            Encoding::Utf16 => {
                let from = self.wide.partition_point(|&(at, _)| at < start);
                let to = self.wide.partition_point(|&(at, _)| at < offset);
                offset - start - (self.saved[to] - self.saved[from])
            }
        };
        Position::new(line as u32, character as u32)
    }

    /// The range of a span.
    pub fn range(&self, text: &str, span: Span, enc: Encoding) -> Range {
        Range::new(
            self.position(text, span.start, enc),
            self.position(text, span.end, enc),
        )
    }

    /// The span of a range.
    pub fn span(&self, text: &str, range: Range, enc: Encoding) -> Span {
        let start = self.offset(text, range.start, enc);
        let end = self.offset(text, range.end, enc).max(start);
        Span::new(start, end)
    }

    /// The number of lines.
    pub fn lines(&self) -> usize {
        self.starts.len()
    }

    /// The byte offset where a 0-based line starts.
    pub fn line_start(&self, line: usize) -> usize {
        self.starts.get(line).copied().unwrap_or(self.len)
    }
}

fn memchr_newlines(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i + 1)
}

/// Apply one change of `didChange` to `text`: a range and its replacement, or (no range) the
/// whole new text.
pub fn apply_change(text: &mut String, range: Option<Range>, new_text: &str, enc: Encoding) {
    match range {
        None => {
            text.clear();
            text.push_str(new_text);
        }
        Some(range) => {
            let index = LineIndex::new(text);
            let span = index.span(text, range, enc);
            text.replace_range(span.start..span.end, new_text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways_in_both_encodings() {
        let text = "ab\n😀é x\n";
        let index = LineIndex::new(text);
        // `x` is after an astral char (2 UTF-16 units, 4 bytes), é (1 unit, 2 bytes), a space.
        let x = text.find('x').unwrap_or(0);
        assert_eq!(
            index.position(text, x, Encoding::Utf16),
            Position::new(1, 4)
        );
        assert_eq!(index.position(text, x, Encoding::Utf8), Position::new(1, 7));
        assert_eq!(index.offset(text, Position::new(1, 4), Encoding::Utf16), x);
        assert_eq!(index.offset(text, Position::new(1, 7), Encoding::Utf8), x);
        // Past the end of a line: the line's end; past the last line: the text's end.
        assert_eq!(index.offset(text, Position::new(0, 99), Encoding::Utf16), 2);
        assert_eq!(
            index.offset(text, Position::new(9, 0), Encoding::Utf16),
            text.len()
        );
        // Inside a surrogate pair: the char's start, never a broken boundary.
        assert_eq!(index.offset(text, Position::new(1, 1), Encoding::Utf16), 3);
    }

    /// The quick conversion agrees with counting characters, at every offset of a mixed text
    /// (mid-character offsets included), in both encodings.
    #[test]
    fn positions_agree_with_counting() {
        let text = "a😀b\né\n\nxyz 中文 😀😀\nend";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            for enc in [Encoding::Utf8, Encoding::Utf16] {
                let clamped = offset.min(text.len());
                let snapped = (clamped..=text.len())
                    .find(|&o| text.is_char_boundary(o))
                    .unwrap_or(text.len());
                let line = text[..snapped].matches('\n').count();
                let line_start = text[..snapped].rfind('\n').map_or(0, |n| n + 1);
                let units: usize = text[line_start..snapped]
                    .chars()
                    .map(|c| match enc {
                        Encoding::Utf8 => c.len_utf8(),
                        Encoding::Utf16 => c.len_utf16(),
                    })
                    .sum();
                assert_eq!(
                    index.position(text, offset, enc),
                    Position::new(line as u32, units as u32),
                    "offset {offset} {enc:?}"
                );
            }
        }
    }

    #[test]
    fn applies_incremental_changes() {
        let mut text = "step a {\n  action \"x\"\n}\n".to_string();
        let r = Range::new(Position::new(1, 10), Position::new(1, 11));
        apply_change(&mut text, Some(r), "notify_only", Encoding::Utf16);
        assert_eq!(text, "step a {\n  action \"notify_only\"\n}\n");
        apply_change(
            &mut text,
            Some(Range::new(Position::new(3, 0), Position::new(3, 0))),
            "// end\n",
            Encoding::Utf16,
        );
        assert!(text.ends_with("}\n// end\n"));
        apply_change(&mut text, None, "new", Encoding::Utf16);
        assert_eq!(text, "new");
    }
}
