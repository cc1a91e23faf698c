//! Deletion: finalizers and deletionTimestamp, ownerReference garbage collection (background,
//! foreground, orphan), namespace termination and CRD cleanup. Runs inside the write that
//! caused it, so dependents disappear with their own DELETED events right after the owner's.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::registry::{ResourceKey, from_crd};
use super::server::now;
use super::store::{State, meta_str, set_meta};

/// How dependents of a deleted object are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner now; dependents are collected afterwards.
    Background,
    /// Keep the owner (with a `foregroundDeletion` finalizer) until its dependents are gone.
    Foreground,
    /// Delete the owner and leave its dependents without the owner reference.
    Orphan,
}

impl Propagation {
    /// Parses `propagationPolicy`; Background when absent or unknown.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Foreground") => Propagation::Foreground,
            Some("Orphan") => Propagation::Orphan,
            _ => Propagation::Background,
        }
    }
}

/// What a delete did.
#[derive(Debug)]
pub enum Deleted {
    /// The object still exists, marked with a deletionTimestamp (finalizers pending).
    Pending(Arc<Value>),
    /// The object is gone; this is its last state.
    Removed(Arc<Value>),
}

const FOREGROUND: &str = "foregroundDeletion";
const NAMESPACES: (&str, &str) = ("", "namespaces");

