//! The four patch types: JSON merge patch, JSON patch, strategic merge patch and a subset of
//! server-side apply (field ownership by manager, conflicts, force), and the `Update` entries
//! in managedFields that every other write records.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::limits::{MAX_JSON_PATCH_COPY, MAX_JSON_PATCH_OPS, json_size, too_many_patch_ops};

/// Which patch a request carries, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// The patch kind for a Content-Type header, or 415.
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchKind::Apply),
            other => Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
            ))),
        }
    }
}

/// Applies a JSON merge patch to `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Applies a JSON patch (a list of operations) to `target`. As in Kubernetes, a `test` of a
/// missing path against `null` passes (kube-runtime's finalizer helper relies on it).
pub fn json(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    })?;
    if ops.0.len() > MAX_JSON_PATCH_OPS {
        return Err(too_many_patch_ops(ops.0.len()));
    }
    // Each copy may double the document: their sizes add up against a bound, as
    // kube-apiserver bounds them, before anything is copied.
    let mut copied = 0usize;
    for op in &ops.0 {
        if let json_patch::PatchOperation::Copy(c) = op
            && let Some(from) = target.pointer(c.from.as_str())
        {
            let room = MAX_JSON_PATCH_COPY.saturating_sub(copied);
            match json_size(from, room) {
                Some(n) => copied += n,
                None => {
                    let size = json_size(from, usize::MAX).unwrap_or(usize::MAX);
                    return Err(ApiError::with_code(
                        422,
                        format!(
                            "the server rejected our request due to an error in our request: Unable to complete the copy, the accumulated size increase of copy is {}, exceeding the limit {MAX_JSON_PATCH_COPY}",
                            copied.saturating_add(size)
                        ),
                    ));
                }
            }
        }
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
            && target.pointer(t.path.as_str()).is_none_or(Value::is_null)
        {
            continue;
        }
        json_patch::patch(target, std::slice::from_ref(op)).map_err(|e| {
            ApiError::with_code(
                422,
                format!("the server rejected our request due to an error in our request: {e}"),
            )
        })?;
    }
    Ok(())
}

/// The merge key of a list field in strategic merge patch and apply, if it is a keyed list.
pub fn list_merge_key(field: &str, sample: &Value) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" if sample.get("containerPort").is_some() => Some("containerPort"),
        "ports" => Some("port"),
        _ => None,
    }
}

/// Lists of scalars that strategic merge patch merges as sets rather than replaces.
pub fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch: maps merge, keyed lists merge by key, `$patch: delete`
/// removes a keyed element, `$patch: replace` replaces a map or list, `null` removes a field,
/// and `$deleteFromPrimitiveList/<field>` removes scalars from a list.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => {
                if v.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(k);
                } else {
                    strategic(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            Value::Array(items) => {
                let merged = merge_list(k, t.get(k), items);
                t.insert(k.clone(), merged);
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
}

fn merge_list(field: &str, current: Option<&Value>, items: &[Value]) -> Value {
    let replace = items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let patch_items: Vec<&Value> = items
        .iter()
        .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("replace"))
        .collect();
    let cur: Vec<Value> = match current {
        Some(Value::Array(a)) if !replace => a.clone(),
        _ => Vec::new(),
    };
    if is_set_list(field) {
        let mut out = cur;
        for i in patch_items {
            if !out.contains(i) {
                out.push(i.clone());
            }
        }
        return Value::Array(out);
    }
    let key = patch_items
        .first()
        .and_then(|s| list_merge_key(field, s))
        .or_else(|| cur.first().and_then(|s| list_merge_key(field, s)));
    let Some(key) = key else {
        return Value::Array(patch_items.iter().map(|v| strip_directives(v)).collect());
    };
    let mut out = cur;
    for item in patch_items {
        let id = item.get(key);
        let pos = out
            .iter()
            .position(|e| e.get(key).is_some() && e.get(key) == id);
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(p) = pos {
                out.remove(p);
            }
            continue;
        }
        match pos {
            Some(p) => strategic(&mut out[p], item),
            None => out.push(strip_directives(item)),
        }
    }
    Value::Array(out)
}

