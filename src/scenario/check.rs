//! Object checks of a scenario's `expect`: `KIND NAMESPACE/NAME`, a dotted field path, a value.

use serde::Serialize;
use serde_json::Value;

/// An object named in a check: its kind (as written) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// The kind, plural or short name, as written (`deployment`, `pvc`).
    pub kind: String,
    /// The namespace, `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// Parses `KIND NAMESPACE/NAME` or `KIND NAME`.
    pub fn parse(text: &str) -> Option<ObjectKey> {
        let mut words = text.split_whitespace();
        let kind = words.next()?.to_string();
        let place = words.next()?;
        if words.next().is_some() {
            return None;
        }
        let (namespace, name) = match place.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                (Some(ns.to_string()), name.to_string())
            }
            Some(_) => return None,
            None => (None, place.to_string()),
        };
        Some(ObjectKey {
            kind,
            namespace,
            name,
        })
    }
}

/// The short name kubectl users type for a kind (`pvc`, `hpa`, `cm`…), `""` when it has none
/// here.
pub fn short_name(kind: &str) -> &'static str {
    match kind {
        "PersistentVolumeClaim" => "pvc",
        "HorizontalPodAutoscaler" => "hpa",
        "ConfigMap" => "cm",
        "Deployment" => "deploy",
        "Namespace" => "ns",
        "Node" => "no",
        "WorkflowExecution" => "wfe",
        "KubernetesExecution" => "kex",
        _ => "",
    }
}

/// The value at a dotted path (`spec.containers[0].image`); `None` when absent.
pub fn field<'v>(object: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = object;
    for part in path.split('.') {
        let (key, indexes) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            current = current.get(key)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let n: usize = index.strip_suffix(']')?.parse().ok()?;
            current = current.get(n)?;
        }
    }
    Some(current)
}

/// True when `actual` is what a check expects: equal JSON, or the same text when one side is
/// a string (so `equals: 4` matches `"4"` and `equals: 1Gi` matches `"1Gi"`).
pub fn matches(expected: &Value, actual: Option<&Value>) -> bool {
    match (expected, actual) {
        (Value::Null, None) => true,
        (_, None) => false,
        (e, Some(a)) if e == a => true,
        (Value::String(e), Some(a)) => text(a) == *e,
        (e, Some(Value::String(a))) => text(e) == *a,
        _ => false,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The result of one expectation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckResult {
    /// What was checked, e.g. `outcome` or `deployment shop/web spec.replicas`.
    pub what: String,
    /// The expected value.
    pub expected: Value,
    /// The value found (`null` when absent).
    pub actual: Value,
    /// Whether they match.
    pub passed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_parse_with_and_without_namespace() {
        let k = ObjectKey::parse("deployment shop/web").unwrap();
        assert_eq!(k.namespace.as_deref(), Some("shop"));
        assert_eq!(k.name, "web");
        assert_eq!(ObjectKey::parse("node n1").unwrap().namespace, None);
        assert!(ObjectKey::parse("deployment").is_none());
        assert!(ObjectKey::parse("deployment /web").is_none());
        assert!(ObjectKey::parse("a b c").is_none());
    }

    #[test]
    fn fields_follow_keys_and_indexes() {
        let obj = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        assert_eq!(field(&obj, "spec.containers[1].image"), Some(&json!("b")));
        assert_eq!(field(&obj, "spec.containers[2].image"), None);
        assert_eq!(field(&obj, "spec.missing"), None);
    }

    #[test]
    fn values_match_as_json_or_as_text() {
        assert!(matches(&json!(4), Some(&json!(4))));
        assert!(matches(&json!("4"), Some(&json!(4))));
        assert!(matches(&json!(true), Some(&json!("true"))));
        assert!(!matches(&json!(4), Some(&json!(5))));
        assert!(matches(&Value::Null, None));
        assert!(!matches(&json!(1), None));
    }
}
