//! Kind-specific rules of built-in kinds: defaults, validation, initial status, generation.

use serde_json::{Value, json};

use super::error::{FieldCause, cause};
use super::registry::ResourceType;

/// Whether the kind tracks `metadata.generation` (spec/status kinds and custom resources).
pub fn tracks_generation(rt: &ResourceType) -> bool {
    rt.custom
        || matches!(
            rt.kind.as_str(),
            "Deployment"
                | "ReplicaSet"
                | "StatefulSet"
                | "DaemonSet"
                | "HorizontalPodAutoscaler"
                | "PodDisruptionBudget"
                | "Pod"
                | "CustomResourceDefinition"
        )
}

/// Whether `name` is a valid DNS-1123 subdomain (the rule for most object names).
pub fn valid_name(name: &str) -> bool {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !name.is_empty()
        && name.len() <= 253
        && ok_chars
        && ends(name.chars().next())
        && ends(name.chars().last())
}

fn set_default(obj: &mut Value, pointer: &str, value: Value) {
    if obj.pointer(pointer).is_some() {
        return;
    }
    let mut cur = obj;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert(p.to_string(), value);
            return;
        }
        cur = map.entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

/// Fills the defaults the real API server sets for a built-in kind.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    if rt.custom {
        return;
    }
    match rt.kind.as_str() {
        "Deployment" => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(obj, "/spec/progressDeadlineSeconds", json!(600));
            set_default(obj, "/spec/strategy/type", json!("RollingUpdate"));
            if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("RollingUpdate") {
                set_default(obj, "/spec/strategy/rollingUpdate/maxSurge", json!("25%"));
                set_default(
                    obj,
                    "/spec/strategy/rollingUpdate/maxUnavailable",
                    json!("25%"),
                );
            }
            pod_template_defaults(obj, "/spec/template/spec");
        }
        "ReplicaSet" => {
            set_default(obj, "/spec/replicas", json!(1));
            pod_template_defaults(obj, "/spec/template/spec");
        }
        "StatefulSet" => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
            set_default(obj, "/spec/updateStrategy/type", json!("RollingUpdate"));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            pod_template_defaults(obj, "/spec/template/spec");
        }
        "DaemonSet" => {
            set_default(obj, "/spec/updateStrategy/type", json!("RollingUpdate"));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            pod_template_defaults(obj, "/spec/template/spec");
        }
        "Pod" => pod_template_defaults(obj, "/spec"),
        "Secret"
            if obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty) =>
        {
            if let Some(m) = obj.as_object_mut() {
                m.insert("type".into(), json!("Opaque"));
            }
        }
        "PersistentVolumeClaim" => set_default(obj, "/spec/volumeMode", json!("Filesystem")),
        "Namespace" => set_default(obj, "/spec/finalizers", json!(["kubernetes"])),
        "HorizontalPodAutoscaler" => set_default(obj, "/spec/minReplicas", json!(1)),
        _ => {}
    }
}

fn pod_template_defaults(obj: &mut Value, spec: &str) {
    if obj.pointer(spec).is_none() {
        return;
    }
    set_default(obj, &format!("{spec}/restartPolicy"), json!("Always"));
    set_default(obj, &format!("{spec}/dnsPolicy"), json!("ClusterFirst"));
    set_default(
        obj,
        &format!("{spec}/schedulerName"),
        json!("default-scheduler"),
    );
    set_default(
        obj,
        &format!("{spec}/terminationGracePeriodSeconds"),
        json!(30),
    );
    if let Some(containers) = obj
        .pointer_mut(&format!("{spec}/containers"))
        .and_then(Value::as_array_mut)
    {
        for c in containers {
            set_default(c, "/imagePullPolicy", json!("IfNotPresent"));
            set_default(c, "/terminationMessagePath", json!("/dev/termination-log"));
            set_default(c, "/terminationMessagePolicy", json!("File"));
        }
    }
}

