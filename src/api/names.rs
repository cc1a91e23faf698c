//! The naming rules of Kubernetes (DNS-1123 labels and subdomains, label values) and the
//! deterministic shortening that keeps every name and label value Remedy generates valid on a
//! real cluster: a value that does not fit is cut and suffixed with a short hash of the whole
//! value, so it stays valid, stable from one reconcile to the next, and unique.

use sha2::{Digest, Sha256};

/// Longest DNS-1123 label (namespace names, most generated names) and longest label value.
pub const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain (the names of most objects, Events included).
pub const MAX_SUBDOMAIN: usize = 253;
/// Hex digits of the hash that replaces what a shortened value loses (32 bits).
const HASH_LEN: usize = 8;

/// True for a DNS-1123 label: 1 to 63 of `a-z`, `0-9`, `-`, starting and ending with a letter
/// or digit (namespace names).
pub fn is_dns1123_label(text: &str) -> bool {
    text.len() <= MAX_LABEL && is_label_part(text)
}

/// True for a DNS-1123 subdomain: at most 253 characters, labels of `a-z`, `0-9`, `-` joined
/// by dots, each starting and ending with a letter or digit (the names of most objects).
pub fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= MAX_SUBDOMAIN && text.split('.').all(is_label_part)
}

/// True for a label value: empty, or at most 63 of `A-Z`, `a-z`, `0-9`, `-`, `_`, `.`,
/// starting and ending with a letter or digit.
pub fn is_label_value(text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let bytes = text.as_bytes();
    text.len() <= MAX_LABEL
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_label_part(part: &str) -> bool {
    let bytes = part.as_bytes();
    !bytes.is_empty()
        && is_lower_alnum(bytes[0])
        && is_lower_alnum(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| is_lower_alnum(b) || b == b'-')
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// What is wrong with `text` as a DNS-1123 label, in words; `None` when it is one.
pub fn label_problem(text: &str) -> Option<String> {
    if is_dns1123_label(text) {
        return None;
    }
    Some(if text.len() > MAX_LABEL {
        format!("is {} characters long (at most {MAX_LABEL})", text.len())
    } else {
        "must be lowercase letters, digits and `-`, starting and ending with a letter or digit"
            .to_string()
    })
}

/// What is wrong with `text` as a DNS-1123 subdomain, in words; `None` when it is one.
pub fn subdomain_problem(text: &str) -> Option<String> {
    if is_dns1123_subdomain(text) {
        return None;
    }
    Some(if text.len() > MAX_SUBDOMAIN {
        format!(
            "is {} characters long (at most {MAX_SUBDOMAIN})",
            text.len()
        )
    } else {
        "must be lowercase letters, digits, `-` and `.`, each dot-separated part starting and \
         ending with a letter or digit"
            .to_string()
    })
}

/// The first `HASH_LEN` hex digits of the SHA-256 of `text`.
fn short_hash(text: &str) -> String {
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    hash[..HASH_LEN].to_string()
}

/// `keep` cut to at most `room` bytes (it is ASCII) with non-alphanumeric characters trimmed
/// from both ends, then `-<hash of whole>`; the hash alone when nothing of `keep` is left.
fn cut_and_hash(keep: &str, room: usize, whole: &str) -> String {
    let hash = short_hash(whole);
    let cut = &keep[..keep.len().min(room)];
    let cut = cut.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if cut.is_empty() {
        hash
    } else {
        format!("{cut}-{hash}")
    }
}

/// `text` as a DNS-1123 subdomain of at most `max` (at least 20) characters, which within 63
/// characters is a label value too: underscores become dashes; if that is not enough, the name
/// is made of lowercase letters, digits and dashes, cut, and suffixed with a hash of `text`.
pub fn dns_name(text: &str, max: usize) -> String {
    let dashed = text.replace('_', "-");
    if dashed.len() <= max.min(MAX_SUBDOMAIN) && is_dns1123_subdomain(&dashed) {
        return dashed;
    }
    let clean: String = dashed
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii() && is_lower_alnum(c as u8) {
                c
            } else {
                '-'
            }
        })
        .collect();
    cut_and_hash(&clean, max.saturating_sub(HASH_LEN + 1), text)
}

