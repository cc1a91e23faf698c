//! The simulation's API client: requests through the server's own request path (every
//! semantic applies), bypassing fault injection and HTTP.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use super::super::error::ApiError;
use super::super::server::{ApiRequest, ApiResponse, Query, Server, handle};

/// A minimal JSON client for the simulated controllers.
#[derive(Debug, Clone)]
pub struct SimClient {
    server: Arc<Server>,
    user_agent: &'static str,
}

impl SimClient {
    /// A client of `server`, writing as the controller manager.
    pub fn new(server: Arc<Server>) -> Self {
        SimClient {
            server,
            user_agent: "kube-controller-manager/v1.33.0 (remedy simulation)",
        }
    }

    /// Runs the garbage collector over dependents whose owners are gone (at most `limit`).
    pub fn collect_garbage(&self, limit: usize) -> usize {
        let mut state = self.server.lock();
        let handled = super::super::gc::collect_dangling(&mut state, limit);
        if handled > 0 {
            self.server.notify(state.rv);
        }
        handled
    }

    /// The same client under another User-Agent (the field manager of its writes).
    pub fn as_agent(&self, user_agent: &'static str) -> Self {
        SimClient {
            server: self.server.clone(),
            user_agent,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let req = ApiRequest {
            method,
            path: path.to_string(),
            query: Query::parse(Some(query)).with_user_agent(self.user_agent),
            content_type: content_type.to_string(),
            accept: "application/json".into(),
            body: body.map(|b| Bytes::from(b.to_string())).unwrap_or_default(),
        };
        let response = match handle(&self.server, req, true).await {
            ApiResponse::Raw(code, body) => {
                ApiResponse::Json(code, serde_json::from_slice(&body).unwrap_or(Value::Null))
            }
            other => other,
        };
        match response {
            ApiResponse::Json(code, v) if code < 300 => Ok(v),
            ApiResponse::Json(code, v) => Err(ApiError::with_code(
                code,
                v.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )),
            _ => Err(ApiError::internal("unexpected response")),
        }
    }

    /// Lists a collection path; the items.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        match self.call(Method::GET, path, "", None).await {
            Ok(v) => v
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Err(e) => {
                tracing::debug!(error = %e, path, "simulation: list failed");
                Vec::new()
            }
        }
    }

    /// Gets one object.
    pub async fn get(&self, path: &str) -> Option<Value> {
        self.call(Method::GET, path, "", None).await.ok()
    }

    /// Creates an object in a collection path.
    pub async fn create(&self, path: &str, obj: &Value) {
        if let Err(e) = self
            .call(Method::POST, path, "application/json", Some(obj))
            .await
        {
            tracing::debug!(error = %e, path, "simulation: create failed");
        }
    }

    /// Merge-patches an object path (append `/status` for status).
    pub async fn patch(&self, path: &str, patch: &Value) {
        if let Err(e) = self
            .call(
                Method::PATCH,
                path,
                "application/merge-patch+json",
                Some(patch),
            )
            .await
        {
            tracing::debug!(error = %e, path, "simulation: patch failed");
        }
    }

    /// Replaces one field with a JSON patch `add` operation (e.g. the whole `/status`).
    pub async fn replace_field(&self, path: &str, pointer: &str, value: &Value) {
        let ops = serde_json::json!([{"op": "add", "path": pointer, "value": value}]);
        if let Err(e) = self
            .call(
                Method::PATCH,
                path,
                "application/json-patch+json",
                Some(&ops),
            )
            .await
        {
            tracing::debug!(error = %e, path, "simulation: patch failed");
        }
    }

    /// Deletes an object path.
    pub async fn delete(&self, path: &str) {
        if let Err(e) = self.call(Method::DELETE, path, "", None).await {
            tracing::debug!(error = %e, path, "simulation: delete failed");
        }
    }
}

/// `metadata.<field>` as a string ("" when absent).
pub fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether `obj` has a controller ownerReference to `uid`.
pub fn owned_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
        })
}

/// An ownerReference to `owner` (a controller reference).
pub fn controller_ref(owner: &Value) -> Value {
    serde_json::json!({
        "apiVersion": owner.get("apiVersion"),
        "kind": owner.get("kind"),
        "name": meta(owner, "name"),
        "uid": meta(owner, "uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether the object is being deleted.
pub fn deleting(obj: &Value) -> bool {
    !meta(obj, "deletionTimestamp").is_empty()
}

/// An integer field (0 when absent).
pub fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// A pod's Ready condition.
pub fn pod_ready(pod: &Value) -> bool {
    crate::cluster::kinds::condition_true(pod, "Ready")
}

/// A node's Ready condition.
pub fn node_ready(node: &Value) -> bool {
    crate::cluster::kinds::condition_true(node, "Ready")
}

/// The object path of a namespaced object: `/apis/apps/v1/namespaces/NS/deployments/NAME`.
pub fn object_path(base: &str, plural: &str, obj: &Value) -> String {
    format!(
        "{base}/namespaces/{}/{plural}/{}",
        meta(obj, "namespace"),
        meta(obj, "name")
    )
}

/// The collection path in a namespace.
pub fn collection_path(base: &str, plural: &str, ns: &str) -> String {
    format!("{base}/namespaces/{ns}/{plural}")
}

/// A condition, keeping the old transition time when its status did not change.
pub fn condition(
    old: Option<&Value>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let status = if status { "True" } else { "False" };
    let old = old
        .and_then(|o| o.pointer("/status/conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_));
    let same = old.is_some_and(|c| c["status"] == status && c["reason"] == reason);
    let transition = match old {
        Some(c) if c["status"] == status => c
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or(Value::from(now)),
        _ => Value::from(now),
    };
    let update = if same {
        old.and_then(|c| c.get("lastUpdateTime"))
            .cloned()
            .unwrap_or(Value::from(now))
    } else {
        Value::from(now)
    };
    serde_json::json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": transition, "lastUpdateTime": update})
}

/// Writes a new status when it differs from the current one.
pub async fn write_status(client: &SimClient, path: &str, obj: &Value, status: Value) {
    if obj.get("status") != Some(&status) {
        client
            .replace_field(&format!("{path}/status"), "/status", &status)
            .await;
    }
}
