//! Kubernetes resource quantities (`512Mi`, `250m`, `1.5G`, `2e3`): the one grammar, the exact
//! value, comparison, and the integer forms the script builtins use.
//!
//! The grammar is Kubernetes': an optional sign, a decimal number (`1`, `1.5`, `.5`, `1.`),
//! then an optional binary suffix (`Ki` … `Ei`), decimal suffix (`n`, `u`, `m`, `k`, `M`, `G`,
//! `T`, `P`, `E`) or decimal exponent (`e3`, `E-2`). No spaces. As in Kubernetes, a value finer
//! than a billionth rounds up; every integer form rounds up too. Limits: at most 30 digits, an
//! exponent within ±30, and a value whose billionths fit 128 bits (about 1.7e29 units); past
//! them the text is refused as too large.

use std::cmp::Ordering;
use std::fmt;

/// Why a quantity text or unit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is not a quantity.
    #[error(
        "`{0}` is not a quantity (expected a number with an optional suffix such as Ki, Mi, Gi, k, M, G or m)"
    )]
    Invalid(String),
    /// The unit is not one of the suffixes.
    #[error(
        "`{0}` is not a quantity unit (use one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, or \"\")"
    )]
    UnknownUnit(String),
    /// The value is past the limits (see the module doc), or does not fit the integer asked for.
    #[error("quantity `{0}` is too large")]
    TooLarge(String),
}

/// A parsed quantity: its text as written and its exact value in billionths of a unit, so that
/// `1Gi`, `1024Mi` and `1073741824` compare equal and `250m` compares below `1`.
#[derive(Debug, Clone)]
pub struct Quantity {
    text: String,
    nanos: i128,
    fractional: bool,
}

const NANO: i128 = 1_000_000_000;

/// A suffix's value in billionths, as the fraction `num / den`.
fn suffix(name: &str) -> Option<(i128, i128)> {
    let binary = |power: u32| (NANO << (10 * power), 1);
    Some(match name {
        "" => (NANO, 1),
        "n" => (1, 1),
        "u" => (1_000, 1),
        "m" => (1_000_000, 1),
        "k" => (NANO * 1_000, 1),
        "M" => (NANO * 1_000_000, 1),
        "G" => (NANO * 1_000_000_000, 1),
        "T" => (NANO * 1_000_000_000_000, 1),
        "P" => (NANO * 1_000_000_000_000_000, 1),
        "E" => (NANO * 1_000_000_000_000_000_000, 1),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        _ => return None,
    })
}

/// Divide rounding towards positive infinity (Kubernetes rounds quantities up).
fn div_ceil(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d != 0 && ((n > 0) == (d > 0)) {
        q + 1
    } else {
        q
    }
}

impl Quantity {
    /// Parses a quantity (grammar and limits in the module doc).
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let invalid = || QuantityError::Invalid(text.to_string());
        let too_large = || QuantityError::TooLarge(text.to_string());
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, mut rest) = body.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        if whole.len() + fraction.len() > 30 {
            return Err(too_large());
        }
        let mut mantissa: i128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            mantissa = mantissa * 10 + i128::from(b - b'0');
        }
        if negative {
            mantissa = -mantissa;
        }
        // A decimal exponent (`1e3`, `1E-2`); a lone `E` is the exa suffix.
        let mut exponent: i32 = 0;
        if let Some(after) = rest.strip_prefix(['e', 'E']) {
            let digits = after.strip_prefix(['+', '-']).unwrap_or(after);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                exponent = after
                    .parse::<i32>()
                    .ok()
                    .filter(|e| e.abs() <= 30)
                    .ok_or_else(too_large)?;
                rest = "";
            }
        }
        let (unit_num, unit_den) = suffix(rest).ok_or_else(invalid)?;
        // value in billionths = mantissa / 10^fraction * unit * 10^exponent
        let scale = u32::try_from(fraction.len()).map_err(|_| invalid())?;
        let mut num = mantissa.checked_mul(unit_num).ok_or_else(too_large)?;
        let mut den = 10i128
            .checked_pow(scale)
            .and_then(|d| d.checked_mul(unit_den))
            .ok_or_else(too_large)?;
        let power = 10i128
            .checked_pow(exponent.unsigned_abs())
            .ok_or_else(too_large)?;
        if exponent >= 0 {
            num = num.checked_mul(power).ok_or_else(too_large)?;
        } else {
            den = den.checked_mul(power).ok_or_else(too_large)?;
        }
        Ok(Quantity {
            text: text.to_string(),
            nanos: div_ceil(num, den),
            fractional: matches!(rest, "m" | "u" | "n"),
        })
    }

    /// The quantity as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The quantity counted in `unit` (a suffix, `""` for base units), rounded up:
    /// `1Gi` in `Mi` is 1024, `2` in `m` is 2000, `1.5` in `""` is 2.
    pub fn count_in(&self, unit: &str) -> Result<i64, QuantityError> {
        let (num, den) = suffix(unit).ok_or_else(|| QuantityError::UnknownUnit(unit.into()))?;
        let too_large = || QuantityError::TooLarge(self.text.clone());
        let scaled = self.nanos.checked_mul(den).ok_or_else(too_large)?;
        i64::try_from(div_ceil(scaled, num)).map_err(|_| too_large())
    }

    /// The integer the script builtins use: thousandths for a fractional suffix (`250m` is
    /// 250), base units otherwise (`512Mi` is 536870912), rounded up.
    pub fn count(&self) -> Result<i64, QuantityError> {
        self.count_in(if self.fractional { "m" } else { "" })
    }
}

/// `"512Mi"` → 536870912, `"250m"` → 250, `"1.5"` → 2: see [`Quantity::count`].
pub fn parse(text: &str) -> Result<i64, QuantityError> {
    Quantity::parse(text)?.count()
}

/// The quantity counted in `unit`, rounded up: `("1Gi", "Mi")` → 1024, `("2", "m")` → 2000.
pub fn parse_in(text: &str, unit: &str) -> Result<i64, QuantityError> {
    suffix(unit).ok_or_else(|| QuantityError::UnknownUnit(unit.into()))?;
    Quantity::parse(text)?.count_in(unit)
}

/// Writes `value` with `unit`: thousandths for `"m"` (`(500, "m")` → `"500m"`), otherwise base
/// units counted in the unit, rounded up (`(1073741824, "Mi")` → `"1024Mi"`). `None` as the
/// unit picks the largest binary suffix that is exact (`1073741824` → `"1Gi"`, `1536` →
/// `"1536"`). [`parse`] reads each output back (with the rounding, at or above `value`).
pub fn format(value: i64, unit: Option<&str>) -> Result<String, QuantityError> {
    let unit = match unit {
        Some("m") => return Ok(format!("{value}m")),
        Some(unit) => unit,
        None => ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"]
            .into_iter()
            .find(|s| {
                suffix(s)
                    .is_some_and(|(num, _)| value != 0 && (i128::from(value) * NANO) % num == 0)
            })
            .unwrap_or(""),
    };
    let (num, den) = suffix(unit).ok_or_else(|| QuantityError::UnknownUnit(unit.into()))?;
    let count = div_ceil(i128::from(value) * NANO * den, num);
    Ok(format!("{count}{unit}"))
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
