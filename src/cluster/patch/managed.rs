//! Field ownership in `metadata.managedFields`: the leaf field paths of an object, how two
//! objects differ path by path, and the `fieldsV1` trees the paths are stored as.

use serde_json::{Map, Value, json};

use super::strategic::list_merge_key;

/// A field path owned by a manager: segments like `f:spec`, `f:replicas`, `k:{"name":"app"}`.
pub(super) type FieldPath = Vec<String>;

/// Whether the key `k` under `prefix` is left out of field ownership: `apiVersion` and
/// `kind`, and the server-owned parts of `metadata`.
fn unowned(prefix: &[String], k: &str) -> bool {
    (prefix.is_empty() && (k == "apiVersion" || k == "kind"))
        || (prefix.len() == 1
            && prefix[0] == "f:metadata"
            && !matches!(
                k,
                "labels" | "annotations" | "finalizers" | "ownerReferences"
            ))
}

/// Collects the leaf field paths of an applied configuration.
pub(super) fn leaf_paths(v: &Value, field: &str, prefix: &mut FieldPath, out: &mut Vec<FieldPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if unowned(prefix, k) {
                    continue;
                }
                prefix.push(format!("f:{k}"));
                leaf_paths(child, k, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items)
            if items
                .first()
                .and_then(|s| list_merge_key(field, s))
                .is_some() =>
        {
            let key = items
                .first()
                .and_then(|s| list_merge_key(field, s))
                .unwrap_or("name");
            for item in items {
                let id = item.get(key).cloned().unwrap_or(Value::Null);
                prefix.push(format!("k:{}", json!({ key: id })));
                leaf_paths(item, "", prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

/// The two sides of a write, for [`diff_leaves`].
pub(super) struct Sides<'a> {
    pub(super) before: &'a Value,
    pub(super) new: &'a Value,
}

/// The leaf paths under `prefix` whose value differs between the two sides (added or
/// changed in `new`), and whether a leaf of `before` under `prefix` is gone from `new`: what
/// comparing every leaf path of both objects gives, without walking subtrees that are equal.
/// `before` and `new` are the values at `prefix`.
pub(super) fn diff_leaves(
    sides: &Sides<'_>,
    before: Option<&Value>,
    new: &Value,
    field: &str,
    prefix: &mut FieldPath,
    changed: &mut Vec<FieldPath>,
    removed: &mut bool,
) {
    if before == Some(new) {
        return;
    }
    if let (Some(Value::Object(b)), Value::Object(n)) = (before, new)
        && !b.is_empty()
        && !n.is_empty()
    {
        for (k, child) in n {
            if unowned(prefix, k) {
                continue;
            }
            prefix.push(format!("f:{k}"));
            diff_leaves(sides, b.get(k), child, k, prefix, changed, removed);
            prefix.pop();
        }
        for (k, old) in b {
            if *removed || unowned(prefix, k) || n.contains_key(k) {
                continue;
            }
            prefix.push(format!("f:{k}"));
            let mut gone = Vec::new();
            leaf_paths(old, k, prefix, &mut gone);
            prefix.pop();
            *removed = !gone.is_empty();
        }
        return;
    }
    // Anything else (a list, a scalar, a change of shape): compare path by path.
    let mut paths = Vec::new();
    leaf_paths(new, field, prefix, &mut paths);
    changed.extend(
        paths
            .into_iter()
            .filter(|p| get_path(sides.before, p) != get_path(sides.new, p)),
    );
    if let Some(before) = before
        && !*removed
    {
        let mut old = Vec::new();
        leaf_paths(before, field, prefix, &mut old);
        *removed = old.iter().any(|p| get_path(sides.new, p).is_none());
    }
}

/// The value at a field path, if present.
pub(super) fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = step(cur, seg)?;
    }
    Some(cur)
}

fn step<'a>(v: &'a Value, seg: &str) -> Option<&'a Value> {
    if let Some(f) = seg.strip_prefix("f:") {
        return v.get(f);
    }
    let key: Value = serde_json::from_str(seg.strip_prefix("k:")?).ok()?;
    let (k, id) = key.as_object()?.iter().next()?;
    v.as_array()?.iter().find(|e| e.get(k) == Some(id))
}

pub(super) fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parent {
        let next = if let Some(f) = seg.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            let Some(key) = seg
                .strip_prefix("k:")
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
            else {
                return;
            };
            let Some((k, id)) = key
                .as_object()
                .and_then(|o| o.iter().next())
                .map(|(k, v)| (k.clone(), v.clone()))
            else {
                return;
            };
            cur.as_array_mut()
                .and_then(|a| a.iter_mut().find(|e| e.get(&k) == Some(&id)))
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(key) = last
        .strip_prefix("k:")
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        && let Some((k, id)) = key.as_object().and_then(|o| o.iter().next())
        && let Some(a) = cur.as_array_mut()
    {
        a.retain(|e| e.get(k) != Some(id));
    }
}

/// Renders paths as a `fieldsV1` tree.
pub(super) fn to_fields_v1(paths: &[FieldPath]) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            let next = cur
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            match next.as_object_mut() {
                Some(m) => cur = m,
                None => break,
            }
        }
    }
    Value::Object(root)
}

/// Reads a `fieldsV1` tree back into leaf paths.
fn from_fields_v1(v: &Value, prefix: &mut FieldPath, out: &mut Vec<FieldPath>) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            for (k, child) in m {
                if k == "." {
                    continue;
                }
                prefix.push(k.clone());
                from_fields_v1(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.push(prefix.clone());
            }
        }
    }
}

pub(super) fn managed_paths(entry: &Value) -> Vec<FieldPath> {
    let mut out = Vec::new();
    if let Some(f) = entry.get("fieldsV1") {
        from_fields_v1(f, &mut Vec::new(), &mut out);
    }
    out
}
