//! Writes: create, update (PUT), patch, delete and deletecollection, with server-set metadata,
//! optimistic concurrency, status isolation, validation, dryRun and finalizers.

use std::sync::Arc;

use serde_json::{Value, json};

use super::cel;
use super::convert;
use super::error::{ApiError, cause};
use super::gc::{self, Deleted, Propagation};
use super::kinds;
use super::limits;
use super::meta::{self, NameRule};
use super::network;
use super::patch::{self, PatchKind};
use super::read::{Selectors, present};
use super::registry::from_crd;
use super::schema;
use super::server::{Query, Server, Target, new_uid, now, parse_body};
use super::store::{State, meta_str, set_meta};
use super::typed;

const CRD_KIND: &str = "CustomResourceDefinition";

fn check_kind(obj: &Value, t: &Target) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is not a JSON object",
        ));
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != t.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}) or kind {k} is not {}",
            obj.get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            t.rt.api_version(&t.version),
            t.rt.kind
        )));
    }
    Ok(())
}

/// Registers (or re-registers) the resource a CRD object declares.
fn register_crd(state: &mut State, crd: &Value) {
    if let Ok(rt) = from_crd(crd) {
        let key = rt.key();
        if state.types.get(&key).is_some_and(|t| !t.custom) {
            return;
        }
        state.objects.entry(key.clone()).or_default();
        state.types.insert(key, rt);
        super::bootstrap::sync_apiservices(state, &now());
    }
}

/// Applies the kind's defaults and validates: built-in rules or the CRD schema.
fn validate(
    state: &State,
    t: &Target,
    obj: &mut Value,
    q: &Query,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let name = meta_str(obj, "name").unwrap_or_default().to_string();
    if !t.rt.custom {
        // Typed decoding in a real API server drops explicit nulls of built-in kinds.
        drop_nulls(obj);
    }
    kinds::apply_defaults(&t.rt, obj);
    let mut causes = meta::validate(obj, t.rt.namespaced);
    causes.extend(kinds::validate(&t.rt, obj));
    if !t.rt.custom {
        causes.extend(meta::config_data(obj, &t.rt.kind));
    }
    if is_builtin(t, CRD_KIND) {
        causes.extend(cel::crd_causes(obj));
    }
    if t.rt.custom {
        let rt = state.types.get(&t.rt.id()).unwrap_or(&t.rt);
        if let Some(s) = rt.schemas.get(&t.version) {
            let report = schema::check(obj, s);
            if q.get("fieldValidation") == Some("Strict") && !report.pruned.is_empty() {
                let fields: Vec<String> = report
                    .pruned
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
                return Err(ApiError::bad_request(format!(
                    "strict decoding error: {}",
                    fields.join(", ")
                )));
            }
            let typed = report.causes.is_empty();
            causes.extend(report.causes);
            // As kube-apiserver, rules run on an object whose fields have their types.
            if typed {
                causes.extend(cel::validate(s, obj, old));
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&t.rt.kind, &t.rt.group, &name, causes))
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let suffix: String = bytes
        .iter()
        .take(5)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// Refuses a body kube-apiserver could not decode into the built-in kind's Go type (400).
fn decodes(t: &Target, obj: &Value) -> Result<(), ApiError> {
    if t.rt.custom {
        return Ok(());
    }
    match typed::check(&t.rt.group, &t.rt.kind, obj) {
        None => Ok(()),
        Some(e) => Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {kind}: {e}",
            t.version,
            kind = t.rt.kind
        ))),
    }
}

/// Refuses a patched built-in object that does not decode (422 on the field `patch`, with the
/// patched object as its value, as kube-apiserver answers).
fn patched_decodes(t: &Target, obj: &Value) -> Result<(), ApiError> {
    if t.rt.custom {
        return Ok(());
    }
    match typed::check(&t.rt.group, &t.rt.kind, obj) {
        None => Ok(()),
        Some(e) => {
            let text = String::from_utf8_lossy(&super::store::object_text(obj)).into_owned();
            let c = cause(
                "FieldValueInvalid",
                "patch",
                format!("Invalid value: {}: {e}", meta::shown(&Value::String(text))),
            );
            Err(ApiError::invalid("", "", "", vec![c]))
        }
    }
}

