//! A forgiving lexer over `.wf` text, with the rhai tokens inside `${ … }`: what semantic
//! tokens colour, what completion reads around the cursor, and where expressions name
//! params, lets, steps and modules. It never fails: any text gives tokens.

use crate::diagnostic::Span;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A word of the `.wf` language: a keyword or a name.
    Word,
    /// An integer or a float.
    Number,
    /// A duration literal (`30s`, `1h30m`).
    Duration,
    /// String text, quotes included (a string with interpolations is split around them).
    Str,
    /// A comment.
    Comment,
    /// Punctuation: `{ } [ ] , : =`.
    Punct,
    /// `${` opening an expression.
    ExprOpen,
    /// The `}` closing an expression.
    ExprClose,
    /// A name inside an expression.
    RhaiIdent,
    /// A number inside an expression.
    RhaiNumber,
    /// A string inside an expression.
    RhaiStr,
    /// `::` inside an expression.
    RhaiPath,
    /// `.` inside an expression.
    RhaiDot,
    /// Any other punctuation inside an expression.
    RhaiPunct,
}

/// One token and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Where it stands.
    pub span: Span,
}

impl Token {
    /// True for tokens inside `${ … }` (delimiters excluded).
    pub fn in_expr(&self) -> bool {
        matches!(
            self.kind,
            Kind::RhaiIdent
                | Kind::RhaiNumber
                | Kind::RhaiStr
                | Kind::RhaiPath
                | Kind::RhaiDot
                | Kind::RhaiPunct
        )
    }
}

/// Every token of `text`, in order.
pub fn lex(text: &str) -> Vec<Token> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = line_end(b, i);
                push(&mut out, Kind::Comment, start, i);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                push(&mut out, Kind::Comment, start, i);
            }
            b'"' => i = string(text, i, &mut out),
            b'$' if b.get(i + 1) == Some(&b'{') => i = expr(text, i, &mut out),
            b'{' | b'}' | b'[' | b']' | b',' | b':' | b'=' => {
                i += 1;
                push(&mut out, Kind::Punct, start, i);
            }
            c if c.is_ascii_digit()
                || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
                let word = &text[start..i];
                let kind = if word.bytes().any(|x| x.is_ascii_alphabetic())
                    && !word.contains(['.', 'e', 'E'])
                {
                    Kind::Duration
                } else {
                    Kind::Number
                };
                push(&mut out, kind, start, i);
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                push(&mut out, Kind::Word, start, i);
            }
            _ => {
                // Anything else (a stray character): skip it whole.
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    out
}

fn push(out: &mut Vec<Token>, kind: Kind, start: usize, end: usize) {
    if end > start {
        out.push(Token {
            kind,
            span: Span::new(start, end),
        });
    }
}

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| from + n)
}

/// A `.wf` string from the quote at `start`, split around its interpolations; it ends at its
/// closing quote or at the end of the line.
fn string(text: &str, start: usize, out: &mut Vec<Token>) -> usize {
    let b = text.as_bytes();
    let mut i = start + 1;
    let mut piece = start;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1).is_some_and(|&c| c != b'\n') => i += 2,
            b'"' => {
                push(out, Kind::Str, piece, i + 1);
                return i + 1;
            }
            b'\n' => break,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                push(out, Kind::Str, piece, i);
                i = expr(text, i, out);
                piece = i;
            }
            _ => i += 1,
        }
    }
    push(out, Kind::Str, piece, i.min(b.len()));
    i.min(b.len())
}

/// `${ … }` from its `$`: the delimiters and the rhai tokens. An expression whose braces never
/// balance ends at the end of its line.
fn expr(text: &str, start: usize, out: &mut Vec<Token>) -> usize {
    let b = text.as_bytes();
    push(out, Kind::ExprOpen, start, start + 2);
    let mut i = start + 2;
    let mut depth = 0usize;
    let limit = match closing(b, i) {
        Some(_) => b.len(),
        None => line_end(b, i),
    };
    while i < limit {
        let c = b[i];
        let s = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'}' if depth == 0 => {
                push(out, Kind::ExprClose, i, i + 1);
                return i + 1;
            }
            b'{' => {
                depth += 1;
                i += 1;
                push(out, Kind::RhaiPunct, s, i);
            }
            b'}' => {
                depth -= 1;
                i += 1;
                push(out, Kind::RhaiPunct, s, i);
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < limit && b[i] != c {
                    i += if b[i] == b'\\' && c != b'`' { 2 } else { 1 };
                }
                i = (i + 1).min(limit);
                push(out, Kind::RhaiStr, s, i);
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = line_end(b, i).min(limit);
                push(out, Kind::Comment, s, i);
            }
            b':' if b.get(i + 1) == Some(&b':') => {
                i += 2;
                push(out, Kind::RhaiPath, s, i);
            }
            b'.' => {
                i += 1;
                push(out, Kind::RhaiDot, s, i);
            }
            c if c.is_ascii_digit() => {
                while i < limit
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
                {
                    i += 1;
                }
                push(out, Kind::RhaiNumber, s, i);
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < limit && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                push(out, Kind::RhaiIdent, s, i);
            }
            c if c.is_ascii() => {
                i += 1;
                push(out, Kind::RhaiPunct, s, i);
            }
            _ => i += text[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    i.min(b.len())
}

/// The offset of the `}` closing an expression whose text starts at `from`, if it has one.
fn closing(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        lex(text)
            .into_iter()
            .map(|t| (t.kind, &text[t.span.start..t.span.end]))
            .collect()
    }

    #[test]
    fn words_strings_and_expressions() {
        use Kind::*;
        assert_eq!(
            kinds("step a { timeout 5m } // x"),
            [
                (Word, "step"),
                (Word, "a"),
                (Punct, "{"),
                (Word, "timeout"),
                (Duration, "5m"),
                (Punct, "}"),
                (Comment, "// x")
            ]
        );
        assert_eq!(
            kinds("\"a ${ m::f(x.y, \"}\") } b\""),
            [
                (Str, "\"a "),
                (ExprOpen, "${"),
                (RhaiIdent, "m"),
                (RhaiPath, "::"),
                (RhaiIdent, "f"),
                (RhaiPunct, "("),
                (RhaiIdent, "x"),
                (RhaiDot, "."),
                (RhaiIdent, "y"),
                (RhaiPunct, ","),
                (RhaiStr, "\"}\""),
                (RhaiPunct, ")"),
                (ExprClose, "}"),
                (Str, " b\""),
            ]
        );
        assert_eq!(
            kinds("x = 1.5"),
            [(Word, "x"), (Punct, "="), (Number, "1.5")]
        );
    }

    #[test]
    fn unterminated_things_end_at_the_line() {
        use Kind::*;
        assert_eq!(
            kinds("a: ${ analysis.\nstep"),
            [
                (Word, "a"),
                (Punct, ":"),
                (ExprOpen, "${"),
                (RhaiIdent, "analysis"),
                (RhaiDot, "."),
                (Word, "step")
            ]
        );
        assert_eq!(kinds("\"abc\nx"), [(Str, "\"abc"), (Word, "x")]);
        for text in ["${", "\"", "/*", "${ \"", "é${`", "-"] {
            let _ = lex(text);
        }
    }
}
