//! The formatter: one canonical layout for a syntax tree, keeping every comment.
//!
//! Layout: 2-space indent, one item per line, a blank line between groups of workflow items
//! (header items, imports, params and lets) and around every step and block. A map, list or
//! constraint block stays on one line when it fits in [`WIDTH`] columns and holds no comment,
//! else it takes one entry per line. Durations print canonically (`90m` → `1h30m`).
//!
//! Comments are placed by position: an own-line comment goes before the item or entry that
//! follows it (or before the closing brace of its block), at that item's indentation; a
//! comment that followed code on its line is appended to the last printed line before it.

use std::fmt::Write as _;

use super::ast::*;
use crate::diagnostic::Span;
use crate::units::duration::format_millis as duration;

/// The line width the formatter keeps to where it can.
pub const WIDTH: usize = 110;

/// Print a file in the canonical layout.
pub fn format(file: &File) -> String {
    let mut p = Printer {
        out: String::new(),
        comments: &file.comments,
        next: 0,
    };
    p.workflow(&file.workflow);
    p.rest_of_comments();
    p.out
}

struct Printer<'a> {
    out: String,
    comments: &'a [Comment],
    /// The first comment not yet printed.
    next: usize,
}

/// The blank-line group of a workflow item: a blank line separates different groups, and
/// every block stands apart.
fn group(item: &Item) -> u8 {
    match item {
        Item::Import(_) => 1,
        Item::Param(_) | Item::Let(_) => 2,
        Item::Step(_) | Item::Parallel(_) | Item::Verify(_) | Item::Finally(_) => 3,
        _ => 0,
    }
}

