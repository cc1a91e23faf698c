//! Workload actions: scale a Deployment or StatefulSet, restart a Deployment, set its
//! container resources, roll it back to an earlier revision.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{PodTemplateSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, Patch};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;
use crate::units::Quantity;

/// The annotation holding a Deployment's (and its ReplicaSets') revision.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The pod template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
/// The label the Deployment controller adds to ReplicaSet templates.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// The revision recorded in an object's annotations.
pub fn revision_of(meta: &ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)?
        .parse()
        .ok()
}

/// The Deployment an action names, with its `Api`.
fn deployment(ctx: &ActionContext, p: &Params) -> Result<(Api<Deployment>, Target), ActionError> {
    let ns = p.string("namespace")?;
    let name = p.string("deployment")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("Deployment", ns, name),
    ))
}

async fn get_deployment(api: &Api<Deployment>, target: &Target) -> Result<Deployment, ActionError> {
    api.get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))
}

fn recorded_int(recorded: &JsonMap, key: &str) -> Option<i64> {
    recorded.get(key).and_then(Value::as_i64)
}

// ---- scale ---------------------------------------------------------------------------------

/// Records `previous_replicas` of the Deployment.
pub async fn prepare_scale_deployment(
    ctx: &ActionContext,
    p: &Params,
) -> Result<JsonMap, ActionError> {
    prepare_scale::<Deployment>(ctx, p, "Deployment", "deployment").await
}

/// Records `previous_replicas` of the StatefulSet.
pub async fn prepare_scale_statefulset(
    ctx: &ActionContext,
    p: &Params,
) -> Result<JsonMap, ActionError> {
    prepare_scale::<StatefulSet>(ctx, p, "StatefulSet", "statefulset").await
}

/// Sets the Deployment's replicas through its scale subresource.
pub async fn apply_scale_deployment(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    apply_scale::<Deployment>(ctx, p, recorded, "Deployment", "deployment").await
}

/// Sets the StatefulSet's replicas through its scale subresource.
pub async fn apply_scale_statefulset(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    apply_scale::<StatefulSet>(ctx, p, recorded, "StatefulSet", "statefulset").await
}

trait Workload:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Debug
{
}
impl Workload for Deployment {}
impl Workload for StatefulSet {}

fn wanted_replicas(p: &Params) -> Result<i32, ActionError> {
    let replicas = p.int("replicas")?;
    i32::try_from(replicas)
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ActionError::invalid(format!(
                "{}: `replicas` must be 0 or more, got {replicas}",
                p.action()
            ))
        })
}

async fn current_replicas<K: Workload>(api: &Api<K>, target: &Target) -> Result<i32, ActionError> {
    let scale = api
        .get_scale(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read the scale of", target))?;
    Ok(scale.spec.and_then(|s| s.replicas).unwrap_or(0))
}

async fn prepare_scale<K: Workload>(
    ctx: &ActionContext,
    p: &Params,
    kind: &str,
    param: &str,
) -> Result<JsonMap, ActionError> {
    wanted_replicas(p)?;
    let ns = p.string("namespace")?;
    let target = Target::namespaced(kind, ns, p.string(param)?);
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let previous = current_replicas(&api, &target).await?;
    Ok(map([("previous_replicas", json!(previous))]))
}

async fn apply_scale<K: Workload>(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
    kind: &str,
    param: &str,
) -> Result<Progress, ActionError> {
    let replicas = wanted_replicas(p)?;
    let ns = p.string("namespace")?;
    let target = Target::namespaced(kind, ns, p.string(param)?);
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let current = current_replicas(&api, &target).await?;
    let previous = recorded_int(recorded, "previous_replicas").unwrap_or(i64::from(current));
    if current != replicas {
        api.patch_scale(
            &target.name,
            &ctx.patch_params(),
            &Patch::Merge(json!({ "spec": { "replicas": replicas } })),
        )
        .await
        .map_err(|e| ActionError::from_kube(&e, "scale", &target))?;
    }
    let outcome = Outcome::with_output(map([
        ("previous_replicas", json!(previous)),
        ("replicas", json!(replicas)),
    ]));
    Ok(Progress::Done(if previous == i64::from(replicas) {
        outcome
    } else {
        outcome.changed(&target, format!("scaled {previous}→{replicas}"))
    }))
}

// ---- restart -------------------------------------------------------------------------------

/// Records `previous_revision` and the restart stamp this attempt will set.
pub async fn prepare_restart(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let d = get_deployment(&api, &target).await?;
    Ok(map([
        (
            "previous_revision",
            json!(current_revision(ctx, &d, &target).await?),
        ),
        ("_restarted_at", json!(ctx.now.to_string())),
    ]))
}

/// Sets the pod template's `restartedAt` annotation to this attempt's stamp.
pub async fn apply_restart(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let d = get_deployment(&api, &target).await?;
    let previous = match recorded_int(recorded, "previous_revision") {
        Some(r) => r,
        None => current_revision(ctx, &d, &target).await?,
    };
    let stamp = recorded
        .get("_restarted_at")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| ctx.now.to_string());
    let current = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT_ANNOTATION));
    if current != Some(&stamp) {
        let patch = json!({ "spec": { "template": { "metadata": { "annotations": {
            RESTARTED_AT_ANNOTATION: stamp
        } } } } });
        api.patch(&target.name, &ctx.patch_params(), &Patch::Merge(patch))
            .await
            .map_err(|e| ActionError::from_kube(&e, "restart", &target))?;
    }
    let revision = previous + 1;
    Ok(Progress::Done(
        Outcome::with_output(map([
            ("previous_revision", json!(previous)),
            ("revision", json!(revision)),
        ]))
        .changed(
            &target,
            format!("restarted (revision {previous}→{revision})"),
        ),
    ))
}