fn ns_key() -> ResourceKey {
    (NAMESPACES.0.to_string(), NAMESPACES.1.to_string())
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn mark_deleting(
    state: &mut State,
    key: &ResourceKey,
    ns: &str,
    name: &str,
    add_finalizer: Option<&str>,
) -> Option<Arc<Value>> {
    let cur = state.get(key, ns, name)?;
    let mut obj = (*cur).clone();
    let mut changed = false;
    if meta_str(&obj, "deletionTimestamp").is_none() {
        set_meta(&mut obj, "deletionTimestamp", json!(now()));
        set_meta(&mut obj, "deletionGracePeriodSeconds", json!(0));
        changed = true;
    }
    if let Some(f) = add_finalizer {
        let mut fs = finalizers(&obj);
        if !fs.iter().any(|x| x == f) {
            fs.push(f.to_string());
            set_meta(&mut obj, "finalizers", json!(fs));
            changed = true;
        }
    }
    if *key == ns_key()
        && obj.pointer("/status/phase").and_then(Value::as_str) != Some("Terminating")
    {
        obj["status"] = json!({"phase": "Terminating"});
        changed = true;
    }
    Some(if changed {
        state.replace(key, obj)
    } else {
        cur
    })
}

/// Deletes one object with the given propagation, honouring finalizers.
pub fn delete_object(
    state: &mut State,
    key: &ResourceKey,
    ns: &str,
    name: &str,
    policy: Propagation,
) -> Option<Deleted> {
    let cur = state.get(key, ns, name)?;
    let uid = meta_str(&cur, "uid").unwrap_or_default().to_string();
    if policy == Propagation::Orphan {
        orphan_dependents(state, &uid);
    }
    if policy == Propagation::Foreground {
        mark_deleting(state, key, ns, name, Some(FOREGROUND));
        for (k, n, m) in state.dependents_of(&uid) {
            delete_object(state, &k, &n, &m, Propagation::Foreground);
        }
        sweep(state);
        return Some(match state.get(key, ns, name) {
            Some(o) => Deleted::Pending(o),
            None => Deleted::Removed(cur),
        });
    }
    if *key == ns_key() {
        let marked = mark_deleting(state, key, ns, name, None);
        let contents: Vec<(ResourceKey, String)> = state
            .objects
            .iter()
            .flat_map(|(k, objs)| {
                objs.keys()
                    .filter(|(n, _)| n == name)
                    .map(move |(_, m)| (k.clone(), m.clone()))
            })
            .collect();
        for (k, m) in contents {
            delete_object(state, &k, name, &m, Propagation::Background);
        }
        sweep(state);
        refresh_namespace(state, name);
        return Some(match state.get(key, ns, name) {
            Some(o) => Deleted::Pending(o),
            None => Deleted::Removed(marked.unwrap_or(cur)),
        });
    }
    if !finalizers(&cur).is_empty() {
        return mark_deleting(state, key, ns, name, None).map(Deleted::Pending);
    }
    remove_and_collect(state, key, ns, name).map(Deleted::Removed)
}

/// Removes an object for good and collects what depended on it.
pub fn remove_and_collect(
    state: &mut State,
    key: &ResourceKey,
    ns: &str,
    name: &str,
) -> Option<Arc<Value>> {
    remove_as_and_collect(state, key, ns, name, None)
}

/// Like [`remove_and_collect`], with the last state to report (an update that emptied finalizers).
pub fn remove_as_and_collect(
    state: &mut State,
    key: &ResourceKey,
    ns: &str,
    name: &str,
    last: Option<Value>,
) -> Option<Arc<Value>> {
    let last = state.remove_as(key, ns, name, last)?;
    if key.0 == "apiextensions.k8s.io"
        && key.1 == "customresourcedefinitions"
        && let Ok(rt) = from_crd(&last)
    {
        let k = rt.key();
        let names: Vec<(String, String)> = state
            .objects
            .get(&k)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        for (n, m) in names {
            state.remove(&k, &n, &m);
        }
        state.types.remove(&k);
        state.drop_resource(&k);
        super::bootstrap::sync_apiservices(state, &super::server::now());
    }
    if let Some(uid) = meta_str(&last, "uid") {
        for (k, n, m) in state.dependents_of(uid) {
            let Some(dep) = state.get(&k, &n, &m) else {
                continue;
            };
            let alive = owner_uids(&dep)
                .iter()
                .any(|u| u != uid && state.by_uid(u).is_some());
            if alive {
                drop_owner_ref(state, &k, &dep, uid);
            } else {
                delete_object(state, &k, &n, &m, Propagation::Background);
            }
        }
    }
    sweep(state);
    Some(last)
}

fn drop_owner_ref(state: &mut State, key: &ResourceKey, dep: &Value, uid: &str) {
    let mut obj = dep.clone();
    if let Some(refs) = obj
        .pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
    {
        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
        if refs.is_empty() {
            set_meta(&mut obj, "ownerReferences", Value::Null);
        }
    }
    state.replace(key, obj);
}

fn orphan_dependents(state: &mut State, uid: &str) {
    for (k, n, m) in state.dependents_of(uid) {
        if let Some(dep) = state.get(&k, &n, &m) {
            drop_owner_ref(state, &k, &dep, uid);
        }
    }
}

/// Finishes deletions that were waiting: foreground owners whose dependents are gone, and
/// terminating namespaces that are empty.
pub fn sweep(state: &mut State) {
    loop {
        let mut todo: Vec<(ResourceKey, String, String, bool)> = Vec::new();
        for (key, ns, name) in &state.deleting {
            let Some(obj) = state.get(key, ns, name) else {
                continue;
            };
            let uid = meta_str(&obj, "uid").unwrap_or_default();
            if finalizers(&obj).iter().any(|f| f == FOREGROUND)
                && state.dependents_of(uid).is_empty()
            {
                todo.push((key.clone(), ns.clone(), name.clone(), true));
            } else if *key == ns_key()
                && finalizers(&obj).is_empty()
                && !state
                    .objects
                    .values()
                    .any(|o| o.keys().any(|(n, _)| n == name))
            {
                todo.push((key.clone(), ns.clone(), name.clone(), false));
            }
        }
        if todo.is_empty() {
            let terminating: Vec<String> = state
                .deleting
                .iter()
                .filter(|(k, _, _)| *k == ns_key())
                .map(|(_, _, n)| n.clone())
                .collect();
            for name in terminating {
                refresh_namespace(state, &name);
            }
            return;
        }
        for (key, ns, name, foreground) in todo {
            let Some(cur) = state.get(&key, &ns, &name) else {
                continue;
            };
            if foreground {
                let rest: Vec<String> = finalizers(&cur)
                    .into_iter()
                    .filter(|f| f != FOREGROUND)
                    .collect();
                if rest.is_empty() {
                    remove_and_collect(state, &key, &ns, &name);
                } else {
                    let mut obj = Arc::unwrap_or_clone(cur);
                    set_meta(&mut obj, "finalizers", json!(rest));
                    state.replace(&key, obj);
                }
            } else {
                remove_and_collect(state, &key, &ns, &name);
            }
        }
    }
}

/// The namespace controller's deletion conditions of a terminating namespace, from what is
/// left in it (kube-controller-manager's wording and reasons).
fn namespace_conditions(state: &State, name: &str, now: &str) -> Vec<Value> {
    let mut resources: BTreeMap<String, usize> = BTreeMap::new();
    let mut finalizers_left: BTreeMap<String, usize> = BTreeMap::new();
    for (key, objs) in &state.objects {
        for ((n, _), obj) in objs {
            if n != name {
                continue;
            }
            *resources.entry(format!("{}.{}", key.1, key.0)).or_default() += 1;
            if obj.deleting {
                // The stored text is parsed only for what is still waiting on finalizers.
                for f in finalizers(&obj.value()) {
                    *finalizers_left.entry(f).or_default() += 1;
                }
            }
        }
    }
    let condition = |type_: &str, status: &str, reason: &str, message: String| json!({"type": type_, "status": status, "lastTransitionTime": now, "reason": reason, "message": message});
    let mut out = vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into(),
        ),
        condition(
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        ),
    ];
    out.push(if resources.is_empty() {
        condition(
            "NamespaceContentRemaining",
            "False",
            "ContentRemoved",
            "All content successfully removed".into(),
        )
    } else {
        let left: Vec<String> = resources
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        condition(
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", left.join(", ")),
        )
    });
    out.push(if finalizers_left.is_empty() {
        condition(
            "NamespaceFinalizersRemaining",
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
        )
    } else {
        let left: Vec<String> = finalizers_left
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        condition(
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                left.join(", ")
            ),
        )
    });
    out
}

