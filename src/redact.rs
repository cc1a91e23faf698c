//! Redaction: what Remedy writes to status, events, logs and the terminal never carries a
//! credential. A leaf: every layer may use it.
//!
//! A value is replaced by `***` when its key names a credential (`password`, `api_key`,
//! `tls.key`, `clientSecret`, …); inside free text, the password of a URL
//! (`postgres://app:***@db`), the word after `Bearer`, `key=value` pairs naming a credential
//! and JSON Web Tokens are replaced. A key that is just `key` (a taint's key, a label key) is
//! not a credential. A sealed value (`{"$sealed": …}`, see `seal`) is ciphertext, not a
//! credential in clear, and is kept as it is.
//!
//! The credentials found in a document ([`collect_secrets`]) are also traced into other text:
//! a string that contains one ([`mentions_secret`]) is as sensitive as the credential, and
//! [`scrub`] removes them from messages.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What a redacted value becomes.
pub const REDACTED: &str = "***";

/// Words that make a key name a credential wherever they appear in it.
const CREDENTIAL_WORDS: &[&str] = &[
    "token",
    "tokens",
    "password",
    "passwd",
    "pwd",
    "secret",
    "secrets",
    "credential",
    "credentials",
    "apikey",
    "passphrase",
    "auth",
    "authorization",
];

/// True when a map key names a credential.
pub fn is_credential_key(key: &str) -> bool {
    let words = key_words(key);
    if words.iter().any(|w| CREDENTIAL_WORDS.contains(&w.as_str())) {
        return true;
    }
    // `api_key`, `tls.key`, `privateKey`: a qualified key; a bare `key` is a name, not a secret.
    words.len() > 1 && words.last().is_some_and(|w| w == "key" || w == "keys")
}

/// Splits a key into lower-case words at `_`, `-`, `.`, `/` and camelCase boundaries.
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Patterns in free text that carry a credential; group 1 is kept, the rest becomes `***`.
#[allow(clippy::expect_used)] // constant patterns, compiled by the tests below
static TEXT_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // scheme://user:password@host
        r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+(?:@)",
        // Authorization: Bearer abc
        r"(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*",
        // password=xyz; token: "abc"; api_key=…
        r#"(?i)(\b[\w.\-]*(?:password|passwd|pwd|token|secret|api[_\-]?key|access[_\-]?key|credentials?)["']?\s*[=:]\s*["']?)[^\s;,&"']+"#,
        // JSON Web Tokens
        r"()\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("redaction pattern compiles"))
    .collect()
});

/// `text` with every credential-looking part replaced by `***`.
pub fn redact_text(text: &str) -> String {
    let mut out = text.to_string();
    for (i, pattern) in TEXT_PATTERNS.iter().enumerate() {
        let suffix = if i == 0 { "@" } else { "" };
        let replaced = pattern.replace_all(&out, |caps: &regex::Captures<'_>| {
            let kept = caps.get(1).map_or("", |m| m.as_str());
            let whole = caps.get(0).map_or("", |m| m.as_str());
            // A URL whose password is already redacted (`pwd:***@host`, a user named like a
            // credential key): the rest is its host, not a secret.
            if whole[kept.len()..].starts_with(&format!("{REDACTED}@")) {
                return whole.to_string();
            }
            format!("{kept}{REDACTED}{suffix}")
        });
        out = replaced.into_owned();
    }
    out
}

/// The key of the one field of a sealed value: `{"$sealed": "v1.…"}`.
pub const SEALED_KEY: &str = "$sealed";

/// True for a sealed value: an object whose only field is [`SEALED_KEY`] with a string.
pub fn is_sealed(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.len() == 1 && map.get(SEALED_KEY).is_some_and(Value::is_string),
        _ => false,
    }
}

/// Credentials shorter than this are not traced into other strings: any text would
/// "contain" them.
pub const MIN_TRACED_LEN: usize = 4;

