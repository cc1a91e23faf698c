//! Finds `action "…"` naming a type the action catalog does not have.

use crate::catalog::actions::closest;
use crate::check::rules::{RuleContext, did_you_mean};
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** An `action "TYPE"` (of a step or of its `rollback` block) whose
    /// TYPE is not in the action catalog.
    ///
    /// **Why.** The executor only performs catalogued actions; the run would fail at
    /// Validating, and nothing else about the step (parameters, effect) can be checked.
    ///
    /// **Example.**
    /// ```text
    /// step grow {
    ///   action "scale_deploymnet"
    /// }
    /// ```
    ///
    /// **How to fix.** Use one of the types `remedy actions` lists; the help suggests the
    /// closest one for a typo.
    code: "E0101",
    name: "unknown_action",
    severity: Error,
    summary: "`action` names a type the action catalog does not have",
}

/// Report every action site whose type is not catalogued.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in cx.actions.iter().filter(|s| s.spec.is_none()) {
        let name = &site.action.name.value;
        let suggestion = closest(name, cx.ctx.actions.names()).or_else(|| {
            cx.ctx
                .actions
                .names()
                .find(|n| !name.is_empty() && (n.starts_with(name.as_str()) || name.starts_with(n)))
        });
        out.push(
            Diagnostic::error(
                INFO.code,
                format!("{} uses unknown action `{name}`", site.describe()),
                site.action.name.span,
            )
            .with_help(did_you_mean(
                suggestion,
                "run `remedy actions` to list the action types",
            )),
        );
    }
}