/// POST: creates an object; 201 with the stored object.
pub fn create(
    server: &Arc<Server>,
    t: &Target,
    obj: Value,
    q: &Query,
) -> Result<(u16, Value), ApiError> {
    decodes(t, &obj)?;
    let mut state = server.lock();
    let out = create_locked(&mut state, t, obj, q, true)?;
    server.notify(state.rv);
    Ok((201, out))
}

/// Whether the target is the built-in kind `kind`.
fn is_builtin(t: &Target, kind: &str) -> bool {
    !t.rt.custom && t.rt.kind == kind
}

/// Sets (or, with None, removes) the value at a JSON pointer, creating objects on the way.
fn put(obj: &mut Value, pointer: &str, value: Option<Value>) {
    let Some((parent, field)) = pointer.rsplit_once('/') else {
        return;
    };
    if obj.pointer(parent).is_none() {
        if value.is_none() {
            return;
        }
        put(obj, parent, Some(json!({})));
    }
    if let Some(p) = obj.pointer_mut(parent).and_then(Value::as_object_mut) {
        match value {
            Some(v) => {
                p.insert(field.to_string(), v);
            }
            None => {
                p.remove(field);
            }
        }
    }
}

/// The part of an object a subresource writes: all of it is kept from the stored object but
/// this.
fn subresource_part(sub: &str) -> Option<&'static str> {
    match sub {
        "status" => Some("/status"),
        "approval" => Some("/status/conditions"),
        "ephemeralcontainers" => Some("/spec/ephemeralContainers"),
        _ => None,
    }
}

