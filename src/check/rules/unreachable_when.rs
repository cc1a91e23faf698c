//! Finds `when ${ false }`: a step that can never run.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** A step whose `when` condition is the literal `false`.
    ///
    /// **Why.** The step is always Skipped; it is dead code, usually left over from
    /// debugging, and readers may believe it runs.
    ///
    /// **Example.**
    /// ```text
    /// step restart {
    ///   when ${ false }
    ///   action "restart_deployment"
    /// }
    /// ```
    ///
    /// **How to fix.** Remove the step, or write the real condition.
    code: "W0102",
    name: "unreachable_when",
    severity: Warning,
    summary: "a step's `when` is always false",
}

/// Report steps whose condition is literally false.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for s in &cx.steps {
        let Some(when) = s.step.when() else { continue };
        let source = when.expr.source.trim();
        let source = source
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .map_or(source, str::trim);
        if source == "false" {
            out.push(
                Diagnostic::warning(
                    INFO.code,
                    format!(
                        "step `{}` never runs: its `when` is always false",
                        s.step.name.name
                    ),
                    when.expr.span,
                )
                .with_help("remove the step, or write the condition under which it should run"),
            );
        }
    }
}
