//! A param's value: where it comes from, its declared type, and its constraints. Below both
//! `check` (which types constant defaults) and `plan` (which types every value it pins), so
//! lint and Planning judge a value with the same code.

use serde_json::Value;

use crate::dsl::ast::{ConstraintKind, Param, ParamType, StringPart, ValueKind};
use crate::units::duration;

/// A param value that is mistyped or breaks a constraint (Planning's InvalidParameters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// The param concerned.
    pub param: String,
    /// What is wrong and where the value came from.
    pub message: String,
}

impl ParamError {
    fn invalid(param: &str, message: impl Into<String>) -> Self {
        ParamError {
            param: param.to_string(),
            message: message.into(),
        }
    }
}

/// Where a param's value came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The WorkflowExecution's `spec.parameters`.
    Override,
    /// The AIAnalysis's `status.parameters`.
    Analysis,
    /// The template's default.
    Default,
}

impl Source {
    /// "from the WorkflowExecution's parameters", …
    pub fn describe(self) -> &'static str {
        match self {
            Source::Override => "from the WorkflowExecution's parameters",
            Source::Analysis => "from the AIAnalysis's parameters",
            Source::Default => "from its default",
        }
    }
}

/// A param's value for a message: a credential (by the param's name, or by its text) shows
/// only its kind, never itself.
fn show_param(name: &str, value: &Value) -> String {
    let text = show(value);
    if crate::redact::is_credential_key(name) || crate::redact::redact_text(&text) != text {
        let kind = match value {
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            Value::Array(_) => "a list",
            Value::Object(_) => "a map",
        };
        return format!("{kind} (not shown: a credential)");
    }
    text
}

/// A value as a message shows it: strings quoted, long values cut.
pub fn show(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Array(_) => format!("the list {value}"),
        Value::Object(_) => format!("the map {value}"),
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

fn type_phrase(ty: ParamType) -> &'static str {
    match ty {
        ParamType::String => "a string",
        ParamType::Int => "an int",
        ParamType::Float => "a float",
        ParamType::Bool => "a bool",
        ParamType::Duration => "a duration (such as \"30s\", \"5m\" or \"1h30m\")",
        ParamType::List => "a list",
        ParamType::Map => "a map",
        ParamType::Any => "any value",
    }
}

/// Check `value` against the param's type, giving its canonical form: a float param turns an
/// int into a float, a duration param takes a duration string and keeps it as `1h30m` text.
pub fn coerce(param: &Param, value: Value, source: Source) -> Result<Value, ParamError> {
    let name = &param.name.name;
    let wrong = |value: &Value| {
        ParamError::invalid(
            name,
            format!(
                "param `{name}` must be {}, got {} ({})",
                type_phrase(param.ty),
                show_param(name, value),
                source.describe()
            ),
        )
    };
    match (param.ty, &value) {
        (ParamType::Any, _)
        | (ParamType::String, Value::String(_))
        | (ParamType::Bool, Value::Bool(_))
        | (ParamType::List, Value::Array(_))
        | (ParamType::Map, Value::Object(_)) => Ok(value),
        (ParamType::Int, Value::Number(n)) if n.is_i64() => Ok(value),
        (ParamType::Float, Value::Number(n)) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| wrong(&value)),
        (ParamType::Duration, Value::String(s)) => match duration::parse_millis(s) {
            Ok(ms) => Ok(Value::String(duration::format_millis(ms))),
            Err(_) => Err(wrong(&value)),
        },
        _ => Err(wrong(&value)),
    }
}

/// A constraint literal as JSON (`None` for expressions, which constraints do not hold).
fn literal(value: &crate::dsl::ast::Value) -> Option<Value> {
    Some(match &value.kind {
        ValueKind::String(s) => {
            let mut text = String::new();
            for part in &s.parts {
                match part {
                    StringPart::Text(t) => text.push_str(t),
                    StringPart::Expr(_) => return None,
                }
            }
            Value::String(text)
        }
        ValueKind::Int(i) => Value::from(*i),
        ValueKind::Float(f, _) => Value::from(*f),
        ValueKind::Bool(b) => Value::Bool(*b),
        ValueKind::Null => Value::Null,
        ValueKind::Duration(d) => Value::String(duration::format_millis(d.millis)),
        ValueKind::List(items) => Value::Array(items.iter().map(literal).collect::<Option<_>>()?),
        ValueKind::Map(_) | ValueKind::Expr(_) | ValueKind::Ident(_) => return None,
    })
}

/// The constraint literal as written in the template.
fn written(value: &crate::dsl::ast::Value) -> String {
    match &value.kind {
        ValueKind::Float(_, text) => text.clone(),
        ValueKind::Duration(d) => duration::format_millis(d.millis),
        _ => literal(value).map_or_else(|| "the bound".to_string(), |v| show(&v)),
    }
}

/// A comparable number: numbers as they are, durations in milliseconds.
fn magnitude(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => duration::parse_millis(s).ok().map(|ms| ms as f64),
        _ => None,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Check `value` (already coerced) against the param's `min`, `max`, `enum` and `pattern`.
pub fn check_constraints(param: &Param, value: &Value, source: Source) -> Result<(), ParamError> {
    let name = &param.name.name;
    let fail = |what: String| {
        Err(ParamError::invalid(
            name,
            format!(
                "param `{name}` must {what}, got {} ({})",
                show_param(name, value),
                source.describe()
            ),
        ))
    };
    for c in &param.constraints {
        match &c.kind {
            ConstraintKind::Min(bound) | ConstraintKind::Max(bound) => {
                let is_min = matches!(c.kind, ConstraintKind::Min(_));
                let (Some(v), Some(b)) =
                    (magnitude(value), literal(bound).and_then(|b| magnitude(&b)))
                else {
                    continue;
                };
                if is_min && v < b {
                    return fail(format!("be at least {}", written(bound)));
                }
                if !is_min && v > b {
                    return fail(format!("be at most {}", written(bound)));
                }
            }
            ConstraintKind::Enum(options) => {
                let options: Vec<Value> = options.iter().filter_map(literal).collect();
                if !options.is_empty() && !options.iter().any(|o| same(o, value)) {
                    let listed: Vec<String> = options.iter().map(show).collect();
                    return fail(format!("be one of {}", listed.join(", ")));
                }
            }
            ConstraintKind::Pattern(pattern) => {
                let Value::String(text) = value else { continue };
                let re = regex::Regex::new(&format!("^(?:{})$", pattern.value)).map_err(|e| {
                    ParamError::invalid(name, format!("param `{name}` has an invalid pattern: {e}"))
                })?;
                if !re.is_match(text) {
                    return fail(format!("match the pattern `{}`", pattern.value));
                }
            }
            ConstraintKind::Description(_) => {}
        }
    }
    Ok(())
}
