//! The safety checks at Validating, on the resolved plan, before anything runs: protected
//! namespaces, action effects, and the action schemas applied to the resolved values.
//! A violation ends the run with reason SafetyViolation and creates nothing.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::api::TargetResource;
use crate::api::names;
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
        ProtectedNamespaces(set.iter().map(|ns| canonical_namespace(ns)).collect())
    }

    /// True when no run may touch `namespace`, however it is spelled (`Kube-System`).
    pub fn contains(&self, namespace: &str) -> bool {
        self.0.contains(&canonical_namespace(namespace))
    }
}

/// A namespace as the API names it: namespace names are lower-case DNS labels, so a
/// mis-cased or padded spelling means the same namespace to every check here.
fn canonical_namespace(namespace: &str) -> String {
    namespace.trim().to_ascii_lowercase()
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
    if let Some(t) = target {
        if let Some(ns) = t.namespace.as_deref()
            && let Some(problem) = names::label_problem(ns)
        {
            found.push(format!(
                "the target's namespace `{ns}` is not a namespace name: it {problem}"
            ));
        }
        if let Some(problem) = names::subdomain_problem(&t.name) {
            found.push(format!(
                "the target's name `{}` is not an object name: it {problem}",
                t.name
            ));
        }
    }
    for step in &plan.steps {
        let place = match step.stage {
            StepStage::Main => format!("step `{}`", step.name),
            StepStage::Verify => format!("verify step `{}`", step.name),
            StepStage::Finally => format!("finally step `{}`", step.name),
        };
        // A step with `when` may not run: an empty name there means "nothing to act on".
        let conditional = step.when.is_some();
        let check = |place: &str, action, found: &mut Vec<String>| {
            check_action(place, action, plan, protected, actions, conditional, found);
        };
        check(&place, &step.action, &mut found);
        if let Some(rollback) = &step.rollback {
            check(
                &format!("the rollback of step `{}`", step.name),
                rollback,
                &mut found,
            );
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
    conditional: bool,
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
        } else if !(conditional && value.as_str() == Some(""))
            && let Some(problem) = name_problem(name, value)
        {
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

/// What is wrong with a parameter that names an object, if its value cannot be a name the API
/// server accepts: a namespace is a DNS-1123 label, the other objects' names DNS-1123
/// subdomains, and `resource` is `kind/name`. Such a value would be retried until the step's
/// attempts run out; refused here, nothing runs.
fn name_problem(param: &str, value: &Value) -> Option<String> {
    let text = value.as_str()?;
    let (what, problem) = match param {
        "namespace" => ("a namespace name", names::label_problem(text)),
        "deployment" | "statefulset" | "pod" | "hpa" | "pvc" | "configmap" | "node"
        | "destination" => ("an object name", names::subdomain_problem(text)),
        "resource" => {
            let name = text.split_once('/').map_or(text, |(_, n)| n);
            return names::subdomain_problem(name)
                .map(|p| format!("names `{name}`, which is not an object name: it {p}"));
        }
        _ => return None,
    };
    problem.map(|p| format!("is `{text}`, which is not {what}: it {p}"))
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
        return Some(format!(
            "must be of type {}, got {}",
            param.kind,
            short(value)
        ));
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::plan::{OnFailure, RollbackMode};
    use crate::plan::{PlannedStep, RetryPolicy};

    fn action(kind: &str, with: &[(&str, PlannedValue)]) -> PlannedAction {
        PlannedAction {
            action_type: kind.into(),
            with: with
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            timeout_ms: 60_000,
            retry: RetryPolicy::default(),
        }
    }

    fn value(v: serde_json::Value) -> PlannedValue {
        PlannedValue::Value(v)
    }

    fn plan(steps: Vec<(PlannedAction, Effect)>, approval: bool) -> ExecutionPlan {
        ExecutionPlan {
            workflow: "w".into(),
            version: "1.0.0".into(),
            digest: "sha256:0".into(),
            timeout_ms: 600_000,
            max_parallel: 5,
            rollback: RollbackMode::Automatic,
            approval_required: approval,
            dry_run: false,
            verify_within_ms: None,
            parameters: Default::default(),
            analysis: Default::default(),
            workflow_info: Default::default(),
            modules: BTreeMap::new(),
            steps: steps
                .into_iter()
                .enumerate()
                .map(|(i, (action, effect))| PlannedStep {
                    name: format!("s{i}"),
                    stage: StepStage::Main,
                    depends_on: vec![],
                    action,
                    effect,
                    when: None,
                    on_failure: OnFailure::Rollback,
                    rollback: None,
                })
                .collect(),
        }
    }

    fn check(p: &ExecutionPlan, target_ns: Option<&str>) -> Vec<String> {
        let target = target_ns.map(|ns| TargetResource {
            kind: "Deployment".into(),
            name: "web".into(),
            namespace: Some(ns.into()),
            api_version: None,
        });
        let protected = ProtectedNamespaces::new("remedy-system", ["payments".to_string()]);
        violations(p, target.as_ref(), &protected, &ActionCatalog::builtin())
    }

    fn scale(ns: &str) -> PlannedAction {
        action(
            "scale_deployment",
            &[
                ("namespace", value(json!(ns))),
                ("deployment", value(json!("web"))),
                ("replicas", value(json!(3))),
            ],
        )
    }

    #[test]
    fn a_safe_plan_passes() {
        assert_eq!(
            check(
                &plan(vec![(scale("shop"), Effect::Reversible)], false),
                Some("shop")
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn protected_namespaces_builtin_own_and_configured_are_refused() {
        for ns in ["kube-system", "remedy-system", "payments"] {
            let found = check(
                &plan(vec![(scale(ns), Effect::Reversible)], false),
                Some("shop"),
            );
            assert_eq!(
                found,
                vec![format!("step `s0`: namespace `{ns}` is protected")]
            );
        }
        let found = check(
            &plan(vec![(scale("shop"), Effect::Reversible)], false),
            Some("kube-public"),
        );
        assert_eq!(
            found,
            vec!["the target is in protected namespace `kube-public`".to_string()]
        );
    }

    #[test]
    fn mis_cased_protected_namespaces_are_refused() {
        for ns in [
            "Kube-System",
            "KUBE-PUBLIC",
            " kube-system",
            "Remedy-System",
            "PAYMENTS",
        ] {
            let found = check(
                &plan(vec![(scale(ns), Effect::Reversible)], false),
                Some(ns),
            );
            // Besides any complaint about the spelling, both are refused as protected.
            let protected: Vec<&String> =
                found.iter().filter(|v| v.contains("protected")).collect();
            assert_eq!(protected.len(), 2, "{ns}: {found:?}");
        }
    }

    #[test]
    fn a_protected_namespace_in_a_rollback_is_refused() {
        let mut p = plan(vec![(scale("shop"), Effect::Reversible)], false);
        p.steps[0].rollback = Some(scale("kube-system"));
        assert_eq!(
            check(&p, None),
            vec!["the rollback of step `s0`: namespace `kube-system` is protected".to_string()]
        );
    }

    #[test]
    fn irreversible_actions_need_approval() {
        let delete = action(
            "delete_pod",
            &[
                ("namespace", value(json!("shop"))),
                ("pod", value(json!("web-1"))),
            ],
        );
        let found = check(
            &plan(vec![(delete.clone(), Effect::Irreversible)], false),
            None,
        );
        assert_eq!(
            found,
            vec!["step `s0`: action `delete_pod` is irreversible and the run does not require approval".to_string()]
        );
        assert!(check(&plan(vec![(delete, Effect::Irreversible)], true), None).is_empty());
    }

    #[test]
    fn resolved_values_are_checked_against_the_action_schema() {
        let bad = action(
            "scale_deployment",
            &[
                ("namespace", value(json!("shop"))),
                ("replicas", value(json!("three"))),
                ("colour", value(json!("red"))),
            ],
        );
        let found = check(&plan(vec![(bad, Effect::Reversible)], false), None);
        assert_eq!(
            found,
            vec![
                "step `s0`: missing parameter `deployment` of `scale_deployment`".to_string(),
                "step `s0`: `scale_deployment` has no parameter `colour`".to_string(),
                "step `s0`: parameter `replicas` must be of type int, got \"three\"".to_string(),
            ]
        );
    }

    #[test]
    fn deferred_values_are_left_to_the_executor() {
        let deferred = action(
            "scale_deployment",
            &[
                ("namespace", value(json!("shop"))),
                ("deployment", value(json!("web"))),
                (
                    "replicas",
                    PlannedValue::Deferred("self.output.previous_replicas".into()),
                ),
            ],
        );
        assert!(check(&plan(vec![(deferred, Effect::Reversible)], false), None).is_empty());
    }

    #[test]
    fn names_a_real_api_server_refuses_are_refused_before_anything_runs() {
        // `Kube-System` is no namespace a cluster can have: a run would retry its first step
        // until its attempts ran out. It is refused at Validating instead.
        let found = check(
            &plan(vec![(scale("Kube-System"), Effect::Reversible)], false),
            Some("Kube-System"),
        );
        // It also names a protected namespace, whatever its case: both are said.
        assert_eq!(
            found,
            vec![
                "the target is in protected namespace `Kube-System`".to_string(),
                "the target's namespace `Kube-System` is not a namespace name: it must be \
                 lowercase letters, digits and `-`, starting and ending with a letter or digit"
                    .to_string(),
                "step `s0`: parameter `namespace` is `Kube-System`, which is not a namespace \
                 name: it must be lowercase letters, digits and `-`, starting and ending with a \
                 letter or digit"
                    .to_string(),
                "step `s0`: namespace `Kube-System` is protected".to_string(),
            ]
        );
        let diagnose = action(
            "collect_diagnostics",
            &[
                ("namespace", value(json!("shop"))),
                ("resource", value(json!("deployment/Web_1"))),
            ],
        );
        let long = action(
            "delete_pod",
            &[
                ("namespace", value(json!("shop"))),
                ("pod", value(json!("p".repeat(254)))),
            ],
        );
        let found = check(
            &plan(
                vec![(diagnose, Effect::ReadOnly), (long, Effect::Irreversible)],
                true,
            ),
            None,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("names `Web_1`, which is not an object name"),
            "{found:?}"
        );
        assert!(
            found[1].contains("is 254 characters long (at most 253)"),
            "{found:?}"
        );
        // An empty name is "nothing to act on" in a step that may not run, and an error in
        // one that will.
        let restart = action(
            "restart_pod",
            &[
                ("namespace", value(json!("shop"))),
                ("pod", value(json!(""))),
            ],
        );
        let mut p = plan(vec![(restart, Effect::Irreversible)], true);
        assert_eq!(check(&p, None).len(), 1);
        p.steps[0].when = Some("mode == \"restart\"".into());
        assert_eq!(check(&p, None), Vec::<String>::new());
    }
}
