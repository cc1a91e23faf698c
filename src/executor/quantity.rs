//! Kubernetes resource quantities (`512Mi`, `250m`, `1.5G`, `2e3`): parsing and comparison.

use std::cmp::Ordering;
use std::fmt;

/// A parsed quantity: its text as written and its value in billionths of a unit, so that
/// `1Gi`, `1024Mi` and `1073741824` compare equal and `250m` compares below `1`.
#[derive(Debug, Clone)]
pub struct Quantity {
    text: String,
    nanos: i128,
}

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a Kubernetes quantity (expected a number with an optional suffix such as Mi, Gi, m, k, G)"
)]
pub struct QuantityError {
    /// The text that failed to parse.
    pub text: String,
}

const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Parses a quantity as Kubernetes writes them: a decimal number, then an optional binary
    /// suffix (`Ki` … `Ei`), decimal suffix (`n`, `u`, `m`, `k`, `M` … `E`) or exponent (`e3`).
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let err = || QuantityError {
            text: text.to_string(),
        };
        let trimmed = text.trim();
        let (negative, body) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
        };
        let number_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, suffix) = body.split_at(number_end);
        let (whole, fraction) = match number.split_once('.') {
            Some((w, f)) => (w, f),
            None => (number, ""),
        };
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(err());
        }
        // Enough precision for any real quantity; longer fractions are cut, not rounded.
        let fraction = &fraction[..fraction.len().min(12)];
        let digits = format!("{whole}{fraction}");
        if digits.len() > 24 {
            return Err(err());
        }
        let mantissa: i128 = digits.parse().map_err(|_| err())?;
        let scale = 10i128.pow(fraction.len() as u32);
        let multiplier_nanos = suffix_nanos(suffix).ok_or_else(err)?;
        let nanos = mantissa
            .checked_mul(multiplier_nanos)
            .map(|v| v / scale)
            .ok_or_else(err)?;
        Ok(Quantity {
            text: trimmed.to_string(),
            nanos: if negative { -nanos } else { nanos },
        })
    }

    /// The quantity as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The value of one unit of `suffix`, in billionths.
fn suffix_nanos(suffix: &str) -> Option<i128> {
    let binary = |power: u32| Some(NANO * (1i128 << (10 * power)));
    let decimal = |exp: i32| {
        if exp >= -9 {
            Some(10i128.pow((exp + 9) as u32))
        } else {
            None
        }
    };
    match suffix {
        "" => Some(NANO),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let exp: i32 = exp.parse().ok()?;
            if exp > 18 {
                return None;
            }
            decimal(exp)
        }
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn equal_amounts_in_different_units_compare_equal() {
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("100u"), q("100000n"));
    }

    #[test]
    fn ordering_follows_the_value() {
        assert!(q("512Mi") < q("1Gi"));
        assert!(q("250m") < q("1"));
        assert!(q("1G") < q("1Gi"));
        assert!(q("20Gi") > q("10Gi"));
        assert!(q("-1") < q("0"));
    }

    #[test]
    fn text_is_kept_as_written() {
        assert_eq!(q(" 512Mi ").to_string(), "512Mi");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "Mi", "1.2.3", "12Zi", "one", "1e99", "1 Gi", "."] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused(text in any::<String>()) {
            let _ = Quantity::parse(&text);
        }

        #[test]
        fn mebibytes_compare_like_their_bytes(a in 0u64..1_000_000, b in 0u64..1_000_000) {
            let qa = Quantity::parse(&format!("{a}Mi")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let qb = Quantity::parse(&format!("{}", b * 1024 * 1024)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(qa.cmp(&qb), a.cmp(&b));
        }
    }
}
