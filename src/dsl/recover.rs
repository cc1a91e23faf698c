//! Error recovery for editors: the syntax tree of a file that does not parse, as close to the
//! author's intent as small repairs make it.
//!
//! [`parse_recovering`] runs the real parser (scan, then the grammar) and, while it fails,
//! repairs the text where it stopped and tries again, at most [`MAX_REPAIRS`] times. Every
//! repair keeps byte offsets: it turns characters into spaces (a half-typed word, a stray
//! token, an unterminated string), writes a placeholder token into whitespace (the duration a
//! `timeout` lacks, the `}` missing before the next step, the `,` between map entries), or
//! appends closing brackets at the end. So every span of the recovered tree points at the
//! author's text, and completion, navigation and the outline work in a file with an error
//! somewhere else. Diagnostics never come from here: the file's one syntax error is
//! [`super::parse`]'s.

use super::ast::File;
use super::parser::{PestFailure, Rule, parse_pest_raw};
use super::scan;

/// How many repairs [`parse_recovering`] makes before it gives up.
pub const MAX_REPAIRS: usize = 24;

/// The words that start a workflow item but no step item: seen inside a step, a `}` is
/// missing before them.
const OUTER_KEYWORDS: &[&str] = &[
    "labels",
    "max_parallel",
    "approval",
    "import",
    "param",
    "let",
    "step",
    "parallel",
    "verify",
    "finally",
];

/// Whether `word` starts an item of some block (a workflow or a step); at the start of a line
/// inside a map, such a word says the map's `}` is missing.
fn is_item_word(word: &str) -> bool {
    super::keywords::ITEM_KEYWORDS.contains(&word)
        || super::keywords::STEP_ITEM_KEYWORDS.contains(&word)
}

/// The tree of `text`, parsed as it is or after repairs; `None` when no tree could be had
/// (no workflow header, nesting too deep, or more than [`MAX_REPAIRS`] problems).
pub fn parse_recovering(text: &str) -> Option<File> {
    let mut buf = text.as_bytes().to_vec();
    let mut done: Vec<Repair> = Vec::new();
    for _ in 0..=MAX_REPAIRS {
        let current = std::str::from_utf8(&buf).ok()?;
        let failure = match attempt(current) {
            Ok(file) => return Some(file),
            Err(f) => f,
        };
        let repair = plan(current, failure, &done)?;
        done.push(repair.clone());
        apply(&mut buf, repair);
    }
    None
}

/// Why an attempt failed, with what the repair needs.
enum Failure {
    /// The scan stopped: an unterminated string, expression or comment at this offset.
    Unterminated { at: usize, comment: bool },
    /// The grammar stopped at this offset, expecting these rules.
    Grammar { at: usize, expected: Vec<Rule> },
    /// A literal or name between these offsets is invalid.
    Literal { start: usize, end: usize },
    /// Nothing to repair (nesting too deep, or an error with no place).
    Hopeless,
}

fn attempt(text: &str) -> Result<File, Failure> {
    let comments = scan::scan(text).map_err(|d| match d.code {
        "E0003" => Failure::Hopeless,
        _ => Failure::Unterminated {
            at: d.span.start,
            comment: d.message.contains("comment"),
        },
    })?;
    parse_pest_raw(text, comments).map_err(|failure| match failure {
        PestFailure::Grammar(e) => {
            let at = match e.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((s, _)) => s,
            };
            let expected = match &e.variant {
                pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
                pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
            };
            Failure::Grammar { at, expected }
        }
        PestFailure::Tree(d) if d.span.is_empty() => Failure::Hopeless,
        PestFailure::Tree(d) => Failure::Literal {
            start: d.span.start,
            end: d.span.end,
        },
    })
}

