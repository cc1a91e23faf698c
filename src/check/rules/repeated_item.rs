//! Finds a singular item written twice in one block.

use std::collections::HashMap;

use crate::check::diagnostic::Diagnostic;
use crate::check::rules::RuleContext;
use crate::dsl::ast::{Item, StepItem};
use crate::dsl::span::Span;

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
        "the workflow",
        out,
    );
    for s in &cx.steps {
        let step = s.step;
        let owner = format!("step `{}`", step.name.name);
        report(
            step.items.iter().map(|i| (i.keyword(), i.span())),
            &owner,
            out,
        );
        for item in &step.items {
            if let StepItem::Rollback(rb) = item {
                let owner = format!("the rollback of step `{}`", step.name.name);
                report(
                    rb.items.iter().map(|i| (i.keyword(), i.span())),
                    &owner,
                    out,
                );
            }
        }
    }
    for p in cx.workflow.params() {
        let owner = format!("param `{}`", p.name.name);
        report(
            p.constraints.iter().map(|c| (c.kind.keyword(), c.span)),
            &owner,
            out,
        );
    }
}

fn report<'k>(
    items: impl Iterator<Item = (&'k str, Span)>,
    owner: &str,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for (keyword, span) in items {
        match seen.get(keyword) {
            Some(first) => out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("{owner} has more than one `{keyword}`"),
                    head(span, keyword),
                )
                .with_label(head(*first, keyword), "first one here")
                .with_help(format!("keep one `{keyword}` and remove the other")),
            ),
            None => {
                seen.insert(keyword, span);
            }
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