impl Printer<'_> {
    // ---- lines and comments ------------------------------------------------------------------

    fn start_line(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn end_line(&mut self) {
        self.out.push('\n');
    }

    fn line(&mut self, indent: usize, s: &str) {
        self.start_line(indent);
        self.push(s);
        self.end_line();
    }

    /// The column where the current line stands.
    fn column(&self) -> usize {
        let start = self.out.rfind('\n').map_or(0, |n| n + 1);
        self.out[start..].chars().count()
    }

    /// A blank line, unless at the start of the output or just after an opening brace.
    fn blank(&mut self) {
        let last = self.out.trim_end_matches('\n');
        if !last.is_empty() && !last.ends_with('{') && !self.out.ends_with("\n\n") {
            self.end_line();
        }
    }

    /// Append the trailing comments that start before `pos` to the last printed line.
    fn trailing_before(&mut self, pos: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if !c.trailing || c.span.start >= pos || self.out.is_empty() {
                break;
            }
            if self.out.ends_with('\n') {
                self.out.pop();
            }
            self.out.push(' ');
            self.out.push_str(&c.text);
            self.out.push('\n');
            self.next += 1;
        }
    }

    /// Print every comment that starts before `pos`, own-line ones at `indent`.
    fn comments_before(&mut self, pos: usize, indent: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= pos {
                break;
            }
            if c.trailing && !self.out.is_empty() {
                self.trailing_before(pos);
            } else {
                self.line(indent, &c.text);
                self.next += 1;
            }
        }
    }

    fn rest_of_comments(&mut self) {
        self.comments_before(usize::MAX, 0);
    }

    /// True when a comment lies inside `span`.
    fn has_comment_in(&self, span: Span) -> bool {
        // Comments are sorted by position: a binary search, not a scan of every comment left
        // for every value printed.
        let rest = self.comments.get(self.next..).unwrap_or_default();
        let first = rest.partition_point(|c| c.span.start < span.start);
        rest.get(first).is_some_and(|c| c.span.start < span.end)
    }

    /// Print the comments before `pos` (a closing brace) at `indent`, then the brace.
    fn close(&mut self, block: Span, indent: usize, brace: &str) {
        self.comments_before(block.end.saturating_sub(1), indent + 1);
        self.line(indent, brace);
    }

    // ---- workflow ------------------------------------------------------------------------------

    fn workflow(&mut self, w: &Workflow) {
        self.comments_before(w.span.start, 0);
        self.line(
            0,
            &format!(
                "workflow {} version {} {{",
                quote(&w.name.value),
                quote(&w.version.value)
            ),
        );
        let mut prev: Option<u8> = None;
        for item in &w.items {
            let g = group(item);
            self.trailing_before(item.span().start);
            if prev.is_some_and(|p| p != g || g == 3) {
                self.blank();
            }
            prev = Some(g);
            self.comments_before(item.span().start, 1);
            self.item(item);
        }
        self.close(w.span, 0, "}");
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Description(d) => self.line(1, &format!("description {}", string(&d.text))),
            Item::Labels(l) => {
                self.start_line(1);
                self.push("labels ");
                self.map(&l.map, 1);
                self.end_line();
            }
            Item::Timeout(t) => self.line(1, &format!("timeout {}", duration(t.duration.millis))),
            Item::MaxParallel(m) => self.line(1, &format!("max_parallel {}", m.value)),
            Item::RollbackMode(r) => self.line(1, &format!("rollback {}", r.mode.as_str())),
            Item::Approval(a) => match &a.kind {
                ApprovalKind::Required => self.line(1, "approval required"),
                ApprovalKind::When(e) => self.line(1, &format!("approval {}", expr(e))),
            },
            Item::Import(i) => {
                self.line(
                    1,
                    &format!("import {} as {}", quote(&i.path.value), i.alias.name),
                );
            }
            Item::Param(p) => self.param(p),
            Item::Let(l) => {
                self.start_line(1);
                self.push(&format!("let {} = ", l.name.name));
                self.value(&l.value, 1);
                self.end_line();
            }
            Item::Step(s) => self.step(s, 1),
            Item::Parallel(p) => self.block("parallel {", &p.steps, p.span),
            Item::Verify(v) => {
                let head = match &v.within {
                    Some(d) => format!("verify within {} {{", duration(d.millis)),
                    None => "verify {".to_string(),
                };
                self.block(&head, &v.steps, v.span);
            }
            Item::Finally(f) => self.block("finally {", &f.steps, f.span),
        }
    }

    fn param(&mut self, p: &Param) {
        self.start_line(1);
        self.push(&format!("param {}: {}", p.name.name, p.ty.as_str()));
        if let Some(v) = &p.default {
            self.push(" = ");
            self.value(v, 1);
        }
        if !p.constraints.is_empty() {
            let after = p.default.as_ref().map_or(p.ty_span.end, |v| v.span.end);
            let span = Span::new(after, p.span.end);
            let inline: Vec<String> = p
                .constraints
                .iter()
                .map(|c| self.constraint_inline(c))
                .collect();
            let text = format!(" {{ {} }}", inline.join("  "));
            if !self.has_comment_in(span) && self.column() + text.len() <= WIDTH {
                self.push(&text);
            } else {
                self.push(" {");
                self.end_line();
                for c in &p.constraints {
                    self.comments_before(c.span.start, 2);
                    self.start_line(2);
                    self.constraint(c, 2);
                    self.end_line();
                }
                self.close(p.span, 1, "}");
                return;
            }
        }
        self.end_line();
    }

    fn constraint_inline(&self, c: &Constraint) -> String {
        match &c.kind {
            ConstraintKind::Min(v) => format!("min {}", inline(v)),
            ConstraintKind::Max(v) => format!("max {}", inline(v)),
            ConstraintKind::Enum(vs) => format!("enum {}", inline_list(vs)),
            ConstraintKind::Pattern(s) => format!("pattern {}", quote(&s.value)),
            ConstraintKind::Description(s) => format!("description {}", string(s)),
        }
    }

    fn constraint(&mut self, c: &Constraint, indent: usize) {
        match &c.kind {
            ConstraintKind::Min(v) => {
                self.push("min ");
                self.value(v, indent);
            }
            ConstraintKind::Max(v) => {
                self.push("max ");
                self.value(v, indent);
            }
            ConstraintKind::Enum(vs) => {
                self.push("enum ");
                self.list(vs, c.span, indent);
            }
            ConstraintKind::Pattern(_) | ConstraintKind::Description(_) => {
                let text = self.constraint_inline(c);
                self.push(&text);
            }
        }
    }

    fn block(&mut self, head: &str, steps: &[Step], span: Span) {
        self.line(1, head);
        for (i, s) in steps.iter().enumerate() {
            self.trailing_before(s.span.start);
            if i > 0 {
                self.blank();
            }
            self.comments_before(s.span.start, 2);
            self.step(s, 2);
        }
        self.close(span, 1, "}");
    }

    // ---- steps ---------------------------------------------------------------------------------

    fn step(&mut self, s: &Step, indent: usize) {
        let mut head = format!("step {}", s.name.name);
        if !s.after.is_empty() {
            let names: Vec<&str> = s.after.iter().map(|a| a.name.as_str()).collect();
            let _ = write!(head, " after {}", names.join(", "));
        }
        self.body(&head, &s.items, s.span, indent);
    }

    /// `head {`, the items one per line, `}`; `head {}` when empty.
    fn body(&mut self, head: &str, items: &[StepItem], span: Span, indent: usize) {
        if items.is_empty() && !self.has_comment_in(span) {
            self.line(indent, &format!("{head} {{}}"));
            return;
        }
        self.line(indent, &format!("{head} {{"));
        for item in items {
            self.comments_before(item.span().start, indent + 1);
            self.step_item(item, indent + 1);
        }
        self.close(span, indent, "}");
    }

    fn step_item(&mut self, item: &StepItem, indent: usize) {
        match item {
            StepItem::Description(d) => {
                self.line(indent, &format!("description {}", string(&d.text)))
            }
            StepItem::Action(a) => self.line(indent, &format!("action {}", quote(&a.name.value))),
            StepItem::With(w) => {
                self.start_line(indent);
                self.push("with ");
                self.map(&w.map, indent);
                self.end_line();
            }
            StepItem::Timeout(t) => {
                self.line(indent, &format!("timeout {}", duration(t.duration.millis)))
            }
            StepItem::Retry(r) => {
                let mut text = format!("retry {}", r.count);
                if let Some(b) = &r.backoff {
                    let _ = write!(text, " backoff {}", duration(b.millis));
                    if let Some(m) = &r.max {
                        let _ = write!(text, " max {}", duration(m.millis));
                    }
                }
                self.line(indent, &text);
            }
            StepItem::When(w) => self.line(indent, &format!("when {}", expr(&w.expr))),
            StepItem::OnFailure(o) => {
                self.line(indent, &format!("on_failure {}", o.policy.as_str()))
            }
            StepItem::Rollback(r) => self.body("rollback", &r.items, r.span, indent),
        }
    }

    // ---- values --------------------------------------------------------------------------------

    /// Print a value where the current line stands, breaking lists and maps that do not fit.
    fn value(&mut self, v: &Value, indent: usize) {
        match &v.kind {
            ValueKind::List(vs) => self.list(vs, v.span, indent),
            ValueKind::Map(m) => self.map(m, indent),
            _ => self.push(&inline(v)),
        }
    }

    fn fits(&self, span: Span, text: &str) -> bool {
        !self.has_comment_in(span) && self.column() + text.chars().count() <= WIDTH
    }

    fn map(&mut self, m: &MapLit, indent: usize) {
        let text = inline_map(m);
        if m.entries.is_empty() && !self.has_comment_in(m.span) || self.fits(m.span, &text) {
            self.push(&text);
            return;
        }
        self.push("{");
        self.end_line();
        for e in &m.entries {
            self.comments_before(e.span.start, indent + 1);
            self.start_line(indent + 1);
            self.push(&key(&e.key));
            if !e.shorthand {
                self.push(": ");
                self.value(&e.value, indent + 1);
            }
            self.push(",");
            self.end_line();
        }
        self.comments_before(m.span.end.saturating_sub(1), indent + 1);
        self.start_line(indent);
        self.push("}");
    }

    fn list(&mut self, vs: &[Value], span: Span, indent: usize) {
        let text = inline_list(vs);
        if vs.is_empty() && !self.has_comment_in(span) || self.fits(span, &text) {
            self.push(&text);
            return;
        }
        self.push("[");
        self.end_line();
        for v in vs {
            self.comments_before(v.span.start, indent + 1);
            self.start_line(indent + 1);
            self.value(v, indent + 1);
            self.push(",");
            self.end_line();
        }
        self.comments_before(span.end.saturating_sub(1), indent + 1);
        self.start_line(indent);
        self.push("]");
    }
}

