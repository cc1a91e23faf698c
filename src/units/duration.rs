//! Durations: the language's duration literal (spec section 2) is the one grammar, for
//! literals and for duration strings alike.
//!
//! A duration is one or more `NUMBER UNIT` pairs, units `ms`, `s`, `m`, `h`, each smaller than
//! the one before (`1h30m`, `250ms`, `0s`). Nothing else: no spaces, no sign, no fraction, no
//! bare number (not even `0`), no `d`. The total is kept in milliseconds and must fit 64 bits.

use std::fmt;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a duration: {problem} (e.g. 250ms, 30s, 5m, 2h, 1h30m)")]
pub struct DurationError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub problem: DurationProblem,
}

/// What is wrong with a duration text; its `Display` is the phrase the parser reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationProblem {
    /// Nothing, or a unit without a number before it.
    NoNumber,
    /// A number without a unit (`30`, `0`).
    NoUnit,
    /// A unit that is not `ms`, `s`, `m` or `h`.
    UnknownUnit,
    /// Units out of order or repeated (`30m1h`, `1m1m`).
    Order,
    /// A number past 64 bits.
    NumberTooLarge,
    /// More milliseconds than 64 bits hold.
    TooLong,
}

impl fmt::Display for DurationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DurationProblem::NoNumber => "expected a number before each unit",
            DurationProblem::NoUnit => "a number needs a unit (ms, s, m or h)",
            DurationProblem::UnknownUnit => "the units are ms, s, m and h",
            DurationProblem::Order => "each unit must be smaller than the one before, as in 1h30m",
            DurationProblem::NumberTooLarge => "the number is too large",
            DurationProblem::TooLong => "the duration is too long",
        })
    }
}

const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Milliseconds in a day.
const DAY_MILLIS: u64 = 86_400_000;

/// The milliseconds of an operator's period (`--retain-failed 30d`, `--since 7d`): a whole
/// number of days (`7d`), or a duration of the language (`12h`, `90m`). Days are for periods
/// set on the command line and in annotations only; templates and scenarios have no `d`.
pub fn parse_period_millis(text: &str) -> Result<u64, DurationError> {
    if let Some(days) = text.strip_suffix('d')
        && !days.is_empty()
        && days.bytes().all(|b| b.is_ascii_digit())
    {
        let fail = |problem| DurationError {
            text: text.to_string(),
            problem,
        };
        let n: u64 = days
            .parse()
            .map_err(|_| fail(DurationProblem::NumberTooLarge))?;
        return n
            .checked_mul(DAY_MILLIS)
            .ok_or(fail(DurationProblem::TooLong));
    }
    parse_millis(text)
}

/// The milliseconds of a duration such as `1h30m`, or why it is not one.
pub fn parse_millis(text: &str) -> Result<u64, DurationError> {
    let fail = |problem| DurationError {
        text: text.to_string(),
        problem,
    };
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_unit = u64::MAX;
    loop {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(fail(DurationProblem::NoNumber));
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let (unit, after) = after.split_at(letters);
        let size = match UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, size)) => *size,
            None if unit.is_empty() => return Err(fail(DurationProblem::NoUnit)),
            None => return Err(fail(DurationProblem::UnknownUnit)),
        };
        if size >= last_unit {
            return Err(fail(DurationProblem::Order));
        }
        last_unit = size;
        let number: u64 = number
            .parse()
            .map_err(|_| fail(DurationProblem::NumberTooLarge))?;
        total = number
            .checked_mul(size)
            .and_then(|n| n.checked_add(total))
            .ok_or_else(|| fail(DurationProblem::TooLong))?;
        rest = after;
        if rest.is_empty() {
            return Ok(total);
        }
    }
}

/// A duration in milliseconds as an author writes it, largest unit first, milliseconds kept:
/// `1h30m`, `1s250ms`, `0s`. [`parse_millis`] reads every output back to the same value.
pub fn format_millis(millis: u64) -> String {
    if millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = millis;
    for (name, size) in UNITS {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(name);
        }
    }
    out
}

/// A [`std::time::Duration`] as [`format_millis`] writes it (below a millisecond is dropped).
pub fn format(d: std::time::Duration) -> String {
    format_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod period_tests {
    use super::*;

    #[test]
    fn periods_take_whole_days_or_a_duration_and_nothing_else() {
        assert_eq!(parse_period_millis("7d"), Ok(7 * DAY_MILLIS));
        assert_eq!(parse_period_millis("12h"), Ok(12 * 3_600_000));
        assert_eq!(parse_period_millis("90m"), Ok(90 * 60_000));
        for bad in ["d", "1.5d", "-1d", "1d12h", " 7d", "7 d", "7", "7D"] {
            assert!(parse_period_millis(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            parse_period_millis("99999999999999999999d").map_err(|e| e.problem),
            Err(DurationProblem::NumberTooLarge)
        );
        assert_eq!(
            parse_period_millis("999999999999d").map_err(|e| e.problem),
            Err(DurationProblem::TooLong)
        );
    }
}
