//! The object store: every object of every resource, one global resourceVersion counter, a
//! bounded window of recent events for watches, and the registry of served resource types.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::registry::{ResourceKey, ResourceType, builtins};

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
    /// The object after the change (for deletions: its last state, at the deletion's version).
    pub object: Arc<Value>,
    /// What selectors see of the object before the change (name, namespace, labels and the
    /// kind's selectable fields: [`super::selector::selector_view`]), for selector
    /// transitions.
    pub prev: Option<Arc<Value>>,
    /// Approximate heap bytes of `object`, counted against the window's memory bound.
    pub size: usize,
}

/// Objects of one resource, keyed by (namespace, name).
pub type Objects = BTreeMap<(String, String), Arc<Value>>;

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
    /// Recent events, oldest first.
    pub log: VecDeque<Arc<Event>>,
    /// How many events the window keeps.
    pub window: usize,
    /// How many bytes of event objects (approximately) the window keeps.
    pub window_bytes: usize,
    /// Approximate bytes of the objects of the events in the window.
    pub log_bytes: usize,
    /// Whether any event has left the window (from then on, older versions are gone).
    pub trimmed: bool,
}

/// Approximate heap bytes a JSON value holds (node sizes plus string and key lengths); cheap
/// enough to compute once per write, close enough to bound the event window's memory.
pub fn approx_size(v: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    match v {
        Value::String(s) => NODE + s.len(),
        Value::Array(a) => NODE + a.iter().map(approx_size).sum::<usize>(),
        Value::Object(m) => {
            NODE + m
                .iter()
                .map(|(k, v)| k.len() + 3 * NODE + approx_size(v))
                .sum::<usize>()
        }
        _ => NODE,
    }
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
        s
    }

    /// Finds a served type by group, version and plural.
    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .get(&(group.to_string(), plural.to_string()))
            .filter(|t| t.versions.iter().any(|v| v == version))
    }

    /// The object at (namespace, name), if any.
    pub fn get(&self, key: &ResourceKey, ns: &str, name: &str) -> Option<&Arc<Value>> {
        self.objects
            .get(key)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
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

    /// Adds (`add`) or removes the object's labels in the label index.
    fn index_labels(&mut self, resource: &ResourceKey, obj: &Value, add: bool) {
        let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) else {
            return;
        };
        let at = (
            meta_str(obj, "namespace").unwrap_or_default().to_string(),
            meta_str(obj, "name").unwrap_or_default().to_string(),
        );
        let index = self.labels.entry(resource.clone()).or_default();
        for (k, v) in labels {
            let Some(v) = v.as_str() else { continue };
            let label = (k.clone(), v.to_string());
            if add {
                index.entry(label).or_default().insert(at.clone());
            } else if let Some(names) = index.get_mut(&label) {
                names.remove(&at);
                if names.is_empty() {
                    index.remove(&label);
                }
            }
        }
    }

    /// Forgets a whole resource (its type is no longer served).
    pub fn drop_resource(&mut self, resource: &ResourceKey) {
        self.objects.remove(resource);
        self.labels.remove(resource);
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
        event.size = approx_size(&event.object) + event.prev.as_deref().map_or(0, approx_size);
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
    pub fn insert(&mut self, key: &ResourceKey, mut obj: Value) -> Arc<Value> {
        let rv = self.next_rv();
        set_meta(&mut obj, "resourceVersion", Value::String(rv.to_string()));
        let ns = meta_str(&obj, "namespace").unwrap_or_default().to_string();
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        if let Some(uid) = meta_str(&obj, "uid") {
            self.uids
                .insert(uid.to_string(), (key.clone(), ns.clone(), name.clone()));
        }
        let obj = Arc::new(obj);
        let prev = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert((ns.clone(), name), obj.clone());
        if let Some(prev) = prev {
            self.index_labels(key, &prev, false);
        }
        self.index_labels(key, &obj, true);
        self.record(Event {
            rv,
            key: key.clone(),
            namespace: ns,
            kind: EventType::Added,
            object: obj.clone(),
            prev: None,
            size: 0,
        });
        obj
    }

    /// Replaces an existing object, stamping a fresh resourceVersion; returns it as stored.
    pub fn replace(&mut self, key: &ResourceKey, mut obj: Value) -> Arc<Value> {
        let rv = self.next_rv();
        set_meta(&mut obj, "resourceVersion", Value::String(rv.to_string()));
        let ns = meta_str(&obj, "namespace").unwrap_or_default().to_string();
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        let obj = Arc::new(obj);
        let prev = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert((ns.clone(), name), obj.clone());
        let relabelled = prev
            .as_ref()
            .is_none_or(|p| p.pointer("/metadata/labels") != obj.pointer("/metadata/labels"));
        if relabelled {
            if let Some(prev) = &prev {
                self.index_labels(key, prev, false);
            }
            self.index_labels(key, &obj, true);
        }
        self.record(Event {
            rv,
            key: key.clone(),
            namespace: ns,
            kind: EventType::Modified,
            object: obj.clone(),
            prev: prev.map(|p| Arc::new(super::selector::selector_view(&p))),
            size: 0,
        });
        obj
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
        let old = self
            .objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        if let Some(uid) = meta_str(&old, "uid") {
            self.uids.remove(uid);
        }
        self.index_labels(key, &old, false);
        let rv = self.next_rv();
        let mut last = last.unwrap_or_else(|| (*old).clone());
        set_meta(&mut last, "resourceVersion", Value::String(rv.to_string()));
        let last = Arc::new(last);
        self.record(Event {
            rv,
            key: key.clone(),
            namespace: ns.to_string(),
            kind: EventType::Deleted,
            object: last.clone(),
            prev: Some(Arc::new(super::selector::selector_view(&old))),
            size: 0,
        });
        Some(last)
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
