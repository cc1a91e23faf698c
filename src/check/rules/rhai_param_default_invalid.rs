//! Finds a param default expression that is constant and gives a value of the wrong type or
//! outside the param's constraints (or fails).

use std::collections::BTreeMap;

use crate::check::rules::RuleContext;
use crate::check::rules::rhai_sites::reads_nothing;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::ValueKind;
use crate::param::{Source, check_constraints, coerce};
use crate::script::{EvalContext, ScriptEngine};

rule! {
    /// **What it finds.** A param whose default is an expression that reads no variable
    /// (so its value is known now), and that value is of the wrong type, breaks the param's
    /// `min`, `max`, `enum` or `pattern`, or the expression fails. Literal defaults are
    /// `param_default_mistyped`'s and `param_default_violates_constraint`'s.
    ///
    /// **Why.** Every run that does not override the param fails Planning with
    /// InvalidParameters or ScriptError.
    ///
    /// **Example.**
    /// ```text
    /// param factor: float = ${ 2.0 * 3 } { max 4.0 }
    /// ```
    ///
    /// **How to fix.** Change the default expression, or the constraint.
    code: "E0206",
    name: "rhai_param_default_invalid",
    severity: Error,
    summary: "a constant param default expression gives an invalid value",
}

/// Report constant defaults that would fail Planning.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let Ok(engine) = ScriptEngine::new(&BTreeMap::new()) else {
        return;
    };
    for p in cx.workflow.params() {
        let Some(default) = &p.default else { continue };
        let ValueKind::Expr(e) = &default.kind else {
            continue;
        };
        if e.source.contains("::") || !reads_nothing(cx, &e.source) {
            continue;
        }
        let problem = match engine.eval_source(&e.source, &EvalContext::default()) {
            Err(err) => Some(format!(
                "the default of param `{}` fails: {}",
                p.name.name,
                err.message()
            )),
            Ok(value) => coerce(p, value, Source::Default)
                .and_then(|v| check_constraints(p, &v, Source::Default))
                .err()
                .map(|err| err.to_string()),
        };
        if let Some(message) = problem {
            out.push(
                Diagnostic::error(INFO.code, message, default.span).with_help(
                    "change the default so that it fits the param's type and constraints",
                ),
            );
        }
    }
}
