//! Finds a step `timeout` longer than the workflow's `timeout`.

use crate::check::rules::{Phase, RuleContext};
use crate::diagnostic::Diagnostic;
use crate::dsl::defaults::DEFAULT_WORKFLOW_TIMEOUT_MS;
use crate::units::duration::format_millis as format_duration;

rule! {
    /// **What it finds.** A main or verify step whose `timeout` (the deadline of one
    /// attempt) is longer than the workflow's `timeout` (30m when not written). Finally steps
    /// run after the deadline and are not bound by it.
    ///
    /// **Why.** The workflow's deadline covers the whole run from Executing to the end of
    /// Monitoring, so the step's own timeout could never be reached; the author probably
    /// expects the step to get more time than it will.
    ///
    /// **Example.**
    /// ```text
    /// workflow "slow" version "1.0.0" {
    ///   timeout 10m
    ///   step migrate { action "wait"  with { duration: 15m }  timeout 20m }
    /// }
    /// ```
    ///
    /// **How to fix.** Shorten the step's timeout, or raise the workflow's `timeout`.
    code: "E0117",
    name: "step_timeout_exceeds_workflow",
    severity: Error,
    summary: "a step's timeout is longer than the whole workflow's",
}

/// Report step timeouts beyond the workflow deadline.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let workflow_timeout = cx.workflow_timeout();
    let limit = workflow_timeout.map_or(DEFAULT_WORKFLOW_TIMEOUT_MS, |t| t.duration.millis);
    for s in cx.steps.iter().filter(|s| s.phase != Phase::Finally) {
        let Some(t) = s.step.timeout() else { continue };
        if t.duration.millis <= limit {
            continue;
        }
        let mut d = Diagnostic::error(
            INFO.code,
            format!(
                "step `{}` has timeout {}, longer than the workflow's timeout {}",
                s.step.name.name,
                format_duration(t.duration.millis),
                format_duration(limit)
            ),
            t.duration.span,
        );
        d = match workflow_timeout {
            Some(w) => d
                .with_label(w.duration.span, "the workflow's timeout")
                .with_help("shorten the step's timeout, or raise the workflow's `timeout`"),
            None => d.with_help(
                "the workflow has no `timeout`, so it is 30m; shorten the step's timeout or add a longer `timeout` to the workflow",
            ),
        };
        out.push(d);
    }
}