/// The credential parts of free text (what [`redact_text`] replaces).
pub fn credential_parts(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, pattern) in TEXT_PATTERNS.iter().enumerate() {
        for caps in pattern.captures_iter(text) {
            let kept = caps.get(1).map_or("", |m| m.as_str());
            let whole = caps.get(0).map_or("", |m| m.as_str());
            let mut secret = &whole[kept.len()..];
            if i == 0 {
                secret = secret.strip_suffix('@').unwrap_or(secret);
            }
            if !secret.is_empty() && secret != REDACTED {
                found.push(secret.to_string());
            }
        }
    }
    found
}

/// True when `text` holds a credential: a credential-looking part, or one of `secrets`.
pub fn mentions_secret(text: &str, secrets: &BTreeSet<String>) -> bool {
    secrets
        .iter()
        .any(|s| s.len() >= MIN_TRACED_LEN && text.contains(s.as_str()))
        || !credential_parts(text).is_empty()
}

/// Every credential of a JSON value: the scalars under credential keys (whatever their
/// length: each is sensitive where it stands) and the credential parts of other strings.
/// Sealed values are skipped (they are not in clear).
pub fn collect_secrets(value: &Value, out: &mut BTreeSet<String>) {
    collect(value, false, out);
}

fn collect(value: &Value, credential: bool, out: &mut BTreeSet<String>) {
    if is_sealed(value) {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                collect(v, credential || is_credential_key(k), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, credential, out)),
        Value::String(s) if credential => {
            out.insert(s.clone());
        }
        Value::String(s) => out.extend(credential_parts(s)),
        Value::Number(n) if credential => {
            out.insert(n.to_string());
        }
        Value::Number(_) | Value::Bool(_) | Value::Null => {}
    }
}

