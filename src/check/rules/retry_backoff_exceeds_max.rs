//! Finds `retry N backoff D max M` with M shorter than D.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::StepItem;
use crate::units::duration::format_millis as format_duration;

rule! {
    /// **What it finds.** A `retry` whose `max` (the cap of the backoff) is shorter than its
    /// first `backoff`.
    ///
    /// **Why.** The backoff starts at D and doubles up to M; with M below D every wait is
    /// just M, so the written `backoff` has no effect — usually the two are swapped.
    ///
    /// **Example.**
    /// ```text
    /// retry 3 backoff 1m max 10s
    /// ```
    ///
    /// **How to fix.** Make `max` at least `backoff` (`retry 3 backoff 10s max 1m`).
    code: "W0104",
    name: "retry_backoff_exceeds_max",
    severity: Warning,
    summary: "a retry's `max` is shorter than its first `backoff`",
}

/// Report retries whose cap is below their first backoff.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for s in &cx.steps {
        let rollback_items = s
            .step
            .rollback()
            .map(|rb| rb.items.as_slice())
            .unwrap_or(&[]);
        for item in s.step.items.iter().chain(rollback_items) {
            let StepItem::Retry(r) = item else { continue };
            let (Some(backoff), Some(max)) = (&r.backoff, &r.max) else {
                continue;
            };
            if max.millis >= backoff.millis || max.millis == 0 {
                continue;
            }
            let d = Diagnostic::warning(
                INFO.code,
                format!(
                    "retry `max` {} is shorter than the first backoff {}",
                    format_duration(max.millis),
                    format_duration(backoff.millis)
                ),
                max.span,
            );
            out.push(d.with_label(backoff.span, "the first backoff").with_help("make `max` at least as long as `backoff`; the backoff doubles from `backoff` up to `max`"));
        }
    }
}
