//! Finds `steps.X` where step X is not guaranteed to be done when the expression runs.

use crate::check::rules::RuleContext;
use crate::check::rules::rhai_sites::{Place, refs, sites};
use crate::diagnostic::Diagnostic;
use crate::graph::StepGraph;

rule! {
    /// **What it finds.** `steps.X` (or `steps["X"]`) in an expression, where X is no step,
    /// or is not an ancestor in the step graph of the step whose expression it is (its
    /// rollback block may also read the step itself and its ancestors; a `finally` step may
    /// read any step before it). Params, lets and `approval` are computed at Planning, before
    /// any step runs, so they may not read `steps` at all.
    ///
    /// **Why.** The step may not have run yet (or may run at the same time), so its phase and
    /// output are not there: the value would be missing or differ from run to run.
    ///
    /// **Example.**
    /// ```text
    /// parallel {
    ///   step a { action "scale_deployment" … }
    ///   step b { action "notify_only" with { message: "${ steps.a.output.replicas }" } }
    /// }
    /// ```
    ///
    /// **How to fix.** Make the step wait for X (`after X`, or declare it after X outside
    /// the `parallel` group), or read something known at Planning.
    code: "E0203",
    name: "rhai_step_not_done",
    severity: Error,
    summary: "an expression reads `steps.X` where X may not be done yet",
}

/// Report reads of steps that are not guaranteed done.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    // Built at the first `steps.X`: most scripts read no step.
    let mut graph = None;
    for site in sites(cx) {
        for r in refs(cx, site.script.source).iter() {
            if r.root != "steps" || r.field.is_empty() {
                continue;
            }
            let graph = graph.get_or_insert_with(|| StepGraph::build(cx.workflow));
            let span = site.span_of(r);
            let target = &r.field;
            let Some(_) = graph.node(target) else {
                let names = graph.nodes().iter().map(|n| n.name.as_str());
                let suggestion = crate::catalog::actions::closest(target, names);
                out.push(
                    Diagnostic::error(
                        INFO.code,
                        format!("there is no step `{target}` (in {})", site.place.describe()),
                        span,
                    )
                    .with_help(crate::check::rules::did_you_mean(
                        suggestion,
                        "name a step declared in this workflow",
                    )),
                );
                continue;
            };
            let Place::Step {
                step, in_rollback, ..
            } = site.place
            else {
                out.push(
                    Diagnostic::error(
                        INFO.code,
                        format!(
                            "{} is computed at Planning, before any step runs; it cannot read `steps.{target}`",
                            site.place.describe()
                        ),
                        span,
                    )
                    .with_help("move the expression into the `with` of a step that runs after it"),
                );
                continue;
            };
            let me = &step.name.name;
            let done = graph.ancestor_names(me).contains(&target.as_str())
                || (in_rollback && target == me);
            if !done {
                let why = if target == me {
                    format!("step `{me}` cannot read its own state before it runs")
                } else {
                    format!("step `{target}` is not guaranteed to be done before step `{me}` runs")
                };
                out.push(
                    Diagnostic::error(
                        INFO.code,
                        format!("{why} (in {})", site.place.describe()),
                        span,
                    )
                    .with_help(if target == me {
                        "in a rollback block, read the step being compensated as `self`".to_string()
                    } else {
                        format!("make step `{me}` wait for it: `step {me} after {target} {{ … }}`")
                    }),
                );
            }
        }
    }
}
