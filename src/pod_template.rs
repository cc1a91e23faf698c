//! Pod templates as the Deployment controller and its clients see them: the annotation and
//! label the controller writes, and the form in which two templates compare (or hash) equal.
//! A leaf: the embedded cluster's simulated controllers and the executor's rollback both use
//! it, so that what one calls the same template the other does too.

use serde_json::Value;

/// The annotation holding a Deployment's (and its ReplicaSets') revision.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// The label the Deployment controller adds to ReplicaSet templates.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// `v` without nulls and empty maps or lists, which typed clients add or drop freely
/// (`creationTimestamp: null`, `resources: {}`), so that equal templates compare and hash
/// equal; `None` when nothing is left. List items keep their places (an empty one becomes
/// `null`).
pub fn without_empties(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let kept: serde_json::Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| without_empties(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|x| without_empties(x).unwrap_or(Value::Null))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_fields_are_left_out_and_list_places_kept() {
        let v = json!({
            "metadata": { "creationTimestamp": null, "labels": { "app": "web" }, "annotations": {} },
            "spec": { "containers": [ {}, { "name": "app", "resources": {}, "args": [] } ] }
        });
        assert_eq!(
            without_empties(&v),
            Some(json!({
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [ null, { "name": "app" } ] }
            }))
        );
        assert_eq!(without_empties(&json!({ "a": { "b": null } })), None);
    }
}
