//! Finds a param default literal of another type than the param's.

use crate::check::literal::{describe, fits_type};
use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::ValueKind;

rule! {
    /// **What it finds.** `param NAME: TYPE = VALUE` where VALUE is a literal of another
    /// type (`param replicas: int = "3"`, `param wait: duration = 30`). Expressions are
    /// checked at Planning; `null` is accepted for every type.
    ///
    /// **Why.** The default is used whenever the WorkflowExecution does not override the
    /// param; a mistyped default fails Planning for every such run.
    ///
    /// **Example.**
    /// ```text
    /// param factor: float = "1.5"
    /// ```
    ///
    /// **How to fix.** Write the default in the declared type (`1.5`, `30s`, `true`), or
    /// change the declared type.
    code: "E0121",
    name: "param_default_mistyped",
    severity: Error,
    summary: "a param's default literal is not of the param's type",
}

/// Report mistyped default literals.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for p in cx.workflow.params() {
        let Some(default) = &p.default else { continue };
        if matches!(default.kind, ValueKind::Null) || fits_type(default, p.ty) != Some(false) {
            continue;
        }
        let ty = p.ty.as_str();
        let what = match &default.kind {
            ValueKind::String(s) if p.ty == crate::dsl::ast::ParamType::Duration => s
                .as_plain()
                .map(|t| format!("\"{t}\", which is not a duration"))
                .unwrap_or_else(|| "a string".into()),
            _ => describe(default).unwrap_or("a value").to_string(),
        };
        let help = match &default.kind {
            ValueKind::String(s)
                if s.as_plain()
                    .is_some_and(|t| t.parse::<f64>().is_ok() || t == "true" || t == "false") =>
            {
                "remove the quotes".to_string()
            }
            _ => format!(
                "give {} default, or change the declared type",
                crate::check::literal::with_article(ty)
            ),
        };
        out.push(
            Diagnostic::error(
                INFO.code,
                format!(
                    "param `{}` is declared `{ty}`, but its default is {what}",
                    p.name.name
                ),
                default.span,
            )
            .with_label(p.ty_span, "declared here")
            .with_help(help),
        );
    }
}
