//! ObjectMeta validation as kube-apiserver does it for every kind (names, namespaces, labels,
//! annotations, ownerReferences, finalizers), with apimachinery's messages, and the size rules
//! of ConfigMaps and Secrets.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::error::{FieldCause, cause};

const DNS1123_LABEL: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const LABEL_KEY: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const CONFIG_KEY: &str = "[-._a-zA-Z0-9]+";

/// The most bytes of annotations (keys and values) an object may carry.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;
/// The most bytes of data (keys and values) a ConfigMap or Secret may carry.
pub const CONFIG_DATA_MAX_BYTES: usize = 1024 * 1024;

/// Whether `value` matches `pattern` whole (one of the patterns above, compiled once).
fn matches(pattern: &'static str, value: &str) -> bool {
    static CACHE: OnceLock<HashMap<&'static str, Regex>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            [
                DNS1123_LABEL,
                DNS1123_SUBDOMAIN,
                DNS1035_LABEL,
                LABEL_KEY,
                LABEL_VALUE,
                CONFIG_KEY,
            ]
            .into_iter()
            .filter_map(|p| Regex::new(&format!("^{p}$")).ok().map(|r| (p, r)))
            .collect()
        })
        .get(pattern)
        .is_some_and(|r| r.is_match(value))
}

/// apimachinery's explanation of a pattern a value failed: the rule, examples and the regex.
fn regex_error(msg: &str, pattern: &str, examples: &[&str]) -> String {
    let mut out = msg.to_string();
    if examples.is_empty() {
        out.push_str(&format!(" (regex used for validation is '{pattern}')"));
        return out;
    }
    out.push_str(" (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{pattern}')"));
    out
}

fn max_len(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// Why `value` is not a DNS-1123 subdomain (most object names), if it is not.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len(253));
    }
    if !matches(DNS1123_SUBDOMAIN, value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN,
            &["example.com"],
        ));
    }
    errs
}

/// Why `value` is not a DNS-1123 label (namespace names), if it is not.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len(63));
    }
    if !matches(DNS1123_LABEL, value) {
        if matches(DNS1123_SUBDOMAIN, value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                DNS1123_LABEL,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Why `value` is not a DNS-1035 label (Service names), if it is not.
pub fn dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len(63));
    }
    if !matches(DNS1035_LABEL, value) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

