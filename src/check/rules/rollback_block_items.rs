//! Finds items in a step's `rollback { … }` block other than action, with, timeout, retry.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::dsl::ast::StepItem;

rule! {
    /// **What it finds.** A `when`, `on_failure`, `description` or nested `rollback` inside
    /// a step's `rollback { … }` block.
    ///
    /// **Why.** A compensation runs exactly when its step succeeded and the run rolls back;
    /// it has no condition, no failure policy of its own (a failed compensation stops the
    /// saga) and no compensation of its own.
    ///
    /// **Example.**
    /// ```text
    /// rollback {
    ///   action "scale_deployment"
    ///   with { namespace: namespace, deployment: deployment, replicas: 1 }
    ///   on_failure continue
    /// }
    /// ```
    ///
    /// **How to fix.** Keep only `action`, `with`, `timeout` and `retry` in the block; put a
    /// description in a `//` comment.
    code: "E0111",
    name: "rollback_block_items",
    severity: Error,
    summary: "a `rollback` block holds an item other than action, with, timeout, retry",
}

/// Report disallowed items inside rollback blocks.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for s in &cx.steps {
        let Some(rb) = s.step.rollback() else {
            continue;
        };
        for item in &rb.items {
            let why = match item {
                StepItem::Action(_)
                | StepItem::With(_)
                | StepItem::Timeout(_)
                | StepItem::Retry(_) => continue,
                StepItem::When(_) => "a compensation runs whenever its step must be undone",
                StepItem::OnFailure(_) => "a failed compensation always stops the rollback",
                StepItem::Rollback(_) => "a compensation has no compensation of its own",
                StepItem::Description(_) => "a compensation has no description of its own",
            };
            let keyword = item.keyword();
            let span = item.span();
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!(
                        "`{keyword}` is not allowed in the rollback of step `{}`: {why}",
                        s.step.name.name
                    ),
                    Span::new(span.start, (span.start + keyword.len()).min(span.end)),
                )
                .with_help(
                    "a `rollback` block may hold only `action`, `with`, `timeout` and `retry`",
                ),
            );
        }
    }
}
