//! API errors as Kubernetes `Status` objects (kind Status, status Failure, reason, code, details).

use serde_json::{Value, json};

/// One invalid field of an object, reported as a `StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCause {
    /// The cause type, e.g. `FieldValueRequired`, `FieldValueInvalid`.
    pub reason: String,
    /// A human message.
    pub message: String,
    /// The field path, e.g. `spec.replicas`.
    pub field: String,
}

/// An API error answered to a client as a `Status` body with an HTTP code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// The HTTP status code.
    pub code: u16,
    /// The machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, ...).
    pub reason: &'static str,
    /// The human message.
    pub message: String,
    /// `details.name`, when an object is concerned.
    pub name: Option<String>,
    /// `details.group`.
    pub group: Option<String>,
    /// `details.kind` (the resource's plural, as the API server reports it).
    pub kind: Option<String>,
    /// `details.causes`.
    pub causes: Vec<FieldCause>,
    /// `details.retryAfterSeconds`.
    pub retry_after: Option<u64>,
}

/// The `resource.group` form used in Kubernetes messages (`deployments.apps`, `pods`).
pub fn qualified(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            name: None,
            group: None,
            kind: None,
            causes: Vec::new(),
            retry_after: None,
        }
    }

    fn about(mut self, plural: &str, group: &str, name: &str) -> Self {
        self.name = Some(name.to_string());
        self.group = Some(group.to_string());
        self.kind = Some(plural.to_string());
        self
    }

    /// 404 NotFound for a named object.
    pub fn not_found(plural: &str, group: &str, name: &str) -> Self {
        let msg = format!("{} \"{name}\" not found", qualified(plural, group));
        Self::new(404, "NotFound", msg).about(plural, group, name)
    }

    /// 404 NotFound for a path that serves nothing.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(plural: &str, group: &str, name: &str) -> Self {
        let msg = format!("{} \"{name}\" already exists", qualified(plural, group));
        Self::new(409, "AlreadyExists", msg).about(plural, group, name)
    }

    /// 409 Conflict: the object changed since the client read it.
    pub fn conflict(plural: &str, group: &str, name: &str) -> Self {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            qualified(plural, group)
        );
        Self::new(409, "Conflict", msg).about(plural, group, name)
    }

    /// 409 Conflict with a custom message (precondition failures, apply conflicts).
    pub fn conflict_with(plural: &str, group: &str, name: &str, message: String) -> Self {
        Self::new(409, "Conflict", message).about(plural, group, name)
    }

    /// 422 Invalid with one cause per invalid field.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<FieldCause>) -> Self {
        // As apimachinery aggregates field errors: duplicates once, several in brackets.
        let mut list: Vec<String> = Vec::new();
        for c in &causes {
            let line = format!("{}: {}", c.field, c.message);
            if !list.contains(&line) {
                list.push(line);
            }
        }
        let k = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let joined = if list.len() > 1 {
            format!("[{}]", list.join(", "))
        } else {
            list.join(", ")
        };
        let msg = format!("{k} \"{name}\" is invalid: {joined}");
        let mut e = Self::new(422, "Invalid", msg);
        e.name = Some(name.to_string());
        e.group = Some(group.to_string());
        e.kind = Some(kind.to_string());
        e.causes = causes;
        e
    }

    /// 410 Gone (reason Expired): a resourceVersion or continue token is too old.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// 406 NotAcceptable: no media range of the `Accept` header can be served.
    pub fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 429 TooManyRequests (used by evictions that would violate a disruption budget).
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        let mut e = Self::new(429, "TooManyRequests", message);
        e.retry_after = Some(10);
        e
    }

    /// 413 RequestEntityTooLarge: `Request entity too large: <message>`.
    pub fn entity_too_large(message: impl AsRef<str>) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: {}", message.as_ref()),
        )
    }

    /// An error kube-apiserver passes on without a reason (a storage error it does not
    /// recognise): the Status has no `reason`.
    pub fn unknown(code: u16, message: impl Into<String>) -> Self {
        Self::new(code, "", message)
    }

    /// 504 Timeout for a resourceVersion the server has not reached within its wait
    /// (`Too large resource version: X, current: Y`, cause `ResourceVersionTooLarge`).
    pub fn too_large_resource_version(wanted: u64, current: u64) -> Self {
        let mut e = Self::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {wanted}, current: {current}"),
        );
        e.causes = vec![cause(
            "ResourceVersionTooLarge",
            "",
            "Too large resource version",
        )];
        e.retry_after = Some(1);
        e
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// An error of any code, with the reason Kubernetes uses for that code (fault injection).
    pub fn with_code(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            406 => "NotAcceptable",
            409 => "Conflict",
            410 => "Expired",
            422 => "Invalid",
            429 => "TooManyRequests",
            504 => "Timeout",
            503 => "ServiceUnavailable",
            _ => "InternalError",
        };
        Self::new(code, reason, message)
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| {
                    let mut out = json!({"reason": c.reason, "message": c.message});
                    // Go omits an empty field path.
                    if !c.field.is_empty() {
                        out["field"] = json!(c.field);
                    }
                    out
                })
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(r) = self.retry_after {
            details.insert("retryAfterSeconds".into(), json!(r));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty()
            && let Some(obj) = status.as_object_mut()
        {
            obj.remove("reason");
        }
        if !details.is_empty()
            && let Some(obj) = status.as_object_mut()
        {
            obj.insert("details".into(), Value::Object(details));
        }
        status
    }
}

/// A `FieldCause` constructor: `cause("FieldValueRequired", "spec.selector", "Required value")`.
pub fn cause(reason: &str, field: &str, message: impl Into<String>) -> FieldCause {
    FieldCause {
        reason: reason.to_string(),
        message: message.into(),
        field: field.to_string(),
    }
}
