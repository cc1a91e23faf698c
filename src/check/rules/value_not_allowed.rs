//! Finds literal `with` values outside the parameter's closed set of allowed values.

use crate::catalog::actions::closest;
use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::ValueKind;

rule! {
    /// **What it finds.** A plain string in `with { … }` for a parameter that only allows
    /// certain values (e.g. a taint `effect`), when the string is not one of them.
    ///
    /// **Why.** The executor rejects the value, so the step fails on every attempt.
    ///
    /// **Example.**
    /// ```text
    /// step taint {
    ///   action "taint_node"
    ///   with { node: node, key: "remedy/quarantine", effect: "NoScheduel" }
    /// }
    /// ```
    ///
    /// **How to fix.** Use one of the allowed values; the message lists them and the help
    /// suggests the closest.
    code: "E0106",
    name: "value_not_allowed",
    severity: Error,
    summary: "a `with` value is not one the parameter allows",
}

/// Report plain string values outside a parameter's allowed set.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in &cx.actions {
        let (Some(spec), Some(with)) = (site.spec, site.with) else {
            continue;
        };
        for entry in &with.map.entries {
            let Some(param) = spec.param(&entry.key.name) else {
                continue;
            };
            if param.allowed.is_empty() {
                continue;
            }
            let ValueKind::String(s) = &entry.value.kind else {
                continue;
            };
            let Some(text) = s.as_plain() else { continue };
            if param.allowed.contains(&text.as_str()) {
                continue;
            }
            let allowed = param
                .allowed
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let help = match closest(&text, param.allowed.iter().copied()) {
                Some(s) => format!("did you mean \"{s}\"?"),
                None => format!("use one of {allowed}"),
            };
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!(
                        "{}: parameter `{}` of `{}` must be one of {allowed}, not \"{text}\"",
                        site.describe(),
                        param.name,
                        spec.name
                    ),
                    entry.value.span,
                )
                .with_help(help),
            );
        }
    }
}
