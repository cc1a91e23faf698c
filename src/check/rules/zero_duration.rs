//! Finds `timeout 0s`, `verify within 0s` and `retry … backoff 0s`.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::{DurationLit, Item, StepItem};

rule! {
    /// **What it finds.** A zero duration where a deadline or a wait is meant: a workflow or
    /// step `timeout`, `verify within`, or a retry's `backoff` or `max`.
    ///
    /// **Why.** A zero timeout expires before anything can happen, so the step or the run
    /// always fails; a zero backoff retries in a tight loop.
    ///
    /// **Example.**
    /// ```text
    /// step check { action "verify_deployment" … timeout 0s }
    /// ```
    ///
    /// **How to fix.** Give a positive duration, or remove the item to get its default.
    code: "E0118",
    name: "zero_duration",
    severity: Error,
    summary: "a timeout, `within` or backoff is zero",
}

/// Report zero durations.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let mut found: Vec<(&DurationLit, String)> = Vec::new();
    for item in &cx.workflow.items {
        match item {
            Item::Timeout(t) => found.push((&t.duration, "the workflow's `timeout`".into())),
            Item::Verify(v) => {
                if let Some(w) = &v.within {
                    found.push((w, "`verify within`".into()));
                }
            }
            _ => {}
        }
    }
    for s in &cx.steps {
        let name = &s.step.name.name;
        let rollback_items = s
            .step
            .rollback()
            .map(|rb| rb.items.as_slice())
            .unwrap_or(&[]);
        let own = s.step.items.iter().map(|i| (i, false));
        let comp = rollback_items.iter().map(|i| (i, true));
        // Only a zero duration needs the words.
        let owner = |in_rollback: bool| {
            if in_rollback {
                format!("the rollback of step `{name}`")
            } else {
                format!("step `{name}`")
            }
        };
        for (item, in_rollback) in own.chain(comp) {
            match item {
                StepItem::Timeout(t) if t.duration.millis == 0 => {
                    found.push((
                        &t.duration,
                        format!("the `timeout` of {}", owner(in_rollback)),
                    ));
                }
                StepItem::Retry(r) => {
                    if let Some(b) = r.backoff.as_ref().filter(|b| b.millis == 0) {
                        found.push((b, format!("the retry `backoff` of {}", owner(in_rollback))));
                    }
                    if let Some(m) = r.max.as_ref().filter(|m| m.millis == 0) {
                        found.push((m, format!("the retry `max` of {}", owner(in_rollback))));
                    }
                }
                _ => {}
            }
        }
    }
    for (d, what) in found {
        if d.millis == 0 {
            out.push(
                Diagnostic::error(INFO.code, format!("{what} is zero"), d.span).with_help(
                    "give a positive duration such as `30s`, or remove the item to use its default",
                ),
            );
        }
    }
}
