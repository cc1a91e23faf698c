//! `meta.k8s.io/v1` Table renderings (what `kubectl get` prints): per-kind columns for built-in
//! kinds, `additionalPrinterColumns` (simple JSONPath) for custom resources.

use serde_json::{Value, json};

use super::server::{Query, Target};
use super::store::{State, meta_str};

/// A column: header, type, priority (0 default view, 1 wide).
struct Col(&'static str, &'static str, i64);

fn columns(kind: &str) -> Vec<Col> {
    let age = Col("Age", "string", 0);
    let name = Col("Name", "string", 0);
    match kind {
        "Pod" => vec![
            name,
            Col("Ready", "string", 0),
            Col("Status", "string", 0),
            Col("Restarts", "string", 0),
            age,
            Col("IP", "string", 1),
            Col("Node", "string", 1),
        ],
        "Deployment" => vec![
            name,
            Col("Ready", "string", 0),
            Col("Up-to-date", "integer", 0),
            Col("Available", "integer", 0),
            age,
            Col("Containers", "string", 1),
            Col("Images", "string", 1),
            Col("Selector", "string", 1),
        ],
        "ReplicaSet" => vec![
            name,
            Col("Desired", "integer", 0),
            Col("Current", "integer", 0),
            Col("Ready", "integer", 0),
            age,
        ],
        "StatefulSet" => vec![name, Col("Ready", "string", 0), age],
        "DaemonSet" => vec![
            name,
            Col("Desired", "integer", 0),
            Col("Current", "integer", 0),
            Col("Ready", "integer", 0),
            Col("Up-to-date", "integer", 0),
            Col("Available", "integer", 0),
            Col("Node Selector", "string", 0),
            age,
        ],
        "Node" => vec![
            name,
            Col("Status", "string", 0),
            Col("Roles", "string", 0),
            age,
            Col("Version", "string", 0),
        ],
        "Namespace" => vec![name, Col("Status", "string", 0), age],
        "ConfigMap" => vec![name, Col("Data", "integer", 0), age],
        "Secret" => vec![
            name,
            Col("Type", "string", 0),
            Col("Data", "integer", 0),
            age,
        ],
        "PersistentVolumeClaim" => vec![
            name,
            Col("Status", "string", 0),
            Col("Volume", "string", 0),
            Col("Capacity", "string", 0),
            Col("Access Modes", "string", 0),
            Col("StorageClass", "string", 0),
            age,
        ],
        "HorizontalPodAutoscaler" => vec![
            name,
            Col("Reference", "string", 0),
            Col("Targets", "string", 0),
            Col("MinPods", "string", 0),
            Col("MaxPods", "integer", 0),
            Col("Replicas", "integer", 0),
            age,
        ],
        "Event" => vec![
            Col("Last Seen", "string", 0),
            Col("Type", "string", 0),
            Col("Reason", "string", 0),
            Col("Object", "string", 0),
            Col("Message", "string", 0),
        ],
        "Lease" => vec![name, Col("Holder", "string", 0), age],
        "PodDisruptionBudget" => vec![
            name,
            Col("Min Available", "string", 0),
            Col("Max Unavailable", "string", 0),
            Col("Allowed Disruptions", "integer", 0),
            age,
        ],
        "CustomResourceDefinition" => vec![name, Col("Created At", "date", 0)],
        "Service" => vec![
            name,
            Col("Type", "string", 0),
            Col("Cluster-IP", "string", 0),
            Col("External-IP", "string", 0),
            Col("Port(s)", "string", 0),
            age,
            Col("Selector", "string", 1),
        ],
        "Job" => vec![
            name,
            Col("Status", "string", 0),
            Col("Completions", "string", 0),
            Col("Duration", "string", 0),
            age,
        ],
        "ComponentStatus" => vec![
            name,
            Col("Status", "string", 0),
            Col("Message", "string", 0),
            Col("Error", "string", 0),
        ],
        "CertificateSigningRequest" => vec![
            name,
            age,
            Col("SignerName", "string", 0),
            Col("Requestor", "string", 0),
            Col("RequestedDuration", "string", 0),
            Col("Condition", "string", 0),
        ],
        "RoleBinding" | "ClusterRoleBinding" => vec![name, Col("Role", "string", 0), age],
        "APIService" => vec![
            name,
            Col("Service", "string", 0),
            Col("Available", "string", 0),
            age,
        ],
        _ => vec![name, age],
    }
}

