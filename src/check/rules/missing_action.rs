//! Finds a step (or a `rollback` block) without an `action`.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** A `step` or a step's `rollback { … }` block with no `action "TYPE"`.
    ///
    /// **Why.** The action is what a step does; a step without one cannot run, and a
    /// compensation without one cannot undo anything.
    ///
    /// **Example.**
    /// ```text
    /// step scale_out {
    ///   with { replicas: 3 }
    /// }
    /// ```
    ///
    /// **How to fix.** Add `action "TYPE"` with one of the types `remedy actions` lists.
    code: "E0102",
    name: "missing_action",
    severity: Error,
    summary: "a step or a `rollback` block has no `action`",
}

/// Report steps and rollback blocks without an action.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for s in &cx.steps {
        let step = s.step;
        if step.action().is_none() {
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("step `{}` has no `action`", step.name.name),
                    step.name.span,
                )
                .with_help("add `action \"TYPE\"` to the step; `remedy actions` lists the types"),
            );
        }
        if let Some(rb) = step.rollback()
            && rb.action().is_none()
        {
            let head =
                crate::diagnostic::Span::new(rb.span.start, rb.span.start + "rollback".len());
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!(
                        "the rollback of step `{}` has no `action`",
                        step.name.name
                    ),
                    head,
                )
                .with_help("add `action \"TYPE\"` saying how to undo the step, or remove the `rollback` block"),
            );
        }
    }
}