/// A field path owned by a manager: segments like `f:spec`, `f:replicas`, `k:{"name":"app"}`.
type FieldPath = Vec<String>;

/// Whether the key `k` under `prefix` is left out of field ownership: `apiVersion` and
/// `kind`, and the server-owned parts of `metadata`.
fn unowned(prefix: &[String], k: &str) -> bool {
    (prefix.is_empty() && (k == "apiVersion" || k == "kind"))
        || (prefix.len() == 1
            && prefix[0] == "f:metadata"
            && !matches!(
                k,
                "labels" | "annotations" | "finalizers" | "ownerReferences"
            ))
}

/// Collects the leaf field paths of an applied configuration.
fn leaf_paths(v: &Value, field: &str, prefix: &mut FieldPath, out: &mut Vec<FieldPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if unowned(prefix, k) {
                    continue;
                }
                prefix.push(format!("f:{k}"));
                leaf_paths(child, k, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items)
            if items
                .first()
                .and_then(|s| list_merge_key(field, s))
                .is_some() =>
        {
            let key = items
                .first()
                .and_then(|s| list_merge_key(field, s))
                .unwrap_or("name");
            for item in items {
                let id = item.get(key).cloned().unwrap_or(Value::Null);
                prefix.push(format!("k:{}", json!({ key: id })));
                leaf_paths(item, "", prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

/// The two sides of a write, for [`diff_leaves`].
struct Sides<'a> {
    before: &'a Value,
    new: &'a Value,
}

/// The leaf paths under `prefix` whose value differs between the two sides (added or
/// changed in `new`), and whether a leaf of `before` under `prefix` is gone from `new`: what
/// comparing every leaf path of both objects gives, without walking subtrees that are equal.
/// `before` and `new` are the values at `prefix`.
fn diff_leaves(
    sides: &Sides<'_>,
    before: Option<&Value>,
    new: &Value,
    field: &str,
    prefix: &mut FieldPath,
    changed: &mut Vec<FieldPath>,
    removed: &mut bool,
) {
    if before == Some(new) {
        return;
    }
    if let (Some(Value::Object(b)), Value::Object(n)) = (before, new)
        && !b.is_empty()
        && !n.is_empty()
    {
        for (k, child) in n {
            if unowned(prefix, k) {
                continue;
            }
            prefix.push(format!("f:{k}"));
            diff_leaves(sides, b.get(k), child, k, prefix, changed, removed);
            prefix.pop();
        }
        for (k, old) in b {
            if *removed || unowned(prefix, k) || n.contains_key(k) {
                continue;
            }
            prefix.push(format!("f:{k}"));
            let mut gone = Vec::new();
            leaf_paths(old, k, prefix, &mut gone);
            prefix.pop();
            *removed = !gone.is_empty();
        }
        return;
    }
    // Anything else (a list, a scalar, a change of shape): compare path by path.
    let mut paths = Vec::new();
    leaf_paths(new, field, prefix, &mut paths);
    changed.extend(
        paths
            .into_iter()
            .filter(|p| get_path(sides.before, p) != get_path(sides.new, p)),
    );
    if let Some(before) = before
        && !*removed
    {
        let mut old = Vec::new();
        leaf_paths(before, field, prefix, &mut old);
        *removed = old.iter().any(|p| get_path(sides.new, p).is_none());
    }
}

/// The value at a field path, if present.
fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = step(cur, seg)?;
    }
    Some(cur)
}

fn step<'a>(v: &'a Value, seg: &str) -> Option<&'a Value> {
    if let Some(f) = seg.strip_prefix("f:") {
        return v.get(f);
    }
    let key: Value = serde_json::from_str(seg.strip_prefix("k:")?).ok()?;
    let (k, id) = key.as_object()?.iter().next()?;
    v.as_array()?.iter().find(|e| e.get(k) == Some(id))
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parent {
        let next = if let Some(f) = seg.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            let Some(key) = seg
                .strip_prefix("k:")
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
            else {
                return;
            };
            let Some((k, id)) = key
                .as_object()
                .and_then(|o| o.iter().next())
                .map(|(k, v)| (k.clone(), v.clone()))
            else {
                return;
            };
            cur.as_array_mut()
                .and_then(|a| a.iter_mut().find(|e| e.get(&k) == Some(&id)))
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(key) = last
        .strip_prefix("k:")
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        && let Some((k, id)) = key.as_object().and_then(|o| o.iter().next())
        && let Some(a) = cur.as_array_mut()
    {
        a.retain(|e| e.get(k) != Some(id));
    }
}

