//! Strategic merge patch: keyed lists merge by key, directives (`$patch`,
//! `$deleteFromPrimitiveList`, `$setElementOrder`) steer the merge.

use serde_json::{Map, Value};

/// The merge key of a list field in strategic merge patch and apply, if it is a keyed list.
pub fn list_merge_key(field: &str, sample: &Value) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" if sample.get("containerPort").is_some() => Some("containerPort"),
        "ports" => Some("port"),
        _ => None,
    }
}

/// Lists of scalars that strategic merge patch merges as sets rather than replaces.
pub fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch: maps merge, keyed lists merge by key, `$patch: delete`
/// removes a keyed element, `$patch: replace` replaces a map or list, `null` removes a field,
/// and `$deleteFromPrimitiveList/<field>` removes scalars from a list.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => {
                if v.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(k);
                } else {
                    strategic(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            Value::Array(items) => {
                let merged = merge_list(k, t.get(k), items);
                t.insert(k.clone(), merged);
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
}

fn merge_list(field: &str, current: Option<&Value>, items: &[Value]) -> Value {
    let replace = items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let patch_items: Vec<&Value> = items
        .iter()
        .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("replace"))
        .collect();
    let cur: Vec<Value> = match current {
        Some(Value::Array(a)) if !replace => a.clone(),
        _ => Vec::new(),
    };
    if is_set_list(field) {
        let mut out = cur;
        for i in patch_items {
            if !out.contains(i) {
                out.push(i.clone());
            }
        }
        return Value::Array(out);
    }
    let key = patch_items
        .first()
        .and_then(|s| list_merge_key(field, s))
        .or_else(|| cur.first().and_then(|s| list_merge_key(field, s)));
    let Some(key) = key else {
        return Value::Array(patch_items.iter().map(|v| strip_directives(v)).collect());
    };
    let mut out = cur;
    for item in patch_items {
        let id = item.get(key);
        let pos = out
            .iter()
            .position(|e| e.get(key).is_some() && e.get(key) == id);
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(p) = pos {
                out.remove(p);
            }
            continue;
        }
        match pos {
            Some(p) => strategic(&mut out[p], item),
            None => out.push(strip_directives(item)),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strategic_merges_containers_by_name_and_deletes() {
        let mut t = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ]}});
        strategic(
            &mut t,
            &json!({"spec": {"containers": [
                {"name": "a", "env": [{"name": "Y", "value": "2"}]},
                {"name": "b", "$patch": "delete"},
                {"name": "c", "image": "c:1"}
            ]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "c", "image": "c:1"}
            ]}})
        );
    }

    #[test]
    fn strategic_directives_replace_and_delete_from_primitive_lists() {
        let mut t = json!({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
                           "spec": {"volumes": [{"name": "v1"}, {"name": "v2"}], "args": ["--a"]}});
        strategic(
            &mut t,
            &json!({
                "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"$patch": "replace", "z": "3"}},
                "spec": {"volumes": [{"$patch": "replace"}, {"name": "v3"}], "args": ["--b"], "$setElementOrder/volumes": [{"name": "v3"}]}
            }),
        );
        assert_eq!(
            t,
            json!({"metadata": {"finalizers": ["b", "c"], "labels": {"z": "3"}},
                   "spec": {"volumes": [{"name": "v3"}], "args": ["--b"]}})
        );
    }
}
