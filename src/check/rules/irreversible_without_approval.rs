//! Finds irreversible actions in a workflow without `approval`.

use crate::catalog::Effect;
use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** A step (or compensation) whose action is `irreversible` in the
    /// action catalog (e.g. `delete_pod`, `drain_node`, `expand_pvc`) in a workflow that
    /// has no `approval` item. `approval ${ expr }` counts: the author decided when to ask.
    ///
    /// **Why.** Nothing can undo an irreversible action, so the saga cannot protect the
    /// cluster if the remediation turns out wrong; a human must agree first.
    ///
    /// **Example.**
    /// ```text
    /// workflow "evict" version "1.0.0" {
    ///   step drain { action "drain_node"  with { node: node } }
    /// }
    /// ```
    ///
    /// **How to fix.** Add `approval required` (or `approval ${ condition }`) to the
    /// workflow, or use a reversible action (`cordon_node` instead of `drain_node`).
    code: "E0123",
    name: "irreversible_without_approval",
    severity: Error,
    summary: "an irreversible action in a workflow without `approval`",
}

/// Report irreversible actions when the workflow never asks for approval.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    if cx.approval().is_some() {
        return;
    }
    for site in &cx.actions {
        let Some(spec) = site.spec else { continue };
        if spec.effect != Effect::Irreversible {
            continue;
        }
        out.push(
            Diagnostic::error(
                INFO.code,
                format!(
                    "{} runs `{}`, which cannot be undone, but the workflow has no `approval`",
                    site.describe(),
                    spec.name
                ),
                site.action.name.span,
            )
            .with_label(cx.workflow.name.span, "add `approval required` to this workflow")
            .with_help(
                "add `approval required` (or `approval ${ condition }`) to the workflow so a human agrees before it runs",
            ),
        );
    }
}
