//! Where the cursor stands: which blocks enclose it, read from the tokens (so it works in a
//! file that does not parse), and which step, phase and rollback block hold it, read from the
//! (possibly recovered) syntax tree.

use crate::diagnostic::Span;
use crate::dsl::ast::{Item, Step, StepItem};
use crate::graph::Phase;

use super::analysis::Analysis;
use super::lex::{Kind, Token};

/// A block the cursor is inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `workflow … { }`.
    Workflow,
    /// `step NAME { }`.
    Step,
    /// A step's `rollback { }`.
    Rollback,
    /// `parallel { }`.
    Parallel,
    /// `verify { }`.
    Verify,
    /// `finally { }`.
    Finally,
    /// `with { }`.
    With,
    /// A param's `{ constraints }`.
    Constraints,
    /// Any other map (labels, a map value).
    Map,
    /// A list.
    List,
}

/// A block and the index of the token that opens it.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// What block.
    pub kind: FrameKind,
    /// The index of its `{` or `[` token.
    pub open: usize,
}

/// The blocks enclosing `offset`, outermost first (expressions, strings and comments are not
/// blocks).
pub fn frames(a: &Analysis, offset: usize) -> Vec<Frame> {
    let mut stack: Vec<Frame> = Vec::new();
    for (i, t) in a.tokens.iter().enumerate() {
        if t.span.end > offset {
            break;
        }
        if t.kind != Kind::Punct {
            continue;
        }
        match a.slice(t.span) {
            "{" => {
                let kind = classify(a, i, stack.last().map(|f| f.kind));
                stack.push(Frame { kind, open: i });
            }
            "[" => stack.push(Frame {
                kind: FrameKind::List,
                open: i,
            }),
            "}" | "]" => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack
}

/// What the `{` at token `i` opens, from the words before it.
fn classify(a: &Analysis, i: usize, outer: Option<FrameKind>) -> FrameKind {
    let prev = significant_before(&a.tokens, i);
    if let Some(p) = prev.first()
        && p.kind == Kind::Punct
        && matches!(a.slice(p.span), ":" | "=" | "," | "[")
    {
        return FrameKind::Map;
    }
    // The nearest keyword back to the start of the statement.
    let keyword = prev
        .iter()
        .take_while(|t| !(t.kind == Kind::Punct && matches!(a.slice(t.span), "{" | "}")))
        .filter(|t| t.kind == Kind::Word)
        .map(|t| a.slice(t.span))
        .find(|w| {
            matches!(
                *w,
                "workflow"
                    | "step"
                    | "parallel"
                    | "verify"
                    | "finally"
                    | "labels"
                    | "param"
                    | "let"
                    | "with"
                    | "rollback"
            )
        });
    match (outer, keyword) {
        (None, _) => FrameKind::Workflow,
        (_, Some("step")) => FrameKind::Step,
        (_, Some("parallel")) => FrameKind::Parallel,
        (_, Some("verify")) => FrameKind::Verify,
        (_, Some("finally")) => FrameKind::Finally,
        (_, Some("with")) => FrameKind::With,
        (Some(FrameKind::Step), Some("rollback")) => FrameKind::Rollback,
        (Some(FrameKind::Workflow), Some("param")) => FrameKind::Constraints,
        _ => FrameKind::Map,
    }
}

/// The tokens before index `i` that are not inside expressions, strings or comments, nearest
/// first.
fn significant_before(tokens: &[Token], i: usize) -> Vec<&Token> {
    tokens[..i]
        .iter()
        .rev()
        .filter(|t| {
            matches!(
                t.kind,
                Kind::Word | Kind::Punct | Kind::Number | Kind::Duration | Kind::Str
            )
        })
        .take(64)
        .collect()
}

/// The significant tokens of the cursor's line before the cursor (strings count; expressions
/// and comments do not), and the word being typed at the cursor, if any.
pub fn line_before(a: &Analysis, offset: usize) -> (Vec<&Token>, Option<Span>) {
    let line_start = a.text[..offset.min(a.text.len())]
        .rfind('\n')
        .map_or(0, |n| n + 1);
    let mut typing = None;
    let mut out = Vec::new();
    for t in &a.tokens {
        if t.span.start >= offset {
            break;
        }
        if t.span.end <= line_start {
            continue;
        }
        if t.span.end == offset && matches!(t.kind, Kind::Word | Kind::RhaiIdent) {
            typing = Some(t.span);
            continue;
        }
        if matches!(
            t.kind,
            Kind::Word | Kind::Punct | Kind::Number | Kind::Duration | Kind::Str
        ) {
            out.push(t);
        }
    }
    (out, typing)
}

/// The tokens of the block opened at token `open`, at its own depth (not inside nested
/// blocks), up to its closing bracket.
pub fn frame_tokens(a: &Analysis, open: usize) -> Vec<&Token> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for t in a.tokens.iter().skip(open + 1) {
        if t.kind == Kind::Punct {
            match a.slice(t.span) {
                "{" | "[" => depth += 1,
                "}" | "]" if depth == 0 => break,
                "}" | "]" => depth -= 1,
                _ => {}
            }
        }
        if depth == 0
            && !t.in_expr()
            && !matches!(t.kind, Kind::ExprOpen | Kind::ExprClose | Kind::Comment)
        {
            out.push(t);
        }
    }
    out
}

/// The action type a step or rollback block names (`action "TYPE"`), read from its tokens.
pub fn frame_action(a: &Analysis, open: usize) -> Option<String> {
    let toks = frame_tokens(a, open);
    toks.windows(2).find_map(|w| {
        (w[0].kind == Kind::Word && a.slice(w[0].span) == "action" && w[1].kind == Kind::Str)
            .then(|| a.slice(w[1].span).trim_matches('"').to_string())
    })
}

/// Where the cursor stands in the syntax tree.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The step holding the cursor.
    pub step: Option<&'a Step>,
    /// Its phase.
    pub phase: Phase,
    /// True inside the step's `rollback { … }`.
    pub in_rollback: bool,
    /// For a cursor inside a `let`: how many lets come before it.
    pub let_index: Option<usize>,
}