/// Renders paths as a `fieldsV1` tree.
fn to_fields_v1(paths: &[FieldPath]) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            let next = cur
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            match next.as_object_mut() {
                Some(m) => cur = m,
                None => break,
            }
        }
    }
    Value::Object(root)
}

/// Reads a `fieldsV1` tree back into leaf paths.
fn from_fields_v1(v: &Value, prefix: &mut FieldPath, out: &mut Vec<FieldPath>) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            for (k, child) in m {
                if k == "." {
                    continue;
                }
                prefix.push(k.clone());
                from_fields_v1(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.push(prefix.clone());
            }
        }
    }
}

fn managed_paths(entry: &Value) -> Vec<FieldPath> {
    let mut out = Vec::new();
    if let Some(f) = entry.get("fieldsV1") {
        from_fields_v1(f, &mut Vec::new(), &mut out);
    }
    out
}

/// Who applies, and where: the parameters of a server-side apply.
#[derive(Debug, Clone)]
pub struct Applier<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// Whether to take over fields other managers own.
    pub force: bool,
    /// The time recorded in managedFields.
    pub now: &'a str,
    /// `Some("status")` for an apply to the status subresource.
    pub subresource: Option<&'a str>,
    /// The resource's plural and group, for conflict messages.
    pub plural_group: (&'a str, &'a str),
    /// The object's name, for conflict messages.
    pub name: &'a str,
}

