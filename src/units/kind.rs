//! The kinds of action parameters, and whether a resolved (JSON) value is of one.

use std::fmt;

use serde_json::Value;

use super::duration::parse_millis;
use super::quantity::Quantity;

/// The type of an action parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// Any string.
    String,
    /// A whole number.
    Int,
    /// A number (an integer is accepted too).
    Float,
    /// `true` or `false`.
    Bool,
    /// A duration literal (`30s`) or a duration string (`"30s"`).
    Duration,
    /// A Kubernetes quantity: a string such as `"512Mi"`, `"250m"`, or a number.
    Quantity,
    /// A list.
    List,
    /// A map.
    Map,
}

impl ParamKind {
    /// The type's name as the docs and diagnostics print it.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::String => "string",
            ParamKind::Int => "int",
            ParamKind::Float => "float",
            ParamKind::Bool => "bool",
            ParamKind::Duration => "duration",
            ParamKind::Quantity => "quantity",
            ParamKind::List => "list",
            ParamKind::Map => "map",
        }
    }
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a resolved value is of `kind`: what Validating checks, and exactly what the
/// executor accepts ([`normalise`] gives `Some`).
pub fn fits(value: &Value, kind: ParamKind) -> bool {
    normalise(value, kind).is_some()
}

/// The value in the form the executor reads, or `None` when it is not of `kind`: a whole float
/// of an int becomes an integer, a numeric quantity becomes its text; a duration is a string of
/// the duration grammar and a quantity one of the quantity grammar (see their modules).
pub fn normalise(value: &Value, kind: ParamKind) -> Option<Value> {
    match kind {
        ParamKind::String => value.is_string().then(|| value.clone()),
        ParamKind::Int => whole_number(value).map(Value::from),
        ParamKind::Float => value.is_number().then(|| value.clone()),
        ParamKind::Bool => value.is_boolean().then(|| value.clone()),
        ParamKind::Duration => value
            .as_str()
            .is_some_and(|s| parse_millis(s).is_ok())
            .then(|| value.clone()),
        ParamKind::Quantity => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Quantity::parse(&text).ok().map(|_| Value::String(text))
        }
        ParamKind::List => value.is_array().then(|| value.clone()),
        ParamKind::Map => value.is_object().then(|| value.clone()),
    }
}

/// The value as a 64-bit integer if it is a whole number: an integer, or a float with no
/// fraction that is exact (below 2^53 in size), such as `3.0`.
pub fn whole_number(value: &Value) -> Option<i64> {
    if let Some(i) = value.as_i64() {
        return Some(i);
    }
    let f = value.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0).then_some(f as i64)
}
