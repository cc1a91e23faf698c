//! Finds `rollback { … }` blocks that can never run.

use crate::check::rules::{Phase, RuleContext};
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::dsl::ast::{Item, RollbackMode};

rule! {
    /// **What it finds.** A step's `rollback { … }` block that no run will ever execute:
    /// on a `verify` or `finally` step (only main steps are compensated), or anywhere in a
    /// workflow that says `rollback none`.
    ///
    /// **Why.** The author believes the step will be undone, but it will not.
    ///
    /// **Example.**
    /// ```text
    /// finally {
    ///   step tell {
    ///     action "notify_only"
    ///     with { message: "done" }
    ///     rollback { action "notify_only"  with { message: "undone" } }
    ///   }
    /// }
    /// ```
    ///
    /// **How to fix.** Remove the block, move the step into the main sequence, or change
    /// the workflow's rollback mode.
    code: "W0103",
    name: "rollback_never_runs",
    severity: Warning,
    summary: "a `rollback` block that no run will execute",
}

/// Report compensations that cannot run.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let mode_none = cx.workflow.items.iter().find_map(|i| match i {
        Item::RollbackMode(m) if m.mode == RollbackMode::None => Some(m.span),
        _ => None,
    });
    for s in &cx.steps {
        let Some(rb) = s.step.rollback() else {
            continue;
        };
        let head = Span::new(
            rb.span.start,
            (rb.span.start + "rollback".len()).min(rb.span.end),
        );
        let name = &s.step.name.name;
        let d = if s.phase != Phase::Main {
            Diagnostic::warning(
                INFO.code,
                format!(
                    "the rollback of {} step `{name}` never runs: only main steps are compensated",
                    s.phase.as_str()
                ),
                head,
            )
            .with_help("remove the `rollback` block, or move the step into the main sequence")
        } else if let Some(mode) = mode_none {
            Diagnostic::warning(
                INFO.code,
                format!(
                    "the rollback of step `{name}` never runs: the workflow says `rollback none`"
                ),
                head,
            )
            .with_label(mode, "compensation is turned off here")
            .with_help("use `rollback automatic` or `rollback manual`, or remove the block")
        } else {
            continue;
        };
        out.push(d);
    }
}