/// `text` redacted, with every one of `secrets` (longest first, from [`MIN_TRACED_LEN`]
/// characters) replaced by `***` too.
pub fn scrub(text: &str, secrets: &BTreeSet<String>) -> String {
    let mut out = redact_text(text);
    let mut known: Vec<&String> = secrets
        .iter()
        .filter(|s| s.len() >= MIN_TRACED_LEN)
        .collect();
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in known {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

/// Redacts a JSON value in place as [`redact_value`] does, and scrubs `secrets` from its
/// strings too; `credential` says whether `value` is itself under a credential key.
pub fn redact_traced(value: &mut Value, credential: bool, secrets: &BTreeSet<String>) {
    if is_sealed(value) || value.is_null() {
        return;
    }
    if credential {
        *value = Value::String(REDACTED.to_string());
        return;
    }
    match value {
        Value::String(s) => {
            let scrubbed = scrub(s, secrets);
            if scrubbed != *s {
                *s = scrubbed;
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| redact_traced(v, false, secrets)),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                redact_traced(v, is_credential_key(k), secrets);
            }
        }
        Value::Bool(_) | Value::Number(_) | Value::Null => {}
    }
}

/// Redacts a JSON value in place: credential keys lose their values, strings lose their
/// credential-looking parts.
pub fn redact_value(value: &mut Value) {
    if is_sealed(value) {
        return;
    }
    match value {
        Value::String(s) => {
            let redacted = redact_text(s);
            if redacted != *s {
                *s = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => redact_map(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Redacts every entry of a JSON object in place.
pub fn redact_map(map: &mut serde_json::Map<String, Value>) {
    for (key, v) in map.iter_mut() {
        if is_credential_key(key) && !v.is_null() && !is_sealed(v) {
            *v = Value::String(REDACTED.to_string());
        } else {
            redact_value(v);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credential_keys_are_recognised() {
        for key in [
            "password",
            "DB_PASSWORD",
            "api_key",
            "apiKey",
            "tls.key",
            "clientSecret",
            "token",
            "github-token",
            "aws_credentials",
            "ssh-private-key",
            "Authorization",
        ] {
            assert!(is_credential_key(key), "{key} should be a credential");
        }
        for key in [
            "key",
            "replicas",
            "monkey",
            "keyboard",
            "namespace",
            "tokenizer_mode",
        ] {
            assert!(!is_credential_key(key), "{key} should not be a credential");
        }
    }

    #[test]
    fn free_text_credentials_are_replaced() {
        let cases = [
            (
                "connect to postgres://app:s3cr3t@db:5432/shop failed",
                "connect to postgres://app:***@db:5432/shop failed",
            ),
            (
                "Authorization: Bearer abc.def-123",
                "Authorization: Bearer ***",
            ),
            (
                "Server=db;User Id=app;Password=hunter2;",
                "Server=db;User Id=app;Password=***;",
            ),
            ("token: \"xyz\" expired", "token: \"***\" expired"),
            (
                "jwt eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl here",
                "jwt *** here",
            ),
            ("scaled 2→3", "scaled 2→3"),
            (
                "see https://example.com/docs",
                "see https://example.com/docs",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_text(input), expected, "{input}");
        }
    }

    #[test]
    fn nested_values_are_redacted_and_others_kept() {
        let mut v = json!({
            "previous_data": { "db_password": "hunter2", "mode": "fast", "url": "redis://:pw@cache:6379" },
            "previous_taint": { "key": "dedicated", "value": "gpu" },
            "list": ["Bearer abcdef", 3],
            "token": null
        });
        redact_value(&mut v);
        assert_eq!(
            v,
            json!({
                "previous_data": { "db_password": "***", "mode": "fast", "url": "redis://:***@cache:6379" },
                "previous_taint": { "key": "dedicated", "value": "gpu" },
                "list": ["Bearer ***", 3],
                "token": null
            })
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tracing_secrets {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_collected_from_keys_and_text() {
        let mut found = BTreeSet::new();
        collect_secrets(
            &json!({
                "db_password": "hunter2",
                "nested": { "api_token": 12345, "mode": "fast" },
                "rootCause": "login failed: password=swordfish; retry",
                "sealed": { "token": { "$sealed": "v1.00" } },
            }),
            &mut found,
        );
        let found: Vec<&str> = found.iter().map(String::as_str).collect();
        assert_eq!(found, ["12345", "hunter2", "swordfish"]);
    }

    #[test]
    fn a_string_holding_a_secret_is_sensitive_and_scrubbed() {
        let secrets: BTreeSet<String> = ["hunter2".to_string(), "ab".to_string()].into();
        assert!(mentions_secret("connect as app/hunter2", &secrets));
        assert!(mentions_secret("token: xyz", &secrets));
        assert!(
            !mentions_secret("about abacus", &secrets),
            "2 letters are not traced"
        );
        assert_eq!(
            scrub("app/hunter2 and token=xyz", &secrets),
            "app/*** and token=***"
        );
    }

    #[test]
    fn sealed_values_are_kept_by_redaction() {
        let mut v = json!({ "DB_PASSWORD": { "$sealed": "v1.abcd" }, "token": "x" });
        redact_value(&mut v);
        assert_eq!(
            v,
            json!({ "DB_PASSWORD": { "$sealed": "v1.abcd" }, "token": "***" })
        );
        assert!(!is_sealed(&json!({ "$sealed": "x", "other": 1 })));
        assert!(!is_sealed(&json!({ "$sealed": 3 })));
    }
}

#[cfg(test)]
mod url_users {
    use super::redact_text;

    #[test]
    fn a_user_named_like_a_credential_key_keeps_the_host() {
        // Found by `properties::url_passwords_never_survive`: the key=value rule took
        // `pwd:***@db:5432/x` for a `pwd:` credential and ate the host.
        assert_eq!(
            redact_text("postgres://pwd:s3cret@db:5432/x failed"),
            "postgres://pwd:***@db:5432/x failed"
        );
        assert_eq!(redact_text("pwd: s3cret"), "pwd: ***");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn url_passwords_never_survive(
            before in "[a-z ]{0,12}",
            user in "[a-z]{1,8}",
            password in "[A-Za-z0-9!$%^*]{4,16}",
            host in "[a-z]{1,8}",
        ) {
            let text = format!("{before}postgres://{user}:{password}@{host}:5432/db");
            let out = redact_text(&text);
            prop_assert!(!out.contains(&format!(":{password}@")), "{out}");
            prop_assert!(out.contains(&format!("{user}:***@{host}")), "{out}");
        }

        #[test]
        fn any_text_is_handled(text in any::<String>()) {
            let _ = redact_text(&text);
        }
    }
}