/// Writes a terminating namespace's deletion conditions when they changed (a condition keeps
/// its lastTransitionTime while its status stays).
fn refresh_namespace(state: &mut State, name: &str) {
    let Some(cur) = state.get(&ns_key(), "", name) else {
        return;
    };
    if meta_str(&cur, "deletionTimestamp").is_none() {
        return;
    }
    let old: Vec<Value> = cur
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut new = namespace_conditions(state, name, &now());
    for c in &mut new {
        if let Some(prev) = old.iter().find(|o| o.get("type") == c.get("type"))
            && prev.get("status") == c.get("status")
        {
            c["lastTransitionTime"] = prev.get("lastTransitionTime").cloned().unwrap_or_default();
        }
    }
    if new == old {
        return;
    }
    let mut obj = Arc::unwrap_or_clone(cur);
    obj["status"]["conditions"] = Value::Array(new);
    state.replace(&ns_key(), obj);
}

/// What kube-controller-manager's garbage collector does for dependents whose owners are
/// gone without a cascade having reached them (created after the owner's deletion, or naming
/// an owner that never existed): a dependent with no living owner is deleted in the
/// background, one with another living owner loses the dangling reference. At most `limit`
/// dependents per call; returns how many it handled.
pub fn collect_dangling(state: &mut State, limit: usize) -> usize {
    let dangling: Vec<String> = state
        .dependents
        .keys()
        .filter(|uid| state.by_uid(uid).is_none())
        .cloned()
        .collect();
    let mut done = 0;
    for uid in dangling {
        for (k, n, m) in state.dependents_of(&uid) {
            if done >= limit {
                return done;
            }
            let Some(dep) = state.get(&k, &n, &m) else {
                continue;
            };
            let alive = owner_uids(&dep)
                .iter()
                .any(|u| *u != uid && state.by_uid(u).is_some());
            if alive {
                drop_owner_ref(state, &k, &dep, &uid);
            } else {
                delete_object(state, &k, &n, &m, Propagation::Background);
            }
            done += 1;
        }
    }
    done
}
