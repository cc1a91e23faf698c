//! NetworkPolicy actions: isolate one pod (a policy that selects only it and allows nothing),
//! and create, replace or delete a NetworkPolicy.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use kube::api::{Api, ObjectMeta, Patch};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::api::names::{dns_name, label_value};
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

/// The label that ties an isolated pod to the NetworkPolicy that isolates it.
pub const ISOLATED_LABEL: &str = "remedy.kubernaut.io/isolated";
/// The annotation naming the pod a NetworkPolicy of isolate_pod isolates.
pub const ISOLATES_ANNOTATION: &str = "remedy.kubernaut.io/isolates";

fn policies(ctx: &ActionContext, p: &Params) -> Result<Api<NetworkPolicy>, ActionError> {
    Ok(Api::namespaced(ctx.client.clone(), p.string("namespace")?))
}

/// The isolating policy's name for a pod.
pub fn isolation_policy_name(pod: &str) -> String {
    dns_name(&format!("remedy-isolate-{pod}"), 253)
}

fn isolation_spec(pod: &str, direction: &str) -> NetworkPolicySpec {
    let types: Vec<String> = match direction {
        "ingress" => vec!["Ingress".into()],
        "egress" => vec!["Egress".into()],
        _ => vec!["Ingress".into(), "Egress".into()],
    };
    serde_json::from_value(json!({
        "podSelector": { "matchLabels": { ISOLATED_LABEL: label_value(pod) } },
        "policyTypes": types,
    }))
    .unwrap_or_default()
}

fn denies(direction: &str) -> &'static str {
    match direction {
        "ingress" => "ingress",
        "egress" => "egress",
        _ => "ingress and egress",
    }
}

/// Refuses a policy of that name that isolate_pod did not make for this pod.
fn check_ours(policy: &NetworkPolicy, pod: &str, target: &Target) -> Result<(), ActionError> {
    if policy
        .annotations()
        .get(ISOLATES_ANNOTATION)
        .map(String::as_str)
        == Some(pod)
    {
        return Ok(());
    }
    Err(ActionError::new(
        crate::api::kubernetes_execution::ErrorReason::Conflict,
        format!("{target} exists and does not isolate pod {pod}; it is left alone"),
    ))
}

/// Records the isolating policy's name; refuses when a policy of that name is not ours.
pub async fn prepare_isolate(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let ns = p.string("namespace")?;
    let pod_name = p.string("pod")?;
    let pod_target = Target::namespaced("Pod", ns, pod_name);
    let pod = Api::<Pod>::namespaced(ctx.client.clone(), ns)
        .get(pod_name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &pod_target))?;
    let name = isolation_policy_name(pod_name);
    let target = Target::namespaced("NetworkPolicy", ns, &name);
    let existing = policies(ctx, p)?
        .get_opt(&name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    if let Some(existing) = &existing {
        check_ours(existing, pod_name, &target)?;
    }
    let labelled = pod.labels().get(ISOLATED_LABEL) == Some(&label_value(pod_name));
    Ok(map([
        ("network_policy", json!(name)),
        ("_labelled", json!(labelled)),
        ("_spec", existing.as_ref().map_or(Value::Null, spec_value)),
    ]))
}

/// Labels the pod, then creates (or corrects) the policy that selects only that label.
pub async fn apply_isolate(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let ns = p.string("namespace")?;
    let pod_name = p.string("pod")?;
    let direction = p.opt_string("direction").unwrap_or("both");
    let pod_target = Target::namespaced("Pod", ns, pod_name);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let pod = pods
        .get(pod_name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &pod_target))?;
    let value = label_value(pod_name);
    let mut outcome = Outcome::default();
    let labelled = pod.labels().get(ISOLATED_LABEL) == Some(&value);
    if !labelled {
        pods.patch(
            pod_name,
            &ctx.patch_params(),
            &Patch::Merge(json!({ "metadata": { "labels": { ISOLATED_LABEL: value } } })),
        )
        .await
        .map_err(|e| ActionError::from_kube(&e, "label", &pod_target))?;
    }
    // What changed is judged against the state recorded before the first pass.
    if !recorded
        .get("_labelled")
        .and_then(Value::as_bool)
        .unwrap_or(labelled)
    {
        outcome = outcome.changed(&pod_target, format!("labelled {ISOLATED_LABEL}={value}"));
    }
    let name = isolation_policy_name(pod_name);
    let target = Target::namespaced("NetworkPolicy", ns, &name);
    let api = policies(ctx, p)?;
    let spec = isolation_spec(pod_name, direction);
    let change = format!("denies {} of pod {pod_name}", denies(direction));
    let current = api
        .get_opt(&name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    let before = match recorded.get("_spec") {
        Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<NetworkPolicySpec>(v.clone()).ok()),
        None => current.as_ref().map(|p| p.spec.clone()),
    };
    match before {
        None => outcome = outcome.changed(&target, format!("created: {change}")),
        Some(old) if old.as_ref() != Some(&spec) => {
            outcome = outcome.changed(&target, format!("now {change}"));
        }
        Some(_) => {}
    }
    match current {
        None => {
            let policy = NetworkPolicy {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    annotations: Some(
                        [
                            (ISOLATES_ANNOTATION.to_string(), pod_name.to_string()),
                            (
                                "remedy.kubernaut.io/created-by".to_string(),
                                ctx.execution_name.clone(),
                            ),
                        ]
                        .into(),
                    ),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            match api.create(&ctx.post_params(), &policy).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    return Err(ActionError {
                        stale_write: true,
                        ..ActionError::new(
                            crate::api::kubernetes_execution::ErrorReason::Conflict,
                            format!("{target} was created by someone else meanwhile"),
                        )
                    });
                }
                Err(e) => return Err(ActionError::from_kube(&e, "create", &target)),
            }
        }
        Some(mut existing) => {
            check_ours(&existing, pod_name, &target)?;
            if existing.spec.as_ref() != Some(&spec) {
                existing.spec = Some(spec);
                api.replace(&name, &ctx.post_params(), &existing)
                    .await
                    .map_err(|e| ActionError::from_kube(&e, "update", &target))?;
            }
        }
    }
    outcome.output = map([("network_policy", json!(name))]);
    Ok(Progress::Done(outcome))
}

