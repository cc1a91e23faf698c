//! The direct parser: a hand-written recursive descent over `grammar/workflow.pest` that builds
//! the syntax tree without pest's parse tree, for files that parse without any problem.
//!
//! pest stays the authority. This parser follows the grammar's derivation exactly (including
//! where pest's implicit whitespace makes a span end: a rule whose last element is an absent
//! `?` ends after the whitespace before it), and gives up (`None`) at the first thing it does
//! not expect: a syntax error, a bad name, duration, number or escape, nesting deeper than
//! [`MAX_NESTING`]. [`super::parser::parse`] then runs pest, whose result (tree or diagnostic)
//! is the answer. So a `Some` is always the tree pest would build, and every diagnostic still
//! comes from pest; tests compare the two on every fixture and on mutated fixtures.
//!
//! It works on bytes and only slices at ASCII delimiters, and every read is bounds-checked, so
//! it never panics on any text.

use super::ast::*;
use super::parser::{parse_duration, unescape_body, valid_name};
use super::span::Span;

/// Deeper nesting (rollback blocks, lists, maps) is left to pest and the scan's bound.
const MAX_NESTING: usize = 128;

/// The workflow of `text` as pest's parser would build it, or `None` to let pest decide.
pub(super) fn parse(text: &str) -> Option<Workflow> {
    let mut p = P {
        text,
        b: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    // file = { SOI ~ "\u{FEFF}"? ~ workflow ~ EOI }
    p.skip();
    if p.rest().starts_with('\u{FEFF}') {
        p.pos += '\u{FEFF}'.len_utf8();
    }
    p.skip();
    let wf = p.workflow()?;
    p.skip();
    (p.pos == p.b.len()).then_some(wf)
}

/// The keywords that start a workflow item.
pub(super) const ITEM_KEYWORDS: &[&str] = &[
    "description",
    "labels",
    "timeout",
    "max_parallel",
    "rollback",
    "approval",
    "import",
    "param",
    "let",
    "step",
    "parallel",
    "verify",
    "finally",
];

/// The keywords that start a step item.
pub(super) const STEP_ITEM_KEYWORDS: &[&str] = &[
    "description",
    "action",
    "with",
    "timeout",
    "retry",
    "when",
    "on_failure",
    "rollback",
];

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

struct P<'t> {
    text: &'t str,
    b: &'t [u8],
    pos: usize,
    depth: usize,
}

