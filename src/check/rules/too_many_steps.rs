//! Finds a template with more steps than a template may have.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;

/// The most steps one template may declare (main, parallel, verify and finally together).
/// Real templates have a handful; the bound keeps planning, the pinned plan and every
/// decision of a run small.
pub const MAX_STEPS: usize = 256;

rule! {
    /// **What it finds.** A template that declares more than 256 steps (main steps,
    /// `parallel` members, `verify` and `finally` steps together).
    ///
    /// **Why.** Every step is planned, pinned in the run's status and looked at by every
    /// decision of the run; the bound keeps all of these small. A remediation needs far fewer
    /// steps.
    ///
    /// **Example.**
    /// ```text
    /// step s1 { … }
    /// …
    /// step s257 { … }
    /// ```
    ///
    /// **How to fix.** Split the remediation into several templates, or compute repetitive
    /// values in a module instead of repeating steps.
    code: "E0128",
    name: "too_many_steps",
    severity: Error,
    summary: "the template declares more than 256 steps",
}

/// Report the first step past the limit.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    if let Some(first_over) = cx.steps.get(MAX_STEPS) {
        out.push(
            Diagnostic::error(
                INFO.code,
                format!(
                    "the template declares {} steps, more than the limit of {MAX_STEPS}",
                    cx.steps.len()
                ),
                first_over.step.name.span,
            )
            .with_help("split the remediation into several templates"),
        );
    }
}