/// Refuses an ephemeralcontainers write that removes or changes an existing ephemeral
/// container (they can only be added).
fn ephemeral_kept(t: &Target, current: &Value, new: &Value) -> Result<(), ApiError> {
    let list = |o: &Value| -> Vec<Value> {
        o.pointer("/spec/ephemeralContainers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let after = list(new);
    for old in list(current) {
        let name = old.get("name").and_then(Value::as_str).unwrap_or_default();
        let what = match after.iter().find(|c| c.get("name") == old.get("name")) {
            None => "removed",
            Some(c) if *c != old => "changed",
            Some(_) => continue,
        };
        let c = cause(
            "FieldValueForbidden",
            "spec.ephemeralContainers",
            format!("Forbidden: existing ephemeral containers \"{name}\" may not be {what}"),
        );
        return Err(ApiError::invalid(
            &t.rt.kind,
            &t.rt.group,
            t.name(),
            vec![c],
        ));
    }
    Ok(())
}

/// A new Namespace always carries the `kubernetes` finalizer in its spec, as kube-apiserver
/// adds it.
fn namespace_finalizer(obj: &mut Value) {
    let mut fins: Vec<Value> = obj
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !fins.iter().any(|f| f == "kubernetes") {
        fins.push(json!("kubernetes"));
    }
    put(obj, "/spec/finalizers", Some(Value::Array(fins)));
}

/// Refuses a binding update that changes its roleRef.
fn role_ref_kept(t: &Target, current: &Value, new: &Value) -> Result<(), ApiError> {
    if current.get("roleRef") != new.get("roleRef") {
        let c = cause(
            "FieldValueInvalid",
            "roleRef",
            format!(
                "Invalid value: {}: cannot change roleRef",
                new.get("roleRef").cloned().unwrap_or_default()
            ),
        );
        return Err(ApiError::invalid(
            &t.rt.kind,
            &t.rt.group,
            t.name(),
            vec![c],
        ));
    }
    Ok(())
}

/// `track`: record the creator as an `Update` manager (false for an apply, which recorded itself).
fn create_locked(
    state: &mut State,
    t: &Target,
    mut obj: Value,
    q: &Query,
    track: bool,
) -> Result<Value, ApiError> {
    check_kind(&obj, t)?;
    let ns = t.ns().to_string();
    if t.rt.namespaced {
        match meta_str(&obj, "namespace") {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => set_meta(&mut obj, "namespace", json!(ns)),
        }
    } else {
        set_meta(&mut obj, "namespace", Value::Null);
    }
    let name = match meta_str(&obj, "name").filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => match meta_str(&obj, "generateName").filter(|n| !n.is_empty()) {
            Some(prefix) => {
                let prefix = prefix.to_string();
                let mut name = generate_name(&prefix);
                for _ in 0..8 {
                    if !state.contains(&t.rt.key(), &ns, &name) {
                        break;
                    }
                    name = generate_name(&prefix);
                }
                name
            }
            None => {
                let c = cause(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                );
                return Err(ApiError::invalid(&t.rt.kind, &t.rt.group, "", vec![c]));
            }
        },
    };
    set_meta(&mut obj, "name", json!(name));
    let bad_name = meta::name_causes(&name, NameRule::of(&t.rt.kind, t.rt.custom));
    if !bad_name.is_empty() {
        return Err(ApiError::invalid(&t.rt.kind, &t.rt.group, &name, bad_name));
    }
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(t.rt.api_version(&t.version)));
        m.insert("kind".into(), json!(t.rt.kind));
    }
    if t.rt.status_subresource || t.rt.kind == CRD_KIND {
        let status = kinds::initial_status(&t.rt, &obj);
        match (status, obj.as_object_mut()) {
            (Some(s), Some(m)) => {
                m.insert("status".into(), s);
            }
            (None, Some(m)) => {
                m.remove("status");
            }
            _ => {}
        }
    }
    if is_builtin(t, "Namespace") {
        namespace_finalizer(&mut obj);
    }
    let uid = new_uid();
    kinds::prepare_create(&t.rt, &mut obj, &uid);
    validate(state, t, &mut obj, q, None)?;
    if t.rt.namespaced {
        // What the NamespaceLifecycle admission plugin checks, after validation.
        let namespace = state
            .get(&(String::new(), "namespaces".into()), "", &ns)
            .ok_or_else(|| ApiError::not_found("namespaces", "", &ns))?;
        if meta_str(&namespace, "deletionTimestamp").is_some() {
            return Err(ApiError::with_code(
                403,
                format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    t.rt.plural,
                ),
            ));
        }
    }
    if state.contains(&t.rt.key(), &ns, &name) {
        return Err(ApiError::already_exists(&t.rt.plural, &t.rt.group, &name));
    }
    if is_builtin(t, "Service") {
        network::allocate(state, &mut obj)?;
    }
    set_meta(&mut obj, "uid", json!(uid));
    set_meta(&mut obj, "creationTimestamp", json!(now()));
    set_meta(&mut obj, "resourceVersion", Value::Null);
    set_meta(&mut obj, "deletionTimestamp", Value::Null);
    set_meta(&mut obj, "deletionGracePeriodSeconds", Value::Null);
    set_meta(
        &mut obj,
        "generation",
        if kinds::tracks_generation(&t.rt) {
            json!(1)
        } else {
            Value::Null
        },
    );
    if track {
        let time = now();
        let manager = q.manager();
        let who = patch::Updater {
            manager: &manager,
            subresource: None,
            now: &time,
        };
        patch::record_update(None, &mut obj, &who);
    }
    limits::object_fits(&obj)?;
    if q.dry_run() {
        return Ok(present(&obj, t));
    }
    let obj = convert::to_storage(&t.rt, obj);
    let stored = state.insert(&t.rt.key(), obj);
    if t.rt.kind == CRD_KIND && !t.rt.custom {
        register_crd(state, &stored);
    }
    Ok(present(&stored, t))
}

