//! Finds `verify within D` longer than the workflow's `timeout`.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::Item;
use crate::dsl::defaults::DEFAULT_WORKFLOW_TIMEOUT_MS;
use crate::units::duration::format_millis as format_duration;

rule! {
    /// **What it finds.** `verify within D` where D is longer than the workflow's `timeout`
    /// (30m when not written).
    ///
    /// **Why.** The workflow's deadline runs from the start of Executing to the end of
    /// Monitoring, so Monitoring can never last D; the run times out first.
    ///
    /// **Example.**
    /// ```text
    /// timeout 15m
    /// verify within 20m { … }
    /// ```
    ///
    /// **How to fix.** Shorten `within`, or raise the workflow's `timeout` to cover the
    /// main steps and the whole Monitoring phase.
    code: "E0127",
    name: "verify_within_exceeds_workflow",
    severity: Error,
    summary: "`verify within` is longer than the workflow's timeout",
}

/// Report `within` durations beyond the workflow deadline.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let workflow_timeout = cx.workflow_timeout();
    let limit = workflow_timeout.map_or(DEFAULT_WORKFLOW_TIMEOUT_MS, |t| t.duration.millis);
    for item in &cx.workflow.items {
        let Item::Verify(v) = item else { continue };
        let Some(within) = &v.within else { continue };
        if within.millis <= limit {
            continue;
        }
        let mut d = Diagnostic::error(
            INFO.code,
            format!(
                "`verify within` {} is longer than the workflow's timeout {}",
                format_duration(within.millis),
                format_duration(limit)
            ),
            within.span,
        );
        d = match workflow_timeout {
            Some(t) => d
                .with_label(t.duration.span, "the workflow's timeout, which Monitoring is part of")
                .with_help("shorten `within`, or raise the workflow's `timeout`"),
            None => d.with_help(
                "the workflow has no `timeout`, so it is 30m; shorten `within` or add a longer `timeout`",
            ),
        };
        out.push(d);
    }
}
