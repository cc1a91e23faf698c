//! The paths kube-apiserver hands to a Pod's kubelet: `pods/log`, `exec`, `attach` and
//! `portforward`. The simulated kubelets run no processes, so the server checks the request as
//! kube-apiserver does (the pod, the container, the pod's phase and node) and then answers what
//! a kubelet answers for a container that is not running.

use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::error::ApiError;
use super::read;
use super::server::{ApiRequest, ApiResponse, Server, Target};

/// The names of a pod's containers of one kind (`containers`, `initContainers`, ...).
fn names<'a>(pod: &'a Value, field: &str) -> Vec<&'a str> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request is for: the `container` parameter, or the pod's only container.
fn container<'a>(pod: &'a Value, asked: Option<&'a str>, name: &str) -> Result<&'a str, ApiError> {
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match asked.filter(|c| !c.is_empty()) {
        None if containers.len() == 1 => Ok(containers[0]),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            if !ephemeral.is_empty() {
                msg.push_str(&format!(
                    " or one of the ephemeral containers: [{}]",
                    ephemeral.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
        Some(c) if containers.contains(&c) || init.contains(&c) || ephemeral.contains(&c) => Ok(c),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
    }
}

/// The waiting reason of a container's status, when it has not started.
fn waiting_reason(pod: &Value, container: &str) -> Option<String> {
    let statuses = [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ];
    let status = statuses
        .iter()
        .filter_map(|f| {
            pod.pointer(&format!("/status/{f}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container));
    match status {
        None => Some("ContainerCreating".into()),
        Some(s) => s.pointer("/state/waiting").map(|w| {
            w.get("reason")
                .and_then(Value::as_str)
                .unwrap_or("ContainerCreating")
                .to_string()
        }),
    }
}

/// Answers `pods/NAME/log|exec|attach|portforward`.
pub fn answer(server: &Arc<Server>, t: &Target, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let sub = t.sub.as_deref().unwrap_or_default();
    let streaming = sub != "log";
    let allowed = if streaming {
        req.method == Method::GET || req.method == Method::POST
    } else {
        req.method == Method::GET
    };
    if !allowed {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let pod = read::get(server, t)?;
    let name = t.name();
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    match sub {
        "log" => {
            let c = container(&pod, req.query.get("container"), name)?;
            // Without a node there is no kubelet to ask: kube-apiserver answers an empty log.
            if node.is_none() {
                return Ok(ApiResponse::Text(200, String::new()));
            }
            if req.query.flag("previous") {
                return Err(ApiError::bad_request(format!(
                    "previous terminated container \"{c}\" in pod \"{name}\" not found"
                )));
            }
            Err(ApiError::bad_request(match waiting_reason(&pod, c) {
                Some(reason) => {
                    format!("container \"{c}\" in pod \"{name}\" is waiting to start: {reason}")
                }
                None => format!("container \"{c}\" in pod \"{name}\" is not available"),
            }))
        }
        "exec" | "attach" => {
            let c = container(&pod, req.query.get("container"), name)?;
            if matches!(phase, "Succeeded" | "Failed") {
                let what = if sub == "exec" {
                    "exec into"
                } else {
                    "attach to"
                };
                return Err(ApiError::bad_request(format!(
                    "cannot {what} a container in a completed pod; current phase is {phase}"
                )));
            }
            if node.is_none() {
                return Err(ApiError::bad_request(format!(
                    "pod {name} does not have a host assigned"
                )));
            }
            Err(ApiError::internal(format!("container not found (\"{c}\")")))
        }
        _ => {
            if node.is_none() {
                return Err(ApiError::bad_request(format!(
                    "pod {name} does not have a host assigned"
                )));
            }
            Err(ApiError::internal(format!(
                "pod not found (\"{name}_{}\")",
                t.ns()
            )))
        }
    }
}