// ---- increase_resources --------------------------------------------------------------------

/// The resource fields the action sets: parameter, section, resource name, label.
const RESOURCE_FIELDS: [(&str, &str, &str, &str); 4] = [
    ("memory", "limits", "memory", "memory limit"),
    ("cpu", "limits", "cpu", "cpu limit"),
    ("memory_request", "requests", "memory", "memory request"),
    ("cpu_request", "requests", "cpu", "cpu request"),
];

/// The containers an `increase_resources` call changes.
fn chosen_containers(
    d: &Deployment,
    p: &Params,
    target: &Target,
) -> Result<Vec<String>, ActionError> {
    let names: Vec<String> = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    match p.opt_string("container") {
        Some(wanted) if names.iter().any(|n| n == wanted) => Ok(vec![wanted.to_string()]),
        Some(wanted) => Err(ActionError::invalid(format!(
            "{target} has no container `{wanted}` (containers: {})",
            names.join(", ")
        ))),
        None if names.is_empty() => {
            Err(ActionError::invalid(format!("{target} has no containers")))
        }
        None => Ok(names),
    }
}

fn container_resources(d: &Deployment, name: &str) -> ResourceRequirements {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.iter().find(|c| c.name == name))
        .and_then(|c| c.resources.clone())
        .unwrap_or_default()
}

fn section<'r>(
    r: &'r ResourceRequirements,
    name: &str,
) -> Option<&'r BTreeMap<String, K8sQuantity>> {
    if name == "limits" {
        r.limits.as_ref()
    } else {
        r.requests.as_ref()
    }
}

/// The container's resources with the call's values set.
fn wanted_resources(current: &ResourceRequirements, p: &Params) -> ResourceRequirements {
    let mut wanted = current.clone();
    for (param, sec, resource, _) in RESOURCE_FIELDS {
        if let Some(value) = p.opt_string(param) {
            let map = if sec == "limits" {
                wanted.limits.get_or_insert_with(BTreeMap::new)
            } else {
                wanted.requests.get_or_insert_with(BTreeMap::new)
            };
            map.insert(resource.to_string(), K8sQuantity(value.to_string()));
        }
    }
    wanted
}

fn quantity_of(r: &ResourceRequirements, sec: &str, resource: &str) -> Option<Quantity> {
    section(r, sec)
        .and_then(|m| m.get(resource))
        .and_then(|q| Quantity::parse(&q.0).ok())
}

/// True when `a` and `b` hold the same amounts for every field the call sets.
fn same_amounts(a: &ResourceRequirements, b: &ResourceRequirements, p: &Params) -> bool {
    RESOURCE_FIELDS
        .iter()
        .filter(|(param, ..)| p.has(param))
        .all(|(_, sec, res, _)| quantity_of(a, sec, res) == quantity_of(b, sec, res))
}

fn check_requests_within_limits(
    r: &ResourceRequirements,
    container: &str,
    target: &Target,
) -> Result<(), ActionError> {
    for resource in ["memory", "cpu"] {
        if let (Some(request), Some(limit)) = (
            quantity_of(r, "requests", resource),
            quantity_of(r, "limits", resource),
        ) && request > limit
        {
            return Err(ActionError::invalid(format!(
                "container {container} of {target} would request more {resource} ({request}) than its limit ({limit}); raise the limit too"
            )));
        }
    }
    Ok(())
}