fn service_ports(o: &Value) -> String {
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let node = p
                .get("nodePort")
                .and_then(Value::as_i64)
                .map(|n| format!(":{n}"))
                .unwrap_or_default();
            format!("{}{node}/{}", int(p, "/port"), text(p, "/protocol"))
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

fn job_status(o: &Value) -> String {
    let conditions = o.pointer("/status/conditions").and_then(Value::as_array);
    let has = |t: &str| {
        conditions.is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if o.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        "Suspended"
    } else {
        "Running"
    }
    .into()
}

/// kubectl's short human duration ("42s", "5m3s", "3h", "2d4h").
pub fn human_age(secs: i64) -> String {
    let (s, m, h, d) = (secs, secs / 60, secs / 3600, secs / 86400);
    if secs < 0 {
        "0s".into()
    } else if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

fn age_of(ts: Option<&str>) -> String {
    let Some(ts) = ts else {
        return "<unknown>".into();
    };
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => human_age(jiff::Timestamp::now().as_second() - t.as_second()),
        Err(_) => "<unknown>".into(),
    }
}

fn int(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn text(obj: &Value, ptr: &str) -> String {
    match obj.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn or_none(s: String) -> Value {
    json!(if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    })
}

fn count(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr)
        .and_then(Value::as_object)
        .map(|m| m.len() as i64)
        .unwrap_or(0)
}

fn builtin_cells(kind: &str, o: &Value) -> Vec<Value> {
    let name = json!(meta_str(o, "name").unwrap_or_default());
    let age = json!(age_of(meta_str(o, "creationTimestamp")));
    match kind {
        "Pod" => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            let ready = statuses
                .iter()
                .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
                .sum();
            let status = if meta_str(o, "deletionTimestamp").is_some() {
                "Terminating".to_string()
            } else {
                // As kubectl prints it: a container's waiting or terminated reason wins.
                let container_reason = statuses.iter().find_map(|s| {
                    ["/state/waiting/reason", "/state/terminated/reason"]
                        .iter()
                        .find_map(|p| {
                            s.pointer(p)
                                .and_then(Value::as_str)
                                .filter(|r| !r.is_empty())
                        })
                });
                let reason = text(o, "/status/reason");
                match container_reason {
                    Some(r) => r.to_string(),
                    None if reason.is_empty() => text(o, "/status/phase"),
                    None => reason,
                }
            };
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
                age,
                or_none(text(o, "/status/podIP")),
                or_none(text(o, "/spec/nodeName")),
            ]
        }
        "Deployment" => {
            let containers = o
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let names: Vec<String> = containers.iter().map(|c| text(c, "/name")).collect();
            let images: Vec<String> = containers.iter().map(|c| text(c, "/image")).collect();
            let sel = o
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                )),
                json!(int(o, "/status/updatedReplicas")),
                json!(int(o, "/status/availableReplicas")),
                age,
                json!(names.join(",")),
                json!(images.join(",")),
                json!(sel),
            ]
        }
        "ReplicaSet" => vec![
            name,
            json!(int(o, "/spec/replicas")),
            json!(int(o, "/status/replicas")),
            json!(int(o, "/status/readyReplicas")),
            age,
        ],
        "StatefulSet" => vec![
            name,
            json!(format!(
                "{}/{}",
                int(o, "/status/readyReplicas"),
                int(o, "/spec/replicas")
            )),
            age,
        ],
        "DaemonSet" => vec![
            name,
            json!(int(o, "/status/desiredNumberScheduled")),
            json!(int(o, "/status/currentNumberScheduled")),
            json!(int(o, "/status/numberReady")),
            json!(int(o, "/status/updatedNumberScheduled")),
            json!(int(o, "/status/numberAvailable")),
            or_none(
                o.pointer("/spec/template/spec/nodeSelector")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default(),
            ),
            age,
        ],
        "Node" => {
            let ready = super::kinds::condition_true(o, "Ready");
            let mut status = if ready {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            };
            if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<String> = o
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| {
                    l.keys()
                        .filter_map(|k| {
                            k.strip_prefix("node-role.kubernetes.io/")
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name,
                json!(status),
                or_none(roles.join(",")),
                age,
                json!(text(o, "/status/nodeInfo/kubeletVersion")),
            ]
        }
        "Namespace" => vec![name, json!(text(o, "/status/phase")), age],
        "ConfigMap" => vec![
            name,
            json!(count(o, "/data") + count(o, "/binaryData")),
            age,
        ],
        "Secret" => vec![name, json!(text(o, "/type")), json!(count(o, "/data")), age],
        "PersistentVolumeClaim" => {
            let modes: Vec<String> = o
                .pointer("/status/accessModes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|m| match m {
                            "ReadWriteOnce" => "RWO".to_string(),
                            "ReadOnlyMany" => "ROX".to_string(),
                            "ReadWriteMany" => "RWX".to_string(),
                            "ReadWriteOncePod" => "RWOP".to_string(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name,
                json!(text(o, "/status/phase")),
                json!(text(o, "/spec/volumeName")),
                json!(text(o, "/status/capacity/storage")),
                json!(modes.join(",")),
                or_none(text(o, "/spec/storageClassName")),
                age,
            ]
        }
        "HorizontalPodAutoscaler" => vec![
            name,
            json!(format!(
                "{}/{}",
                text(o, "/spec/scaleTargetRef/kind"),
                text(o, "/spec/scaleTargetRef/name")
            )),
            json!("<unknown>"),
            json!(int(o, "/spec/minReplicas").to_string()),
            json!(int(o, "/spec/maxReplicas")),
            json!(int(o, "/status/currentReplicas")),
            age,
        ],
        "Event" => {
            let last = [
                "/lastTimestamp",
                "/eventTime",
                "/deprecatedLastTimestamp",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .find_map(|p| o.pointer(p).and_then(Value::as_str));
            let (k, n) = match o.get("involvedObject").or_else(|| o.get("regarding")) {
                Some(r) => (text(r, "/kind").to_lowercase(), text(r, "/name")),
                None => (String::new(), String::new()),
            };
            let message = if o.get("message").is_some() {
                text(o, "/message")
            } else {
                text(o, "/note")
            };
            vec![
                json!(age_of(last)),
                json!(text(o, "/type")),
                json!(text(o, "/reason")),
                json!(format!("{k}/{n}")),
                json!(message),
            ]
        }
        "Lease" => vec![name, or_none(text(o, "/spec/holderIdentity")), age],
        "PodDisruptionBudget" => vec![
            name,
            json!(if o.pointer("/spec/minAvailable").is_some() {
                text(o, "/spec/minAvailable")
            } else {
                "N/A".into()
            }),
            json!(if o.pointer("/spec/maxUnavailable").is_some() {
                text(o, "/spec/maxUnavailable")
            } else {
                "N/A".into()
            }),
            json!(int(o, "/status/disruptionsAllowed")),
            age,
        ],
        "CustomResourceDefinition" => vec![
            name,
            json!(meta_str(o, "creationTimestamp").unwrap_or_default()),
        ],
        "Service" => {
            let external = match text(o, "/spec/type").as_str() {
                "ExternalName" => text(o, "/spec/externalName"),
                "LoadBalancer" => "<pending>".into(),
                _ => "<none>".into(),
            };
            let selector: Vec<String> = o
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name,
                json!(text(o, "/spec/type")),
                or_none(text(o, "/spec/clusterIP")),
                json!(external),
                json!(service_ports(o)),
                age,
                or_none(selector.join(",")),
            ]
        }
        "Job" => {
            let completions = o
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .map(|c| format!("{}/{c}", int(o, "/status/succeeded")))
                .unwrap_or_else(|| {
                    format!(
                        "{}/1 of {}",
                        int(o, "/status/succeeded"),
                        int(o, "/spec/parallelism")
                    )
                });
            let duration = match o.pointer("/status/startTime").and_then(Value::as_str) {
                Some(start) => age_of(Some(start)),
                None => String::new(),
            };
            vec![
                name,
                json!(job_status(o)),
                json!(completions),
                json!(duration),
                age,
            ]
        }
        "ComponentStatus" => {
            let healthy = o.pointer("/conditions/0/status").and_then(Value::as_str) == Some("True");
            vec![
                name,
                json!(if healthy { "Healthy" } else { "Unhealthy" }),
                json!(text(o, "/conditions/0/message")),
                json!(text(o, "/conditions/0/error")),
            ]
        }
        "CertificateSigningRequest" => {
            let conditions: Vec<String> = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("type").and_then(Value::as_str).map(str::to_string))
                .collect();
            let duration = o
                .pointer("/spec/expirationSeconds")
                .and_then(Value::as_i64)
                .map(human_age)
                .unwrap_or_else(|| "<none>".into());
            vec![
                name,
                age,
                json!(text(o, "/spec/signerName")),
                json!(text(o, "/spec/username")),
                json!(duration),
                json!(if conditions.is_empty() {
                    "Pending".into()
                } else {
                    conditions.join(",")
                }),
            ]
        }
        "RoleBinding" | "ClusterRoleBinding" => vec![
            name,
            json!(format!(
                "{}/{}",
                text(o, "/roleRef/kind"),
                text(o, "/roleRef/name")
            )),
            age,
        ],
        "APIService" => {
            let service = if o.pointer("/spec/service/name").is_some() {
                format!(
                    "{}/{}",
                    text(o, "/spec/service/namespace"),
                    text(o, "/spec/service/name")
                )
            } else {
                "Local".into()
            };
            vec![
                name,
                json!(service),
                json!(text(o, "/status/conditions/0/status")),
                age,
            ]
        }
        _ => vec![name, age],
    }
}