/// Whether two objects are equal outside the top-level fields `skip` names and, within
/// metadata, outside the fields `skip_meta` names; nothing is copied.
fn same_except(
    a: &Value,
    b: &Value,
    skip: impl Fn(&str) -> bool,
    skip_meta: impl Fn(&str) -> bool,
) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let meta_eq = |x: &Value, y: &Value| match (x.as_object(), y.as_object()) {
        (Some(x), Some(y)) => x
            .iter()
            .filter(|(k, _)| !skip_meta(k))
            .eq(y.iter().filter(|(k, _)| !skip_meta(k))),
        _ => x == y,
    };
    let mut left = a.iter().filter(|(k, _)| !skip(k));
    let mut right = b.iter().filter(|(k, _)| !skip(k));
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            (Some((ka, va)), Some((kb, vb))) if ka == kb => {
                let equal = if ka == "metadata" {
                    meta_eq(va, vb)
                } else {
                    va == vb
                };
                if !equal {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Whether two objects have the same spec: everything but metadata (and status, when a
/// status subresource isolates it).
fn same_spec(a: &Value, b: &Value, status_isolated: bool) -> bool {
    same_except(
        a,
        b,
        |k| k == "metadata" || (status_isolated && k == "status"),
        |_| false,
    )
}

/// Whether two objects are the same but for their resourceVersion.
fn same_but_rv(a: &Value, b: &Value) -> bool {
    same_except(a, b, |_| false, |k| k == "resourceVersion")
}

/// PUT: replaces an object (or its status, for `/status`); 409 Conflict on a stale resourceVersion.
pub fn update(server: &Arc<Server>, t: &Target, obj: Value, q: &Query) -> Result<Value, ApiError> {
    decodes(t, &obj)?;
    let mut state = server.lock();
    let current = state
        .get(&t.rt.key(), t.ns(), t.name())
        .ok_or_else(|| ApiError::not_found(&t.rt.plural, &t.rt.group, t.name()))?;
    // The uid of a PUT body is a precondition, checked by the storage layer.
    if let Some(uid) = meta_str(&obj, "uid").filter(|u| !u.is_empty())
        && Some(uid) != meta_str(&current, "uid")
    {
        let key = if t.rt.group.is_empty() || !t.rt.custom {
            format!("/registry/{}/{}", t.rt.plural, t.ns())
        } else {
            format!("/registry/{}/{}/{}", t.rt.group, t.rt.plural, t.ns())
        };
        let key = format!("{}/{}", key.trim_end_matches('/'), t.name());
        return Err(ApiError::conflict_with(
            &t.rt.plural,
            &t.rt.group,
            t.name(),
            format!(
                "Operation cannot be fulfilled on {} \"{}\": StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                super::error::qualified(&t.rt.plural, &t.rt.group),
                t.name(),
                meta_str(&current, "uid").unwrap_or_default()
            ),
        ));
    }
    let out = update_locked(&mut state, t, &current, obj, q, Some(t.sub.as_deref()))?;
    server.notify(state.rv);
    Ok(out)
}

/// The update pipeline shared by PUT and PATCH, with the state locked.
///
/// `track`: `Some(subresource)` to record the writer as an `Update` manager of that subresource
/// (`Some(None)` for the main resource); None for an apply, which recorded itself.
pub fn update_locked(
    state: &mut State,
    t: &Target,
    current: &Value,
    mut new: Value,
    q: &Query,
    track: Option<Option<&str>>,
) -> Result<Value, ApiError> {
    check_kind(&new, t)?;
    let name = t.name().to_string();
    if let Some(n) = meta_str(&new, "name")
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(rv) = meta_str(&new, "resourceVersion").filter(|rv| !rv.is_empty())
        && Some(rv) != meta_str(current, "resourceVersion")
    {
        return Err(ApiError::conflict(&t.rt.plural, &t.rt.group, &name));
    }
    if let Some(part) = t.sub.as_deref().and_then(subresource_part) {
        let taken = new.pointer(part).cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        new = current.clone();
        if let Some(mf) = managed {
            set_meta(&mut new, "managedFields", mf);
        }
        if part == "/status/conditions" {
            let time = now();
            let mut conditions = taken;
            for c in conditions
                .iter_mut()
                .filter_map(Value::as_array_mut)
                .flatten()
            {
                for field in ["lastUpdateTime", "lastTransitionTime"] {
                    if c.get(field).is_none_or(Value::is_null)
                        && let Some(m) = c.as_object_mut()
                    {
                        m.insert(field.into(), json!(time));
                    }
                }
            }
            put(&mut new, part, conditions);
        } else {
            put(&mut new, part, taken);
        }
    } else if t.rt.status_subresource
        && let Some(m) = new.as_object_mut()
    {
        match current.get("status") {
            Some(s) => m.insert("status".into(), s.clone()),
            None => m.remove("status"),
        };
    }
    if let Some(uid) = meta_str(&new, "uid").filter(|u| !u.is_empty())
        && Some(uid) != meta_str(current, "uid")
    {
        let c = cause(
            "FieldValueInvalid",
            "metadata.uid",
            format!("Invalid value: {uid:?}: field is immutable"),
        );
        return Err(ApiError::invalid(&t.rt.kind, &t.rt.group, &name, vec![c]));
    }
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
    ] {
        set_meta(
            &mut new,
            field,
            current
                .pointer(&format!("/metadata/{field}"))
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    if new.pointer("/metadata/managedFields").is_none()
        && let Some(mf) = current.pointer("/metadata/managedFields")
    {
        set_meta(&mut new, "managedFields", mf.clone());
    }
    if let Some(m) = new.as_object_mut() {
        m.insert("apiVersion".into(), json!(t.rt.api_version(&t.version)));
        m.insert("kind".into(), json!(t.rt.kind));
    }
    let deleting = meta_str(current, "deletionTimestamp").is_some();
    let fins = |o: &Value| -> Vec<Value> {
        o.pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let added: Vec<String> = fins(&new)
        .iter()
        .filter(|f| !fins(current).contains(f))
        .map(|f| format!("{:?}", f.as_str().unwrap_or_default()))
        .collect();
    if deleting && !added.is_empty() {
        let c = cause(
            "FieldValueForbidden",
            "metadata.finalizers",
            format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                added.join(", ")
            ),
        );
        return Err(ApiError::invalid(&t.rt.kind, &t.rt.group, &name, vec![c]));
    }
    if is_builtin(t, "Service") {
        network::keep_allocated(current, &mut new)?;
    }
    if is_builtin(t, "Namespace") {
        // Only the namespace controller's `finalize` subresource changes them.
        put(
            &mut new,
            "/spec/finalizers",
            current.pointer("/spec/finalizers").cloned(),
        );
    }
    validate(state, t, &mut new, q, Some(current))?;
    if t.sub.as_deref() == Some("ephemeralcontainers") {
        ephemeral_kept(t, current, &new)?;
    }
    if is_builtin(t, "RoleBinding") || is_builtin(t, "ClusterRoleBinding") {
        role_ref_kept(t, current, &new)?;
    }
    if is_builtin(t, "Service") {
        network::allocate(state, &mut new)?;
    }
    if let Some(subresource) = track {
        // Field ownership is recorded in the names of the version written (an events.k8s.io
        // write of a core Event owns `regarding`, not `involvedObject`).
        let time = now();
        let manager = q.manager();
        let who = patch::Updater {
            manager: &manager,
            subresource,
            now: &time,
        };
        let api_version = t.rt.api_version(&t.version);
        let served = present(current, t);
        convert::align_managed(&t.rt, &mut new, &api_version, true);
        patch::record_update(Some(&served), &mut new, &who);
        convert::align_managed(&t.rt, &mut new, &api_version, false);
    }
    limits::object_fits(&new)?;
    let mut new = convert::to_storage(&t.rt, new);
    if kinds::tracks_generation(&t.rt) && !same_spec(&new, current, t.rt.status_subresource) {
        let g = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        set_meta(&mut new, "generation", json!(g + 1));
    }
    if same_but_rv(&new, current) {
        return Ok(present(current, t));
    }
    if q.dry_run() {
        return Ok(present(&new, t));
    }
    if deleting && fins(&new).is_empty() {
        let last = gc::remove_as_and_collect(state, &t.rt.key(), t.ns(), &name, Some(new.clone()));
        return Ok(present(last.as_deref().unwrap_or(&new), t));
    }
    let stored = state.replace(&t.rt.key(), new);
    if t.rt.kind == CRD_KIND && !t.rt.custom {
        register_crd(state, &stored);
    }
    Ok(present(&stored, t))
}

/// PATCH: merge, JSON, strategic or apply patch; apply creates a missing object (201).
pub fn patch(
    server: &Arc<Server>,
    t: &Target,
    body: &[u8],
    content_type: &str,
    q: &Query,
) -> Result<(u16, Value), ApiError> {
    let kind = PatchKind::from_content_type(content_type)?;
    if kind == PatchKind::Strategic && t.rt.custom {
        return Err(ApiError::unsupported_media(
            "strategic merge patch is not supported for custom resources; use a merge or JSON patch",
        ));
    }
    let patch_body = parse_body(body, content_type)?;
    let name = t.name().to_string();
    let mut state = server.lock();
    let current = state.get(&t.rt.key(), t.ns(), &name);
    let manager = q.get("fieldManager").unwrap_or_default().to_string();
    if kind == PatchKind::Apply {
        if manager.is_empty() {
            let c = cause(
                "FieldValueRequired",
                "fieldManager",
                "Required value: is required for apply patch",
            );
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![c],
            ));
        }
        if let Some(n) = meta_str(&patch_body, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    let time = now();
    let who = patch::Applier {
        manager: &manager,
        force: q.flag("force"),
        now: &time,
        subresource: t.sub.as_deref(),
        plural_group: (&t.rt.plural, &t.rt.group),
        name: &name,
    };
    let applied = applied_part(&patch_body, t);
    let result = match (kind, current) {
        (PatchKind::Apply, None) if t.sub.is_none() => {
            let mut obj = patch::apply(None, &applied, &who)?;
            patched_decodes(t, &obj)?;
            set_meta(&mut obj, "name", json!(name));
            create_locked(&mut state, t, obj, q, false).map(|o| (201, o))
        }
        (_, None) => Err(ApiError::not_found(&t.rt.plural, &t.rt.group, &name)),
        (kind, Some(cur)) => {
            let mut new = present(&cur, t);
            match kind {
                PatchKind::Merge => patch::merge(&mut new, &patch_body),
                PatchKind::Json => patch::json(&mut new, &patch_body)?,
                PatchKind::Strategic => patch::strategic(&mut new, &patch_body),
                PatchKind::Apply => {
                    let api_version = t.rt.api_version(&t.version);
                    convert::align_managed(&t.rt, &mut new, &api_version, true);
                    new = patch::apply(Some(&new), &applied, &who)?;
                    convert::align_managed(&t.rt, &mut new, &api_version, false);
                }
            }
            patched_decodes(t, &new)?;
            let track = (kind != PatchKind::Apply).then_some(t.sub.as_deref());
            update_locked(&mut state, t, &cur, new, q, track).map(|o| (200, o))
        }
    };
    server.notify(state.rv);
    result
}

/// The part of an applied configuration a subresource takes: only status for `/status`;
/// everything but status on the main resource when a status subresource isolates it.
fn applied_part(applied: &Value, t: &Target) -> Value {
    let mut out = applied.clone();
    if let Some(m) = out.as_object_mut() {
        if t.sub.as_deref() == Some("status") {
            m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
            if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace"));
            }
        } else if t.rt.status_subresource {
            m.remove("status");
        }
    }
    out
}

fn delete_options(opts: &Value, q: &Query) -> (Propagation, bool) {
    let policy = q
        .get("propagationPolicy")
        .or_else(|| opts.get("propagationPolicy").and_then(Value::as_str));
    let orphan = opts.get("orphanDependents").and_then(Value::as_bool) == Some(true)
        || q.flag("orphanDependents");
    let dry = q.dry_run()
        || opts
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    (
        if orphan && policy.is_none() {
            Propagation::Orphan
        } else {
            Propagation::parse(policy)
        },
        dry,
    )
}

fn success_status(t: &Target, obj: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": meta_str(obj, "name"), "group": t.rt.group, "kind": t.rt.plural, "uid": meta_str(obj, "uid")}
    })
}

/// DELETE one object: finalizers defer it, propagationPolicy decides its dependents' fate.
pub fn delete(
    server: &Arc<Server>,
    t: &Target,
    opts: &Value,
    q: &Query,
) -> Result<Value, ApiError> {
    let (policy, dry) = delete_options(opts, q);
    let name = t.name().to_string();
    let mut state = server.lock();
    let cur = state
        .get(&t.rt.key(), t.ns(), &name)
        .ok_or_else(|| ApiError::not_found(&t.rt.plural, &t.rt.group, &name))?;
    for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        if let Some(want) = opts
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
        {
            let have = meta_str(&cur, field).unwrap_or_default();
            if want != have {
                return Err(ApiError::conflict_with(
                    &t.rt.plural,
                    &t.rt.group,
                    &name,
                    format!(
                        "Precondition failed: {label} in precondition: {want}, {label} in object meta: {have}"
                    ),
                ));
            }
        }
    }
    if dry {
        return Ok(present(&cur, t));
    }
    let out = gc::delete_object(&mut state, &t.rt.key(), t.ns(), &name, policy);
    server.notify(state.rv);
    Ok(match out {
        Some(Deleted::Pending(o)) => present(&o, t),
        Some(Deleted::Removed(o)) if t.rt.custom => present(&o, t),
        Some(Deleted::Removed(o)) => success_status(t, &o),
        None => success_status(t, &cur),
    })
}

