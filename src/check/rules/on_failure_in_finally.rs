//! Finds `on_failure` on a `finally` step, where it changes nothing.

use crate::check::rules::{Phase, RuleContext};
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::dsl::ast::StepItem;

rule! {
    /// **What it finds.** An `on_failure` item on a step inside `finally { … }`.
    ///
    /// **Why.** Finally steps run last, after success, failure or rollback; their failures
    /// are recorded but change no outcome, so `on_failure rollback` or `fail` there does not
    /// do what it says.
    ///
    /// **Example.**
    /// ```text
    /// finally {
    ///   step tell {
    ///     action "notify_only"
    ///     with { message: "done" }
    ///     on_failure rollback
    ///   }
    /// }
    /// ```
    ///
    /// **How to fix.** Remove the `on_failure` item.
    code: "W0105",
    name: "on_failure_in_finally",
    severity: Warning,
    summary: "`on_failure` on a `finally` step has no effect",
}

/// Report `on_failure` items of finally steps.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for s in cx.steps.iter().filter(|s| s.phase == Phase::Finally) {
        for item in &s.step.items {
            if let StepItem::OnFailure(o) = item {
                let head = Span::new(
                    o.span.start,
                    (o.span.start + "on_failure".len()).min(o.span.end),
                );
                out.push(
                    Diagnostic::warning(
                        INFO.code,
                        format!(
                            "`on_failure {}` on finally step `{}` has no effect: finally failures change no outcome",
                            o.policy.as_str(),
                            s.step.name.name
                        ),
                        head,
                    )
                    .with_help("remove the `on_failure` item"),
                );
            }
        }
    }
}
