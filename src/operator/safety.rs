//! The safety checks at Validating, on the resolved plan, before anything runs: protected
//! namespaces, action effects, and the action schemas applied to the resolved values.
//! A violation ends the run with reason SafetyViolation and creates nothing.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::api::TargetResource;
use crate::catalog::{ActionCatalog, BUILTIN_PROTECTED_NAMESPACES, Effect, ParamKind, ParamSpec};
use crate::plan::{ExecutionPlan, PlannedAction, PlannedValue, StepStage};

/// The namespaces no run may touch: the built-in ones, the operator's own, and configured ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedNamespaces(BTreeSet<String>);

impl ProtectedNamespaces {
    /// The built-in list plus the operator's namespace and `extra`.
    pub fn new(operator_namespace: &str, extra: impl IntoIterator<Item = String>) -> Self {
        let mut set: BTreeSet<String> = BUILTIN_PROTECTED_NAMESPACES
            .iter()
            .map(|s| s.to_string())
            .collect();
        set.insert(operator_namespace.to_string());
        set.extend(extra);
        ProtectedNamespaces(set)
    }

    /// True when no run may touch `namespace`.
    pub fn contains(&self, namespace: &str) -> bool {
        self.0.contains(namespace)
    }
}

/// Every violation of the plan, one message each; empty when the plan is safe to run.
pub fn violations(
    plan: &ExecutionPlan,
    target: Option<&TargetResource>,
    protected: &ProtectedNamespaces,
    actions: &ActionCatalog,
) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(ns) = target.and_then(|t| t.namespace.as_deref())
        && protected.contains(ns)
    {
        found.push(format!("the target is in protected namespace `{ns}`"));
    }
    for step in &plan.steps {
        let place = match step.stage {
            StepStage::Main => format!("step `{}`", step.name),
            StepStage::Verify => format!("verify step `{}`", step.name),
            StepStage::Finally => format!("finally step `{}`", step.name),
        };
        check_action(&place, &step.action, plan, protected, actions, &mut found);
        if let Some(rollback) = &step.rollback {
            let place = format!("the rollback of step `{}`", step.name);
            check_action(&place, rollback, plan, protected, actions, &mut found);
        }
    }
    found
}

fn check_action(
    place: &str,
    action: &PlannedAction,
    plan: &ExecutionPlan,
    protected: &ProtectedNamespaces,
    actions: &ActionCatalog,
    found: &mut Vec<String>,
) {
    let Some(spec) = actions.get(&action.action_type) else {
        found.push(format!("{place}: unknown action `{}`", action.action_type));
        return;
    };
    if spec.effect == Effect::Irreversible && !plan.approval_required {
        found.push(format!(
            "{place}: action `{}` is irreversible and the run does not require approval",
            spec.name
        ));
    }
    for param in spec.required_params() {
        if !action.with.contains_key(param.name) {
            found.push(format!(
                "{place}: missing parameter `{}` of `{}`",
                param.name, spec.name
            ));
        }
    }
    for (name, value) in &action.with {
        let Some(param) = spec.param(name) else {
            found.push(format!(
                "{place}: `{}` has no parameter `{name}`",
                spec.name
            ));
            continue;
        };
        // A deferred value is known only when its step is scheduled; the executor checks it.
        let PlannedValue::Value(value) = value else {
            continue;
        };
        if let Some(problem) = value_problem(param, value) {
            found.push(format!("{place}: parameter `{name}` {problem}"));
        }
        if name == "namespace"
            && let Some(ns) = value.as_str()
            && protected.contains(ns)
        {
            found.push(format!("{place}: namespace `{ns}` is protected"));
        }
    }
}

/// What is wrong with a resolved value for its parameter, if anything.
fn value_problem(param: &ParamSpec, value: &Value) -> Option<String> {
    if value.is_null() {
        return (param.required).then(|| "is null".to_string());
    }
    let fits = match param.kind {
        ParamKind::String => value.is_string(),
        ParamKind::Duration => value.is_string() || value.is_number(),
        ParamKind::Int => value.is_i64() || value.is_u64(),
        ParamKind::Float => value.is_number(),
        ParamKind::Bool => value.is_boolean(),
        ParamKind::Quantity => value.is_string() || value.is_number(),
        ParamKind::List => value.is_array(),
        ParamKind::Map => value.is_object(),
    };
    if !fits {
        return Some(format!("must be a {}, got {}", param.kind, short(value)));
    }
    if !param.allowed.is_empty()
        && let Some(s) = value.as_str()
        && !param.allowed.contains(&s)
    {
        return Some(format!("is `{s}`; allowed: {}", param.allowed.join(", ")));
    }
    None
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}