/// Records `previous_resources` (per changed container) and `previous_revision`.
pub async fn prepare_increase_resources(
    ctx: &ActionContext,
    p: &Params,
) -> Result<JsonMap, ActionError> {
    if !RESOURCE_FIELDS.iter().any(|(param, ..)| p.has(param)) {
        return Err(ActionError::invalid(
            "increase_resources needs at least one of `memory`, `cpu`, `memory_request`, `cpu_request`",
        ));
    }
    let (api, target) = deployment(ctx, p)?;
    let d = get_deployment(&api, &target).await?;
    let mut previous = JsonMap::new();
    for name in chosen_containers(&d, p, &target)? {
        let current = container_resources(&d, &name);
        check_requests_within_limits(&wanted_resources(&current, p), &name, &target)?;
        previous.insert(name, serde_json::to_value(&current).unwrap_or(Value::Null));
    }
    Ok(map([
        ("previous_resources", Value::Object(previous)),
        (
            "previous_revision",
            json!(current_revision(ctx, &d, &target).await?),
        ),
    ]))
}

/// Sets the resources of the chosen containers (one write, with the resourceVersion read).
pub async fn apply_increase_resources(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let mut d = get_deployment(&api, &target).await?;
    let names = chosen_containers(&d, p, &target)?;
    let previous_revision = match recorded_int(recorded, "previous_revision") {
        Some(r) => r,
        None => current_revision(ctx, &d, &target).await?,
    };
    let recorded_resources = recorded
        .get("previous_resources")
        .and_then(Value::as_object);
    let mut descriptions = Vec::new();
    let mut needs_write = false;
    let mut previous_out = JsonMap::new();
    for name in &names {
        let current = container_resources(&d, name);
        let before: ResourceRequirements = recorded_resources
            .and_then(|m| m.get(name))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_else(|| current.clone());
        let wanted = wanted_resources(&current, p);
        check_requests_within_limits(&wanted, name, &target)?;
        if !same_amounts(&current, &wanted, p) {
            needs_write = true;
            if let Some(c) = d
                .spec
                .as_mut()
                .and_then(|s| s.template.spec.as_mut())
                .and_then(|s| s.containers.iter_mut().find(|c| &c.name == name))
            {
                c.resources = Some(wanted.clone());
            }
        }
        let mut parts = Vec::new();
        for (param, sec, res, label) in RESOURCE_FIELDS {
            if !p.has(param) {
                continue;
            }
            let old = section(&before, sec)
                .and_then(|m| m.get(res))
                .map(|q| q.0.clone());
            let new = section(&wanted, sec)
                .and_then(|m| m.get(res))
                .map(|q| q.0.clone());
            if quantity_of(&before, sec, res) != quantity_of(&wanted, sec, res) {
                parts.push(format!(
                    "{label} {}→{}",
                    old.as_deref().unwrap_or("none"),
                    new.as_deref().unwrap_or("none")
                ));
            }
        }
        if !parts.is_empty() {
            descriptions.push(if names.len() > 1 {
                format!("container {name}: {}", parts.join(", "))
            } else {
                parts.join(", ")
            });
        }
        previous_out.insert(
            name.clone(),
            serde_json::to_value(&before).unwrap_or(Value::Null),
        );
    }
    if needs_write {
        api.replace(&target.name, &ctx.post_params(), &d)
            .await
            .map_err(|e| ActionError::from_kube(&e, "update the resources of", &target))?;
    }
    let outcome = Outcome::with_output(map([
        ("previous_resources", Value::Object(previous_out)),
        ("previous_revision", json!(previous_revision)),
    ]));
    Ok(Progress::Done(if descriptions.is_empty() {
        outcome
    } else {
        outcome.changed(&target, descriptions.join("; "))
    }))
}

// ---- rollback ------------------------------------------------------------------------------

/// The ReplicaSets a Deployment owns, with their revisions, oldest first.
async fn revisions(
    ctx: &ActionContext,
    d: &Deployment,
    target: &Target,
) -> Result<Vec<(i64, ReplicaSet)>, ActionError> {
    let ns = target.namespace.as_deref().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), ns);
    let selector = d
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ActionError::from_kube(&e, "list the ReplicaSets of", target))?;
    let uid = d.metadata.uid.clone();
    let mut owned: Vec<(i64, ReplicaSet)> = list
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
        })
        .filter_map(|rs| revision_of(&rs.metadata).map(|r| (r, rs)))
        .collect();
    owned.sort_by_key(|(r, _)| *r);
    Ok(owned)
}

