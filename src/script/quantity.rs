//! Kubernetes quantities (`512Mi`, `1.5Gi`, `250m`, `2`) as integers, and back.
//!
//! The integer world has two units. A quantity written with a fractional suffix (`m`, `u`, `n`)
//! counts thousandths (`"250m"` is 250: millicores); every other quantity counts base units
//! (`"512Mi"` is 536870912 bytes, `"2"` is 2). Fractions round up, as Kubernetes rounds. To compare
//! CPU values written both ways, ask for a unit: [`parse_in`]`("2", "m")` is 2000.

/// Why a quantity string or unit was refused.
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
    /// The value does not fit a 64-bit integer.
    #[error("quantity `{0}` is too large")]
    TooLarge(String),
}

/// A suffix and what it multiplies by, as a fraction `num / den` of base units.
struct Unit {
    num: i128,
    den: i128,
}

fn unit(suffix: &str) -> Option<Unit> {
    let pow = |b: i128, e: u32| b.pow(e);
    let (num, den) = match suffix {
        "" => (1, 1),
        "n" => (1, pow(10, 9)),
        "u" => (1, pow(10, 6)),
        "m" => (1, 1000),
        "k" => (pow(10, 3), 1),
        "M" => (pow(10, 6), 1),
        "G" => (pow(10, 9), 1),
        "T" => (pow(10, 12), 1),
        "P" => (pow(10, 15), 1),
        "E" => (pow(10, 18), 1),
        "Ki" => (pow(2, 10), 1),
        "Mi" => (pow(2, 20), 1),
        "Gi" => (pow(2, 30), 1),
        "Ti" => (pow(2, 40), 1),
        "Pi" => (pow(2, 50), 1),
        "Ei" => (pow(2, 60), 1),
        _ => return None,
    };
    Some(Unit { num, den })
}

/// A parsed quantity: exactly `mantissa / 10^scale` of `suffix` units.
struct Parsed<'a> {
    mantissa: i128,
    scale: u32,
    exponent: i32,
    suffix: &'a str,
}

