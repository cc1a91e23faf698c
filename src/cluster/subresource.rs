//! The `scale` subresource (autoscaling/v1 Scale) and `pods/eviction` (policy/v1 Eviction,
//! refused with 429 when a PodDisruptionBudget would be violated).

use std::sync::Arc;

use serde_json::{Value, json};

use super::error::ApiError;
use super::gc::{self, Propagation};
use super::patch::{self, PatchKind};
use super::selector::LabelSelector;
use super::server::{Query, Server, Target, parse_body};
use super::store::{State, meta_str, set_meta};
use super::write::update_locked;

fn pointer(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, s| format!("{acc}/{s}"))
}

fn scale_of(t: &Target, obj: &Value) -> Value {
    let (spec_path, status_path, selector_path) = t.rt.scale.clone().unwrap_or_default();
    let selector = match selector_path
        .as_deref()
        .and_then(|p| obj.pointer(&pointer(p)))
        .and_then(Value::as_str)
    {
        Some(s) if t.rt.custom => s.to_string(),
        _ => obj
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta_str(obj, "name"),
            "namespace": meta_str(obj, "namespace"),
            "uid": meta_str(obj, "uid"),
            "resourceVersion": meta_str(obj, "resourceVersion"),
            "creationTimestamp": meta_str(obj, "creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer(&pointer(&spec_path)).and_then(Value::as_i64).unwrap_or(0)},
        "status": {"replicas": obj.pointer(&pointer(&status_path)).and_then(Value::as_i64).unwrap_or(0), "selector": selector},
    })
}

fn current(state: &State, t: &Target) -> Result<Value, ApiError> {
    state
        .get(&t.rt.key(), t.ns(), t.name())
        .map(Arc::unwrap_or_clone)
        .ok_or_else(|| ApiError::not_found(&t.rt.plural, &t.rt.group, t.name()))
}

/// GET `/scale`.
pub fn get_scale(server: &Arc<Server>, t: &Target) -> Result<Value, ApiError> {
    let state = server.lock();
    Ok(scale_of(t, &current(&state, t)?))
}

fn write_scale(
    state: &mut State,
    t: &Target,
    cur: &Value,
    scale: &Value,
    q: &Query,
) -> Result<Value, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("Scale.spec.replicas must be an integer"))?;
    if replicas < 0 {
        let c = super::error::cause(
            "FieldValueInvalid",
            "spec.replicas",
            format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        );
        return Err(ApiError::invalid("Scale", "autoscaling", t.name(), vec![c]));
    }
    let (spec_path, _, _) = t.rt.scale.clone().unwrap_or_default();
    let mut new = cur.clone();
    let ptr = pointer(&spec_path);
    let (parent, field) = ptr.rsplit_once('/').unwrap_or(("", "replicas"));
    if new.pointer(parent).is_none() {
        new["spec"] = json!({});
    }
    if let Some(p) = new.pointer_mut(parent).and_then(Value::as_object_mut) {
        p.insert(field.to_string(), json!(replicas));
    }
    set_meta(
        &mut new,
        "resourceVersion",
        scale
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null),
    );
    let main = Target {
        sub: None,
        ..t.clone()
    };
    let stored = update_locked(state, &main, cur, new, q, Some(Some("scale")))?;
    Ok(scale_of(t, &stored))
}

/// PUT `/scale`.
pub fn put_scale(
    server: &Arc<Server>,
    t: &Target,
    scale: &Value,
    q: &Query,
) -> Result<Value, ApiError> {
    let mut state = server.lock();
    let cur = current(&state, t)?;
    let out = write_scale(&mut state, t, &cur, scale, q);
    server.notify(state.rv);
    out
}

/// PATCH `/scale` (merge or JSON patch of the Scale object).
pub fn patch_scale(
    server: &Arc<Server>,
    t: &Target,
    body: &[u8],
    content_type: &str,
    q: &Query,
) -> Result<Value, ApiError> {
    let kind = PatchKind::from_content_type(content_type)?;
    let p = parse_body(body, content_type)?;
    let mut state = server.lock();
    let cur = current(&state, t)?;
    let mut scale = scale_of(t, &cur);
    set_meta(&mut scale, "resourceVersion", Value::Null);
    match kind {
        PatchKind::Json => patch::json(&mut scale, &p)?,
        PatchKind::Strategic => patch::strategic(&mut scale, &p),
        _ => patch::merge(&mut scale, &p),
    }
    let out = write_scale(&mut state, t, &cur, &scale, q);
    server.notify(state.rv);
    out
}

