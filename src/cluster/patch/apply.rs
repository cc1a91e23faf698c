//! Server-side apply: field ownership by manager, conflicts and force.

use serde_json::{Value, json};

use super::managed::{FieldPath, get_path, leaf_paths, managed_paths, remove_path, to_fields_v1};
use super::strategic::strategic;
use crate::cluster::error::ApiError;

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
