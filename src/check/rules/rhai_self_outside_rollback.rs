//! Finds `self` outside a step's `rollback { … }` block.

use crate::check::rules::RuleContext;
use crate::check::rules::rhai_sites::{Place, refs, sites};
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** An expression reading `self` anywhere but in a step's
    /// `rollback { … }` block.
    ///
    /// **Why.** `self` is the step being compensated; it exists only while its compensation
    /// runs. Elsewhere the name is unbound and the expression fails.
    ///
    /// **Example.**
    /// ```text
    /// step scale_out {
    ///   action "scale_deployment"
    ///   with { replicas: ${ self.output.previous_replicas } }
    /// }
    /// ```
    ///
    /// **How to fix.** Move the value into the step's `rollback` block, or read an earlier
    /// step as `steps.NAME`.
    code: "E0204",
    name: "rhai_self_outside_rollback",
    severity: Error,
    summary: "`self` is read outside a `rollback` block",
}

/// Report `self` outside rollback blocks.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in sites(cx) {
        if matches!(
            site.place,
            Place::Step {
                in_rollback: true,
                ..
            }
        ) {
            continue;
        }
        for r in refs(cx, site.script.source).iter() {
            if r.root == "self" {
                out.push(
                    Diagnostic::error(
                        INFO.code,
                        format!(
                            "`self` is only known in a rollback block, not in {}",
                            site.place.describe()
                        ),
                        site.span_of(r),
                    )
                    .with_help("read an earlier step as `steps.NAME`, or move this into the step's `rollback { … }`"),
                );
            }
        }
    }
}
