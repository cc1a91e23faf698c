//! The checks of the action catalog on resolved values: what the linter checks on literals,
//! run again at Validating once every `${ … }` has a value (spec section 6).

use std::fmt;

use serde_json::{Map, Value};

use crate::catalog::{ActionSpec, Effect, ParamKind};
use crate::check::context::CheckContext;
use crate::check::literal::with_article;
use crate::units::fits;

/// One problem with an action and its resolved parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedProblem {
    /// The action type is not in the catalog.
    UnknownAction {
        /// The type.
        action: String,
    },
    /// A required parameter has no value (absent or null).
    MissingParam {
        /// The parameter.
        param: String,
    },
    /// A parameter the action does not have.
    UnknownParam {
        /// The parameter.
        param: String,
    },
    /// A value of the wrong type.
    Mistyped {
        /// The parameter.
        param: String,
        /// The type the action wants.
        expected: ParamKind,
        /// The value, as JSON.
        found: String,
    },
    /// A value outside the parameter's allowed set.
    NotAllowed {
        /// The parameter.
        param: String,
        /// The value.
        value: String,
        /// The values allowed.
        allowed: &'static [&'static str],
    },
    /// The `namespace` parameter names a protected namespace.
    ProtectedNamespace {
        /// The namespace.
        namespace: String,
    },
    /// An irreversible action in a run without approval.
    NeedsApproval {
        /// The action type.
        action: String,
    },
}

impl fmt::Display for ResolvedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolvedProblem::UnknownAction { action } => write!(f, "unknown action `{action}`"),
            ResolvedProblem::MissingParam { param } => {
                write!(f, "required parameter `{param}` has no value")
            }
            ResolvedProblem::UnknownParam { param } => write!(f, "unknown parameter `{param}`"),
            ResolvedProblem::Mistyped {
                param,
                expected,
                found,
            } => write!(
                f,
                "parameter `{param}` must be {}, got {found}",
                with_article(expected.as_str())
            ),
            ResolvedProblem::NotAllowed {
                param,
                value,
                allowed,
            } => write!(
                f,
                "parameter `{param}` must be one of {}, got \"{value}\"",
                allowed.join(", ")
            ),
            ResolvedProblem::ProtectedNamespace { namespace } => {
                write!(f, "namespace \"{namespace}\" is protected")
            }
            ResolvedProblem::NeedsApproval { action } => {
                write!(f, "`{action}` cannot be undone and the run has no approval")
            }
        }
    }
}

/// Check one action with its resolved parameters; `approved` says whether the run asked for
/// (and got, or will wait for) approval.
pub fn check_action(
    ctx: &CheckContext,
    action: &str,
    params: &Map<String, Value>,
    approved: bool,
) -> Vec<ResolvedProblem> {
    let Some(spec) = ctx.actions.get(action) else {
        return vec![ResolvedProblem::UnknownAction {
            action: action.into(),
        }];
    };
    let mut out = Vec::new();
    for p in spec.required_params() {
        if params.get(p.name).is_none_or(Value::is_null) {
            out.push(ResolvedProblem::MissingParam {
                param: p.name.into(),
            });
        }
    }
    for (name, value) in params {
        let Some(p) = spec.param(name) else {
            out.push(ResolvedProblem::UnknownParam {
                param: name.clone(),
            });
            continue;
        };
        if value.is_null() {
            continue;
        }
        if !fits(value, p.kind) {
            out.push(ResolvedProblem::Mistyped {
                param: name.clone(),
                expected: p.kind,
                found: value.to_string(),
            });
            continue;
        }
        if let Some(text) = value.as_str()
            && !p.allowed.is_empty()
            && !p.allowed.contains(&text)
        {
            out.push(ResolvedProblem::NotAllowed {
                param: name.clone(),
                value: text.into(),
                allowed: p.allowed,
            });
        }
    }
    if let Some(ns) = params.get("namespace").and_then(Value::as_str)
        && spec.is_namespaced()
        && ctx.is_protected_namespace(ns)
    {
        out.push(ResolvedProblem::ProtectedNamespace {
            namespace: ns.into(),
        });
    }
    if needs_approval(spec) && !approved {
        out.push(ResolvedProblem::NeedsApproval {
            action: action.into(),
        });
    }
    out
}

fn needs_approval(spec: &ActionSpec) -> bool {
    spec.effect == Effect::Irreversible
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(action: &str, params: Value, approved: bool) -> Vec<String> {
        let ctx = CheckContext {
            protected_namespaces: vec!["payments".into()],
            ..CheckContext::default()
        };
        check_action(&ctx, action, params.as_object().unwrap(), approved)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_valid_action_has_no_problem() {
        let params = json!({ "namespace": "shop", "deployment": "web", "replicas": 3 });
        assert!(run("scale_deployment", params, false).is_empty());
        let params =
            json!({ "namespace": "shop", "deployment": "web", "memory": "1Gi", "cpu": 0.5 });
        assert!(run("increase_resources", params, false).is_empty());
    }

    #[test]
    fn schema_problems() {
        let params = json!({ "namespace": "shop", "replicas": "3", "replica": 2 });
        assert_eq!(
            run("scale_deployment", params, false),
            [
                "required parameter `deployment` has no value",
                "unknown parameter `replica`",
                "parameter `replicas` must be an int, got \"3\"",
            ]
        );
        let params = json!({ "node": "n1", "key": "k", "effect": "Never" });
        assert_eq!(
            run("taint_node", params, false),
            [
                "parameter `effect` must be one of NoSchedule, PreferNoSchedule, NoExecute, got \"Never\""
            ]
        );
        assert_eq!(run("launch", json!({}), true), ["unknown action `launch`"]);
        let wait = run("wait", json!({ "duration": "5 minutes" }), false);
        assert_eq!(
            wait,
            ["parameter `duration` must be a duration, got \"5 minutes\""]
        );
        assert!(run("wait", json!({ "duration": "1m30s" }), false).is_empty());
    }

    #[test]
    fn effect_checks_on_resolved_values() {
        let params = json!({ "namespace": "kube-system", "pod": "p" });
        assert_eq!(
            run("delete_pod", params.clone(), false),
            [
                "namespace \"kube-system\" is protected",
                "`delete_pod` cannot be undone and the run has no approval",
            ]
        );
        assert_eq!(
            run("delete_pod", params, true),
            ["namespace \"kube-system\" is protected"]
        );
        let params = json!({ "namespace": "payments", "resource": "deployment/web" });
        assert_eq!(
            run("backup_data", params, false),
            ["namespace \"payments\" is protected"]
        );
    }
}
