//! Finds `workflow.phase` or `workflow.failed` outside a `finally` step.

use crate::check::rules::rhai_sites::{Place, refs, sites};
use crate::check::rules::{Phase, RuleContext};
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** An expression reading `workflow.phase` or `workflow.failed`
    /// anywhere but in a `finally` step.
    ///
    /// **Why.** The run's outcome is known only once the main and verify steps are over;
    /// elsewhere these fields are absent and the value would be empty.
    ///
    /// **Example.**
    /// ```text
    /// step tell { action "notify_only" with { message: "${workflow.phase}" } }
    /// ```
    ///
    /// **How to fix.** Move the step into `finally { … }`, or leave the field out.
    code: "E0205",
    name: "rhai_run_state_outside_finally",
    severity: Error,
    summary: "`workflow.phase` or `workflow.failed` is read outside `finally`",
}

/// Report run-state reads outside finally steps.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in sites(cx) {
        if matches!(
            site.place,
            Place::Step {
                phase: Phase::Finally,
                ..
            }
        ) {
            continue;
        }
        for r in refs(cx, site.script.source).iter() {
            if r.root == "workflow" && matches!(r.field.as_str(), "phase" | "failed") {
                out.push(
                    Diagnostic::error(
                        INFO.code,
                        format!(
                            "`workflow.{}` is only known in `finally` steps, not in {}",
                            r.field,
                            site.place.describe()
                        ),
                        site.span_of(r),
                    )
                    .with_help("move the step into `finally { … }` to report the run's outcome"),
                );
            }
        }
    }
}
