//! Duration strings (`250ms`, `30s`, `1h30m`) as milliseconds, and back.
//!
//! The same forms as the language's duration literals: one or more `NUMBER UNIT` pairs with
//! units `ms`, `s`, `m`, `h`, largest first is not required. A bare `0` is zero.

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is not a duration.
    #[error("`{0}` is not a duration (expected e.g. 250ms, 30s, 5m, 2h, 1h30m)")]
    Invalid(String),
    /// The duration does not fit 64 bits of milliseconds.
    #[error("duration `{0}` is too long")]
    TooLong(String),
}

/// `"1h30m"` → 5400000 milliseconds.
pub fn parse_millis(text: &str) -> Result<u64, DurationError> {
    let invalid = || DurationError::Invalid(text.to_string());
    let too_long = || DurationError::TooLong(text.to_string());
    let s = text.trim();
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut rest = s;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let (factor, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else {
            return Err(invalid());
        };
        rest = &rest[len..];
        total = number
            .checked_mul(factor)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(too_long)?;
    }
    Ok(total)
}

/// 5400000 → `"1h30m"`; 250 → `"250ms"`; 0 → `"0s"`. The inverse of [`parse_millis`].
pub fn format_millis(millis: u64) -> String {
    if millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = millis;
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        let n = rest / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        for (text, millis) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1h30m", 5_400_000),
            ("1m30s500ms", 90_500),
        ] {
            assert_eq!(parse_millis(text), Ok(millis), "{text}");
            assert_eq!(format_millis(millis), text);
        }
        assert_eq!(parse_millis("0"), Ok(0));
        assert_eq!(format_millis(0), "0s");
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for text in [
            "",
            "30",
            "s",
            "1x",
            "1.5h",
            "-1s",
            "1h 30m",
            "99999999999999999999h",
        ] {
            assert!(parse_millis(text).is_err(), "{text}");
        }
    }
}
