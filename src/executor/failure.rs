//! Action failures: a reason from the contract's closed set and a message a person can act on,
//! and the classification of Kubernetes API errors into them.

use std::fmt;

use crate::api::kubernetes_execution::ErrorReason;
use crate::reconcile::backoff::RetryReason;

/// Why an action failed: the contract's reason and a message saying what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason:?}: {message}")]
pub struct ActionError {
    /// The class of failure.
    pub reason: ErrorReason,
    /// What happened and what to check.
    pub message: String,
    /// A write lost a race (409 on an update guarded by resourceVersion): reading again and
    /// redoing the idempotent step is safe.
    pub stale_write: bool,
    /// The API server failed for a while (429, 500, 503, 504, a lost connection): redoing the
    /// idempotent step later is the cure. Carries the class for the retry metrics.
    pub transient: Option<RetryReason>,
}

impl ActionError {
    /// A failure of the given class.
    pub fn new(reason: ErrorReason, message: impl Into<String>) -> Self {
        ActionError {
            reason,
            message: message.into(),
            stale_write: false,
            transient: None,
        }
    }

    /// Parameters or a resulting object that cannot be right.
    pub fn invalid(message: impl Into<String>) -> Self {
        ActionError::new(ErrorReason::Invalid, message)
    }

    /// A target in a protected namespace.
    pub fn protected(namespace: &str) -> Self {
        ActionError::new(
            ErrorReason::Protected,
            format!(
                "namespace {namespace} is protected: remediations never act on it; fix the target of the workflow"
            ),
        )
    }

    /// An execution the executor does not perform: it is not one the workflow controller
    /// created for a run's pinned plan.
    pub fn untrusted(why: impl Into<String>) -> Self {
        ActionError::new(
            ErrorReason::Untrusted,
            format!("not performed: {}; nothing was done", why.into()),
        )
    }

    /// A target that does not exist.
    pub fn not_found(target: &Target) -> Self {
        ActionError::new(
            ErrorReason::NotFound,
            format!("{target} not found: check the AIAnalysis target and the step's parameters"),
        )
    }

    /// The attempt ran past its deadline.
    pub fn timeout(message: impl Into<String>) -> Self {
        ActionError::new(ErrorReason::Timeout, message)
    }

    /// Classifies an error of the Kubernetes API while doing `verb` to `target`. A 429 on an
    /// eviction is a disruption budget saying no, not a transient error.
    pub fn from_kube(error: &kube::Error, verb: &str, target: &Target) -> Self {
        let mut classified = ActionError::classify(error, verb, target);
        let reason = RetryReason::of(error);
        if reason.is_transient() && !(reason == RetryReason::Throttled && verb == "evict") {
            classified.transient = Some(reason);
        }
        classified
    }

    fn classify(error: &kube::Error, verb: &str, target: &Target) -> Self {
        let kube::Error::Api(status) = error else {
            return ActionError::new(
                ErrorReason::Unknown,
                format!("could not {verb} {target}: {error}; check the API server is reachable"),
            );
        };
        let said = if status.message.is_empty() {
            status.reason.clone()
        } else {
            status.message.clone()
        };
        match status.code {
            403 => ActionError::new(
                ErrorReason::Forbidden,
                format!(
                    "the executor may not {verb} {target} ({said}): grant it in deploy/rbac/executor.yaml"
                ),
            ),
            404 => ActionError::not_found(target),
            409 => ActionError {
                stale_write: true,
                ..ActionError::new(
                    ErrorReason::Conflict,
                    format!(
                        "{target} was changed by someone else while the executor wanted to {verb} it ({said}); retry the step"
                    ),
                )
            },
            400 | 422 => ActionError::new(
                ErrorReason::Invalid,
                format!("the API server refused to {verb} {target}: {said}"),
            ),
            429 => ActionError::new(
                ErrorReason::Conflict,
                format!(
                    "the API server refused to {verb} {target} for now ({said}); a PodDisruptionBudget may forbid it, retry later"
                ),
            ),
            408 | 504 => ActionError::new(
                ErrorReason::Timeout,
                format!("the API server timed out while trying to {verb} {target}: {said}"),
            ),
            _ if status.reason == "Timeout" => ActionError::new(
                ErrorReason::Timeout,
                format!("the API server timed out while trying to {verb} {target}: {said}"),
            ),
            code => ActionError::new(
                ErrorReason::Unknown,
                format!("could not {verb} {target}: the API server answered {code} {said}"),
            ),
        }
    }
}

/// The object an action works on, for messages: `Deployment shop/web`, `Node worker-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its kind.
    pub kind: String,
    /// Its namespace, if namespaced.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl Target {
    /// A namespaced object.
    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Self {
        Target {
            kind: kind.to_string(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }

    /// A cluster-scoped object.
    pub fn cluster(kind: &str, name: &str) -> Self {
        Target {
            kind: kind.to_string(),
            namespace: None,
            name: name.to_string(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("the server says no", reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn api_errors_map_to_contract_reasons() {
        let web = Target::namespaced("Deployment", "shop", "web");
        for (code, reason, expected) in [
            (403, "Forbidden", ErrorReason::Forbidden),
            (404, "NotFound", ErrorReason::NotFound),
            (409, "Conflict", ErrorReason::Conflict),
            (422, "Invalid", ErrorReason::Invalid),
            (400, "BadRequest", ErrorReason::Invalid),
            (504, "Timeout", ErrorReason::Timeout),
            (500, "Timeout", ErrorReason::Timeout),
            (500, "InternalError", ErrorReason::Unknown),
        ] {
            let e = ActionError::from_kube(&api_error(code, reason), "scale", &web);
            assert_eq!(e.reason, expected, "{code} {reason}");
            assert!(e.message.contains("Deployment shop/web"), "{}", e.message);
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let web = Target::namespaced("Deployment", "shop", "web");
        let e = ActionError::from_kube(&api_error(404, "NotFound"), "scale", &web);
        assert_eq!(
            e.message,
            "Deployment shop/web not found: check the AIAnalysis target and the step's parameters"
        );
        let e = ActionError::from_kube(&api_error(403, "Forbidden"), "patch", &web);
        assert!(e.message.contains("may not patch"), "{}", e.message);
        assert!(
            e.message.contains("deploy/rbac/executor.yaml"),
            "{}",
            e.message
        );
        assert_eq!(Target::cluster("Node", "n1").to_string(), "Node n1");
    }

    #[test]
    fn transient_api_errors_are_marked_for_a_retry() {
        let web = Target::namespaced("Deployment", "shop", "web");
        for (code, reason, transient) in [
            (429, "TooManyRequests", true),
            (500, "InternalError", true),
            (503, "ServiceUnavailable", true),
            (504, "Timeout", true),
            (500, "Timeout", true),
            (404, "NotFound", false),
            (409, "Conflict", false),
            (422, "Invalid", false),
            (403, "Forbidden", false),
        ] {
            let e = ActionError::from_kube(&api_error(code, reason), "patch", &web);
            assert_eq!(e.transient.is_some(), transient, "{code} {reason}");
        }
        // A disruption budget refusing an eviction stays a refusal.
        let pod = Target::namespaced("Pod", "shop", "web-1");
        let e = ActionError::from_kube(&api_error(429, "TooManyRequests"), "evict", &pod);
        assert_eq!(e.transient, None);
        assert_eq!(e.reason, ErrorReason::Conflict);
        // No answer at all: the connection failed.
        let lost = kube::Error::Service("connection reset".into());
        assert!(
            ActionError::from_kube(&lost, "read", &web)
                .transient
                .is_some()
        );
    }
}