const LABEL_KEY_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// Why `value` is not a qualified name (label keys, annotation keys, finalizers), if it is not.
pub fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_MSG, LABEL_KEY, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len(63)));
    }
    if !matches(LABEL_KEY, name) {
        errs.push(format!(
            "name part {}",
            regex_error(LABEL_KEY_MSG, LABEL_KEY, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// Why `value` is not a label value, if it is not.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len(63));
    }
    if !matches(LABEL_VALUE, value) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// A value as apimachinery's field errors quote it: strings quoted, other values as JSON.
pub fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn invalid(field: &str, value: &Value, detail: &str) -> FieldCause {
    cause(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {}: {detail}", shown(value)),
    )
}

/// Which rule an object's name follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most kinds).
    Subdomain,
    /// DNS-1123 label (Namespaces).
    Label,
    /// DNS-1035 label (Services).
    Dns1035,
}

impl NameRule {
    /// The rule kube-apiserver applies to names of `kind` (a built-in kind unless `custom`).
    pub fn of(kind: &str, custom: bool) -> Self {
        match kind {
            "Namespace" if !custom => NameRule::Label,
            "Service" if !custom => NameRule::Dns1035,
            _ => NameRule::Subdomain,
        }
    }

    fn check(self, value: &str) -> Vec<String> {
        match self {
            NameRule::Subdomain => dns1123_subdomain(value),
            NameRule::Label => dns1123_label(value),
            NameRule::Dns1035 => dns1035_label(value),
        }
    }
}

/// Why a name is refused, as the causes of a 422.
pub fn name_causes(name: &str, rule: NameRule) -> Vec<FieldCause> {
    rule.check(name)
        .iter()
        .map(|m| invalid("metadata.name", &Value::from(name), m))
        .collect()
}

/// Validates an object's metadata as `ValidateObjectMeta` does (the name is checked where it
/// is assigned): namespace, labels, annotations, ownerReferences, finalizers.
pub fn validate(obj: &Value, namespaced: bool) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    let Some(meta) = obj.get("metadata") else {
        return causes;
    };
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str)
        && namespaced
    {
        for m in dns1123_label(ns) {
            causes.push(invalid("metadata.namespace", &Value::from(ns), &m));
        }
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            for m in qualified_name(k) {
                causes.push(invalid("metadata.labels", &Value::from(k.as_str()), &m));
            }
            for m in label_value(v.as_str().unwrap_or_default()) {
                causes.push(invalid("metadata.labels", v, &m));
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (k, v) in annotations {
            total += k.len() + v.as_str().map_or(0, str::len);
            for m in qualified_name(&k.to_lowercase()) {
                causes.push(invalid(
                    "metadata.annotations",
                    &Value::from(k.as_str()),
                    &m,
                ));
            }
        }
        if total > ANNOTATIONS_MAX_BYTES {
            causes.push(too_long("metadata.annotations", ANNOTATIONS_MAX_BYTES));
        }
    }
    if let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) {
        let mut controller: Option<String> = None;
        for (i, r) in refs.iter().enumerate() {
            let at = format!("metadata.ownerReferences[{i}]");
            let field = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or_default();
            let api_version = field("apiVersion");
            if api_version.is_empty() {
                causes.push(required(&format!("{at}.apiVersion"), "must not be empty"));
            } else if !valid_group_version(api_version) {
                causes.push(invalid(
                    &format!("{at}.apiVersion"),
                    &Value::from(api_version),
                    "must be <group>/<version> or <version>",
                ));
            }
            for f in ["kind", "name", "uid"] {
                if field(f).is_empty() {
                    causes.push(required(&format!("{at}.{f}"), "must not be empty"));
                }
            }
            if r.get("controller").and_then(Value::as_bool) == Some(true) {
                let this = format!("{}/{}", field("kind"), field("name"));
                match &controller {
                    Some(first) => causes.push(invalid(
                        "metadata.ownerReferences",
                        &Value::Array(refs.clone()),
                        &format!(
                            "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"
                        ),
                    )),
                    None => controller = Some(this),
                }
            }
        }
    }
    if let Some(fins) = meta.get("finalizers").and_then(Value::as_array) {
        let names: Vec<&str> = fins.iter().filter_map(Value::as_str).collect();
        for f in &names {
            for m in qualified_name(f) {
                causes.push(invalid("metadata.finalizers", &Value::from(*f), &m));
            }
        }
        if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
            causes.push(invalid(
                "metadata.finalizers",
                &Value::Array(fins.clone()),
                "finalizer orphan and foregroundDeletion cannot be both set",
            ));
        }
    }
    causes
}

fn valid_group_version(gv: &str) -> bool {
    match gv.split('/').collect::<Vec<_>>().as_slice() {
        [v] => !v.is_empty(),
        [_, v] => !v.is_empty(),
        _ => false,
    }
}

fn required(field: &str, detail: &str) -> FieldCause {
    cause(
        "FieldValueRequired",
        field,
        format!("Required value: {detail}"),
    )
}

/// A TooLong cause: `Too long: may not be more than N bytes`.
pub fn too_long(field: &str, max: usize) -> FieldCause {
    cause(
        "FieldValueTooLong",
        field,
        format!("Too long: may not be more than {max} bytes"),
    )
}

