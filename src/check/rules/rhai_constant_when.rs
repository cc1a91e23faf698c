//! Finds a `when` whose value does not depend on anything, such as `${ 1 > 2 }`.

use std::collections::BTreeMap;

use crate::check::rules::RuleContext;
use crate::check::rules::rhai_sites::reads_nothing;
use crate::diagnostic::Diagnostic;
use crate::script::{EvalContext, ScriptEngine};

rule! {
    /// **What it finds.** A step's `when` that reads no variable, so it is always true or
    /// always false (`${ 1 > 2 }`, `${ true }`, `${ "a" == "b" }`). The literal
    /// `${ false }` is left to `unreachable_when`.
    ///
    /// **Why.** An always-false step never runs; an always-true `when` is noise that
    /// suggests a condition that does not exist.
    ///
    /// **Example.**
    /// ```text
    /// step restart { when ${ 1 > 2 } action "restart_deployment" … }
    /// ```
    ///
    /// **How to fix.** Write the real condition (e.g. on `analysis.confidence`), or remove
    /// the `when` (always true) or the step (always false).
    code: "W0201",
    name: "rhai_constant_when",
    severity: Warning,
    summary: "a step's `when` is a constant",
}

/// Report constant conditions.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let Ok(engine) = ScriptEngine::new(&BTreeMap::new()) else {
        return;
    };
    for s in &cx.steps {
        let Some(when) = s.step.when() else { continue };
        let source = when.expr.source.trim();
        let bare = source
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .map_or(source, str::trim);
        // Module functions are not evaluated here; `${ false }` is `unreachable_when`'s.
        if source.contains("::") || bare == "false" {
            continue;
        }
        if !reads_nothing(cx, source) {
            continue;
        }
        let Ok(serde_json::Value::Bool(value)) =
            engine.eval_source(source, &EvalContext::default())
        else {
            continue;
        };
        let name = &s.step.name.name;
        let (message, help) = if value {
            (
                format!("the `when` of step `{name}` is always true"),
                "remove the `when`, or write the condition under which the step should run",
            )
        } else {
            (
                format!("step `{name}` never runs: its `when` is always false"),
                "remove the step, or write the condition under which it should run",
            )
        };
        out.push(Diagnostic::warning(INFO.code, message, when.expr.span).with_help(help));
    }
}
