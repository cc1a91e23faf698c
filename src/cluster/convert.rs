//! Conversion between a stored object and the form a resource serves it in. One case today:
//! events.k8s.io/v1 Events are stored as core v1 Events (as in Kubernetes, where both APIs
//! read and write the same objects), so `kubectl describe` shows Events a controller
//! recorded through either API.

use serde_json::{Map, Value, json};

use super::registry::ResourceType;

/// events.k8s.io/v1 field ↔ core/v1 field.
const EVENT_FIELDS: [(&str, &str); 9] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingInstance", "reportingInstance"),
    ("related", "related"),
];

/// Whether the type is `events.k8s.io` Event, which is stored in the core shape and renamed.
pub fn is_new_event(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io" && rt.kind == "Event"
}

fn rename(
    obj: &Value,
    pairs: impl Iterator<Item = (&'static str, &'static str)>,
    api_version: &str,
) -> Value {
    let Some(m) = obj.as_object() else {
        return obj.clone();
    };
    let mut out: Map<String, Value> = m.clone();
    for (from, to) in pairs {
        if let Some(v) = out.remove(from) {
            out.insert(to.to_string(), v);
        }
    }
    out.insert("apiVersion".into(), json!(api_version));
    Value::Object(out)
}

/// The stored form of an object written through `rt`.
pub fn to_storage(rt: &ResourceType, obj: Value) -> Value {
    if is_new_event(rt) {
        rename(&obj, EVENT_FIELDS.into_iter(), "v1")
    } else {
        obj
    }
}

/// The served form of a stored object read through `rt` at `api_version`.
pub fn to_view(rt: &ResourceType, obj: &Value, api_version: &str) -> Value {
    if is_new_event(rt) {
        rename(
            obj,
            EVENT_FIELDS.into_iter().map(|(a, b)| (b, a)),
            api_version,
        )
    } else {
        obj.clone()
    }
}

/// Renames the top-level `f:` keys of a managedFields entry's fieldsV1 between the two Event
/// APIs (`to_new`: core names to events.k8s.io names; otherwise back).
fn rename_fields(fields: &mut Value, to_new: bool) {
    let Some(map) = fields.as_object_mut() else {
        return;
    };
    for (new, core) in EVENT_FIELDS {
        let (from, to) = if to_new { (core, new) } else { (new, core) };
        if let Some(v) = map.remove(&format!("f:{from}")) {
            map.insert(format!("f:{to}"), v);
        }
    }
}

/// Aligns the managedFields entries of an Event written through `api_version` (one of the two
/// Event APIs) that were recorded through the other API: `into` renames their field names to
/// `api_version`'s, so that field ownership compares like with like; `!into` renames them
/// back. Each entry keeps its own apiVersion, as in Kubernetes. A no-op for other kinds.
pub fn align_managed(rt: &ResourceType, obj: &mut Value, api_version: &str, into: bool) {
    let event = rt.kind == "Event" && (rt.group.is_empty() || rt.group == "events.k8s.io");
    if !event {
        return;
    }
    let Some(entries) = obj
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for entry in entries {
        let own = entry
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if own == api_version || !matches!(own.as_str(), "v1" | "events.k8s.io/v1") {
            continue;
        }
        // Into the writer's names: an entry of core v1 is renamed to the new names when the
        // writer uses events.k8s.io, and the other way round; back is the reverse.
        let to_new = (own == "v1") == into;
        if let Some(fields) = entry.get_mut("fieldsV1") {
            rename_fields(fields, to_new);
        }
    }
}
