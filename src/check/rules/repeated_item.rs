//! Finds a singular item written twice in one block.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::dsl::ast::{Item, StepItem};

rule! {
    /// **What it finds.** An item that may appear once per block written twice: in the
    /// workflow `description`, `labels`, `timeout`, `max_parallel`, `rollback`, `approval`,
    /// `verify` and `finally`; in a step or a `rollback` block every item (`action`,
    /// `with`, `timeout`, `retry`, `when`, `on_failure`, `rollback`, `description`); in a
    /// param each constraint (`min`, `max`, `enum`, `pattern`, `description`).
    ///
    /// **Why.** Only one of the two could take effect, and which one the author meant is
    /// unclear.
    ///
    /// **Example.**
    /// ```text
    /// step scale_out {
    ///   action "scale_deployment"
    ///   timeout 2m
    ///   timeout 5m
    /// }
    /// ```
    ///
    /// **How to fix.** Keep one of them; merge two `verify` or `finally` blocks into one.
    code: "E0110",
    name: "repeated_item",
    severity: Error,
    summary: "an item that may appear once appears twice in a block",
}

/// Report every second occurrence of a singular item.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let workflow_items = cx.workflow.items.iter().filter(|i| {
        !matches!(
            i,
            Item::Import(_) | Item::Param(_) | Item::Let(_) | Item::Step(_) | Item::Parallel(_)
        )
    });
    report(
        workflow_items.map(|i| (i.keyword(), i.span())),
        || "the workflow".to_string(),
        out,
    );
    for s in &cx.steps {
        let step = s.step;
        report(
            step.items.iter().map(|i| (i.keyword(), i.span())),
            || format!("step `{}`", step.name.name),
            out,
        );
        for item in &step.items {
            if let StepItem::Rollback(rb) = item {
                report(
                    rb.items.iter().map(|i| (i.keyword(), i.span())),
                    || format!("the rollback of step `{}`", step.name.name),
                    out,
                );
            }
        }
    }
    for p in cx.workflow.params() {
        report(
            p.constraints.iter().map(|c| (c.kind.keyword(), c.span)),
            || format!("param `{}`", p.name.name),
            out,
        );
    }
}

/// `owner` names the block in a finding; a block has a handful of items, so the first of each
/// keyword is found by a walk rather than a map.
fn report<'k>(
    items: impl Iterator<Item = (&'k str, Span)>,
    owner: impl Fn() -> String,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for (keyword, span) in items {
        match seen.iter().find(|(k, _)| *k == keyword) {
            Some(&(_, first)) => out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("{} has more than one `{keyword}`", owner()),
                    head(span, keyword),
                )
                .with_label(head(first, keyword), "first one here")
                .with_help(format!("keep one `{keyword}` and remove the other")),
            ),
            None => seen.push((keyword, span)),
        }
    }
}

/// The span of the item's keyword, so the underline stays on one line.
fn head(span: Span, keyword: &str) -> Span {
    Span::new(
        span.start,
        (span.start + keyword.len()).min(span.end.max(span.start)),
    )
}