/// A value on one line.
fn inline(v: &Value) -> String {
    match &v.kind {
        ValueKind::String(s) => string(s),
        ValueKind::Int(i) => i.to_string(),
        ValueKind::Float(f, text) => float(*f, text),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Null => "null".to_string(),
        ValueKind::Duration(d) => duration(d.millis),
        ValueKind::List(vs) => inline_list(vs),
        ValueKind::Map(m) => inline_map(m),
        ValueKind::Expr(e) => expr(e),
        ValueKind::Ident(i) => i.name.clone(),
    }
}

fn inline_list(vs: &[Value]) -> String {
    let items: Vec<String> = vs.iter().map(inline).collect();
    format!("[{}]", items.join(", "))
}

fn inline_map(m: &MapLit) -> String {
    if m.entries.is_empty() {
        return "{}".to_string();
    }
    let entries: Vec<String> = m
        .entries
        .iter()
        .map(|e| {
            if e.shorthand {
                key(&e.key)
            } else {
                format!("{}: {}", key(&e.key), inline(&e.value))
            }
        })
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

fn key(k: &MapKey) -> String {
    if k.quoted {
        quote(&k.name)
    } else {
        k.name.clone()
    }
}

/// A float as written, or (for a tree built in code) a literal the grammar reads back.
fn float(f: f64, text: &str) -> String {
    let ok = text.parse::<f64>().is_ok_and(|t| t == f)
        && text
            .trim_start_matches('-')
            .split_once('.')
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.starts_with(|c: char| c.is_ascii_digit())
                    && !b.ends_with(['e', 'E', '+', '-'])
            });
    if ok {
        return text.to_string();
    }
    let s = format!("{f:?}");
    if s.contains('.') {
        // `1e20` prints as `1e20`; the grammar wants `1.0e20`.
        s
    } else if let Some((m, e)) = s.split_once('e') {
        format!("{m}.0e{e}")
    } else {
        format!("{s}.0")
    }
}

fn expr(e: &Expr) -> String {
    format!("${{{}}}", e.source)
}

/// A string literal with its interpolations.
fn string(s: &StringLit) -> String {
    let mut out = String::from("\"");
    for part in &s.parts {
        match part {
            StringPart::Text(t) => escape_into(&mut out, t),
            StringPart::Expr(e) => out.push_str(&expr(e)),
        }
    }
    out.push('"');
    out
}

/// A plain string literal.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    escape_into(&mut out, s);
    out.push('"');
    out
}

fn escape_into(out: &mut String, text: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}
