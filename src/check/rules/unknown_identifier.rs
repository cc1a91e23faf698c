//! Finds bare identifiers (shorthand values) that name no param or let.

use crate::catalog::actions::closest;
use crate::check::rules::RuleContext;
use crate::check::rules::reserved_name::SCOPE_NAMES;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::{Item, MapLit, Value, ValueKind};

rule! {
    /// **What it finds.** A bare identifier used as a value — `with { namespace }`,
    /// `replicas: count`, `let x = y` — that names no param or `let` of the workflow (or
    /// a `let` that refers to a `let` declared further down).
    ///
    /// **Why.** A bare identifier is shorthand for `${ name }`; with no such value, Planning
    /// fails. Usually it is a typo, or the param was never declared. Lets are computed in
    /// declaration order, so a let cannot use one declared after it.
    ///
    /// **Example.**
    /// ```text
    /// param deployment: string
    /// step restart {
    ///   action "restart_deployment"
    ///   with { namespace, deployment }
    /// }
    /// ```
    ///
    /// **How to fix.** Declare the param (`param namespace: string = ${ analysis.target.namespace }`),
    /// fix the name (the help suggests the closest), or write the value out.
    code: "E0125",
    name: "unknown_identifier",
    severity: Error,
    summary: "a bare identifier value names no param or let",
}

/// Report unknown bare identifiers.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let known: Vec<&str> = cx
        .workflow
        .params()
        .map(|p| p.name.name.as_str())
        .chain(cx.workflow.lets().map(|l| l.name.name.as_str()))
        .collect();
    let check = |value: &Value, let_index: Option<usize>, out: &mut Vec<Diagnostic>| {
        visit(value, &mut |v| {
            let ValueKind::Ident(ident) = &v.kind else {
                return;
            };
            let name = ident.name.as_str();
            if SCOPE_NAMES.contains(&name) || cx.param(name).is_some() {
                return;
            }
            if let Some(l) = cx.let_(name) {
                let order = let_index.zip(cx.let_index(name));
                if let Some((mine, theirs)) = order
                    && theirs >= mine
                {
                    let d = if theirs == mine {
                        Diagnostic::error(
                            INFO.code,
                            format!("let `{name}` refers to itself"),
                            ident.span,
                        )
                        .with_help("a let cannot use its own value; compute it from params or earlier lets")
                    } else {
                        Diagnostic::error(
                            INFO.code,
                            format!("`{name}` is a let declared later, so it has no value here"),
                            ident.span,
                        )
                        .with_label(l.name.span, format!("`{name}` is declared here"))
                        .with_help("lets are computed in declaration order; move this let below the one it uses")
                    };
                    out.push(d);
                }
                return;
            }
            let help = match closest(name, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "declare it, e.g. `param {name}: string`, or write the value as a literal or `${{ … }}`"
                ),
            };
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("`{name}` is not a param or let of this workflow"),
                    ident.span,
                )
                .with_help(help),
            );
        });
    };
    let mut let_index = 0;
    for item in &cx.workflow.items {
        match item {
            Item::Let(l) => {
                check(&l.value, Some(let_index), out);
                let_index += 1;
            }
            Item::Labels(l) => map(&l.map, &mut |v| check(v, None, out)),
            Item::Param(p) => {
                if let Some(d) = &p.default {
                    check(d, None, out);
                }
            }
            _ => {}
        }
    }
    for site in &cx.actions {
        if let Some(with) = site.with {
            map(&with.map, &mut |v| check(v, None, out));
        }
    }
}

fn map(m: &MapLit, f: &mut dyn FnMut(&Value)) {
    for entry in &m.entries {
        f(&entry.value);
    }
}

fn visit(value: &Value, f: &mut dyn FnMut(&Value)) {
    f(value);
    match &value.kind {
        ValueKind::List(items) => items.iter().for_each(|v| visit(v, f)),
        ValueKind::Map(m) => m.entries.iter().for_each(|e| visit(&e.value, f)),
        _ => {}
    }
}