/// The rules of ConfigMap and Secret data: keys are config keys, not in both `data` and
/// `binaryData`, and the data is at most 1 MiB.
pub fn config_data(obj: &Value, kind: &str) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    let (fields, decoded): (&[&str], bool) = match kind {
        "ConfigMap" => (&["data", "binaryData"], false),
        "Secret" => (&["data", "stringData"], true),
        _ => return causes,
    };
    let mut total = 0usize;
    let mut seen: Vec<&str> = Vec::new();
    for field in fields {
        let Some(map) = obj.get(*field).and_then(Value::as_object) else {
            continue;
        };
        for (k, v) in map {
            let at = format!("{field}[{k}]");
            if k.len() > 253 {
                causes.push(invalid(&at, &Value::from(k.as_str()), &max_len(253)));
            }
            if !matches(CONFIG_KEY, k) {
                causes.push(invalid(
                    &at,
                    &Value::from(k.as_str()),
                    &regex_error(
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                        CONFIG_KEY,
                        &["key.name", "KEY_NAME", "key-name"],
                    ),
                ));
            } else if k == "." || k == ".." || k.starts_with("..") {
                let why = match k.as_str() {
                    "." => "must not be '.'",
                    ".." => "must not be '..'",
                    _ => "must not start with '..'",
                };
                causes.push(invalid(&at, &Value::from(k.as_str()), why));
            }
            if kind == "ConfigMap" && seen.contains(&k.as_str()) {
                causes.push(invalid(
                    &at,
                    &Value::from(k.as_str()),
                    "duplicate of key present in data",
                ));
            }
            seen.push(k);
            let len = v.as_str().map_or(0, str::len);
            total += k.len()
                + if decoded || *field == "binaryData" {
                    len / 4 * 3
                } else {
                    len
                };
        }
    }
    if total > CONFIG_DATA_MAX_BYTES {
        causes.push(too_long("", CONFIG_DATA_MAX_BYTES));
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_apimachinery() {
        assert!(dns1123_subdomain("a.b-c").is_empty());
        assert_eq!(dns1123_subdomain("a..b").len(), 1);
        assert_eq!(dns1123_subdomain("a.-b").len(), 1);
        assert_eq!(dns1123_label("a.b"), vec!["must not contain dots"]);
        assert_eq!(
            dns1123_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
        assert!(dns1035_label("1abc")[0].contains("start with an alphabetic character"));
    }

    #[test]
    fn label_keys_and_values() {
        assert!(qualified_name("example.com/My_name.1").is_empty());
        let bad = qualified_name("a b!");
        assert_eq!(bad.len(), 1);
        assert!(bad[0].starts_with("name part must consist of alphanumeric characters"));
        assert_eq!(qualified_name("/x"), vec!["prefix part must be non-empty"]);
        assert!(qualified_name("a/b/c")[0].starts_with("a valid label key"));
        assert_eq!(
            label_value(&"v".repeat(100))[0],
            "must be no more than 63 characters"
        );
        assert!(label_value("").is_empty());
    }

    #[test]
    fn metadata_causes_name_the_field() {
        let obj = json!({"metadata": {"namespace": "a.b", "labels": {"a b!": "x", "ok": "-bad"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "1", "controller": true},
                                {"apiVersion": "a/b/c", "kind": "Pod", "name": "q", "uid": "", "controller": true}],
            "finalizers": ["orphan", "foregroundDeletion", "a b"]}});
        let fields: Vec<String> = validate(&obj, true).into_iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            vec![
                "metadata.namespace",
                "metadata.labels",
                "metadata.labels",
                "metadata.ownerReferences[1].apiVersion",
                "metadata.ownerReferences[1].uid",
                "metadata.ownerReferences",
                "metadata.finalizers",
                "metadata.finalizers",
            ]
        );
    }

    #[test]
    fn config_data_is_bounded() {
        let big = "x".repeat(CONFIG_DATA_MAX_BYTES);
        let c = config_data(&json!({"data": {"k": big}}), "ConfigMap");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].message, "Too long: may not be more than 1048576 bytes");
        let dup = config_data(
            &json!({"data": {"k": "a"}, "binaryData": {"k": "YQ=="}}),
            "ConfigMap",
        );
        assert_eq!(dup[0].field, "binaryData[k]");
    }
}
