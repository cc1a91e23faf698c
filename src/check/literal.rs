//! What the checker can tell about a value without running anything: the type of a literal,
//! whether it fits a declared type, and the text forms of durations and quantities.

use std::sync::LazyLock;

use regex::Regex;

use crate::catalog::ParamKind;
use crate::dsl::ast::{ParamType, Value, ValueKind};

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
/// A plain string for a duration or a quantity must parse as one; an interpolated string is
/// accepted there (its text is known only at run time).
pub fn fits_kind(value: &Value, kind: ParamKind) -> Option<bool> {
    let fits = match (&value.kind, kind) {
        (ValueKind::Expr(_) | ValueKind::Ident(_), _) => return None,
        (ValueKind::String(_), ParamKind::String) => true,
        (ValueKind::Int(_), ParamKind::Int | ParamKind::Float | ParamKind::Quantity) => true,
        (ValueKind::Float(..), ParamKind::Float | ParamKind::Quantity) => true,
        (ValueKind::Bool(_), ParamKind::Bool) => true,
        (ValueKind::Duration(_), ParamKind::Duration) => true,
        (ValueKind::String(s), ParamKind::Duration) => {
            s.as_plain().is_none_or(|t| parse_duration(&t).is_some())
        }
        (ValueKind::String(s), ParamKind::Quantity) => s.as_plain().is_none_or(|t| is_quantity(&t)),
        (ValueKind::List(_), ParamKind::List) => true,
        (ValueKind::Map(_), ParamKind::Map) => true,
        _ => false,
    };
    Some(fits)
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
        (ValueKind::String(s), ParamType::Duration) => {
            s.as_plain().is_none_or(|t| parse_duration(&t).is_some())
        }
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

/// The milliseconds of a duration text such as `250ms`, `30s` or `1h30m`.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut rest = text;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else {
            return None;
        };
        rest = rest.get(len..)?;
        total = total.checked_add(number.checked_mul(unit)?)?;
    }
    Some(total)
}

/// A duration in milliseconds as an author writes it (`1h30m`, `45s`, `250ms`).
pub fn format_duration(millis: u64) -> String {
    if millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let (h, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1_000, rest % 1_000);
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

static QUANTITY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
        .ok()
});

/// Whether `text` is a Kubernetes quantity such as `512Mi`, `250m` or `1.5`.
pub fn is_quantity(text: &str) -> bool {
    QUANTITY.as_ref().is_some_and(|re| re.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("250ms"), Some(250));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("5 m"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(1_250), "1s250ms");
    }

    #[test]
    fn quantities() {
        for ok in ["512Mi", "250m", "1.5", "1Gi", "2e3", "100"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["512MB", "lots", "", "1 Gi", "Mi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn param_types_conflict_only_when_clear() {
        assert!(type_fits_kind(ParamType::String, ParamKind::Quantity));
        assert!(type_fits_kind(ParamType::Any, ParamKind::Bool));
        assert!(!type_fits_kind(ParamType::Bool, ParamKind::Int));
        assert!(!type_fits_kind(ParamType::Float, ParamKind::Int));
    }
}
