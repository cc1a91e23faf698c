//! Finds a verify step whose `timeout` is longer than `verify within`.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::Item;
use crate::units::duration::format_millis as format_duration;

rule! {
    /// **What it finds.** A step inside `verify within D { … }` whose own `timeout` is
    /// longer than D.
    ///
    /// **Why.** `within` bounds the whole Monitoring phase, so the step's attempt is cut off
    /// at D long before its own timeout; the author expects more time than the check gets.
    ///
    /// **Example.**
    /// ```text
    /// verify within 5m {
    ///   step healthy { action "verify_deployment" … timeout 10m }
    /// }
    /// ```
    ///
    /// **How to fix.** Shorten the step's timeout, or lengthen `within`.
    code: "E0126",
    name: "verify_step_timeout_exceeds_within",
    severity: Error,
    summary: "a verify step's timeout is longer than `verify within`",
}

/// Report verify step timeouts beyond their block's `within`.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for item in &cx.workflow.items {
        let Item::Verify(v) = item else { continue };
        let Some(within) = &v.within else { continue };
        for step in &v.steps {
            let Some(t) = step.timeout() else { continue };
            if t.duration.millis <= within.millis {
                continue;
            }
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!(
                        "verify step `{}` has timeout {}, longer than `verify within` {}",
                        step.name.name,
                        format_duration(t.duration.millis),
                        format_duration(within.millis)
                    ),
                    t.duration.span,
                )
                .with_label(within.span, "Monitoring ends here")
                .with_help("shorten the step's timeout, or lengthen `within`"),
            );
        }
    }
}