/// Server-side apply of `applied` onto `current` (None when the object is new).
///
/// Field ownership is tracked per manager, operation and subresource in
/// `metadata.managedFields`. Another entry's field (Apply or Update, any manager but this
/// manager's Apply entry for the same subresource) given a different value is a conflict
/// unless `force`, which takes the field (or unless the manager is `kubectl` and the field is in
/// the object's last-applied-configuration annotation, as Kubernetes allows); fields
/// this manager applied before (to the same subresource) and omits now are removed when no
/// other manager owns them.
pub fn apply(
    current: Option<&Value>,
    applied: &Value,
    who: &Applier<'_>,
) -> Result<Value, ApiError> {
    let Applier {
        manager,
        force,
        now,
        subresource,
        plural_group,
        name,
    } = who.clone();
    let mut new_paths = Vec::new();
    leaf_paths(applied, "", &mut Vec::new(), &mut new_paths);
    let api_version = applied.get("apiVersion").cloned().unwrap_or(Value::Null);
    let mut result = current.cloned().unwrap_or_else(|| json!({}));
    let managed: Vec<Value> = result
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Kubernetes lets the manager `kubectl` take over, without force, the fields of a
    // client-side `kubectl apply` listed in the last-applied-configuration annotation.
    let mut allowed = Vec::new();
    if manager == "kubectl"
        && let Some(last) = result
            .pointer("/metadata/annotations")
            .and_then(|a| a.get("kubectl.kubernetes.io/last-applied-configuration"))
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        leaf_paths(&last, "", &mut Vec::new(), &mut allowed);
    }
    let mut entries = Vec::new();
    let mut mine_before: Vec<FieldPath> = Vec::new();
    let mut conflicts = Vec::new();
    for entry in managed {
        let m = entry
            .get("manager")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let op = entry
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let sub = entry.get("subresource").and_then(Value::as_str);
        if m == manager && op == "Apply" && sub == subresource {
            mine_before = managed_paths(&entry);
            continue;
        }
        let mut theirs = managed_paths(&entry);
        {
            let overlapping: Vec<FieldPath> = theirs
                .iter()
                .filter(|p| new_paths.contains(p))
                .cloned()
                .collect();
            for p in &overlapping {
                if get_path(&result, p) != get_path(applied, p) {
                    if force || allowed.contains(p) {
                        theirs.retain(|q| q != p);
                    } else {
                        let using = if op == "Apply" {
                            String::new()
                        } else {
                            format!(
                                " using {}",
                                entry
                                    .get("apiVersion")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                            )
                        };
                        conflicts.push(format!(
                            "conflict with \"{m}\"{using}: .{}",
                            p.iter()
                                .map(|s| s.trim_start_matches("f:"))
                                .collect::<Vec<_>>()
                                .join(".")
                        ));
                    }
                }
            }
        }
        entries.push((entry, theirs));
    }
    if !conflicts.is_empty() {
        let (plural, group) = plural_group;
        return Err(ApiError::conflict_with(
            plural,
            group,
            name,
            format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                conflicts.join(", ")
            ),
        ));
    }
    for p in &mine_before {
        let owned_by_other = entries.iter().any(|(_, theirs)| theirs.contains(p));
        if !new_paths.contains(p) && !owned_by_other {
            remove_path(&mut result, p);
        }
    }
    strategic(&mut result, applied);
    let mut managed_out: Vec<Value> = entries
        .into_iter()
        .filter(|(_, theirs)| !theirs.is_empty())
        .map(|(mut entry, theirs)| {
            if let Some(o) = entry.as_object_mut() {
                o.insert("fieldsV1".into(), to_fields_v1(&theirs));
            }
            entry
        })
        .collect();
    let mut entry = json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(&new_paths),
    });
    if let Some(sub) = subresource {
        entry["subresource"] = json!(sub);
    }
    managed_out.push(entry);
    if let Some(meta) = result
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        meta.insert("managedFields".into(), Value::Array(managed_out));
    }
    Ok(result)
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn strategic_merges_containers_by_name_and_deletes() {
        let mut t = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ]}});
        strategic(
            &mut t,
            &json!({"spec": {"containers": [
                {"name": "a", "env": [{"name": "Y", "value": "2"}]},
                {"name": "b", "$patch": "delete"},
                {"name": "c", "image": "c:1"}
            ]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "c", "image": "c:1"}
            ]}})
        );
    }

    #[test]
    fn strategic_directives_replace_and_delete_from_primitive_lists() {
        let mut t = json!({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
                           "spec": {"volumes": [{"name": "v1"}, {"name": "v2"}], "args": ["--a"]}});
        strategic(
            &mut t,
            &json!({
                "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"$patch": "replace", "z": "3"}},
                "spec": {"volumes": [{"$patch": "replace"}, {"name": "v3"}], "args": ["--b"], "$setElementOrder/volumes": [{"name": "v3"}]}
            }),
        );
        assert_eq!(
            t,
            json!({"metadata": {"finalizers": ["b", "c"], "labels": {"z": "3"}},
                   "spec": {"volumes": [{"name": "v3"}], "args": ["--b"]}})
        );
    }

    fn who(manager: &str, force: bool) -> Applier<'_> {
        Applier {
            manager,
            force,
            now: "t",
            subresource: None,
            plural_group: ("x", "g"),
            name: "n",
        }
    }

    #[test]
    fn apply_conflicts_with_other_manager_unless_forced() {
        let first = apply(None, &json!({"spec": {"replicas": 1}}), &who("a", false)).unwrap();
        let err = apply(
            Some(&first),
            &json!({"spec": {"replicas": 2}}),
            &who("b", false),
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        let forced = apply(
            Some(&first),
            &json!({"spec": {"replicas": 2}}),
            &who("b", true),
        )
        .unwrap();
        assert_eq!(forced.pointer("/spec/replicas"), Some(&json!(2)));
        let managers: Vec<&str> = forced
            .pointer("/metadata/managedFields")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, vec!["b"]);
    }

    #[test]
    fn apply_removes_fields_the_manager_stopped_applying() {
        let first = apply(
            None,
            &json!({"data": {"a": "1", "b": "2"}}),
            &who("m", false),
        )
        .unwrap();
        let second = apply(Some(&first), &json!({"data": {"a": "1"}}), &who("m", false)).unwrap();
        assert_eq!(second.get("data"), Some(&json!({"a": "1"})));
    }
}
