//! Where the rhai is in a syntax tree: every `${ … }` (and bare identifier standing for one)
//! of a file, in source order. Pure syntax, so the checker, the template builder and the
//! planner walk a file's scripts the same way.

use crate::diagnostic::Span;
use crate::dsl::ast::{
    ApprovalKind, ConstraintKind, Expr, File, Item, MapLit, Step, StepItem, StringPart, Value,
    ValueKind,
};

/// One piece of rhai source in a file: a `${ … }` or a bare identifier standing for one.
#[derive(Debug, Clone, Copy)]
pub struct Script<'a> {
    /// The rhai source.
    pub source: &'a str,
    /// The span of that source in the file (the key of its compiled form).
    pub key: Span,
    /// The whole `${ … }` (or identifier).
    pub span: Span,
    /// True for a bare identifier value (`namespace`, shorthand for `${ namespace }`).
    pub bare: bool,
}

/// Call `f` on every script of the file, in source order.
pub fn for_each_script<'a>(file: &'a File, f: &mut dyn FnMut(Script<'a>)) {
    for item in &file.workflow.items {
        match item {
            Item::Description(d) => string_scripts(&d.text.parts, f),
            Item::Labels(l) => map_scripts(&l.map, f),
            Item::Approval(a) => {
                if let ApprovalKind::When(e) = &a.kind {
                    f(expr_script(e));
                }
            }
            Item::Param(p) => {
                if let Some(v) = &p.default {
                    value_scripts(v, f);
                }
                for c in &p.constraints {
                    match &c.kind {
                        ConstraintKind::Min(v) | ConstraintKind::Max(v) => value_scripts(v, f),
                        ConstraintKind::Enum(vs) => vs.iter().for_each(|v| value_scripts(v, f)),
                        ConstraintKind::Description(s) => string_scripts(&s.parts, f),
                        ConstraintKind::Pattern(_) => {}
                    }
                }
            }
            Item::Let(l) => value_scripts(&l.value, f),
            Item::Step(s) => step_scripts(s, f),
            Item::Parallel(p) => p.steps.iter().for_each(|s| step_scripts(s, f)),
            Item::Verify(v) => v.steps.iter().for_each(|s| step_scripts(s, f)),
            Item::Finally(x) => x.steps.iter().for_each(|s| step_scripts(s, f)),
            Item::Timeout(_) | Item::MaxParallel(_) | Item::RollbackMode(_) | Item::Import(_) => {}
        }
    }
}

fn expr_script(e: &Expr) -> Script<'_> {
    Script {
        source: &e.source,
        key: e.source_span,
        span: e.span,
        bare: false,
    }
}

fn step_scripts<'a>(step: &'a Step, f: &mut dyn FnMut(Script<'a>)) {
    for item in &step.items {
        step_item_scripts(item, f);
    }
}

fn step_item_scripts<'a>(item: &'a StepItem, f: &mut dyn FnMut(Script<'a>)) {
    match item {
        StepItem::Description(d) => string_scripts(&d.text.parts, f),
        StepItem::With(w) => map_scripts(&w.map, f),
        StepItem::When(w) => f(expr_script(&w.expr)),
        StepItem::Rollback(r) => r.items.iter().for_each(|i| step_item_scripts(i, f)),
        StepItem::Action(_)
        | StepItem::Timeout(_)
        | StepItem::Retry(_)
        | StepItem::OnFailure(_) => {}
    }
}

fn map_scripts<'a>(map: &'a MapLit, f: &mut dyn FnMut(Script<'a>)) {
    for entry in &map.entries {
        value_scripts(&entry.value, f);
    }
}

fn string_scripts<'a>(parts: &'a [StringPart], f: &mut dyn FnMut(Script<'a>)) {
    for part in parts {
        if let StringPart::Expr(e) = part {
            f(expr_script(e));
        }
    }
}

/// Call `f` on every script inside a value.
pub fn value_scripts<'a>(value: &'a Value, f: &mut dyn FnMut(Script<'a>)) {
    match &value.kind {
        ValueKind::String(s) => string_scripts(&s.parts, f),
        ValueKind::List(items) => items.iter().for_each(|v| value_scripts(v, f)),
        ValueKind::Map(m) => map_scripts(m, f),
        ValueKind::Expr(e) => f(expr_script(e)),
        ValueKind::Ident(i) => f(Script {
            source: &i.name,
            key: i.span,
            span: i.span,
            bare: true,
        }),
        ValueKind::Int(_)
        | ValueKind::Float(..)
        | ValueKind::Bool(_)
        | ValueKind::Null
        | ValueKind::Duration(_) => {}
    }
}
