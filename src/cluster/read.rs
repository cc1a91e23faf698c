//! Reads: get one object, list a collection with selectors, limit and continue tokens.

use std::sync::Arc;

use serde_json::{Value, json};

use super::error::ApiError;
use super::selector::{FieldSelector, LabelSelector};
use super::server::{Query, Server, Target};
use super::store::meta_str;

/// The object as served at the request's version (apiVersion rewritten; no conversion needed).
pub fn present(obj: &Value, t: &Target) -> Value {
    let mut o = super::convert::to_view(&t.rt, obj, &t.rt.api_version(&t.version));
    if let Some(m) = o.as_object_mut() {
        m.insert("apiVersion".into(), json!(t.rt.api_version(&t.version)));
        m.insert("kind".into(), json!(t.rt.kind));
    }
    o
}

/// Whether the stored object already reads as served at the request's version, so it can be
/// written out without the copy `present` makes.
pub fn presents_as_is(obj: &Value, t: &Target) -> bool {
    !super::convert::is_new_event(&t.rt)
        && obj.get("kind").and_then(Value::as_str) == Some(t.rt.kind.as_str())
        && obj.get("apiVersion").and_then(Value::as_str)
            == Some(t.rt.api_version(&t.version).as_str())
}

/// GET one object (also serves `/status`).
pub fn get(server: &Arc<Server>, t: &Target) -> Result<Value, ApiError> {
    let state = server.lock();
    state
        .get(&t.rt.key(), t.ns(), t.name())
        .map(|o| present(o, t))
        .ok_or_else(|| ApiError::not_found(&t.rt.plural, &t.rt.group, t.name()))
}

/// Label and field selectors of a list or watch request.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    /// The label selector.
    pub labels: LabelSelector,
    /// The field selector.
    pub fields: FieldSelector,
}

impl Selectors {
    /// Parses the `labelSelector` and `fieldSelector` parameters.
    pub fn from_query(q: &Query, t: &Target) -> Result<Self, ApiError> {
        Ok(Selectors {
            labels: LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(
                q.get("fieldSelector").unwrap_or_default(),
                &t.rt.kind,
                t.rt.custom,
            )?,
        })
    }

    /// Whether an object in the request's namespace scope matches.
    pub fn matches(&self, obj: &Value, t: &Target) -> bool {
        if let Some(ns) = &t.namespace
            && t.rt.namespaced
            && meta_str(obj, "namespace") != Some(ns.as_str())
        {
            return false;
        }
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

fn encode_continue(rv: u64, after: &(String, String)) -> String {
    hex::encode(json!({"rv": rv, "ns": after.0, "name": after.1}).to_string())
}

fn decode_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(bad)
    };
    Ok((rv, (s("ns")?, s("name")?)))
}

/// One stored object with its (namespace, name).
type Entry<'a> = (&'a (String, String), &'a Arc<Value>);

/// LIST a collection: items in key order, `metadata.resourceVersion` the current version,
/// paged by `limit` with an opaque `continue` token.
pub fn list(server: &Arc<Server>, t: &Target, q: &Query) -> Result<Value, ApiError> {
    let sel = Selectors::from_query(q, t)?;
    let limit = match q.get("limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        )
        .filter(|l| *l > 0),
        None => None,
    };
    let state = server.lock();
    let mut list_rv = state.rv;
    let mut after: Option<(String, String)> = None;
    if let Some(token) = q.get("continue").filter(|c| !c.is_empty()) {
        let (rv, key) = decode_continue(token)?;
        if rv + 1 < state.oldest_resumable() {
            return Err(ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ));
        }
        list_rv = rv;
        after = Some(key);
    }
    let empty = Default::default();
    let resource = t.rt.key();
    let objects = state.objects.get(&resource).unwrap_or(&empty);
    let mut items = Vec::new();
    let mut next = None;
    let mut remaining = 0usize;
    // With `key=value` in the selector, only the objects carrying that label are read.
    let candidates: Box<dyn Iterator<Item = Entry<'_>>> = match sel.labels.equality() {
        Some((k, v)) => Box::new(
            state
                .labelled(&resource, k, v)
                .filter_map(|at| objects.get_key_value(at)),
        ),
        None => Box::new(objects.iter()),
    };
    let range = candidates.filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a));
    for (k, obj) in range {
        if !sel.matches(obj, t) {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        items.push(present(obj, t));
        next = Some(k.clone());
    }
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if remaining > 0
        && let Some(k) = next
    {
        metadata["continue"] = json!(encode_continue(list_rv, &k));
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(&t.version),
        "metadata": metadata,
        "items": items,
    }))
}
