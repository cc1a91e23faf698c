//! Finds a param default literal outside the param's own constraints.

use crate::check::literal::fits_type;
use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::{ConstraintKind, Value, ValueKind};

rule! {
    /// **What it finds.** A literal default that breaks the param's `min`, `max`, `enum` or
    /// `pattern` (a pattern must match the whole value).
    ///
    /// **Why.** A run that does not override the param would fail Planning; the template
    /// contradicts itself.
    ///
    /// **Example.**
    /// ```text
    /// param factor: float = 8.0 { min 1.0  max 4.0 }
    /// ```
    ///
    /// **How to fix.** Change the default so it fits, or widen the constraint.
    code: "E0122",
    name: "param_default_violates_constraint",
    severity: Error,
    summary: "a param's default literal breaks its own constraints",
}

fn number(v: &Value) -> Option<f64> {
    crate::check::rules::invalid_constraint::ordered(v)
}

/// The literal's text as written in an enum or message.
fn show(v: &Value) -> String {
    match &v.kind {
        ValueKind::String(s) => s
            .as_plain()
            .map(|t| format!("\"{t}\""))
            .unwrap_or_else(|| "a string".into()),
        ValueKind::Int(i) => i.to_string(),
        ValueKind::Float(_, text) => text.clone(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Duration(d) => crate::units::duration::format_millis(d.millis),
        ValueKind::Null => "null".into(),
        _ => "the value".into(),
    }
}

fn same_literal(a: &Value, b: &Value) -> Option<bool> {
    match (&a.kind, &b.kind) {
        (ValueKind::String(x), ValueKind::String(y)) => Some(x.as_plain()? == y.as_plain()?),
        (ValueKind::Bool(x), ValueKind::Bool(y)) => Some(x == y),
        _ => Some(number(a)? == number(b)?),
    }
}

/// Report defaults that break their constraints.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for p in cx.workflow.params() {
        let Some(default) = &p.default else { continue };
        if fits_type(default, p.ty) != Some(true) || matches!(default.kind, ValueKind::Null) {
            continue;
        }
        let name = &p.name.name;
        let bound = |min: bool| {
            p.constraints.iter().find_map(|c| match (&c.kind, min) {
                (ConstraintKind::Min(v), true) | (ConstraintKind::Max(v), false) => number(v),
                _ => None,
            })
        };
        // Bounds that contradict each other are reported by `invalid_constraint` alone.
        let contradictory = matches!((bound(true), bound(false)), (Some(lo), Some(hi)) if lo > hi);
        for c in &p.constraints {
            if contradictory && matches!(c.kind, ConstraintKind::Min(_) | ConstraintKind::Max(_)) {
                continue;
            }
            let broken = match &c.kind {
                ConstraintKind::Min(lo) => match (number(default), number(lo)) {
                    (Some(d), Some(l)) if d < l => Some(format!("below its `min` {}", show(lo))),
                    _ => None,
                },
                ConstraintKind::Max(hi) => match (number(default), number(hi)) {
                    (Some(d), Some(h)) if d > h => Some(format!("above its `max` {}", show(hi))),
                    _ => None,
                },
                ConstraintKind::Enum(values) => {
                    let listed = values
                        .iter()
                        .any(|v| same_literal(default, v) != Some(false));
                    (!listed && !values.is_empty()).then(|| "not one of its `enum` values".into())
                }
                ConstraintKind::Pattern(pattern) => {
                    let text = match &default.kind {
                        ValueKind::String(s) => s.as_plain(),
                        _ => None,
                    };
                    let anchored = regex::Regex::new(&format!("^(?:{})$", pattern.value)).ok();
                    match (text, anchored) {
                        (Some(t), Some(re)) if !re.is_match(&t) => {
                            Some("not matched by its `pattern`".into())
                        }
                        _ => None,
                    }
                }
                ConstraintKind::Description(_) => None,
            };
            if let Some(why) = broken {
                out.push(
                    Diagnostic::error(
                        INFO.code,
                        format!("the default {} of param `{name}` is {why}", show(default)),
                        default.span,
                    )
                    .with_label(c.span, "the constraint")
                    .with_help("change the default so it fits, or widen the constraint"),
                );
            }
        }
    }
}
