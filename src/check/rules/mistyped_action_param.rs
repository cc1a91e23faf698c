//! Finds `with` values whose literal type does not fit the action parameter's type.

use crate::catalog::{ParamKind, ParamSpec};
use crate::check::literal::{describe, fits_kind, type_fits_kind};
use crate::check::rules::{ActionSite, RuleContext};
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::{Value, ValueKind};

rule! {
    /// **What it finds.** A literal in `with { … }` whose type does not fit the action's
    /// parameter: a string for an `int`, a number for a `string`, `"5 minutes"` for a
    /// duration, `"512MB"` for a quantity. A bare identifier naming a param (or a `let`
    /// with a literal value) whose declared type clearly conflicts is reported too.
    /// Expressions are left for run time.
    ///
    /// **Why.** The executor validates parameters before acting; a mistyped value fails
    /// the step on every attempt.
    ///
    /// **Example.**
    /// ```text
    /// step scale_out {
    ///   action "scale_deployment"
    ///   with { namespace: namespace, deployment: deployment, replicas: "3" }
    /// }
    /// ```
    ///
    /// **How to fix.** Write the value in the parameter's type (`replicas: 3`,
    /// `duration: 30s`, `memory: "512Mi"`), or change the declared type of the param
    /// passed. `remedy actions TYPE` shows each parameter's type.
    code: "E0105",
    name: "mistyped_action_param",
    severity: Error,
    summary: "a `with` value's type does not fit the action parameter",
}

/// Report every `with` value whose type conflicts with its parameter.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in &cx.actions {
        let (Some(spec), Some(with)) = (site.spec, site.with) else {
            continue;
        };
        for entry in &with.map.entries {
            let Some(param) = spec.param(&entry.key.name) else {
                continue;
            };
            check_value(cx, site, param, &entry.value, out);
        }
    }
}

fn check_value(
    cx: &RuleContext<'_>,
    site: &ActionSite<'_>,
    param: &ParamSpec,
    value: &Value,
    out: &mut Vec<Diagnostic>,
) {
    let action = site.action.name.value.as_str();
    // Only a finding needs the message.
    let head = || {
        format!(
            "{}: parameter `{}` of `{action}` is {}",
            site.describe(),
            param.name,
            article(param.kind)
        )
    };
    if let ValueKind::Ident(ident) = &value.kind {
        if let Some(p) = cx.param(&ident.name) {
            if !type_fits_kind(p.ty, param.kind) {
                out.push(
                    Diagnostic::error(
                        INFO.code,
                        format!(
                            "{}, but param `{}` is declared `{}`",
                            head(),
                            ident.name,
                            p.ty.as_str()
                        ),
                        value.span,
                    )
                    .with_label(p.ty_span, format!("`{}` is declared here", ident.name))
                    .with_help(format!(
                        "declare `{}` with a type that fits {}, or pass another value",
                        ident.name, param.kind
                    )),
                );
            }
        } else if let Some(l) = cx.let_(&ident.name)
            && fits_kind(&l.value, param.kind) == Some(false)
        {
            let what = describe(&l.value).unwrap_or("a value");
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("{}, but `{}` is {what}", head(), ident.name),
                    value.span,
                )
                .with_label(l.value.span, format!("`{}` is set here", ident.name))
                .with_help(help_for(param)),
            );
        }
        return;
    }
    if matches!(value.kind, ValueKind::Null) && !param.required {
        return;
    }
    if fits_kind(value, param.kind) != Some(false) {
        return;
    }
    let what = match (&value.kind, param.kind) {
        (ValueKind::String(s), ParamKind::Duration) => s
            .as_plain()
            .map(|t| format!("\"{t}\", which is not a duration"))
            .unwrap_or_else(|| "a string".into()),
        (ValueKind::String(s), ParamKind::Quantity) => s
            .as_plain()
            .map(|t| format!("\"{t}\", which is not a quantity"))
            .unwrap_or_else(|| "a string".into()),
        _ => describe(value).unwrap_or("a value").to_string(),
    };
    let mut d = Diagnostic::error(
        INFO.code,
        format!("{}, but the value is {what}", head()),
        value.span,
    );
    let help = match (&value.kind, param.kind) {
        (ValueKind::String(s), ParamKind::Int | ParamKind::Float)
            if s.as_plain()
                .is_some_and(|t| t.trim().parse::<f64>().is_ok()) =>
        {
            "remove the quotes: numbers are written without them".to_string()
        }
        (ValueKind::String(s), ParamKind::Bool)
            if s.as_plain().is_some_and(|t| t == "true" || t == "false") =>
        {
            "remove the quotes: `true` and `false` are written without them".to_string()
        }
        (ValueKind::String(s), ParamKind::Int | ParamKind::Float | ParamKind::Bool)
            if s.as_plain().is_none() =>
        {
            "an interpolated string is a string; write the expression as `${ … }` without quotes"
                .to_string()
        }
        _ => help_for(param),
    };
    d = d.with_help(help);
    out.push(d);
}

fn article(kind: ParamKind) -> String {
    match kind {
        ParamKind::Int => "an int".into(),
        other => format!("a {other}"),
    }
}

fn help_for(param: &ParamSpec) -> String {
    let example = match param.kind {
        ParamKind::String => "\"text\"",
        ParamKind::Int => "3",
        ParamKind::Float => "1.5",
        ParamKind::Bool => "true",
        ParamKind::Duration => "30s",
        ParamKind::Quantity if param.name.contains("cpu") => "\"500m\"",
        ParamKind::Quantity => "\"512Mi\"",
        ParamKind::List => "[\"a\", \"b\"]",
        ParamKind::Map => "{ key: \"value\" }",
    };
    format!(
        "give {}, e.g. `{}: {example}` — {}",
        article(param.kind),
        param.name,
        param.doc
    )
}
