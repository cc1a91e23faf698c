//! Finds two declarations with the same name (steps, params, lets, import aliases).

use std::collections::HashMap;

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::{Ident, Item};

rule! {
    /// **What it finds.** A step name used by two steps (anywhere in the file: main,
    /// `parallel`, `verify` and `finally` share one namespace), or a name declared twice
    /// among params, lets and import aliases (they share the expression scope).
    ///
    /// **Why.** Steps are addressed by name in `after`, in `steps.NAME`, in status and in
    /// rehearsals; a value name must mean one thing in expressions.
    ///
    /// **Example.**
    /// ```text
    /// param replicas: int = 2
    /// let replicas = ${ analysis.target.replicas + 1 }
    /// ```
    ///
    /// **How to fix.** Rename one of the two; the label points at the first declaration.
    code: "E0108",
    name: "duplicate_name",
    severity: Error,
    summary: "two steps, or two params/lets/imports, have the same name",
}

/// Report every second declaration of a name.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let mut steps: HashMap<&str, &Ident> = HashMap::new();
    for s in &cx.steps {
        let name = &s.step.name;
        match steps.get(name.name.as_str()) {
            Some(first) => out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("step `{}` is declared twice", name.name),
                    name.span,
                )
                .with_label(first.span, "first declared here")
                .with_help("give each step its own name"),
            ),
            None => {
                steps.insert(&name.name, name);
            }
        }
    }
    let mut values: HashMap<&str, (&Ident, &str)> = HashMap::new();
    for item in &cx.workflow.items {
        let (name, kind) = match item {
            Item::Param(p) => (&p.name, "param"),
            Item::Let(l) => (&l.name, "let"),
            Item::Import(i) => (&i.alias, "import alias"),
            _ => continue,
        };
        match values.get(name.name.as_str()) {
            Some((first, first_kind)) => out.push(
                Diagnostic::error(
                    INFO.code,
                    if kind == *first_kind {
                        format!("{kind} `{}` is declared twice", name.name)
                    } else {
                        format!(
                            "{kind} `{}` has the same name as {first_kind} `{}`",
                            name.name, name.name
                        )
                    },
                    name.span,
                )
                .with_label(
                    first.span,
                    format!("{first_kind} `{}` declared here", name.name),
                )
                .with_help("params, lets and import aliases share one scope; rename one of them"),
            ),
            None => {
                values.insert(&name.name, (name, kind));
            }
        }
    }
}