/// The Deployment's current revision: its `deployment.kubernetes.io/revision` annotation, or
/// else the revision of the ReplicaSet it owns whose template is its own, or else the newest.
async fn current_revision(
    ctx: &ActionContext,
    d: &Deployment,
    target: &Target,
) -> Result<i64, ActionError> {
    if let Some(r) = revision_of(&d.metadata) {
        return Ok(r);
    }
    let owned = revisions(ctx, d, target).await?;
    let template = d.spec.as_ref().map(|s| template_without_hash(&s.template));
    let matching = owned.iter().rev().find(|(_, rs)| {
        let rs_template = rs.spec.as_ref().and_then(|s| s.template.as_ref());
        match (rs_template, &template) {
            (Some(a), Some(b)) => same_template(&template_without_hash(a), b),
            _ => false,
        }
    });
    Ok(matching
        .or(owned.last())
        .map_or(0, |(revision, _)| *revision))
}

/// A pod template without the controller's `pod-template-hash` label, as JSON for comparing.
fn template_without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

/// True when two templates are the same once empty fields (`resources: {}`, `null`), which
/// clients add or drop freely, are left out.
fn same_template(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let a = serde_json::to_value(a)
        .ok()
        .and_then(|v| without_empties(&v));
    let b = serde_json::to_value(b)
        .ok()
        .and_then(|v| without_empties(&v));
    a == b
}

fn without_empties(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let kept: serde_json::Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| without_empties(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|x| without_empties(x).unwrap_or(Value::Null))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Resolves the revision to return to and records it with `previous_revision`.
pub async fn prepare_rollback(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let d = get_deployment(&api, &target).await?;
    let owned = revisions(ctx, &d, &target).await?;
    let current = current_revision(ctx, &d, &target).await?;
    let wanted = p.opt_int("revision").filter(|r| *r > 0);
    let known: Vec<String> = owned.iter().map(|(r, _)| r.to_string()).collect();
    let chosen = match wanted {
        Some(r) => owned.iter().find(|(rev, _)| *rev == r),
        None => owned.iter().rev().find(|(rev, _)| *rev < current),
    };
    let Some((revision, rs)) = chosen else {
        let what = wanted.map_or("an earlier revision".to_string(), |r| {
            format!("revision {r}")
        });
        return Err(ActionError::new(
            crate::api::kubernetes_execution::ErrorReason::NotFound,
            format!(
                "{target} has no {what} to roll back to (revisions: {}); check the step's `revision`",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    Ok(map([
        ("previous_revision", json!(current)),
        ("revision", json!(revision)),
        ("_replicaset", json!(rs.name_any())),
    ]))
}

/// Copies the chosen revision's pod template into the Deployment, like `kubectl rollout undo`.
pub async fn apply_rollback(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let mut d = get_deployment(&api, &target).await?;
    let rs_name = recorded
        .get("_replicaset")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ActionError::invalid("rollback_deployment: the revision to return to was not recorded")
        })?;
    let previous = recorded_int(recorded, "previous_revision").unwrap_or(0);
    let revision = recorded_int(recorded, "revision").unwrap_or(0);
    let ns = target.namespace.as_deref().unwrap_or_default();
    let rs_target = Target::namespaced("ReplicaSet", ns, rs_name);
    let rs: ReplicaSet = Api::namespaced(ctx.client.clone(), ns)
        .get(rs_name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &rs_target))?;
    let Some(template) = rs.spec.as_ref().and_then(|s| s.template.as_ref()) else {
        return Err(ActionError::invalid(format!(
            "{rs_target} has no pod template"
        )));
    };
    let wanted = template_without_hash(template);
    let Some(spec) = d.spec.as_mut() else {
        return Err(ActionError::invalid(format!("{target} has no spec")));
    };
    let output = map([
        ("previous_revision", json!(previous)),
        ("revision", json!(revision)),
    ]);
    if same_template(&template_without_hash(&spec.template), &wanted) {
        let outcome = Outcome::with_output(output);
        return Ok(Progress::Done(if previous == revision {
            outcome
        } else {
            outcome.changed(
                &target,
                format!("rolled back revision {previous}→{revision}"),
            )
        }));
    }
    spec.template = wanted;
    api.replace(&target.name, &ctx.post_params(), &d)
        .await
        .map_err(|e| ActionError::from_kube(&e, "roll back", &target))?;
    Ok(Progress::Done(Outcome::with_output(output).changed(
        &target,
        format!("rolled back revision {previous}→{revision}"),
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates_compare_without_empty_fields() {
        let a: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": { "labels": { "app": "web" } },
            "spec": { "containers": [ { "name": "app", "image": "shop:1", "resources": {} } ] }
        }))
        .unwrap();
        let b: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": { "labels": { "app": "web" }, "annotations": {} },
            "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] }
        }))
        .unwrap();
        assert!(same_template(&a, &b));
        let c: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": { "labels": { "app": "web" } },
            "spec": { "containers": [ { "name": "app", "image": "shop:2" } ] }
        }))
        .unwrap();
        assert!(!same_template(&a, &c));
    }
}