fn pod_ready(pod: &Value) -> bool {
    super::kinds::condition_true(pod, "Ready")
}

/// Disruptions a PDB still allows, computed from the pods it selects (integer budgets only).
fn disruptions_allowed(state: &State, ns: &str, pdb: &Value) -> Option<i64> {
    let sel = LabelSelector::from_object(pdb.pointer("/spec/selector")?);
    let pods: Vec<Value> = state
        .objects
        .get(&(String::new(), "pods".into()))?
        .iter()
        .filter(|((n, _), p)| n == ns && !p.deleting)
        .map(|(_, p)| p.value())
        .filter(|p| sel.matches(p))
        .collect();
    let healthy = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let expected = expected_pods(state, &pods);
    if let Some(min) = pdb
        .pointer("/spec/minAvailable")
        .and_then(|v| budget(v, expected))
    {
        return Some(healthy - min);
    }
    let max = pdb
        .pointer("/spec/maxUnavailable")
        .and_then(|v| budget(v, expected))?;
    Some(max - (expected - healthy))
}

/// How many pods the budget's selection should have, as the disruption controller counts it:
/// for pods with a controlling owner that has `spec.replicas` (a ReplicaSet, StatefulSet, …),
/// that owner's replicas, once per owner; one for every other pod. A pod being replaced
/// still counts, so a percentage does not shrink while its replacement is created.
fn expected_pods(state: &State, pods: &[Value]) -> i64 {
    let mut owners = std::collections::BTreeSet::new();
    let mut expected = 0i64;
    for pod in pods {
        let controller = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
            })
            .and_then(|r| r.get("uid").and_then(Value::as_str));
        let replicas = controller.and_then(|uid| {
            let (key, ns, name) = state.uids.get(uid)?;
            let owner = state.objects.get(key)?.get(&(ns.clone(), name.clone()))?;
            owner.value().pointer("/spec/replicas")?.as_i64()
        });
        match (controller, replicas) {
            (Some(uid), Some(n)) => {
                if owners.insert(uid.to_string()) {
                    expected += n;
                }
            }
            _ => expected += 1,
        }
    }
    expected
}

/// A budget as a number of pods: an integer, or a percentage of `expected` rounded up (as
/// Kubernetes rounds both `minAvailable` and `maxUnavailable`).
fn budget(value: &Value, expected: i64) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => match s.strip_suffix('%') {
            Some(p) => p
                .parse::<i64>()
                .ok()
                .map(|p| (expected * p + 99).div_euclid(100)),
            None => s.parse().ok(),
        },
        _ => None,
    }
}

/// POST `pods/NAME/eviction`: deletes the pod unless a disruption budget forbids it.
pub fn evict(
    server: &Arc<Server>,
    t: &Target,
    eviction: &Value,
    q: &Query,
) -> Result<Value, ApiError> {
    let mut state = server.lock();
    let pod = current(&state, t)?;
    if let Some(n) = meta_str(eviction, "name")
        && n != t.name()
    {
        return Err(ApiError::bad_request(format!(
            "name in URL does not match name in Eviction object ({n})"
        )));
    }
    let ns = t.ns().to_string();
    let pdbs: Vec<Value> = state
        .objects
        .get(&("policy".to_string(), "poddisruptionbudgets".to_string()))
        .map(|m| {
            m.iter()
                .filter(|((n, _), _)| *n == ns)
                .map(|(_, p)| p.value())
                .collect()
        })
        .unwrap_or_default();
    for pdb in &pdbs {
        let selects = pdb
            .pointer("/spec/selector")
            .is_some_and(|s| LabelSelector::from_object(s).matches(&pod));
        if selects
            && pod_ready(&pod)
            && disruptions_allowed(&state, &ns, pdb).is_some_and(|a| a <= 0)
        {
            return Err(ApiError::too_many_requests(format!(
                "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget {} needs more healthy pods.",
                meta_str(pdb, "name").unwrap_or_default()
            )));
        }
    }
    if !q.dry_run() {
        gc::delete_object(
            &mut state,
            &t.rt.key(),
            &ns,
            t.name(),
            Propagation::Background,
        );
        server.notify(state.rv);
    }
    Ok(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}
