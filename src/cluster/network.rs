//! What kube-apiserver allocates for a Service: a cluster IP from the service range
//! (10.96.0.0/12, 10.96.0.1 being the `kubernetes` Service's) and node ports (30000–32767)
//! for NodePort and LoadBalancer Services, each free across the cluster; and what an update
//! keeps: allocated values the new object leaves out are carried over, and a cluster IP never
//! changes.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::error::{ApiError, FieldCause, cause};
use super::store::{State, meta_str};

/// The `kubernetes` Service's cluster IP.
pub const KUBERNETES_IP: &str = "10.96.0.1";

const RANGE_START: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const RANGE_BITS: u32 = 12;
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

fn in_range(ip: Ipv4Addr) -> bool {
    u32::from(ip) >> (32 - RANGE_BITS) == RANGE_START >> (32 - RANGE_BITS)
}

/// The cluster IPs and node ports the other Services hold.
fn taken(state: &State, ns: &str, name: &str) -> (BTreeSet<String>, BTreeSet<i64>) {
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    if let Some(objs) = state.objects.get(&(String::new(), "services".into())) {
        for ((n, m), s) in objs {
            if n == ns && m == name {
                continue;
            }
            let svc = s.value();
            if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
                ips.insert(ip.to_string());
            }
            for p in svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
                    ports.insert(np);
                }
            }
        }
    }
    (ips, ports)
}

fn service_type(svc: &Value) -> &str {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn invalid(svc: &Value, causes: Vec<FieldCause>) -> ApiError {
    ApiError::invalid(
        "Service",
        "",
        meta_str(svc, "name").unwrap_or_default(),
        causes,
    )
}

/// Carries the values allocated to `current` over to `new` when `new` leaves them out, and
/// refuses a changed cluster IP (an update).
pub fn keep_allocated(current: &Value, new: &mut Value) -> Result<(), ApiError> {
    if service_type(new) == "ExternalName" {
        return Ok(());
    }
    let old_ip = current.pointer("/spec/clusterIP").cloned();
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    match (spec.get("clusterIP").and_then(Value::as_str), &old_ip) {
        (None | Some(""), Some(old)) => {
            spec.insert("clusterIP".into(), old.clone());
            for field in ["clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                if let Some(v) = current.pointer(&format!("/spec/{field}")) {
                    spec.entry(field).or_insert_with(|| v.clone());
                }
            }
        }
        (Some(ip), Some(Value::String(old))) if ip != old => {
            let c = cause(
                "FieldValueInvalid",
                "spec.clusterIPs[0]",
                format!("Invalid value: []string{{\"{ip}\"}}: may not change once set"),
            );
            return Err(invalid(new, vec![c]));
        }
        _ => {}
    }
    let old_ports: Vec<Value> = current
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports {
            if p.get("nodePort").is_some() {
                continue;
            }
            let same = old_ports
                .iter()
                .find(|o| o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol"));
            if let (Some(np), Some(obj)) = (same.and_then(|o| o.get("nodePort")), p.as_object_mut())
            {
                obj.insert("nodePort".into(), np.clone());
            }
        }
    }
    Ok(())
}

/// Allocates what `svc` asks for and lacks (its cluster IP, its node ports), or 422 when what
/// it asks for is taken or out of range.
pub fn allocate(state: &State, svc: &mut Value) -> Result<(), ApiError> {
    let ns = meta_str(svc, "namespace").unwrap_or_default().to_string();
    let name = meta_str(svc, "name").unwrap_or_default().to_string();
    let (ips, mut ports) = taken(state, &ns, &name);
    let kind = service_type(svc).to_string();
    if kind == "ExternalName" {
        if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
            for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                spec.remove(field);
            }
        }
        return Ok(());
    }
    let asked = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .map(str::to_string);
    let ip = match asked {
        Some(ip) if ip == "None" => ip,
        Some(ip) => {
            let fail = |why: &str| {
                invalid(
                    svc,
                    vec![cause(
                        "FieldValueInvalid",
                        "spec.clusterIPs",
                        format!(
                            "Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: {why}"
                        ),
                    )],
                )
            };
            match ip.parse::<Ipv4Addr>() {
                Ok(addr) if !in_range(addr) => {
                    return Err(fail(&format!(
                        "the provided IP ({ip}) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
                    )));
                }
                Ok(_) if ips.contains(&ip) => return Err(fail("provided IP is already allocated")),
                Ok(_) => ip,
                Err(_) => {
                    let c = cause(
                        "FieldValueInvalid",
                        "spec.clusterIPs[0]",
                        format!("Invalid value: \"{ip}\": must be a valid IP address"),
                    );
                    return Err(invalid(svc, vec![c]));
                }
            }
        }
        None => {
            let free = (2..(1u32 << (32 - RANGE_BITS)) - 1)
                .map(|i| Ipv4Addr::from(RANGE_START + i).to_string())
                .find(|ip| !ips.contains(ip));
            free.ok_or_else(|| ApiError::internal("failed to allocate a serviceIP: range is full"))?
        }
    };
    if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
        spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
        spec.entry("ipFamilyPolicy")
            .or_insert_with(|| json!("SingleStack"));
    }
    let wants_node_ports = kind == "NodePort"
        || (kind == "LoadBalancer"
            && svc
                .pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false));
    if !wants_node_ports {
        return Ok(());
    }
    let mut causes = Vec::new();
    if let Some(list) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for (i, p) in list.iter_mut().enumerate() {
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) if !NODE_PORTS.contains(&np) => causes.push(cause(
                    "FieldValueInvalid",
                    &format!("spec.ports[{i}].nodePort"),
                    format!("Invalid value: {np}: provided port is not in the valid range. The range of valid ports is 30000-32767"),
                )),
                Some(np) if !ports.insert(np) => causes.push(cause(
                    "FieldValueInvalid",
                    &format!("spec.ports[{i}].nodePort"),
                    format!("Invalid value: {np}: provided port is already allocated"),
                )),
                Some(_) => {}
                None => {
                    let Some(np) = NODE_PORTS.clone().find(|n| !ports.contains(n)) else {
                        return Err(ApiError::internal(
                            "failed to allocate a nodePort: range is full",
                        ));
                    };
                    ports.insert(np);
                    if let Some(obj) = p.as_object_mut() {
                        obj.insert("nodePort".into(), json!(np));
                    }
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(svc, causes))
    }
}
