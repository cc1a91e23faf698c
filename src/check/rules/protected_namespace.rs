//! Finds a literal `namespace` parameter naming a protected namespace.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::dsl::ast::{Value, ValueKind};

rule! {
    /// **What it finds.** A `namespace` action parameter whose value is a protected
    /// namespace (`kube-system`, `kube-public`, `kube-node-lease`, the operator's own
    /// `remedy-system`, and any the configuration adds): written as a literal, or passed as a
    /// param or `let` whose literal default is one.
    ///
    /// **Why.** Remediations must never touch the cluster's own machinery or the operator;
    /// the operator refuses such a run at Validating anyway.
    ///
    /// **Example.**
    /// ```text
    /// step restart {
    ///   action "restart_deployment"
    ///   with { namespace: "kube-system", deployment: "coredns" }
    /// }
    /// ```
    ///
    /// **How to fix.** Target the workload's own namespace, usually
    /// `${ analysis.target.namespace }`.
    code: "E0124",
    name: "protected_namespace",
    severity: Error,
    summary: "a `namespace` parameter names a protected namespace",
}

fn literal(v: &Value) -> Option<String> {
    match &v.kind {
        ValueKind::String(s) => s.as_plain(),
        _ => None,
    }
}

/// Report protected namespaces reaching an action.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in &cx.actions {
        let Some(with) = site.with else { continue };
        let Some(entry) = with.map.get("namespace") else {
            continue;
        };
        let (ns, via): (Option<String>, Option<(Span, String)>) = match &entry.value.kind {
            ValueKind::Ident(ident) => {
                if let Some(p) = cx.param(&ident.name) {
                    match p
                        .default
                        .as_ref()
                        .and_then(|d| literal(d).map(|t| (t, d.span)))
                    {
                        Some((t, span)) => (
                            Some(t),
                            Some((span, format!("param `{}` defaults to it here", ident.name))),
                        ),
                        None => (None, None),
                    }
                } else if let Some(l) = cx.let_(&ident.name) {
                    match literal(&l.value) {
                        Some(t) => (
                            Some(t),
                            Some((l.value.span, format!("`{}` is set to it here", ident.name))),
                        ),
                        None => (None, None),
                    }
                } else {
                    (None, None)
                }
            }
            _ => (literal(&entry.value), None),
        };
        let Some(ns) = ns else { continue };
        if !cx.ctx.is_protected_namespace(&ns) {
            continue;
        }
        let mut d = Diagnostic::error(
            INFO.code,
            format!(
                "{} targets namespace \"{ns}\", which is protected",
                site.describe()
            ),
            entry.value.span,
        );
        if let Some((span, msg)) = via {
            d = d.with_label(span, msg);
        }
        out.push(d.with_help(
            "remediations may not touch the cluster's system namespaces or the operator's own; target the workload's namespace, e.g. `${ analysis.target.namespace }`",
        ));
    }
}