fn split(text: &str) -> Result<Parsed<'_>, QuantityError> {
    let invalid = || QuantityError::Invalid(text.to_string());
    let s = text.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number = &s[..digits_end];
    let mut rest = &s[digits_end..];
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(invalid());
    }
    // Keep at most 30 significant digits: enough for any i64 result, and no overflow below.
    if int_part.len() + frac_part.len() > 30 {
        return Err(QuantityError::TooLarge(text.to_string()));
    }
    let mut mantissa: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    if negative {
        mantissa = -mantissa;
    }
    let scale = u32::try_from(frac_part.len()).map_err(|_| invalid())?;
    // A decimal exponent (`1e3`, `1E-2`); a lone `E` is the exa suffix.
    let mut exponent = 0;
    if let Some(after) = rest.strip_prefix(['e', 'E']) {
        let digits = after.strip_prefix(['+', '-']).unwrap_or(after);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            exponent = after
                .parse::<i32>()
                .ok()
                .filter(|e| e.abs() <= 30)
                .ok_or_else(|| QuantityError::TooLarge(text.to_string()))?;
            rest = "";
        }
    }
    if unit(rest).is_none() {
        return Err(invalid());
    }
    Ok(Parsed {
        mantissa,
        scale,
        exponent,
        suffix: rest,
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

/// The quantity in units of `target` (`""` for base units, `"m"` for thousandths), rounded up.
fn convert(text: &str, parsed: &Parsed<'_>, target: &Unit) -> Result<i64, QuantityError> {
    let too_large = || QuantityError::TooLarge(text.to_string());
    let source = unit(parsed.suffix).ok_or_else(|| QuantityError::Invalid(text.to_string()))?;
    // value = mantissa * 10^exponent / 10^scale * source.num / source.den, in target units.
    let mut num = parsed
        .mantissa
        .checked_mul(source.num)
        .and_then(|n| n.checked_mul(target.den))
        .ok_or_else(too_large)?;
    let mut den = 10i128
        .checked_pow(parsed.scale)
        .and_then(|d| d.checked_mul(source.den))
        .and_then(|d| d.checked_mul(target.num))
        .ok_or_else(too_large)?;
    if parsed.exponent >= 0 {
        let p = 10i128
            .checked_pow(parsed.exponent.unsigned_abs())
            .ok_or_else(too_large)?;
        num = num.checked_mul(p).ok_or_else(too_large)?;
    } else {
        let p = 10i128
            .checked_pow(parsed.exponent.unsigned_abs())
            .ok_or_else(too_large)?;
        den = den.checked_mul(p).ok_or_else(too_large)?;
    }
    i64::try_from(div_ceil(num, den)).map_err(|_| too_large())
}

/// `"512Mi"` → 536870912, `"250m"` → 250, `"1.5"` → 2: see the module doc for the units.
pub fn parse(text: &str) -> Result<i64, QuantityError> {
    let parsed = split(text)?;
    let target = if matches!(parsed.suffix, "m" | "u" | "n") {
        "m"
    } else {
        ""
    };
    convert(
        text,
        &parsed,
        &unit(target).ok_or_else(|| QuantityError::UnknownUnit(target.into()))?,
    )
}

/// The quantity counted in `unit`, rounded up: `("1Gi", "Mi")` → 1024, `("2", "m")` → 2000.
pub fn parse_in(text: &str, unit_name: &str) -> Result<i64, QuantityError> {
    let target = unit(unit_name).ok_or_else(|| QuantityError::UnknownUnit(unit_name.into()))?;
    convert(text, &split(text)?, &target)
}

/// Format `value` with `unit`: thousandths for `"m"` (`(500, "m")` → `"500m"`), otherwise base
/// units divided by the unit, rounded up (`(1073741824, "Mi")` → `"1024Mi"`).
pub fn format(value: i64, unit_name: &str) -> Result<String, QuantityError> {
    if unit_name == "m" {
        return Ok(format!("{value}m"));
    }
    let u = unit(unit_name).ok_or_else(|| QuantityError::UnknownUnit(unit_name.into()))?;
    let count = div_ceil(i128::from(value) * u.den, u.num);
    Ok(format!("{count}{unit_name}"))
}

/// Format base units with the largest binary suffix that represents them exactly
/// (`1073741824` → `"1Gi"`, `1536` → `"1536"`: no fractions are produced).
pub fn format_exact(value: i64) -> String {
    for suffix in ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"] {
        if let Some(u) = unit(suffix)
            && value != 0
            && i128::from(value) % u.num == 0
        {
            return format!("{}{suffix}", i128::from(value) / u.num);
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes_to_base_units() {
        for (text, want) in [
            ("512Mi", 536_870_912),
            ("1Ki", 1024),
            ("1.5Gi", 1_610_612_736),
            ("2", 2),
            ("1.5", 2),
            ("1k", 1000),
            ("1M", 1_000_000),
            ("1E", 1_000_000_000_000_000_000),
            ("1e3", 1000),
            ("250m", 250),
            ("0.5m", 1),
            ("500000u", 500),
            (".5Ki", 512),
            ("-1Ki", -1024),
            (" 3Gi ", 3 * 1024 * 1024 * 1024),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for text in [
            "",
            "Mi",
            "12Qi",
            "1.2.3",
            "abc",
            "1 Gi",
            "8Ei",
            "99999999999999999999999999999999",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn converts_to_a_unit() {
        assert_eq!(parse_in("2", "m"), Ok(2000));
        assert_eq!(parse_in("250m", "m"), Ok(250));
        assert_eq!(parse_in("1Gi", "Mi"), Ok(1024));
        assert_eq!(parse_in("1500Mi", "Gi"), Ok(2));
        assert!(parse_in("1Gi", "Xi").is_err());
    }

    #[test]
    fn formats_in_a_unit() {
        assert_eq!(format(1_073_741_824, "Mi").as_deref(), Ok("1024Mi"));
        assert_eq!(format(750_000_000, "Mi").as_deref(), Ok("716Mi"));
        assert_eq!(format(500, "m").as_deref(), Ok("500m"));
        assert_eq!(format(7, "").as_deref(), Ok("7"));
        assert_eq!(format_exact(1_073_741_824), "1Gi");
        assert_eq!(format_exact(1536), "1536");
        assert_eq!(format_exact(0), "0");
    }
}
