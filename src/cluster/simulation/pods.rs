//! Nodes, the scheduler and the kubelets: Pods go to the schedulable Ready node with the
//! fewest Pods (cordoned nodes get none), start, and become Ready after the configured delay.

use tokio::time::Instant;

use serde_json::{Value, json};

use super::api::{SimClient, deleting, meta, node_ready, object_path};
use super::{Memory, SimulationConfig};
use crate::cluster::server::now;

/// Creates `count` Ready nodes when the cluster has none.
pub async fn ensure_nodes(client: &SimClient, count: usize) {
    if !client.list("/api/v1/nodes").await.is_empty() {
        return;
    }
    for i in 1..=count {
        let name = format!("node-{i}");
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
            "spec": {"podCIDR": format!("10.244.{i}.0/24")},
            "status": {
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
                "addresses": [{"type": "InternalIP", "address": format!("192.168.0.{i}")}, {"type": "Hostname", "address": name}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "containerRuntimeVersion": "remedy://simulated", "operatingSystem": "linux", "architecture": "amd64"}
            }
        });
        client.create("/api/v1/nodes", &node).await;
    }
}

fn schedulable(node: &Value) -> bool {
    node.pointer("/spec/unschedulable").and_then(Value::as_bool) != Some(true) && node_ready(node)
}

/// Schedules pending pods and advances scheduled ones to Running and Ready.
pub async fn reconcile(client: &SimClient, config: &SimulationConfig, memory: &mut Memory) {
    let scheduler = client.as_agent("kube-scheduler/v1.33.0 (remedy simulation)");
    let kubelet = client.as_agent("kubelet/v1.33.0 (remedy simulation)");
    let nodes = client.list("/api/v1/nodes").await;
    let pods = client.list("/api/v1/pods").await;
    let mut load: Vec<(String, usize, usize)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| schedulable(n))
        .map(|(i, n)| {
            let name = meta(n, "name").to_string();
            let count = pods
                .iter()
                .filter(|p| {
                    p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name.as_str())
                })
                .count();
            (name, count, i + 1)
        })
        .collect();
    let live: std::collections::HashSet<&str> = pods.iter().map(|p| meta(p, "uid")).collect();
    memory
        .scheduled_at
        .retain(|uid, _| live.contains(uid.as_str()));
    for pod in &pods {
        if deleting(pod) {
            continue;
        }
        let path = object_path("/api/v1", "pods", pod);
        let uid = meta(pod, "uid").to_string();
        let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str) else {
            match load.iter_mut().min_by_key(|(_, count, _)| *count) {
                Some(target) => {
                    target.1 += 1;
                    scheduler
                        .patch(&path, &json!({"spec": {"nodeName": target.0}}))
                        .await;
                }
                None => {
                    let cond = json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/N nodes are available: no schedulable node."});
                    let status =
                        json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [cond]});
                    if pod.pointer("/status/conditions/0/reason") != Some(&json!("Unschedulable")) {
                        scheduler
                            .replace_field(&format!("{path}/status"), "/status", &status)
                            .await;
                    }
                }
            }
            continue;
        };
        let since = *memory
            .scheduled_at
            .entry(uid.clone())
            .or_insert_with(Instant::now);
        let failing = image_fails(pod, &config.failing_images);
        let ready = !failing && since.elapsed() >= config.pod_ready_delay;
        let waiting = if failing {
            "ImagePullBackOff"
        } else {
            "ContainerCreating"
        };
        let current_wait = pod
            .pointer("/status/containerStatuses/0/state/waiting/reason")
            .and_then(Value::as_str);
        let phase = pod
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let is_ready = super::api::pod_ready(pod);
        if (ready && is_ready) || (!ready && phase == "Pending" && current_wait == Some(waiting)) {
            continue;
        }
        let index = load
            .iter()
            .find(|(n, _, _)| n == node)
            .map(|(_, _, i)| *i)
            .unwrap_or(0);
        kubelet
            .replace_field(
                &format!("{path}/status"),
                "/status",
                &pod_status(pod, index, ready, waiting),
            )
            .await;
    }
}

/// Whether a container's image is one the simulation fails to pull.
fn image_fails(pod: &Value, failing: &[String]) -> bool {
    !failing.is_empty()
        && pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("image").and_then(Value::as_str))
                    .any(|i| failing.iter().any(|f| i.contains(f.as_str())))
            })
}

fn pod_status(pod: &Value, node_index: usize, ready: bool, waiting: &str) -> Value {
    let t = now();
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let state = if ready { json!({"running": {"startedAt": t}}) } else { json!({"waiting": {"reason": waiting}}) };
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": ready, "started": ready, "restartCount": 0, "state": state})
        })
        .collect();
    let flag = |b: bool| if b { "True" } else { "False" };
    let octet = meta(pod, "uid")
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32))
        % 250
        + 2;
    json!({
        "phase": if ready { "Running" } else { "Pending" },
        "qosClass": "BestEffort",
        "hostIP": format!("192.168.0.{node_index}"),
        "podIP": format!("10.244.{node_index}.{octet}"),
        "startTime": t,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
            {"type": "Initialized", "status": "True", "lastTransitionTime": t},
            {"type": "ContainersReady", "status": flag(ready), "lastTransitionTime": t},
            {"type": "Ready", "status": flag(ready), "lastTransitionTime": t}
        ],
        "containerStatuses": statuses,
    })
}