/// Evaluates a simple JSONPath (`.status.phase`, `.spec.items[0].name`, `.metadata.labels.app`).
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    let mut cur = obj;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (field, index) = match seg.split_once('[') {
            Some((f, rest)) => (f, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// The table for one object.
pub fn from_object(state: &State, t: &Target, obj: &Value, q: &Query) -> Value {
    table(
        state,
        t,
        std::slice::from_ref(obj),
        q,
        json!({"resourceVersion": meta_str(obj, "resourceVersion")}),
    )
}

/// The table for a list response.
pub fn from_list(state: &State, t: &Target, list: &Value, q: &Query) -> Value {
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    table(
        state,
        t,
        &items,
        q,
        list.get("metadata").cloned().unwrap_or(json!({})),
    )
}

fn table(state: &State, t: &Target, items: &[Value], q: &Query, metadata: Value) -> Value {
    let rt = state.types.get(&t.rt.id()).unwrap_or(&t.rt);
    let mut defs = Vec::new();
    let include = q.get("includeObject").unwrap_or("Metadata");
    let row_object = |o: &Value| -> Value {
        match include {
            "None" => Value::Null,
            "Object" => o.clone(),
            _ => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))})
            }
        }
    };
    let rows: Vec<Value> = if rt.custom {
        defs.push(json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}));
        for c in &rt.printer_columns {
            defs.push(json!({"name": c.name, "type": c.type_, "format": "", "description": c.description, "priority": c.priority}));
        }
        items
            .iter()
            .map(|o| {
                let mut cells = vec![json!(meta_str(o, "name").unwrap_or_default())];
                for c in &rt.printer_columns {
                    let v = json_path(o, &c.json_path).cloned().unwrap_or(Value::Null);
                    cells.push(if c.type_ == "date" {
                        v.as_str()
                            .map(|s| json!(age_of(Some(s))))
                            .unwrap_or(Value::Null)
                    } else {
                        v
                    });
                }
                json!({"cells": cells, "object": row_object(o)})
            })
            .collect()
    } else {
        for Col(name, ty, priority) in columns(&rt.kind) {
            let format = if name == "Name" { "name" } else { "" };
            defs.push(json!({"name": name, "type": ty, "format": format, "description": "", "priority": priority}));
        }
        items
            .iter()
            .map(|o| json!({"cells": builtin_cells(&rt.kind, o), "object": row_object(o)}))
            .collect()
    };
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(42), "42s");
        assert_eq!(human_age(5 * 60 + 3), "5m3s");
        assert_eq!(human_age(3 * 3600), "3h");
        assert_eq!(human_age(50 * 3600), "2d2h");
    }

    #[test]
    fn json_path_follows_fields_and_indexes() {
        let o = json!({"status": {"steps": [{"name": "a"}, {"name": "b"}], "phase": "Running"}});
        assert_eq!(json_path(&o, ".status.phase"), Some(&json!("Running")));
        assert_eq!(json_path(&o, ".status.steps[1].name"), Some(&json!("b")));
        assert_eq!(json_path(&o, ".status.missing"), None);
    }
}