/// One change to the text; each keeps every byte offset of the text before it.
#[derive(Debug, Clone, PartialEq)]
enum Repair {
    /// Turn `start..end` into spaces (line ends kept).
    Blank { start: usize, end: usize },
    /// Write `text` over whitespace starting at `at`.
    Write { at: usize, text: String },
    /// Append text at the end.
    Append(&'static str),
}

fn apply(buf: &mut Vec<u8>, repair: Repair) {
    match repair {
        Repair::Blank { start, end } => {
            for b in buf.iter_mut().take(end).skip(start) {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        Repair::Write { at, text } => {
            for (i, b) in text.bytes().enumerate() {
                if let Some(slot) = buf.get_mut(at + i) {
                    *slot = b;
                }
            }
        }
        Repair::Append(text) => buf.extend_from_slice(text.as_bytes()),
    }
}

/// The repair for a failure, or `None` to give up.
fn plan(text: &str, failure: Failure, done: &[Repair]) -> Option<Repair> {
    let bytes = text.as_bytes();
    match failure {
        Failure::Hopeless => None,
        Failure::Unterminated { at, comment: true } => Some(Repair::Blank {
            start: at,
            end: bytes.len(),
        }),
        Failure::Unterminated { at, .. } => Some(Repair::Blank {
            start: at,
            end: line_end(bytes, at),
        }),
        Failure::Literal { start, end } => Some(fix_literal(text, start, end)),
        Failure::Grammar { at, expected } => {
            let has = |r: Rule| expected.contains(&r);
            if text[at.min(text.len())..].trim().is_empty() {
                // The file ends inside a block or an item.
                if has(Rule::close) {
                    return Some(Repair::Append("}"));
                }
                if has(Rule::rbracket) {
                    return Some(Repair::Append("]"));
                }
                return Some(match placeholder(&expected) {
                    Some("0") => Repair::Append(" 0"),
                    Some("1s") => Repair::Append(" 1s"),
                    Some("x") => Repair::Append(" x"),
                    Some("\"\"") => Repair::Append(" \"\""),
                    Some("{}") => Repair::Append(" {}"),
                    Some("${}") => Repair::Append(" ${}"),
                    // Drop the unfinished line; the closers come next.
                    _ => {
                        let last = text.trim_end().len();
                        let from = line_start_token(bytes, last);
                        if from >= last {
                            return None;
                        }
                        Repair::Blank {
                            start: from,
                            end: last,
                        }
                    }
                });
            }
            // Text after the workflow's end: a `}` too many closed it early (the line that
            // opened a block was deleted). Drop that `}` and go on inside the workflow.
            if expected == [Rule::EOI]
                && let Some(close) = bytes[..at].iter().rposition(|&b| b == b'}')
            {
                return Some(Repair::Blank {
                    start: close,
                    end: close + 1,
                });
            }
            let (start, end) = token_at(bytes, at);
            let word = &text[start..end];
            let line_first = first_on_line(bytes, start);
            // A workflow item inside a step, or an item inside an unclosed map: a `}` is
            // missing before it.
            if has(Rule::close)
                && line_first
                && (OUTER_KEYWORDS.contains(&word) || (is_item_word(word) && !has(Rule::step_item)))
                && let Some(r) = write_in_gap(bytes, start, "}")
                && !done.contains(&r)
            {
                return Some(r);
            }
            let between_items = has(Rule::item)
                || has(Rule::step_item)
                || has(Rule::constraint)
                || has(Rule::step)
                || has(Rule::kw_step)
                || has(Rule::EOI);
            // A group (`parallel`, `verify`, `finally`) closed before its first step: drop
            // the whole group.
            if bytes.get(start) == Some(&b'}')
                && (has(Rule::step) || has(Rule::kw_step))
                && !has(Rule::close)
                && let Some(open) = matching_open(bytes, start)
            {
                let from = previous_word(bytes, open)
                    .map_or(open, |(s, _)| line_start_token(bytes, s).min(s));
                return Some(Repair::Blank {
                    start: from,
                    end: start + 1,
                });
            }
            if between_items {
                // An item keyword taken as the value or name a line above lacked
                // (`let x =` then `step s {`): write one there instead.
                if let Some((ws, we)) = previous_word(bytes, start)
                    && first_on_line(bytes, ws)
                    && is_item_word(&text[ws..we])
                    && let Some(r) = write_in_gap(bytes, ws, "x")
                    && !done.contains(&r)
                {
                    return Some(r);
                }
                return Some(blank_balanced(bytes, start));
            }
            if let Some(p) = placeholder(&expected)
                && let Some(r) = write_in_gap(bytes, start, p)
                && !done.contains(&r)
            {
                return Some(r);
            }
            match bytes.get(start) {
                // A keyword left dangling before a block (`step b after {`): drop the
                // keyword and keep the block.
                Some(b'{' | b'[') => Some(match previous_word(bytes, start) {
                    Some((s, e)) => Repair::Blank { start: s, end: e },
                    None => blank_balanced(bytes, start),
                }),
                // A closing bracket where something else was expected: drop what leads to
                // it on its line (the half-written item), keeping the bracket.
                Some(b'}' | b']') => {
                    let from = line_start_token(bytes, start);
                    if from < start {
                        Some(Repair::Blank {
                            start: from,
                            end: start,
                        })
                    } else {
                        None
                    }
                }
                _ => Some(Repair::Blank { start, end }),
            }
        }
    }
}

/// A token that satisfies one of the expected rules, to write where it is missing.
fn placeholder(expected: &[Rule]) -> Option<&'static str> {
    use Rule::*;
    const ORDER: &[(Rule, &str)] = &[
        (comma, ","),
        (colon, ":"),
        (equals, "="),
        (duration, "1s"),
        (uint, "0"),
        (int, "0"),
        (float, "0.0"),
        (value, "0"),
        (string, "\"\""),
        (ident, "x"),
        (param_type, "any"),
        (rollback_mode_kw, "none"),
        (on_failure_kw, "fail"),
        (expr, "${}"),
        (map, "{}"),
        (list, "[]"),
        (open, "{}"),
    ];
    ORDER
        .iter()
        .find(|(rule, _)| expected.contains(rule))
        .map(|(_, p)| *p)
}

/// Write `token` into the whitespace just before `pos`, keeping it apart from word
/// characters on either side; `None` when the whitespace is too short.
fn write_in_gap(bytes: &[u8], pos: usize, token: &str) -> Option<Repair> {
    let mut g0 = pos;
    while g0 > 0 && matches!(bytes[g0 - 1], b' ' | b'\t' | b'\r' | b'\n') {
        g0 -= 1;
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let tb = token.as_bytes();
    let before = usize::from(g0 > 0 && word(bytes[g0 - 1]) && tb.first().is_some_and(|&b| word(b)));
    let after = usize::from(
        bytes.get(pos).is_some_and(|&b| word(b)) && tb.last().is_some_and(|&b| word(b)),
    );
    if pos - g0 < before + tb.len() + after {
        return None;
    }
    Some(Repair::Write {
        at: g0 + before,
        text: token.to_string(),
    })
}

/// Fix an invalid literal or name in place: a name made valid, a number or duration
/// replaced by a valid one, an escape or an interpolation made plain text.
fn fix_literal(text: &str, start: usize, end: usize) -> Repair {
    let bytes = text.as_bytes();
    let Some(s) = text.get(start..end) else {
        return Repair::Blank { start, end };
    };
    let pad = |token: &str| {
        let mut t = token.to_string();
        t.extend(std::iter::repeat_n(
            ' ',
            s.len().saturating_sub(token.len()),
        ));
        Repair::Write { at: start, text: t }
    };
    if s.starts_with("${") {
        // An interpolation where plain text is needed: keep the text, drop the `$`.
        return Repair::Write {
            at: start,
            text: " ".to_string(),
        };
    }
    if s.starts_with('\\') {
        return Repair::Write {
            at: start,
            text: "x".repeat(s.len()),
        };
    }
    let first = bytes[start];
    if first.is_ascii_digit() || first == b'-' {
        if s.contains('.') && s.len() >= 3 {
            return pad("0.0");
        }
        if s.bytes().skip(1).all(|b| b.is_ascii_digit()) {
            return pad("0");
        }
        if s.len() >= 2 {
            return pad("1s");
        }
    }
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        // A name that is not `[a-z][a-z0-9_]*`: the same length, lowercase, starting with a
        // letter.
        let mut name: String = s.to_ascii_lowercase();
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name.replace_range(0..1, "x");
        }
        return Repair::Write {
            at: start,
            text: name,
        };
    }
    Repair::Blank { start, end }
}

/// The token at `pos`: a word, a string on its line, a `${ … }` or one character.
fn token_at(bytes: &[u8], pos: usize) -> (usize, usize) {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
    let Some(&first) = bytes.get(pos) else {
        return (pos, pos);
    };
    let end = if word(first) {
        let mut e = pos;
        while e < bytes.len() && word(bytes[e]) {
            e += 1;
        }
        e
    } else if first == b'"' {
        let mut e = pos + 1;
        while e < bytes.len() && bytes[e] != b'"' && bytes[e] != b'\n' {
            e += if bytes[e] == b'\\' { 2 } else { 1 };
        }
        (e + 1).min(line_end(bytes, pos)).max(pos + 1)
    } else if first == b'$' && bytes.get(pos + 1) == Some(&b'{') {
        return (pos, balanced_end(bytes, pos));
    } else {
        pos + utf8_len(first)
    };
    (pos, end.min(bytes.len()))
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Blank the item starting at `start`: to the end of its line, or, when it opens a bracket
/// there, to the matching close; never past a bracket that closes an enclosing block.
fn blank_balanced(bytes: &[u8], start: usize) -> Repair {
    let end = balanced_end(bytes, start);
    Repair::Blank {
        start,
        // At least the token itself (a stray closing bracket).
        end: end.max(token_at(bytes, start).1),
    }
}

/// Where the item starting at `start` ends (see [`blank_balanced`]).
fn balanced_end(bytes: &[u8], start: usize) -> usize {
    let mut depth: usize = 0;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' if depth == 0 => return i,
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
                if depth == 0 {
                    return (i + 1).min(bytes.len());
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

fn line_end(bytes: &[u8], pos: usize) -> usize {
    bytes[pos.min(bytes.len())..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| pos + n)
}

/// True when only whitespace stands before `pos` on its line.
fn first_on_line(bytes: &[u8], pos: usize) -> bool {
    bytes[..pos.min(bytes.len())]
        .iter()
        .rev()
        .take_while(|&&b| b != b'\n')
        .all(|b| b.is_ascii_whitespace())
}

/// The `{` that the `}` at `close` closes, counting brackets backwards.
fn matching_open(bytes: &[u8], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    for i in (0..close).rev() {
        match bytes[i] {
            b'}' => depth += 1,
            b'{' if depth == 0 => return Some(i),
            b'{' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The word just before `pos` (whitespace between), if a word stands there.
fn previous_word(bytes: &[u8], pos: usize) -> Option<(usize, usize)> {
    let mut end = pos;
    while end > 0 && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
        start -= 1;
    }
    (start < end).then_some((start, end))
}

/// The first non-blank byte of the line holding `pos`.
fn line_start_token(bytes: &[u8], pos: usize) -> usize {
    let start = bytes[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |n| n + 1);
    let mut i = start;
    while i < pos && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dsl::ast::{Item, StepItem};

    const GOOD: &str = r#"workflow "w" version "1.0.0" {
  param namespace: string = ${ analysis.target.namespace }
  let count = 3

  step first {
    action "scale_deployment"
    with { namespace, deployment: "web", replicas: count }
    timeout 1m
  }

  step second after first {
    action "notify_only"
    with { message: "done" }
  }

  finally {
    step report {
      action "notify_only"
      with { message: "x" }
    }
  }
}
"#;

    fn steps(file: &File) -> Vec<String> {
        file.workflow
            .all_steps()
            .map(|s| s.name.name.clone())
            .collect()
    }

    /// `GOOD` with `from` replaced by `to` must fail to parse, and recover with these steps.
    fn recovers(from: &str, to: &str, want: &[&str]) -> File {
        assert!(GOOD.contains(from), "{from}");
        let text = GOOD.replacen(from, to, 1);
        assert!(
            crate::dsl::parse(&text).is_err(),
            "parses as it is:\n{text}"
        );
        let file = parse_recovering(&text).unwrap_or_else(|| panic!("no tree for\n{text}"));
        assert_eq!(steps(&file), want, "{text}");
        file
    }

    const ALL: &[&str] = &["first", "second", "report"];

    #[test]
    fn a_valid_file_is_parsed_as_it_is() {
        assert_eq!(parse_recovering(GOOD), crate::dsl::parse(GOOD).ok());
    }

    #[test]
    fn a_half_typed_word_is_dropped() {
        recovers("    timeout 1m\n", "    timeout 1m\n    ac\n", ALL);
        recovers("  let count = 3\n", "  let count = 3\n  ste\n", ALL);
        recovers("  step second", "  par\n  step second", ALL);
    }

    #[test]
    fn a_missing_value_gets_a_placeholder() {
        let f = recovers("timeout 1m", "timeout", ALL);
        let first = f.workflow.all_steps().next().unwrap();
        assert!(first.timeout().is_some());
        recovers("timeout 1m", "timeout 30", ALL);
        recovers("let count = 3", "let count =", ALL);
        recovers("deployment: \"web\"", "deployment: ", ALL);
        recovers("deployment: \"web\",", "deployment: \"web\"", ALL);
        recovers("param namespace: string", "param namespace:", ALL);
    }

    #[test]
    fn a_missing_close_is_put_back() {
        // Inside a step, the next step starts: the step's `}` is missing.
        recovers("    timeout 1m\n  }\n", "    timeout 1m\n\n", ALL);
        // A map left open.
        let f = recovers("replicas: count }", "replicas: count", ALL);
        let first = f.workflow.all_steps().next().unwrap();
        assert!(
            first.timeout().is_some(),
            "the item after the open map is kept"
        );
        // The file ends early.
        let cut = GOOD.find("  finally").unwrap();
        let file = parse_recovering(&GOOD[..cut]).unwrap();
        assert_eq!(steps(&file), ["first", "second"]);
        let cut = GOOD.find("with { message: \"done\"").unwrap() + 8;
        let file = parse_recovering(&GOOD[..cut]).unwrap();
        assert_eq!(steps(&file), ["first", "second"]);
    }

    #[test]
    fn unterminated_strings_and_expressions_are_dropped() {
        recovers("message: \"done\" }", "message: \"done }", ALL);
        recovers("replicas: count }", "replicas: ${ analysis. }", ALL);
        recovers("replicas: count }", "replicas: ${ analysis.\n", ALL);
        recovers(
            "action \"notify_only\"\n    with { message: \"done\" }",
            "action \"notify",
            ALL,
        );
    }

    #[test]
    fn bad_names_and_literals_are_made_valid_in_place() {
        let f = recovers("step second after", "step Second after", ALL);
        let second = f.workflow.all_steps().nth(1).unwrap();
        assert_eq!(second.name.span.len(), "Second".len());
        recovers("timeout 1m", "timeout 1x", ALL);
        recovers("let count = 3", "let count = 99999999999999999999999", ALL);
        recovers("message: \"done\"", "message: \"d\\qne\"", ALL);
    }

    #[test]
    fn spans_point_at_the_original_text() {
        let text = GOOD.replacen("timeout 1m", "timeout", 1);
        let file = parse_recovering(&text).unwrap();
        for step in file.workflow.all_steps() {
            assert_eq!(
                &text[step.name.span.start..step.name.span.end],
                step.name.name
            );
            for item in &step.items {
                if let StepItem::Action(a) = item {
                    assert_eq!(
                        &text[a.name.span.start..a.name.span.end],
                        format!("\"{}\"", a.name.value)
                    );
                }
            }
        }
        let lets: Vec<_> = file
            .workflow
            .items
            .iter()
            .filter(|i| matches!(i, Item::Let(_)))
            .collect();
        assert_eq!(lets.len(), 1);
    }

    #[test]
    fn garbage_anywhere_never_panics() {
        // Every prefix of the file, and the file with each line removed.
        for cut in (0..GOOD.len()).filter(|&c| GOOD.is_char_boundary(c)) {
            let _ = parse_recovering(&GOOD[..cut]);
        }
        let lines: Vec<&str> = GOOD.lines().collect();
        for skip in 0..lines.len() {
            let text: String = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| format!("{l}\n"))
                .collect();
            let file = parse_recovering(&text);
            if skip > 0 && skip + 1 < lines.len() {
                assert!(file.is_some(), "no tree without line {skip}:\n{text}");
            }
        }
        for text in [
            "",
            "}",
            "{{{{",
            "workflow",
            "workflow \"a\" version \"1\" { ${ \" } ] ) ",
            "ü\u{0}é",
        ] {
            let _ = parse_recovering(text);
        }
    }
}