impl<'t> P<'t> {
    fn rest(&self) -> &'t str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.b.get(self.pos + offset).copied()
    }

    fn span(&self, start: usize) -> Span {
        Span::new(start, self.pos)
    }

    fn slice(&self, start: usize, end: usize) -> Option<&'t str> {
        self.text.get(start..end)
    }

    /// pest's implicit `skip`: `WHITESPACE* ~ (COMMENT ~ WHITESPACE*)*`.
    fn skip(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\n' | b'\t' | b'\r') => self.pos += 1,
                Some(b'/') => match self.peek_at(1) {
                    Some(b'/') => {
                        self.pos += 2;
                        while self.peek().is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                    Some(b'*') => match self.text.get(self.pos + 2..).and_then(|r| r.find("*/")) {
                        Some(n) => self.pos += 2 + n + 2,
                        None => return,
                    },
                    _ => return,
                },
                _ => return,
            }
        }
    }

    /// The run of identifier characters at the position (a keyword is such a run).
    fn word(&self) -> &'t str {
        let end = self.b[self.pos.min(self.b.len())..]
            .iter()
            .position(|&c| !is_ident_char(c))
            .map_or(self.b.len(), |n| self.pos + n);
        self.slice(self.pos, end).unwrap_or("")
    }

    /// `kw_X = @{ "X" ~ !ident_char }`.
    fn kw(&mut self, keyword: &str) -> Option<()> {
        (self.word() == keyword).then(|| self.pos += keyword.len())
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.pos += 1)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_NESTING).then_some(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- structure ---------------------------------------------------------------------------

    fn workflow(&mut self) -> Option<Workflow> {
        let start = self.pos;
        self.kw("workflow")?;
        self.skip();
        let name = self.plain_string()?;
        self.skip();
        self.kw("version")?;
        self.skip();
        let version = self.plain_string()?;
        self.skip();
        self.eat(b'{')?;
        self.skip();
        let mut items = Vec::new();
        while ITEM_KEYWORDS.contains(&self.word()) {
            items.push(self.item()?);
            self.skip();
        }
        self.eat(b'}')?;
        Some(Workflow {
            name,
            version,
            items,
            span: self.span(start),
        })
    }

    fn item(&mut self) -> Option<Item> {
        let start = self.pos;
        let keyword = self.word();
        self.kw(keyword)?;
        self.skip();
        Some(match keyword {
            "description" => Item::Description(Description {
                text: self.string_lit()?,
                span: self.span(start),
            }),
            "labels" => Item::Labels(Labels {
                map: self.map()?,
                span: self.span(start),
            }),
            "timeout" => Item::Timeout(TimeoutItem {
                duration: self.duration()?,
                span: self.span(start),
            }),
            "max_parallel" => {
                let n = self.pos;
                let value = self.uint()?;
                Item::MaxParallel(MaxParallel {
                    value,
                    value_span: self.span(n),
                    span: self.span(start),
                })
            }
            "rollback" => {
                let mode = match self.word() {
                    "automatic" => RollbackMode::Automatic,
                    "manual" => RollbackMode::Manual,
                    "none" => RollbackMode::None,
                    _ => return None,
                };
                self.pos += mode.as_str().len();
                Item::RollbackMode(RollbackModeItem {
                    mode,
                    span: self.span(start),
                })
            }
            "approval" => {
                let kind = if self.kw("required").is_some() {
                    ApprovalKind::Required
                } else {
                    ApprovalKind::When(self.expr()?)
                };
                Item::Approval(Approval {
                    kind,
                    span: self.span(start),
                })
            }
            "import" => {
                let path = self.plain_string()?;
                self.skip();
                self.kw("as")?;
                self.skip();
                let alias = self.ident()?;
                Item::Import(Import {
                    path,
                    alias,
                    span: self.span(start),
                })
            }
            "param" => Item::Param(self.param(start)?),
            "let" => {
                let name = self.ident()?;
                self.skip();
                self.eat(b'=')?;
                self.skip();
                let value = self.value()?;
                Item::Let(Let {
                    name,
                    value,
                    span: self.span(start),
                })
            }
            "step" => Item::Step(self.step(start)?),
            "parallel" => {
                let steps = self.steps()?;
                Item::Parallel(Parallel {
                    steps,
                    span: self.span(start),
                })
            }
            "verify" => {
                let within = if self.kw("within").is_some() {
                    self.skip();
                    let d = self.duration()?;
                    self.skip();
                    Some(d)
                } else {
                    None
                };
                let steps = self.steps()?;
                Item::Verify(Verify {
                    within,
                    steps,
                    span: self.span(start),
                })
            }
            "finally" => {
                let steps = self.steps()?;
                Item::Finally(Finally {
                    steps,
                    span: self.span(start),
                })
            }
            _ => return None,
        })
    }

    /// `open ~ step+ ~ close`.
    fn steps(&mut self) -> Option<Vec<Step>> {
        self.eat(b'{')?;
        self.skip();
        let mut steps = Vec::new();
        loop {
            let start = self.pos;
            self.kw("step")?;
            self.skip();
            steps.push(self.step(start)?);
            self.skip();
            if self.word() != "step" {
                break;
            }
        }
        self.eat(b'}')?;
        Some(steps)
    }

    /// `param`, after its keyword and whitespace.
    fn param(&mut self, start: usize) -> Option<Param> {
        let name = self.ident()?;
        self.skip();
        self.eat(b':')?;
        self.skip();
        let ty_start = self.pos;
        let ty = ParamType::from_keyword(self.word())?;
        self.pos += ty.as_str().len();
        let ty_span = self.span(ty_start);
        self.skip();
        let default = if self.eat(b'=').is_some() {
            self.skip();
            let v = self.value()?;
            self.skip();
            Some(v)
        } else {
            None
        };
        let mut constraints = Vec::new();
        if self.eat(b'{').is_some() {
            self.skip();
            loop {
                let cstart = self.pos;
                let keyword = self.word();
                let kind = match keyword {
                    "min" | "max" => {
                        self.kw(keyword)?;
                        self.skip();
                        let v = self.value()?;
                        if keyword == "min" {
                            ConstraintKind::Min(v)
                        } else {
                            ConstraintKind::Max(v)
                        }
                    }
                    "enum" => {
                        self.kw(keyword)?;
                        self.skip();
                        if self.peek() != Some(b'[') {
                            return None;
                        }
                        let ValueKind::List(items) = self.list()? else {
                            return None;
                        };
                        ConstraintKind::Enum(items)
                    }
                    "pattern" => {
                        self.kw(keyword)?;
                        self.skip();
                        ConstraintKind::Pattern(self.plain_string()?)
                    }
                    "description" => {
                        self.kw(keyword)?;
                        self.skip();
                        ConstraintKind::Description(self.string_lit()?)
                    }
                    _ => break,
                };
                constraints.push(Constraint {
                    kind,
                    span: self.span(cstart),
                });
                self.skip();
            }
            self.eat(b'}')?;
        }
        Some(Param {
            name,
            ty,
            ty_span,
            default,
            constraints,
            span: self.span(start),
        })
    }

    /// `step`, after its keyword and whitespace.
    fn step(&mut self, start: usize) -> Option<Step> {
        self.enter()?;
        let name = self.ident()?;
        self.skip();
        let mut after = Vec::new();
        if self.kw("after").is_some() {
            self.skip();
            after.push(self.ident()?);
            self.skip();
            while self.eat(b',').is_some() {
                self.skip();
                after.push(self.ident()?);
                self.skip();
            }
        }
        let items = self.step_block()?;
        self.leave();
        Some(Step {
            name,
            after,
            items,
            span: self.span(start),
        })
    }

    /// `open ~ step_item* ~ close`.
    fn step_block(&mut self) -> Option<Vec<StepItem>> {
        self.eat(b'{')?;
        self.skip();
        let mut items = Vec::new();
        while STEP_ITEM_KEYWORDS.contains(&self.word()) {
            items.push(self.step_item()?);
            self.skip();
        }
        self.eat(b'}')?;
        Some(items)
    }

    fn step_item(&mut self) -> Option<StepItem> {
        let start = self.pos;
        let keyword = self.word();
        self.kw(keyword)?;
        self.skip();
        Some(match keyword {
            "description" => StepItem::Description(Description {
                text: self.string_lit()?,
                span: self.span(start),
            }),
            "action" => StepItem::Action(ActionItem {
                name: self.plain_string()?,
                span: self.span(start),
            }),
            "with" => StepItem::With(With {
                map: self.map()?,
                span: self.span(start),
            }),
            "timeout" => StepItem::Timeout(TimeoutItem {
                duration: self.duration()?,
                span: self.span(start),
            }),
            "retry" => {
                let count = self.uint()?;
                self.skip();
                let (mut backoff, mut max) = (None, None);
                if self.kw("backoff").is_some() {
                    self.skip();
                    backoff = Some(self.duration()?);
                    self.skip();
                    if self.kw("max").is_some() {
                        self.skip();
                        max = Some(self.duration()?);
                    }
                }
                StepItem::Retry(Retry {
                    count,
                    backoff,
                    max,
                    span: self.span(start),
                })
            }
            "when" => StepItem::When(When {
                expr: self.expr()?,
                span: self.span(start),
            }),
            "on_failure" => {
                let policy = match self.word() {
                    "rollback" => OnFailure::Rollback,
                    "fail" => OnFailure::Fail,
                    "continue" => OnFailure::Continue,
                    _ => return None,
                };
                self.pos += policy.as_str().len();
                StepItem::OnFailure(OnFailureItem {
                    policy,
                    span: self.span(start),
                })
            }
            "rollback" => {
                self.enter()?;
                let items = self.step_block()?;
                self.leave();
                StepItem::Rollback(RollbackBlock {
                    items,
                    span: self.span(start),
                })
            }
            _ => return None,
        })
    }

    // ---- values ------------------------------------------------------------------------------

    fn value(&mut self) -> Option<Value> {
        let start = self.pos;
        let kind = match self.peek()? {
            b'"' => ValueKind::String(self.string_lit()?),
            b'0'..=b'9' | b'-' => self.number()?,
            b'[' => self.list()?,
            b'{' => ValueKind::Map(self.map()?),
            b'$' => ValueKind::Expr(self.expr()?),
            c if c.is_ascii_alphabetic() || c == b'_' => match self.word() {
                "true" | "false" => {
                    let value = self.word() == "true";
                    self.pos += self.word().len();
                    ValueKind::Bool(value)
                }
                "null" => {
                    self.pos += 4;
                    ValueKind::Null
                }
                _ => ValueKind::Ident(self.ident()?),
            },
            _ => return None,
        };
        Some(Value {
            kind,
            span: self.span(start),
        })
    }

    /// `duration | float | int`, tried in that order.
    fn number(&mut self) -> Option<ValueKind> {
        let start = self.pos;
        let negative = self.eat(b'-').is_some();
        let digits = self.digits();
        if digits == 0 {
            return None;
        }
        if !negative && self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos = start;
            return Some(ValueKind::Duration(self.duration()?));
        }
        if self.eat(b'.').is_some() {
            if self.digits() == 0 {
                return None;
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                let before = self.pos;
                self.pos += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.pos += 1;
                }
                if self.digits() == 0 {
                    self.pos = before;
                }
            }
            if self.peek().is_some_and(is_ident_char) {
                return None;
            }
            let text = self.slice(start, self.pos)?;
            let f = text.parse::<f64>().ok().filter(|f| f.is_finite())?;
            return Some(ValueKind::Float(f, text.to_string()));
        }
        if self.peek().is_some_and(is_ident_char) {
            return None;
        }
        self.slice(start, self.pos)?
            .parse::<i64>()
            .ok()
            .map(ValueKind::Int)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `uint = @{ ASCII_DIGIT+ ~ !(ident_char | ".") }`.
    fn uint(&mut self) -> Option<u64> {
        let start = self.pos;
        if self.digits() == 0 || self.peek().is_some_and(|c| is_ident_char(c) || c == b'.') {
            return None;
        }
        self.slice(start, self.pos)?.parse().ok()
    }

    /// `duration = @{ ASCII_DIGIT+ ~ ASCII_ALPHA ~ (ASCII_ALPHANUMERIC | "_")* }`.
    fn duration(&mut self) -> Option<DurationLit> {
        let start = self.pos;
        if self.digits() == 0 || !self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        let millis = parse_duration(self.slice(start, self.pos)?).ok()?;
        Some(DurationLit {
            millis,
            span: self.span(start),
        })
    }

    /// `lbracket ~ (value ~ (comma ~ value)* ~ comma?)? ~ rbracket`.
    fn list(&mut self) -> Option<ValueKind> {
        self.enter()?;
        self.eat(b'[')?;
        self.skip();
        let mut items = Vec::new();
        if self.peek() != Some(b']') {
            items.push(self.value()?);
            self.skip();
            while self.eat(b',').is_some() {
                self.skip();
                if self.peek() == Some(b']') {
                    break;
                }
                items.push(self.value()?);
                self.skip();
            }
        }
        self.eat(b']')?;
        self.leave();
        Some(ValueKind::List(items))
    }

    /// `open ~ (map_entry ~ (comma ~ map_entry)* ~ comma?)? ~ close`.
    fn map(&mut self) -> Option<MapLit> {
        self.enter()?;
        let start = self.pos;
        self.eat(b'{')?;
        self.skip();
        let mut entries = Vec::new();
        if self.peek() != Some(b'}') {
            entries.push(self.map_entry()?);
            self.skip();
            while self.eat(b',').is_some() {
                self.skip();
                if self.peek() == Some(b'}') {
                    break;
                }
                entries.push(self.map_entry()?);
                self.skip();
            }
        }
        self.eat(b'}')?;
        self.leave();
        Some(MapLit {
            entries,
            span: self.span(start),
        })
    }

    /// `string ~ colon ~ value | ident ~ (colon ~ value)?`.
    fn map_entry(&mut self) -> Option<MapEntry> {
        let start = self.pos;
        if self.peek() == Some(b'"') {
            let s = self.plain_string()?;
            self.skip();
            self.eat(b':')?;
            self.skip();
            let value = self.value()?;
            return Some(MapEntry {
                key: MapKey {
                    name: s.value,
                    quoted: true,
                    span: s.span,
                },
                value,
                shorthand: false,
                span: self.span(start),
            });
        }
        let id = self.ident()?;
        let key = MapKey {
            name: id.name,
            quoted: false,
            span: id.span,
        };
        self.skip();
        let (value, shorthand) = if self.eat(b':').is_some() {
            self.skip();
            (self.value()?, false)
        } else {
            let value = Value {
                kind: ValueKind::Ident(Ident {
                    name: key.name.clone(),
                    span: key.span,
                }),
                span: key.span,
            };
            (value, true)
        };
        Some(MapEntry {
            key,
            value,
            shorthand,
            span: self.span(start),
        })
    }

    /// `ident = @{ (ASCII_ALPHA | "_") ~ ident_char* }`, and a valid name.
    fn ident(&mut self) -> Option<Ident> {
        let start = self.pos;
        if !self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        {
            return None;
        }
        let name = self.word();
        if !valid_name(name) {
            return None;
        }
        self.pos += name.len();
        Some(Ident {
            name: name.to_string(),
            span: self.span(start),
        })
    }

    // ---- strings and expressions -------------------------------------------------------------

    fn plain_string(&mut self) -> Option<PlainString> {
        let lit = self.string_lit()?;
        let value = lit.as_plain()?;
        Some(PlainString {
            value,
            span: lit.span,
        })
    }

    /// `string = ${ "\"" ~ (string_text | escape | interp)* ~ "\"" }`.
    fn string_lit(&mut self) -> Option<StringLit> {
        let start = self.pos;
        self.eat(b'"')?;
        let mut parts: Vec<StringPart> = Vec::new();
        fn push_text(parts: &mut Vec<StringPart>, s: &str) {
            if let Some(StringPart::Text(t)) = parts.last_mut() {
                t.push_str(s);
            } else {
                parts.push(StringPart::Text(s.to_string()));
            }
        }
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\n' => return None,
                b'\\' => {
                    let c = self.escape()?;
                    push_text(&mut parts, c.encode_utf8(&mut [0; 4]));
                }
                b'$' if self.peek_at(1) == Some(b'{') => parts.push(StringPart::Expr(self.expr()?)),
                _ => {
                    let run = self.pos;
                    self.pos += 1;
                    while let Some(c) = self.peek() {
                        if c == b'"'
                            || c == b'\\'
                            || c == b'\n'
                            || (c == b'$' && self.peek_at(1) == Some(b'{'))
                        {
                            break;
                        }
                        self.pos += 1;
                    }
                    push_text(&mut parts, self.slice(run, self.pos)?);
                }
            }
        }
        Some(StringLit {
            parts,
            span: self.span(start),
        })
    }

    /// `escape = @{ "\\" ~ ("u{" ~ ASCII_HEX_DIGIT* ~ "}" | !"\n" ~ ANY)? }`, unescaped.
    fn escape(&mut self) -> Option<char> {
        let start = self.pos;
        self.pos += 1;
        if self.rest().starts_with("u{") {
            let mut end = self.pos + 2;
            while self.b.get(end).is_some_and(u8::is_ascii_hexdigit) {
                end += 1;
            }
            if self.b.get(end) == Some(&b'}') {
                self.pos = end + 1;
                return unescape_body(self.slice(start + 1, self.pos)?).ok();
            }
        }
        let c = self.rest().chars().next().filter(|&c| c != '\n')?;
        self.pos += c.len_utf8();
        unescape_body(self.slice(start + 1, self.pos)?).ok()
    }

    /// `expr = ${ "${" ~ expr_source ~ expr_end }` (also `interp`).
    fn expr(&mut self) -> Option<Expr> {
        let start = self.pos;
        if !self.rest().starts_with("${") {
            return None;
        }
        self.pos += 2;
        let src = self.pos;
        // expr_inner: plain text, rhai strings and balanced braces, up to the `}` at depth 0.
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'}' if depth == 0 => break,
                b'}' => {
                    depth -= 1;
                    self.pos += 1;
                }
                b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                q @ (b'"' | b'\'') => {
                    self.pos += 1;
                    loop {
                        match self.peek()? {
                            b'\\' => self.pos += 2,
                            c if c == q => {
                                self.pos += 1;
                                break;
                            }
                            _ => self.pos += 1,
                        }
                    }
                }
                b'`' => {
                    let n = self.text.get(self.pos + 1..)?.find('`')?;
                    self.pos += 1 + n + 1;
                }
                _ => self.pos += 1,
            }
        }
        let source_span = self.span(src);
        let source = self.slice(src, self.pos)?.to_string();
        self.pos += 1;
        Some(Expr {
            source,
            source_span,
            span: self.span(start),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Diagnostic;
    use crate::dsl::parser::parse_pest;
    use crate::dsl::scan;
    use proptest::prelude::*;
    use std::path::Path;

    /// The parse through pest alone.
    fn pest_only(text: &str) -> Result<File, Diagnostic> {
        parse_pest(text, scan::scan(text)?)
    }

    /// Every `.wf`-like text of the repository: templates, fixtures, the fuzz corpus.
    fn corpus() -> Vec<(String, String)> {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    walk(&path, out);
                } else if (path.extension().is_some_and(|e| e == "wf")
                    || path.components().any(|c| c.as_os_str() == "corpus"))
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    out.push((path.display().to_string(), text));
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for dir in ["workflows", "tests/fixtures", "fuzz/corpus/parse"] {
            walk(&root.join(dir), &mut out);
        }
        out
    }

    #[test]
    fn agrees_with_pest_on_every_fixture_and_takes_the_valid_ones() {
        let corpus = corpus();
        assert!(corpus.len() > 50, "corpus not found: {}", corpus.len());
        let mut direct = 0;
        for (path, text) in &corpus {
            let pest = pest_only(text);
            assert_eq!(crate::dsl::parse(text), pest, "{path}");
            if pest.is_ok() {
                assert!(
                    parse(text).is_some(),
                    "direct parser gave up on valid {path}"
                );
                direct += 1;
            } else {
                assert!(parse(text).is_none(), "{path}");
            }
        }
        assert!(direct > 50, "{direct}");
    }

    #[test]
    fn spans_of_items_ending_in_an_absent_option_cover_the_whitespace_after_them() {
        // pest's implicit whitespace runs before an optional element even when it is absent,
        // so `param`, `retry` and a shorthand map entry end where the next token starts.
        let text = "workflow \"w\" version \"1.0.0\" {\n  param a: int /* c */ \n  step s {\n    action \"x\"\n    with { a , b }\n    retry 2  backoff 1s // c\n  }\n}\n";
        let pest = pest_only(text);
        assert!(pest.is_ok(), "{pest:?}");
        assert_eq!(parse(text), pest.ok().map(|f| f.workflow));
    }

    const FRAGMENTS: &[&str] = &[
        " ",
        "\n",
        "\t",
        "\r\n",
        "//c\n",
        "/* c */",
        "/*",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "=",
        "\"",
        "\"a\"",
        "\"${ x }\"",
        "${",
        "${ a }",
        "${ {a} }",
        "${ \"}\" }",
        "${ `}` }",
        "${ 'a' }",
        "$",
        "\\",
        "\\n",
        "\\u{41}",
        "\\u{}",
        "\\u{110000}",
        "\\q",
        "x",
        "X",
        "_x",
        "a1",
        "step",
        "step t { }",
        "after",
        "after s",
        "rollback",
        "rollback automatic",
        "max",
        "backoff",
        "backoff 1s",
        "within 1m",
        "max 1m",
        "retry 1",
        "when",
        "with",
        "action",
        "param",
        "param p: int",
        "let",
        "let l = 1",
        "approval",
        "required",
        "import",
        "as",
        "parallel",
        "verify",
        "finally",
        "description",
        "labels",
        "timeout",
        "max_parallel",
        "on_failure",
        "continue",
        "min",
        "enum",
        "pattern",
        "1",
        "-1",
        "1.5",
        "-1.5",
        "1.5e3",
        "1.5e",
        "1.",
        "1_0",
        "99999999999999999999",
        "1s",
        "1h30m",
        "30x",
        "0s",
        "-1s",
        "true",
        "false",
        "null",
        "truex",
        "string",
        "int",
        "any",
        "é",
        "\u{FEFF}",
    ];

    fn mutate(text: &str, edits: &[(usize, usize, usize)]) -> String {
        let mut out = text.to_string();
        for &(at, len, fragment) in edits {
            let mut at = at % (out.len() + 1);
            while !out.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + len % 8).min(out.len());
            while !out.is_char_boundary(end) {
                end += 1;
            }
            // Odd fragment choices insert, even ones replace the range.
            let fragment = FRAGMENTS[fragment % FRAGMENTS.len()];
            if len % 2 == 0 {
                out.replace_range(at..end, fragment);
            } else {
                out.insert_str(at, fragment);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn agrees_with_pest_on_mutated_fixtures(
            file in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 1..4),
        ) {
            static TEMPLATES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
            let templates = TEMPLATES.get_or_init(|| {
                corpus()
                    .into_iter()
                    .filter(|(path, _)| path.ends_with(".wf"))
                    .map(|(_, text)| text)
                    .collect()
            });
            let template: &String = file.get(templates);
            let text = mutate(template, &edits);
            let pest = pest_only(&text);
            prop_assert_eq!(crate::dsl::parse(&text), pest.clone());
            if let Ok(f) = pest {
                prop_assert_eq!(parse(&text), Some(f.workflow));
            }
        }
    }
}
