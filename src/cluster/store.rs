//! The object store: every object of every resource (kept serialised, with the few fields
//! the server looks up without parsing), one global resourceVersion counter, a bounded
//! window of recent events for watches, and the registry of served resource types.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::registry::{ResourceKey, ResourceType, builtins};
use super::selector::selector_view;

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object changed.
    Modified,
    /// The object was removed.
    Deleted,
}

/// One object as the server keeps it: its JSON, which reads and watches send as they are,
/// and what selectors, indexes and deletion read without parsing it. A JSON tree of maps
/// costs several times the bytes of its text, so objects live as text and are parsed only
/// where a write or a conversion needs the tree.
#[derive(Debug)]
pub struct Stored {
    /// The object, serialised.
    pub json: Bytes,
    /// What selectors read of it ([`selector_view`]), serialised.
    pub view: Bytes,
    /// `apiVersion`, as stored.
    pub api_version: String,
    /// `kind`, as stored.
    pub kind: String,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// Its labels (key, value).
    pub labels: Vec<(String, String)>,
    /// The uids of its ownerReferences.
    pub owners: Vec<String>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

impl Stored {
    /// Serialises `obj` and notes what the store indexes.
    pub fn new(obj: &Value) -> Self {
        let text = |v: &Value| Bytes::from(object_text(v));
        let meta = obj.get("metadata");
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let owners = meta
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let str_of = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        Stored {
            json: text(obj),
            view: text(&selector_view(obj)),
            api_version: str_of(obj.get("apiVersion")),
            kind: str_of(obj.get("kind")),
            uid: meta_str(obj, "uid").map(str::to_string),
            labels,
            owners,
            deleting: meta_str(obj, "deletionTimestamp").is_some(),
        }
    }

    /// The object, parsed.
    pub fn value(&self) -> Value {
        // The text was written from a JSON value: it reads back.
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// An object's JSON as kube-apiserver writes it: `kind`, `apiVersion` and `metadata` first (Go
/// writes a struct's fields in declaration order, and clients read the kind off the start),
/// then its other top-level fields.
pub fn object_text(v: &Value) -> Vec<u8> {
    let Some(map) = v.as_object() else {
        return serde_json::to_vec(v).unwrap_or_default();
    };
    const FIRST: [&str; 3] = ["kind", "apiVersion", "metadata"];
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    let fields = FIRST
        .iter()
        .filter_map(|k| map.get_key_value(*k))
        .chain(map.iter().filter(|(k, _)| !FIRST.contains(&k.as_str())));
    for (i, (k, x)) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, x);
    }
    out.push(b'}');
    out
}

/// One change to one object, retained in the event window.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// Which resource changed.
    pub key: ResourceKey,
    /// The object's namespace ("" when cluster-scoped).
    pub namespace: String,
    /// Added, modified or deleted.
    pub kind: EventType,
    /// The object after the change (for deletions: its last state, at the deletion's
    /// version); shared with the store while it is the current version.
    pub object: Arc<Stored>,
    /// What selectors saw of the object before the change ([`Stored::view`] of the previous
    /// version), for selector transitions.
    pub prev: Option<Bytes>,
    /// Bytes of the object's text, counted against the window's memory bound.
    pub size: usize,
}

/// Objects of one resource, keyed by (namespace, name).
pub type Objects = BTreeMap<(String, String), Arc<Stored>>;

/// Where an object lives: (resource, namespace, name).
pub type Location = (ResourceKey, String, String);

/// The objects of one resource by label: (key, value) → their (namespace, name), in order.
pub type LabelIndex = HashMap<(String, String), BTreeSet<(String, String)>>;

/// Everything the server holds, behind one lock.
#[derive(Debug)]
pub struct State {
    /// The last resourceVersion handed out.
    pub rv: u64,
    /// Served resource types by identity (group, plural).
    pub types: BTreeMap<ResourceKey, ResourceType>,
    /// Objects per resource.
    pub objects: BTreeMap<ResourceKey, Objects>,
    /// uid → where the object lives, for owner lookups.
    pub uids: HashMap<String, (ResourceKey, String, String)>,
    /// Per resource, its objects by label, so that a list with `key=value` in its label
    /// selector reads only the objects carrying that label.
    pub labels: HashMap<ResourceKey, LabelIndex>,
    /// Owner uid → the objects with an ownerReference to it, for garbage collection.
    pub dependents: HashMap<String, BTreeSet<Location>>,
    /// The objects with a deletionTimestamp, waiting for finalizers or dependents.
    pub deleting: BTreeSet<Location>,
    /// Recent events, oldest first.
    pub log: VecDeque<Arc<Event>>,
    /// How many events the window keeps.
    pub window: usize,
    /// How many bytes of event objects the window keeps.
    pub window_bytes: usize,
    /// Bytes of the objects of the events in the window.
    pub log_bytes: usize,
    /// Whether any event has left the window (from then on, older versions are gone).
    pub trimmed: bool,
}