/// DELETE a collection: deletes every object matching the selectors; answers the list of them.
pub fn delete_collection(server: &Arc<Server>, t: &Target, q: &Query) -> Result<Value, ApiError> {
    let sel = Selectors::from_query(q, t)?;
    let (policy, dry) = delete_options(&json!({}), q);
    let mut state = server.lock();
    let names: Vec<(String, String)> = state
        .objects
        .get(&t.rt.key())
        .map(|objs| {
            objs.iter()
                .filter(|((ns, _), o)| sel.matches_stored(ns, &o.view, t))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut items = Vec::new();
    for (ns, name) in names {
        if dry {
            if let Some(o) = state.get(&t.rt.key(), &ns, &name) {
                items.push(present(&o, t));
            }
            continue;
        }
        match gc::delete_object(&mut state, &t.rt.key(), &ns, &name, policy) {
            Some(Deleted::Pending(o) | Deleted::Removed(o)) => items.push(present(&o, t)),
            None => {}
        }
    }
    server.notify(state.rv);
    Ok(json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(&t.version),
        "metadata": {"resourceVersion": state.rv.to_string()},
        "items": items,
    }))
}

#[cfg(test)]
mod tests {
    use super::{same_but_rv, same_spec};
    use serde_json::json;

    #[test]
    fn a_spec_change_is_told_from_metadata_and_status_changes() {
        let a = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"r": 1}, "status": {"p": 1}});
        let relabelled = json!({"metadata": {"name": "a"}, "spec": {"r": 1}, "status": {"p": 2}});
        assert!(same_spec(&a, &relabelled, true));
        assert!(
            !same_spec(&a, &relabelled, false),
            "status is spec without a subresource"
        );
        let rescaled = json!({"metadata": {"name": "a"}, "spec": {"r": 2}, "status": {"p": 1}});
        assert!(!same_spec(&a, &rescaled, true));
        let extra =
            json!({"metadata": {"name": "a"}, "spec": {"r": 1}, "data": {}, "status": {"p": 1}});
        assert!(
            !same_spec(&a, &extra, true),
            "a new top-level field is a change"
        );
    }

    #[test]
    fn only_the_resource_version_is_ignored_when_nothing_changed() {
        let a = json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"r": 1}});
        let b = json!({"metadata": {"name": "a", "resourceVersion": "2"}, "spec": {"r": 1}});
        assert!(same_but_rv(&a, &b));
        let unversioned = json!({"metadata": {"name": "a"}, "spec": {"r": 1}});
        assert!(same_but_rv(&a, &unversioned));
        let labelled = json!({"metadata": {"name": "a", "labels": {"x": "1"}, "resourceVersion": "1"}, "spec": {"r": 1}});
        assert!(!same_but_rv(&a, &labelled));
        let changed = json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"r": 2}});
        assert!(!same_but_rv(&a, &changed));
    }
}