/// The place of `offset` in the tree of `a`.
pub fn place(a: &Analysis, offset: usize) -> Place<'_> {
    let mut p = Place {
        step: None,
        phase: Phase::Main,
        in_rollback: false,
        let_index: None,
    };
    let Some(tree) = &a.tree else { return p };
    let inside = |s: Span| s.start <= offset && offset <= s.end;
    let mut lets = 0;
    for item in &tree.workflow.items {
        let (steps, phase): (&[Step], Phase) = match item {
            Item::Step(s) => (std::slice::from_ref(s), Phase::Main),
            Item::Parallel(g) => (&g.steps, Phase::Main),
            Item::Verify(v) => (&v.steps, Phase::Verify),
            Item::Finally(f) => (&f.steps, Phase::Finally),
            Item::Let(l) => {
                if inside(l.span) {
                    p.let_index = Some(lets);
                }
                lets += 1;
                continue;
            }
            _ => continue,
        };
        if inside(item.span()) {
            p.phase = phase;
        }
        for s in steps {
            if inside(s.span) {
                p.step = Some(s);
                p.phase = phase;
                p.in_rollback = s
                    .items
                    .iter()
                    .any(|i| matches!(i, StepItem::Rollback(r) if inside(r.span)));
            }
        }
    }
    p
}

/// The steps of `phase` declared before `offset`, in order.
pub fn steps_before(a: &Analysis, offset: usize, phase: Phase) -> Vec<&Step> {
    let Some(tree) = &a.tree else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in &tree.workflow.items {
        let (steps, p): (&[Step], Phase) = match item {
            Item::Step(s) => (std::slice::from_ref(s), Phase::Main),
            Item::Parallel(g) => (&g.steps, Phase::Main),
            Item::Verify(v) => (&v.steps, Phase::Verify),
            Item::Finally(f) => (&f.steps, Phase::Finally),
            _ => continue,
        };
        if p != phase {
            continue;
        }
        out.extend(steps.iter().filter(|s| s.name.span.end < offset));
    }
    out
}
