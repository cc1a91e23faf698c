//! Reads: get one object, list a collection with selectors, limit and continue tokens.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::error::ApiError;
use super::selector::{FieldSelector, LabelSelector};
use super::server::{Query, Server, Target};
use super::store::Stored;

/// The object as served at the request's version (apiVersion rewritten; no conversion needed).
pub fn present(obj: &Value, t: &Target) -> Value {
    let mut o = super::convert::to_view(&t.rt, obj, &t.rt.api_version(&t.version));
    if let Some(m) = o.as_object_mut() {
        m.insert("apiVersion".into(), json!(t.rt.api_version(&t.version)));
        m.insert("kind".into(), json!(t.rt.kind));
    }
    o
}

/// Whether the stored object already reads as served at the request's version, so that its
/// text is sent as it is.
pub fn presents_as_is(obj: &Stored, t: &Target) -> bool {
    !super::convert::is_new_event(&t.rt)
        && obj.kind == t.rt.kind
        && obj.api_version == t.rt.api_version(&t.version)
}

/// The text of a stored object as served at the request's version.
pub fn served_json(obj: &Stored, t: &Target) -> Bytes {
    if presents_as_is(obj, t) {
        return obj.json.clone();
    }
    Bytes::from(super::store::object_text(&present(&obj.value(), t)))
}

fn stored_or_404(server: &Arc<Server>, t: &Target) -> Result<Arc<Stored>, ApiError> {
    let state = server.lock();
    state
        .stored(&t.rt.key(), t.ns(), t.name())
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.plural, &t.rt.group, t.name()))
}

/// GET one object (also serves `/status`), parsed.
pub fn get(server: &Arc<Server>, t: &Target) -> Result<Value, ApiError> {
    Ok(present(&stored_or_404(server, t)?.value(), t))
}

/// GET one object (also serves `/status`), as the text sent.
pub fn get_json(server: &Arc<Server>, t: &Target) -> Result<Bytes, ApiError> {
    Ok(served_json(stored_or_404(server, t)?.as_ref(), t))
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

    /// Whether the selectors select everything (no parsing needed to decide).
    pub fn is_all(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether a stored object in namespace `ns` matches; its text is read only when a
    /// selector needs its labels or fields.
    pub fn matches_stored(&self, ns: &str, view: &Bytes, t: &Target) -> bool {
        if let Some(want) = &t.namespace
            && t.rt.namespaced
            && ns != want
        {
            return false;
        }
        if self.is_all() {
            return true;
        }
        let view: Value = serde_json::from_slice(view).unwrap_or(Value::Null);
        self.labels.matches(&view) && self.fields.matches(&view)
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
type Entry<'a> = (&'a (String, String), &'a Arc<Stored>);

/// The objects a LIST selected, and the list's metadata.
struct Listed {
    items: Vec<Arc<Stored>>,
    metadata: Value,
}

/// LIST a collection, parsed: items in key order, `metadata.resourceVersion` the current
/// version, paged by `limit` with an opaque `continue` token.
pub fn list(server: &Arc<Server>, t: &Target, q: &Query) -> Result<Value, ApiError> {
    let listed = select(server, t, q)?;
    let items: Vec<Value> = listed
        .items
        .iter()
        .map(|o| present(&o.value(), t))
        .collect();
    Ok(json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(&t.version),
        "metadata": listed.metadata,
        "items": items,
    }))
}

/// LIST a collection, as the text sent: the same document as [`list`], with the items'
/// stored text spliced in.
pub fn list_json(server: &Arc<Server>, t: &Target, q: &Query) -> Result<Bytes, ApiError> {
    let listed = select(server, t, q)?;
    let items: Vec<Bytes> = listed.items.iter().map(|o| served_json(o, t)).collect();
    let mut out = Vec::with_capacity(128 + items.iter().map(|i| i.len() + 1).sum::<usize>());
    // Keys in the order `store::object_text` writes `list`'s document.
    out.extend_from_slice(b"{\"kind\":");
    let _ = serde_json::to_writer(&mut out, &format!("{}List", t.rt.kind));
    out.extend_from_slice(b",\"apiVersion\":");
    let _ = serde_json::to_writer(&mut out, &t.rt.api_version(&t.version));
    out.extend_from_slice(b",\"metadata\":");
    let _ = serde_json::to_writer(&mut out, &listed.metadata);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Ok(Bytes::from(out))
}

fn select(server: &Arc<Server>, t: &Target, q: &Query) -> Result<Listed, ApiError> {
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
        if !sel.matches_stored(&k.0, &obj.view, t) {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        items.push(obj.clone());
        next = Some(k.clone());
    }
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if remaining > 0
        && let Some(k) = next
    {
        metadata["continue"] = json!(encode_continue(list_rv, &k));
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(Listed { items, metadata })
}