fn containers_valid(obj: &Value, spec: &str, causes: &mut Vec<FieldCause>) {
    let field = format!(
        "{}.containers",
        spec.trim_start_matches('/').replace('/', ".")
    );
    match obj
        .pointer(&format!("{spec}/containers"))
        .and_then(Value::as_array)
    {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(cause(
                        "FieldValueRequired",
                        &format!("{field}[{i}].name"),
                        "Required value",
                    ));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(cause(
                        "FieldValueRequired",
                        &format!("{field}[{i}].image"),
                        "Required value",
                    ));
                }
            }
        }
        _ => causes.push(cause("FieldValueRequired", &field, "Required value")),
    }
}

fn workload_valid(obj: &Value, causes: &mut Vec<FieldCause>) {
    let Some(selector) = obj.pointer("/spec/selector") else {
        causes.push(cause(
            "FieldValueRequired",
            "spec.selector",
            "Required value",
        ));
        return;
    };
    containers_valid(obj, "/spec/template/spec", causes);
    let sel = super::selector::LabelSelector::from_object(selector);
    if sel.is_empty() {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.selector",
            "Invalid value: empty selector is invalid for deployment",
        ));
    }
    let template = json!({"metadata": {"labels": obj.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}))}});
    if !sel.matches(&template) {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.template.metadata.labels",
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                template["metadata"]["labels"]
            ),
        ));
    }
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
        && r < 0
    {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.replicas",
            format!("Invalid value: {r}: must be greater than or equal to 0"),
        ));
    }
}

/// Validates a built-in object; each problem is a field cause (422 Invalid).
pub fn validate(rt: &ResourceType, obj: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    if rt.custom {
        return causes;
    }
    match rt.kind.as_str() {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            workload_valid(obj, &mut causes)
        }
        "Pod" => containers_valid(obj, "/spec", &mut causes),
        "HorizontalPodAutoscaler" => {
            if obj.pointer("/spec/scaleTargetRef/name").is_none() {
                causes.push(cause(
                    "FieldValueRequired",
                    "spec.scaleTargetRef.name",
                    "Required value",
                ));
            }
            if obj
                .pointer("/spec/maxReplicas")
                .and_then(Value::as_i64)
                .is_none()
            {
                causes.push(cause(
                    "FieldValueRequired",
                    "spec.maxReplicas",
                    "Required value",
                ));
            }
        }
        "CustomResourceDefinition" => {
            if let Err(e) = super::registry::from_crd(obj) {
                let (field, msg) = e.split_once(": ").unwrap_or(("spec", e.as_str()));
                causes.push(cause("FieldValueRequired", field, msg.to_string()));
            } else {
                let expected = format!(
                    "{}.{}",
                    obj.pointer("/spec/names/plural")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    obj.pointer("/spec/group")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                );
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if name != expected {
                    causes.push(cause(
                        "FieldValueInvalid",
                        "metadata.name",
                        format!(
                            "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
    causes
}

/// The status a new object of a built-in kind starts with (status is not client-settable on create).
pub fn initial_status(rt: &ResourceType, obj: &Value) -> Option<Value> {
    match rt.kind.as_str() {
        "Pod" => Some(json!({"phase": "Pending", "qosClass": "BestEffort"})),
        "Namespace" => Some(json!({"phase": "Active"})),
        "PersistentVolumeClaim" => Some(json!({"phase": "Pending"})),
        "Node" => obj.get("status").cloned(),
        "CustomResourceDefinition" => {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let stored: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                        .filter_map(|v| v.get("name").cloned())
                        .collect()
                })
                .unwrap_or_default();
            Some(json!({
                "acceptedNames": names,
                "storedVersions": stored,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
                ]
            }))
        }
        _ if rt.status_subresource => None,
        _ => obj.get("status").cloned(),
    }
}

/// Whether an object's `status.conditions` has `type_` with status "True" (Pod Ready, Node Ready).
pub fn condition_true(obj: &Value, type_: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
}
