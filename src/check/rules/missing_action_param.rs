//! Finds required action parameters that `with { … }` does not give.

use crate::catalog::actions::closest;
use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** An action whose schema requires a parameter that the step's (or
    /// the compensation's) `with { … }` does not give.
    ///
    /// **Why.** The executor rejects an action with a missing required parameter, so the
    /// step would fail on its first attempt.
    ///
    /// **Example.**
    /// ```text
    /// step scale_out {
    ///   action "scale_deployment"
    ///   with { namespace: namespace, deployment: deployment }
    /// }
    /// ```
    ///
    /// **How to fix.** Add the parameter to `with`; `remedy actions TYPE` lists each
    /// parameter with its type. The shorthand `with { namespace }` passes the param of the
    /// same name.
    code: "E0103",
    name: "missing_action_param",
    severity: Error,
    summary: "`with` lacks a parameter the action requires",
}

/// Report action sites missing required parameters, one diagnostic per site.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in &cx.actions {
        let Some(spec) = site.spec else { continue };
        let missing: Vec<_> = spec
            .required_params()
            .filter(|p| site.with.is_none_or(|w| w.map.get(p.name).is_none()))
            // A misspelt key is reported by `unknown_action_param` with a suggestion.
            .filter(|p| {
                site.with.is_none_or(|w| {
                    !w.map.entries.iter().any(|e| {
                        spec.param(&e.key.name).is_none()
                            && closest(&e.key.name, spec.params.iter().map(|q| q.name))
                                == Some(p.name)
                    })
                })
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let names = missing
            .iter()
            .map(|p| format!("`{}`", p.name))
            .collect::<Vec<_>>()
            .join(", ");
        let (noun, them) = if missing.len() == 1 {
            ("parameter", "it")
        } else {
            ("parameters", "them")
        };
        let help = match missing.as_slice() {
            [p] => format!("add `{}: …` to `with` — {}, {}", p.name, p.kind, p.doc),
            _ => format!(
                "add {} to `with`; `remedy actions {}` shows their types",
                missing
                    .iter()
                    .map(|p| format!("`{}: …`", p.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.name
            ),
        };
        let (span, where_) = match site.with {
            Some(w) => (w.map.span, "`with` does not give"),
            None => (site.action.span, "there is no `with` to give"),
        };
        out.push(
            Diagnostic::error(
                INFO.code,
                format!(
                    "{}: action `{}` requires {noun} {names}, but {where_} {them}",
                    site.describe(),
                    spec.name
                ),
                span,
            )
            .with_help(if site.with.is_some() {
                help
            } else {
                help.replace("to `with`", "in a `with { … }`")
            }),
        );
    }
}