/// The wanted spec (present) or `None` (absent), checked.
fn wanted(p: &Params) -> Result<Option<NetworkPolicySpec>, ActionError> {
    match (
        p.opt_string("state").unwrap_or("present"),
        p.opt_map("spec"),
    ) {
        ("absent", None) => Ok(None),
        ("absent", Some(_)) => Err(ActionError::invalid(
            "update_network_policy: `state: absent` deletes the policy and takes no `spec`",
        )),
        (_, None) => Err(ActionError::invalid(
            "update_network_policy needs `spec` (or `state: absent` to delete the policy)",
        )),
        (_, Some(spec)) => serde_json::from_value(Value::Object(spec.clone()))
            .map(Some)
            .map_err(|e| {
                ActionError::invalid(format!(
                    "update_network_policy: `spec` is not a NetworkPolicy spec: {e}"
                ))
            }),
    }
}

fn spec_value(policy: &NetworkPolicy) -> Value {
    policy
        .spec
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null)
}

/// Records the policy's spec and state before.
pub async fn prepare_update(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    wanted(p)?;
    let name = p.string("network_policy")?;
    let target = Target::namespaced("NetworkPolicy", p.string("namespace")?, name);
    let existing = policies(ctx, p)?
        .get_opt(name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    Ok(map([
        (
            "previous_spec",
            existing.as_ref().map_or(Value::Null, spec_value),
        ),
        (
            "previous_state",
            json!(if existing.is_some() {
                "present"
            } else {
                "absent"
            }),
        ),
    ]))
}

/// The spec as the API server keeps it: policyTypes filled in when absent.
fn defaulted(spec: &NetworkPolicySpec) -> NetworkPolicySpec {
    let mut s = spec.clone();
    if s.policy_types.is_none() {
        let mut types = vec!["Ingress".to_string()];
        if s.egress.is_some() {
            types.push("Egress".to_string());
        }
        s.policy_types = Some(types);
    }
    s
}

/// Creates, replaces or deletes the policy, whichever makes it as wanted.
pub async fn apply_update(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let wanted = wanted(p)?;
    let name = p.string("network_policy")?;
    let target = Target::namespaced("NetworkPolicy", p.string("namespace")?, name);
    let api = policies(ctx, p)?;
    let existing = api
        .get_opt(name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    let previous_state = recorded.get("previous_state").cloned().unwrap_or_else(|| {
        json!(if existing.is_some() {
            "present"
        } else {
            "absent"
        })
    });
    let previous_spec = recorded
        .get("previous_spec")
        .cloned()
        .unwrap_or_else(|| existing.as_ref().map_or(Value::Null, spec_value));
    match (&wanted, existing) {
        (None, Some(policy)) => {
            if policy.meta().deletion_timestamp.is_none() {
                match api.delete(name, &ctx.delete_params(None)).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(ActionError::from_kube(&e, "delete", &target)),
                }
            }
        }
        (None, None) => {}
        (Some(spec), None) => {
            let policy = NetworkPolicy {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec.clone()),
            };
            api.create(&ctx.post_params(), &policy)
                .await
                .map_err(|e| ActionError::from_kube(&e, "create", &target))?;
        }
        (Some(spec), Some(mut policy)) => {
            if policy.spec.as_ref().map(defaulted) != Some(defaulted(spec)) {
                policy.spec = Some(spec.clone());
                api.replace(name, &ctx.post_params(), &policy)
                    .await
                    .map_err(|e| ActionError::from_kube(&e, "update", &target))?;
            }
        }
    }
    let before_present = previous_state == json!("present");
    let change = match &wanted {
        None if before_present => Some("deleted".to_string()),
        None => None,
        Some(_) if !before_present => Some("created".to_string()),
        Some(spec) => {
            let before: Option<NetworkPolicySpec> =
                serde_json::from_value(previous_spec.clone()).ok();
            (before.as_ref().map(defaulted) != Some(defaulted(spec)))
                .then(|| "spec replaced".to_string())
        }
    };
    let outcome = Outcome::with_output(map([
        ("previous_spec", previous_spec),
        ("previous_state", previous_state),
    ]));
    Ok(Progress::Done(match change {
        Some(c) => outcome.changed(&target, c),
        None => outcome,
    }))
}
