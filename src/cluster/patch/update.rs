//! The `Update` entries in managedFields that every write other than an apply records.

use serde_json::{Value, json};

use super::managed::{FieldPath, Sides, diff_leaves, get_path, managed_paths, to_fields_v1};

/// Who wrote, for a write other than an apply (create, update, patch).
#[derive(Debug, Clone)]
pub struct Updater<'a> {
    /// The field manager (`fieldManager`, or the User-Agent's product name).
    pub manager: &'a str,
    /// The subresource written (`status`, `scale`), if any.
    pub subresource: Option<&'a str>,
    /// The time recorded in managedFields.
    pub now: &'a str,
}

/// Records a create, update or non-apply patch in `new`'s `metadata.managedFields`, as
/// Kubernetes does: the fields it added or changed move to the writer's `Update` entry and
/// leave every other entry (Apply or Update, this manager's Apply entry included); fields that
/// no longer exist leave every entry; entries left empty are dropped. `current` is None on
/// create. A write that changes no field changes nothing.
pub fn record_update(current: Option<&Value>, new: &mut Value, who: &Updater<'_>) {
    let null = Value::Null;
    let before = current.unwrap_or(&null);
    let sides = Sides { before, new };
    let (mut changed, mut removed) = (Vec::new(), false);
    diff_leaves(
        &sides,
        Some(before),
        new,
        "",
        &mut Vec::new(),
        &mut changed,
        &mut removed,
    );
    if changed.is_empty() && !removed {
        return;
    }
    let changed_set: std::collections::HashSet<&FieldPath> = changed.iter().collect();
    let managed: Vec<Value> = new
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut mine: Option<(usize, Vec<FieldPath>)> = None;
    for entry in managed {
        let m = entry.get("manager").and_then(Value::as_str);
        let op = entry.get("operation").and_then(Value::as_str);
        let sub = entry.get("subresource").and_then(Value::as_str);
        let kept: Vec<FieldPath> = managed_paths(&entry)
            .into_iter()
            .filter(|p| get_path(new, p).is_some())
            .collect();
        if m.unwrap_or_default() == who.manager && op == Some("Update") && sub == who.subresource {
            mine = Some((out.len(), kept));
            out.push(entry);
            continue;
        }
        let kept: Vec<FieldPath> = kept
            .into_iter()
            .filter(|p| !changed_set.contains(p))
            .collect();
        if kept.is_empty() {
            continue;
        }
        let mut entry = entry;
        if let Some(o) = entry.as_object_mut() {
            o.insert("fieldsV1".into(), to_fields_v1(&kept));
        }
        out.push(entry);
    }
    let (at, mut paths) = mine.unwrap_or((out.len(), Vec::new()));
    let mut owned: std::collections::HashSet<FieldPath> = paths.iter().cloned().collect();
    for p in changed {
        if owned.insert(p.clone()) {
            paths.push(p);
        }
    }
    if paths.is_empty() {
        if at < out.len() {
            out.remove(at);
        }
    } else {
        // An empty manager (no fieldManager and no User-Agent) is left out, as Go omits it.
        let mut entry = json!({
            "manager": who.manager,
            "operation": "Update",
            "apiVersion": new.get("apiVersion").cloned().unwrap_or(Value::Null),
            "time": who.now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&paths),
        });
        if let Some(sub) = who.subresource {
            entry["subresource"] = json!(sub);
        }
        if who.manager.is_empty()
            && let Some(o) = entry.as_object_mut()
        {
            o.remove("manager");
        }
        if at < out.len() {
            out[at] = entry;
        } else {
            out.push(entry);
        }
    }
    if let Some(meta) = new
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        if out.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(out));
        }
    }
}
