//! Finds `max_parallel 0`.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::Item;

rule! {
    /// **What it finds.** `max_parallel 0`.
    ///
    /// **Why.** At most zero step executions could be in flight, so no step would ever
    /// start and the run would hang until its timeout.
    ///
    /// **Example.**
    /// ```text
    /// max_parallel 0
    /// ```
    ///
    /// **How to fix.** Use 1 for strictly one step at a time, or remove the item (default 5).
    code: "E0119",
    name: "zero_max_parallel",
    severity: Error,
    summary: "`max_parallel` is 0, so no step could ever start",
}

/// Report `max_parallel 0`.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for item in &cx.workflow.items {
        if let Item::MaxParallel(m) = item
            && m.value == 0
        {
            out.push(
                Diagnostic::error(
                    INFO.code,
                    "`max_parallel 0` lets no step start",
                    m.value_span,
                )
                .with_help("use `max_parallel 1` to run one step at a time, or remove it for the default of 5"),
            );
        }
    }
}