/// `text` as a label value: itself when it is one; otherwise its characters that a label
/// value may not hold become `-`, and it is cut to fit and suffixed with a hash of `text`.
pub fn label_value(text: &str) -> String {
    if is_label_value(text) {
        return text.to_string();
    }
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    cut_and_hash(&clean, MAX_LABEL - HASH_LEN - 1, text)
}

/// The name `stem` + `suffix` (a valid name and a suffix such as `.notify` or `-backup`),
/// kept within `max` characters: when it is too long, `stem` is cut and hashed and the suffix
/// kept, so the name stays valid and distinct for every stem.
pub fn with_suffix(stem: &str, suffix: &str, max: usize) -> String {
    let whole = format!("{stem}{suffix}");
    if whole.len() <= max {
        return whole;
    }
    let room = max.saturating_sub(suffix.len() + HASH_LEN + 1);
    let keep: String = stem
        .chars()
        .map(|c| if c.is_ascii() { c } else { '-' })
        .collect();
    format!("{}{suffix}", cut_and_hash(&keep, room, &whole))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_rules_accept_and_refuse_what_kubernetes_does() {
        for ok in ["a", "web", "shop-1", "0abc", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in [
            "",
            "Kube-System",
            "-a",
            "a-",
            "a_b",
            "a.b",
            "ä",
            &"a".repeat(64),
        ] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        for ok in ["a.b", "web-1.shop", "a.".repeat(126).trim_end_matches('.')] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        for bad in ["", "a..b", ".a", "a.", "a.-b", "A", "a_b", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
        for ok in ["", "scale_out", "My.Value-1", &"x".repeat(63)] {
            assert!(is_label_value(ok), "{ok}");
        }
        for bad in ["_a", "a_", "a b", "a/b", "é", &"x".repeat(64)] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }

    #[test]
    fn valid_values_are_kept_and_long_ones_shortened_by_a_hash() {
        assert_eq!(dns_name("wfe-a-scale_out-1", 63), "wfe-a-scale-out-1");
        assert_eq!(label_value("scale_out"), "scale_out");
        let long = format!("{}_step", "s".repeat(70));
        let value = label_value(&long);
        assert_eq!(value.len(), 63, "{value}");
        assert!(
            value.starts_with("sss") && is_label_value(&value),
            "{value}"
        );
        assert_eq!(value, label_value(&long), "deterministic");
        assert_ne!(value, label_value(&format!("{long}2")));
        assert_eq!(with_suffix("web-1", ".notify", 253), "web-1.notify");
        let event = with_suffix(&"w".repeat(253), ".18a2b3c4d5e6f7", 253);
        assert!(
            event.len() <= 253 && event.ends_with(".18a2b3c4d5e6f7"),
            "{event}"
        );
        assert!(is_dns1123_subdomain(&event), "{event}");
    }

    proptest! {
        #[test]
        fn every_generated_value_is_valid_and_stable(text in "\\PC{0,300}", max in 20usize..=253) {
            let name = dns_name(&text, max);
            prop_assert!(name.len() <= max && is_dns1123_subdomain(&name), "{name:?}");
            prop_assert!(max > MAX_LABEL || is_label_value(&name), "{name:?}");
            prop_assert_eq!(&name, &dns_name(&text, max));
            let value = label_value(&text);
            prop_assert!(is_label_value(&value), "{value:?}");
            prop_assert_eq!(&value, &label_value(&text));
        }

        #[test]
        fn suffixed_names_stay_within_bounds(stem in "[a-z0-9]([a-z0-9.-]{0,300}[a-z0-9])?", n in 0u64..u64::MAX) {
            prop_assume!(is_dns1123_subdomain(&stem) || stem.len() > MAX_SUBDOMAIN);
            let suffix = format!(".{n:x}");
            let name = with_suffix(&stem, &suffix, MAX_SUBDOMAIN);
            prop_assert!(name.len() <= MAX_SUBDOMAIN, "{}", name.len());
            prop_assert!(name.ends_with(&suffix), "{}", name);
        }
    }
}
