//! Finds param constraints that cannot hold or do not fit the param's type.

use crate::check::literal::{describe, fits_type, with_article};
use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::dsl::ast::{ConstraintKind, Param, ParamType, Value, ValueKind};

rule! {
    /// **What it finds.** A param constraint that is wrong in itself: `min`/`max` on a type
    /// that has no order (only int, float and duration do) or of another type than the
    /// param, `min` greater than `max`, `enum` on a bool, list or map, an empty `enum` or a
    /// value in it of another type, `pattern` on a non-string param, or a `pattern` that is
    /// not a valid regular expression.
    ///
    /// **Why.** Such a constraint either rejects every value (so the param can never be
    /// given) or cannot be evaluated at all.
    ///
    /// **Example.**
    /// ```text
    /// param factor: float = 1.5 { min 4.0  max 1.0 }
    /// param name: string { pattern "[a-z" }
    /// ```
    ///
    /// **How to fix.** Swap or correct the bounds, use constraints that fit the type, and
    /// fix the regular expression (the message quotes the regex error).
    code: "E0120",
    name: "invalid_constraint",
    severity: Error,
    summary: "a param constraint cannot hold or does not fit the param's type",
}

/// A comparable number for an ordered literal: int/float as f64, durations in ms.
pub fn ordered(value: &Value) -> Option<f64> {
    match &value.kind {
        ValueKind::Int(i) => Some(*i as f64),
        ValueKind::Float(f, _) => Some(*f),
        ValueKind::Duration(d) => Some(d.millis as f64),
        _ => None,
    }
}

/// Check one param's constraints.
fn check_param(p: &Param, out: &mut Vec<Diagnostic>) {
    let name = &p.name.name;
    let ty = p.ty.as_str();
    let a_ty = with_article(ty);
    let ordered_type = matches!(
        p.ty,
        ParamType::Int | ParamType::Float | ParamType::Duration
    );
    let mut min: Option<(&Value, Span)> = None;
    let mut max: Option<(&Value, Span)> = None;
    let err = |msg: String, span: Span, help: &str| {
        Diagnostic::error(INFO.code, msg, span).with_help(help.to_string())
    };
    for c in &p.constraints {
        match &c.kind {
            ConstraintKind::Min(v) | ConstraintKind::Max(v) => {
                let kw = c.kind.keyword();
                if !ordered_type {
                    out.push(err(
                        format!("param `{name}` is {a_ty}, which has no `{kw}`"),
                        c.span,
                        "`min` and `max` apply to int, float and duration params; use `enum` or `pattern` for others",
                    ).with_label(p.ty_span, "declared here"));
                    continue;
                }
                if fits_type(v, p.ty) == Some(false) || ordered(v).is_none() {
                    out.push(err(
                        format!(
                            "`{kw}` of {ty} param `{name}` is {}",
                            describe(v).unwrap_or("an expression")
                        ),
                        v.span,
                        &format!("write the bound as {a_ty} literal"),
                    ));
                    continue;
                }
                if kw == "min" {
                    min = Some((v, v.span));
                } else {
                    max = Some((v, v.span));
                }
            }
            ConstraintKind::Enum(values) => {
                if matches!(p.ty, ParamType::Bool | ParamType::List | ParamType::Map) {
                    out.push(
                        err(
                            format!("param `{name}` is {a_ty}, which cannot have an `enum`"),
                            c.span,
                            "remove the `enum`; an enum lists the allowed strings or numbers",
                        )
                        .with_label(p.ty_span, "declared here"),
                    );
                    continue;
                }
                if values.is_empty() {
                    out.push(err(
                        format!("the `enum` of param `{name}` is empty, so no value is allowed"),
                        c.span,
                        "list the allowed values, or remove the `enum`",
                    ));
                }
                for v in values {
                    if fits_type(v, p.ty) == Some(false) {
                        out.push(err(
                            format!(
                                "the `enum` of {ty} param `{name}` holds {}",
                                describe(v).unwrap_or("a value")
                            ),
                            v.span,
                            &format!("every `enum` value must be {a_ty}"),
                        ));
                    } else if fits_type(v, p.ty).is_none() {
                        out.push(err(
                            format!("the `enum` of param `{name}` holds an expression"),
                            v.span,
                            "`enum` values must be literals",
                        ));
                    }
                }
            }
            ConstraintKind::Pattern(pattern) => {
                if !matches!(p.ty, ParamType::String | ParamType::Any) {
                    out.push(
                        err(
                            format!("param `{name}` is {a_ty}, which cannot have a `pattern`"),
                            c.span,
                            "`pattern` applies to string params",
                        )
                        .with_label(p.ty_span, "declared here"),
                    );
                    continue;
                }
                if let Err(e) = regex::Regex::new(&pattern.value) {
                    let reason = match e {
                        regex::Error::Syntax(s) => s
                            .lines()
                            .last()
                            .unwrap_or("invalid syntax")
                            .trim_start_matches("error: ")
                            .to_string(),
                        regex::Error::CompiledTooBig(_) => "it is too large".to_string(),
                        _ => "it is invalid".to_string(),
                    };
                    out.push(err(
                        format!(
                            "the `pattern` of param `{name}` is not a valid regular expression: {reason}"
                        ),
                        pattern.span,
                        "fix the regular expression (Rust `regex` syntax; a `\\` inside a string is written `\\\\`)",
                    ));
                }
            }
            ConstraintKind::Description(_) => {}
        }
    }
    if let (Some((lo, lo_span)), Some((hi, hi_span))) = (min, max)
        && let (Some(a), Some(b)) = (ordered(lo), ordered(hi))
        && a > b
    {
        out.push(
            Diagnostic::error(
                INFO.code,
                format!("param `{name}` has `min` greater than `max`, so no value fits"),
                lo_span,
            )
            .with_label(hi_span, "the `max`")
            .with_help("swap the bounds, or correct one of them"),
        );
    }
}

/// Report invalid constraints of every param.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for p in cx.workflow.params() {
        check_param(p, out);
    }
}
