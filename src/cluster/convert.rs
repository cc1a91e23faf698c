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
