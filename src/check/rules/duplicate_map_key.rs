//! Finds a key written twice in one map (`with`, `labels` or a map value).

use std::collections::HashMap;

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::{Item, MapLit, StepItem, Value, ValueKind};

rule! {
    /// **What it finds.** A map (`with { … }`, `labels { … }`, or a map value) that holds
    /// the same key twice, including the shorthand form (`with { namespace, namespace: "x" }`).
    ///
    /// **Why.** Only one of the values can be used; which one the author meant is unclear,
    /// and the other is silently lost.
    ///
    /// **Example.**
    /// ```text
    /// with { namespace: namespace, replicas: 2, replicas: 3 }
    /// ```
    ///
    /// **How to fix.** Keep one entry per key.
    code: "E0107",
    name: "duplicate_map_key",
    severity: Error,
    summary: "a map gives the same key twice",
}

/// Report repeated keys in every map of the file.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for item in &cx.workflow.items {
        match item {
            Item::Labels(l) => map(&l.map, "`labels`", out),
            Item::Param(p) => {
                if let Some(v) = &p.default {
                    value(v, out);
                }
            }
            Item::Let(l) => value(&l.value, out),
            _ => {}
        }
    }
    for s in &cx.steps {
        for item in &s.step.items {
            match item {
                StepItem::With(w) => map(&w.map, "`with`", out),
                StepItem::Rollback(rb) => {
                    for i in &rb.items {
                        if let StepItem::With(w) = i {
                            map(&w.map, "`with`", out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn value(v: &Value, out: &mut Vec<Diagnostic>) {
    match &v.kind {
        ValueKind::Map(m) => map(m, "this map", out),
        ValueKind::List(items) => items.iter().for_each(|i| value(i, out)),
        _ => {}
    }
}

fn map(m: &MapLit, what: &str, out: &mut Vec<Diagnostic>) {
    let mut seen = HashMap::new();
    for entry in &m.entries {
        value(&entry.value, out);
        if let Some(first) = seen.insert(entry.key.name.as_str(), entry.key.span) {
            seen.insert(entry.key.name.as_str(), first);
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("{what} gives `{}` twice", entry.key.name),
                    entry.key.span,
                )
                .with_label(first, "first given here")
                .with_help("keep one entry for this key and remove the other"),
            );
        }
    }
}
