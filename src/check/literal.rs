//! What the checker can tell about a value without running anything: the type of a literal and
//! whether it fits a declared type or an action parameter's kind (through [`crate::units`]).

use crate::catalog::ParamKind;
use crate::dsl::ast::{ParamType, Value, ValueKind};
use crate::units::{self, duration};

/// The type of a literal value as an author reads it, e.g. "a string", or `None` for values
/// known only at run time (expressions and bare identifiers).
pub fn describe(value: &Value) -> Option<&'static str> {
    Some(match &value.kind {
        ValueKind::String(_) => "a string",
        ValueKind::Int(_) => "an integer",
        ValueKind::Float(..) => "a float",
        ValueKind::Bool(_) => "a boolean",
        ValueKind::Null => "null",
        ValueKind::Duration(_) => "a duration",
        ValueKind::List(_) => "a list",
        ValueKind::Map(_) => "a map",
        ValueKind::Expr(_) | ValueKind::Ident(_) => return None,
    })
}

/// Whether a literal fits an action parameter's kind; `None` when the value is not a literal.
///
/// The literal is taken as the JSON value planning makes of it and asked of [`units::fits`],
/// so a literal lint accepts is one the executor accepts. An interpolated string is accepted
/// where a string, duration or quantity goes (its text is known only at run time); a float
/// literal is refused where an int goes (though a whole one would be read as that int) and a
/// duration literal anywhere but a duration.
pub fn fits_kind(value: &Value, kind: ParamKind) -> Option<bool> {
    let json = match &value.kind {
        ValueKind::Expr(_) | ValueKind::Ident(_) => return None,
        ValueKind::String(s) => match s.as_plain() {
            Some(text) => serde_json::Value::String(text),
            None => {
                let fits = matches!(
                    kind,
                    ParamKind::String | ParamKind::Duration | ParamKind::Quantity
                );
                return Some(fits);
            }
        },
        ValueKind::Null => return Some(false),
        ValueKind::Float(..) if kind == ParamKind::Int => return Some(false),
        ValueKind::Int(i) => serde_json::Value::from(*i),
        ValueKind::Float(f, _) => serde_json::Value::from(*f),
        ValueKind::Bool(b) => serde_json::Value::Bool(*b),
        // A duration literal is a duration, not the string planning writes it as.
        ValueKind::Duration(_) => return Some(kind == ParamKind::Duration),
        ValueKind::List(_) => serde_json::Value::Array(Vec::new()),
        ValueKind::Map(_) => serde_json::Value::Object(serde_json::Map::new()),
    };
    Some(units::fits(&json, kind))
}

/// Whether a literal fits a param's declared type; `None` when the value is not a literal.
pub fn fits_type(value: &Value, ty: ParamType) -> Option<bool> {
    let fits = match (&value.kind, ty) {
        (ValueKind::Expr(_) | ValueKind::Ident(_), _) => return None,
        (_, ParamType::Any) => true,
        (ValueKind::String(_), ParamType::String) => true,
        (ValueKind::Int(_), ParamType::Int | ParamType::Float) => true,
        (ValueKind::Float(..), ParamType::Float) => true,
        (ValueKind::Bool(_), ParamType::Bool) => true,
        (ValueKind::Duration(_), ParamType::Duration) => true,
        (ValueKind::String(s), ParamType::Duration) => s
            .as_plain()
            .is_none_or(|t| duration::parse_millis(&t).is_ok()),
        (ValueKind::List(_), ParamType::List) => true,
        (ValueKind::Map(_), ParamType::Map) => true,
        _ => false,
    };
    Some(fits)
}

/// Whether values of a param's declared type can be passed where an action wants `kind`.
///
/// Only clear conflicts count: `any` fits everything, and a string may carry a quantity or
/// a duration.
pub fn type_fits_kind(ty: ParamType, kind: ParamKind) -> bool {
    match ty {
        ParamType::Any => true,
        ParamType::String => matches!(
            kind,
            ParamKind::String | ParamKind::Quantity | ParamKind::Duration
        ),
        ParamType::Int => matches!(
            kind,
            ParamKind::Int | ParamKind::Float | ParamKind::Quantity
        ),
        ParamType::Float => matches!(kind, ParamKind::Float | ParamKind::Quantity),
        ParamType::Bool => kind == ParamKind::Bool,
        ParamType::Duration => kind == ParamKind::Duration,
        ParamType::List => kind == ParamKind::List,
        ParamType::Map => kind == ParamKind::Map,
    }
}

/// A type name with its indefinite article: "an int", "a string".
pub fn with_article(ty: &str) -> String {
    if ty.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {ty}")
    } else {
        format!("a {ty}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_types_conflict_only_when_clear() {
        assert!(type_fits_kind(ParamType::String, ParamKind::Quantity));
        assert!(type_fits_kind(ParamType::Any, ParamKind::Bool));
        assert!(!type_fits_kind(ParamType::Bool, ParamKind::Int));
        assert!(!type_fits_kind(ParamType::Float, ParamKind::Int));
    }
}