/// Reads `metadata.<field>` as a string.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

/// Sets `metadata.<field>` (creating `metadata` if absent).
pub fn set_meta(obj: &mut Value, field: &str, value: Value) {
    if let Some(o) = obj.as_object_mut() {
        let meta = o
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(m) = meta.as_object_mut() {
            if value.is_null() {
                m.remove(field);
            } else {
                m.insert(field.to_string(), value);
            }
        }
    }
}

impl State {
    /// A store holding the built-in types and the four standard namespaces.
    pub fn new(window: usize, window_bytes: usize, now: &str) -> Self {
        let mut s = State {
            rv: 0,
            types: BTreeMap::new(),
            objects: BTreeMap::new(),
            uids: HashMap::new(),
            labels: HashMap::new(),
            dependents: HashMap::new(),
            deleting: BTreeSet::new(),
            log: VecDeque::new(),
            window: window.max(1),
            window_bytes,
            log_bytes: 0,
            trimmed: false,
        };
        for t in builtins() {
            s.objects.entry(t.key()).or_default();
            s.types.insert(t.id(), t);
        }
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now,
                             "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            });
            s.insert(&(String::new(), "namespaces".into()), obj);
        }
        for (key, obj) in super::bootstrap::objects(now) {
            s.insert(&key, obj);
        }
        super::bootstrap::sync_apiservices(&mut s, now);
        s
    }

    /// Finds a served type by group, version and plural.
    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .get(&(group.to_string(), plural.to_string()))
            .filter(|t| t.versions.iter().any(|v| v == version))
    }

    /// The object at (namespace, name), if any, parsed.
    pub fn get(&self, key: &ResourceKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.stored(key, ns, name).map(|s| Arc::new(s.value()))
    }

    /// The object at (namespace, name), if any, as stored.
    pub fn stored(&self, key: &ResourceKey, ns: &str, name: &str) -> Option<&Arc<Stored>> {
        self.objects
            .get(key)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// Whether an object exists at (namespace, name).
    pub fn contains(&self, key: &ResourceKey, ns: &str, name: &str) -> bool {
        self.stored(key, ns, name).is_some()
    }

    /// The objects that have an ownerReference to `uid`.
    pub fn dependents_of(&self, uid: &str) -> Vec<Location> {
        self.dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The (namespace, name) of the objects of a resource labelled `key=value`, in order.
    pub fn labelled(
        &self,
        resource: &ResourceKey,
        key: &str,
        value: &str,
    ) -> impl Iterator<Item = &(String, String)> {
        self.labels
            .get(resource)
            .and_then(|index| index.get(&(key.to_string(), value.to_string())))
            .into_iter()
            .flatten()
    }

    /// Adds (`add`) or removes the object in the label, owner and deletion indexes.
    fn index(&mut self, resource: &ResourceKey, at: &(String, String), obj: &Stored, add: bool) {
        let index = self.labels.entry(resource.clone()).or_default();
        for label in &obj.labels {
            if add {
                index.entry(label.clone()).or_default().insert(at.clone());
            } else if let Some(names) = index.get_mut(label) {
                names.remove(at);
                if names.is_empty() {
                    index.remove(label);
                }
            }
        }
        let location = (resource.clone(), at.0.clone(), at.1.clone());
        for owner in &obj.owners {
            if add {
                self.dependents
                    .entry(owner.clone())
                    .or_default()
                    .insert(location.clone());
            } else if let Some(deps) = self.dependents.get_mut(owner) {
                deps.remove(&location);
                if deps.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
        if add && obj.deleting {
            self.deleting.insert(location);
        } else if !add {
            self.deleting.remove(&location);
        }
    }

    /// Forgets a whole resource (its type is no longer served).
    pub fn drop_resource(&mut self, resource: &ResourceKey) {
        self.objects.remove(resource);
        self.labels.remove(resource);
        self.deleting.retain(|(k, _, _)| k != resource);
        for deps in self.dependents.values_mut() {
            deps.retain(|(k, _, _)| k != resource);
        }
        self.dependents.retain(|_, deps| !deps.is_empty());
    }

    /// Where the object with this uid lives, if it exists.
    pub fn by_uid(&self, uid: &str) -> Option<&(ResourceKey, String, String)> {
        self.uids.get(uid)
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Appends an event, then drops the oldest ones while the window holds more than its
    /// count or (keeping at least the newest event) more than its bytes.
    fn record(&mut self, mut event: Event) {
        event.size = event.object.json.len() + event.prev.as_ref().map_or(0, Bytes::len);
        self.log_bytes += event.size;
        self.log.push_back(Arc::new(event));
        while self.log.len() > self.window
            || (self.log.len() > 1 && self.log_bytes > self.window_bytes)
        {
            let Some(old) = self.log.pop_front() else {
                break;
            };
            self.log_bytes = self.log_bytes.saturating_sub(old.size);
            self.trimmed = true;
        }
    }

    /// The oldest resourceVersion a watch may resume from; older ones are 410 Gone.
    pub fn oldest_resumable(&self) -> u64 {
        match self.log.front() {
            Some(e) if self.trimmed || self.log.len() >= self.window => e.rv,
            _ => 0,
        }
    }

    /// Stores a new object, stamping a fresh resourceVersion; returns it as stored.
    pub fn insert(&mut self, key: &ResourceKey, obj: Value) -> Arc<Value> {
        self.put(key, obj, EventType::Added)
    }

    /// Replaces an existing object, stamping a fresh resourceVersion; returns it as stored.
    pub fn replace(&mut self, key: &ResourceKey, obj: Value) -> Arc<Value> {
        self.put(key, obj, EventType::Modified)
    }

    fn put(&mut self, key: &ResourceKey, mut obj: Value, kind: EventType) -> Arc<Value> {
        let rv = self.next_rv();
        set_meta(&mut obj, "resourceVersion", Value::String(rv.to_string()));
        let at = (
            meta_str(&obj, "namespace").unwrap_or_default().to_string(),
            meta_str(&obj, "name").unwrap_or_default().to_string(),
        );
        let stored = Arc::new(Stored::new(&obj));
        if let Some(uid) = &stored.uid {
            self.uids
                .insert(uid.clone(), (key.clone(), at.0.clone(), at.1.clone()));
        }
        let prev = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert(at.clone(), stored.clone());
        let same_index = prev.as_ref().is_some_and(|p| {
            p.labels == stored.labels && p.owners == stored.owners && p.deleting == stored.deleting
        });
        if !same_index {
            if let Some(prev) = &prev {
                self.index(key, &at, prev, false);
            }
            self.index(key, &at, &stored, true);
        }
        self.record(Event {
            rv,
            key: key.clone(),
            namespace: at.0,
            kind,
            object: stored,
            prev: prev
                .map(|p| p.view.clone())
                .filter(|_| kind == EventType::Modified),
            size: 0,
        });
        Arc::new(obj)
    }

    /// Removes an object; its DELETED event carries the deletion's resourceVersion.
    pub fn remove(&mut self, key: &ResourceKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.remove_as(key, ns, name, None)
    }

    /// Removes an object; `last` (when given) is the state its DELETED event shows.
    pub fn remove_as(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        last: Option<Value>,
    ) -> Option<Arc<Value>> {
        let at = (ns.to_string(), name.to_string());
        let old = self.objects.get_mut(key)?.remove(&at)?;
        if let Some(uid) = &old.uid {
            self.uids.remove(uid);
        }
        self.index(key, &at, &old, false);
        let rv = self.next_rv();
        let mut last = last.unwrap_or_else(|| old.value());
        set_meta(&mut last, "resourceVersion", Value::String(rv.to_string()));
        self.record(Event {
            rv,
            key: key.clone(),
            namespace: ns.to_string(),
            kind: EventType::Deleted,
            object: Arc::new(Stored::new(&last)),
            prev: Some(old.view.clone()),
            size: 0,
        });
        Some(Arc::new(last))
    }

    /// Events after `rv` still in the window, or None when `rv` is older than the window.
    pub fn events_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv + 1 < self.oldest_resumable() {
            return None;
        }
        let start = self.log.partition_point(|e| e.rv <= rv);
        Some(self.log.iter().skip(start).cloned().collect())
    }
}
