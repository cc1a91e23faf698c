//! `increase_resources`: set the requests and limits of a Deployment's containers.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use serde_json::{Value, json};

use super::revision::current_revision;
use super::{deployment, get_deployment, recorded_int};
use crate::api::JsonMap;
use crate::executor::actions::{ActionContext, Outcome, Progress, map};
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;
use crate::units::Quantity;

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
