//! The scan that runs before the grammar: collects comments, bounds nesting, and reports
//! unterminated strings, expressions and comments at their opening.
//!
//! pest parses nested lists, maps, blocks and expressions by recursion, so input nested deeply
//! enough would overflow the stack; the scan walks the text with an explicit stack instead and
//! refuses input nested deeper than [`MAX_DEPTH`] before pest sees it. It mirrors the grammar's
//! view of strings, `${ … }` and comments exactly (see `grammar/workflow.pest`).

use crate::diagnostic::Diagnostic;

use super::ast::Comment;
use crate::diagnostic::Span;

/// The deepest nesting of blocks, lists, maps, strings and expression braces a file may have.
pub const MAX_DEPTH: usize = 64;

/// What the scan is inside of.
#[derive(Debug, Clone, Copy)]
enum Ctx {
    /// A `{` or `[` of the workflow language.
    Bracket,
    /// A string literal of the workflow language, opened at the offset.
    Str(usize),
    /// A `${ … }` (inside a string or as a value), opened at the offset.
    Expr(usize),
    /// A `{` inside an expression.
    ExprBrace,
    /// A rhai string inside an expression, with its quote, opened at the offset.
    RhaiStr(u8, usize),
}

/// Collect the comments of `text`, or report the first lexical problem the grammar could not
/// report well (unterminated string, expression or block comment; nesting too deep).
pub fn scan(text: &str) -> Result<Vec<Comment>, Diagnostic> {
    let bytes = text.as_bytes();
    let mut comments = Vec::new();
    let mut lines = LineState::default();
    let mut stack: Vec<Ctx> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match stack.last().copied() {
            None | Some(Ctx::Bracket) => match b {
                b'/' if next == Some(b'/') => {
                    let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                    let end = if end > i && bytes[end - 1] == b'\r' {
                        end - 1
                    } else {
                        end
                    };
                    comments.push(lines.comment(text, i, end));
                    i = end;
                    continue;
                }
                b'/' if next == Some(b'*') => {
                    let Some(n) = text[i + 2..].find("*/") else {
                        return Err(Diagnostic::error(
                            "E0001",
                            "unterminated block comment",
                            Span::new(i, i + 2),
                        )
                        .with_help("close the comment with `*/`"));
                    };
                    let end = i + 2 + n + 2;
                    comments.push(lines.comment(text, i, end));
                    i = end;
                    continue;
                }
                b'"' => push(&mut stack, Ctx::Str(i), i)?,
                b'{' | b'[' => push(&mut stack, Ctx::Bracket, i)?,
                b'}' | b']' => {
                    stack.pop();
                }
                b'$' if next == Some(b'{') => {
                    push(&mut stack, Ctx::Expr(i), i)?;
                    i += 2;
                    continue;
                }
                _ => {}
            },
            Some(Ctx::Str(start)) => match b {
                b'\\' if next.is_some_and(|n| n != b'\n') => {
                    i += 2;
                    continue;
                }
                b'"' => {
                    stack.pop();
                }
                b'\n' => return Err(unterminated_string(start, i)),
                b'$' if next == Some(b'{') => {
                    push(&mut stack, Ctx::Expr(i), i)?;
                    i += 2;
                    continue;
                }
                _ => {}
            },
            Some(Ctx::Expr(_) | Ctx::ExprBrace) => match b {
                b'{' => push(&mut stack, Ctx::ExprBrace, i)?,
                b'}' => {
                    stack.pop();
                }
                b'"' | b'\'' | b'`' => push(&mut stack, Ctx::RhaiStr(b, i), i)?,
                _ => {}
            },
            Some(Ctx::RhaiStr(quote, _)) => {
                if b == b'\\' && quote != b'`' {
                    i += 2;
                    continue;
                }
                if b == quote {
                    stack.pop();
                }
            }
        }
        i += 1;
    }
    // Report the innermost unterminated string or expression; an unclosed bracket is left to
    // the grammar, which says what it expected there.
    for ctx in stack.iter().rev() {
        match *ctx {
            Ctx::Str(start) => return Err(unterminated_string(start, bytes.len())),
            Ctx::Expr(start) => {
                return Err(Diagnostic::error(
                    "E0001",
                    "unterminated expression: this `${` has no matching `}`",
                    Span::new(start, start + 2),
                )
                .with_help("close the expression with `}`; braces inside it must balance"));
            }
            Ctx::RhaiStr(_, start) => {
                return Err(Diagnostic::error(
                    "E0001",
                    "unterminated string inside an expression",
                    Span::new(start, start + 1),
                )
                .with_help("close the string with the quote it starts with"));
            }
            Ctx::Bracket | Ctx::ExprBrace => {}
        }
    }
    Ok(comments)
}

fn push(stack: &mut Vec<Ctx>, ctx: Ctx, at: usize) -> Result<(), Diagnostic> {
    if stack.len() >= MAX_DEPTH {
        return Err(Diagnostic::error(
            "E0003",
            format!("nesting too deep: more than {MAX_DEPTH} levels of blocks, lists, maps, strings or expression braces"),
            Span::new(at, at + 1),
        )
        .with_help("flatten the value, or compute it in an imported rhai function"));
    }
    stack.push(ctx);
    Ok(())
}

/// What the text before a comment holds on the comment's line, kept up to date as the scan
/// moves forward: each byte is looked at once, so a line of many comments stays linear.
#[derive(Debug, Default)]
struct LineState {
    /// Everything before this offset has been looked at.
    seen: usize,
    /// Only byte order marks so far on the current line (they do not count as text).
    leading: bool,
    /// The current line has text (anything but whitespace and leading BOMs) before `seen`.
    text: bool,
}

impl LineState {
    /// The comment `start..end`, trailing when text precedes it on its line.
    fn comment(&mut self, text: &str, start: usize, end: usize) -> Comment {
        if self.seen == 0 {
            self.leading = true;
        }
        for c in text.get(self.seen..start).unwrap_or("").chars() {
            if c == '\n' {
                self.leading = true;
                self.text = false;
            } else if !(self.leading && c == '\u{feff}') {
                self.leading = false;
                self.text |= !c.is_whitespace();
            }
        }
        self.seen = start;
        Comment {
            text: text[start..end].to_string(),
            span: Span::new(start, end),
            trailing: self.text,
        }
    }
}

fn unterminated_string(start: usize, at: usize) -> Diagnostic {
    Diagnostic::error(
        "E0001",
        "unterminated string: expected `\"` before the end of the line",
        Span::new(start, start + 1),
    )
    .with_label(Span::new(at, at), "the line ends here")
    .with_help("a string stays on one line; write a line break as `\\n`")
}
