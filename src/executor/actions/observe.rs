//! Actions that change nothing the remediation targets: verify a Deployment, collect
//! diagnostics, back an object up into a ConfigMap, publish an Event, wait.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, list_with_fields, map};
use crate::api::JsonMap;
use crate::executor::events::{ExecutionRef, Notice, publish};
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

/// Annotation on a backup ConfigMap naming what it holds (`deployment/web`).
pub const BACKUP_OF_ANNOTATION: &str = "remedy.kubernaut.io/backup-of";
/// Annotation on a backup ConfigMap naming the execution (uid) that wrote it.
pub const BACKUP_BY_ANNOTATION: &str = "remedy.kubernaut.io/backup-by";
/// How many recent events collect_diagnostics keeps.
const MAX_EVENTS: usize = 10;

/// Nothing to record before these actions.
pub async fn prepare(_ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    match p.action() {
        "verify_deployment" => {
            min_available(p)?;
        }
        "collect_diagnostics" | "backup_data" => {
            kind_of(p.string("resource")?)?;
        }
        "wait" => {
            p.duration("duration")?;
        }
        _ => {}
    }
    Ok(JsonMap::new())
}

// ---- verify_deployment ---------------------------------------------------------------------

fn min_available(p: &Params) -> Result<Option<i64>, ActionError> {
    match p.opt_int("min_available") {
        Some(n) if n < 0 => Err(ActionError::invalid(format!(
            "verify_deployment: `min_available` must be 0 or more, got {n}"
        ))),
        other => Ok(other),
    }
}

/// Done when the Deployment's status is current and has enough available, updated replicas.
pub async fn apply_verify(ctx: &ActionContext, p: &Params) -> Result<Progress, ActionError> {
    let ns = p.string("namespace")?;
    let target = Target::namespaced("Deployment", ns, p.string("deployment")?);
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), ns);
    let d = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    let wanted = min_available(p)?.unwrap_or_else(|| {
        d.spec
            .as_ref()
            .and_then(|s| s.replicas)
            .map_or(1, i64::from)
    });
    let status = d.status.clone().unwrap_or_default();
    let available = i64::from(status.available_replicas.unwrap_or(0));
    let ready = i64::from(status.ready_replicas.unwrap_or(0));
    let updated = i64::from(status.updated_replicas.unwrap_or(0));
    let current = match (status.observed_generation, d.metadata.generation) {
        (Some(seen), Some(generation)) => seen >= generation,
        (_, None) => true,
        (None, Some(_)) => false,
    };
    let output = map([
        ("available_replicas", json!(available)),
        ("ready_replicas", json!(ready)),
    ]);
    if ctx.dry_run || (current && available >= wanted && updated >= wanted) {
        return Ok(Progress::Done(Outcome::with_output(output)));
    }
    let lag = if current {
        String::new()
    } else {
        " (its controller has not seen the latest change yet)".to_string()
    };
    Ok(Progress::Waiting {
        retry_after: ctx.poll_interval,
        status: format!(
            "{target} has {available} of {wanted} replicas available and {updated} updated{lag}"
        ),
    })
}

// ---- kinds for kind/name -------------------------------------------------------------------

/// A kind `collect_diagnostics` and `backup_data` accept, with its API resource.
struct KnownKind {
    resource: ApiResource,
    namespaced: bool,
}

fn kind_of(resource: &str) -> Result<(KnownKind, String), ActionError> {
    let Some((kind, name)) = resource
        .split_once('/')
        .filter(|(k, n)| !k.is_empty() && !n.is_empty())
    else {
        return Err(ActionError::invalid(format!(
            "`resource` must be kind/name, such as deployment/web, got {resource:?}"
        )));
    };
    let namespaced = |resource| KnownKind {
        resource,
        namespaced: true,
    };
    let known = match kind.to_ascii_lowercase().as_str() {
        "deployment" | "deployments" | "deploy" => {
            namespaced(ApiResource::erase::<Deployment>(&()))
        }
        "statefulset" | "statefulsets" | "sts" => {
            namespaced(ApiResource::erase::<StatefulSet>(&()))
        }
        "daemonset" | "daemonsets" | "ds" => namespaced(ApiResource::erase::<DaemonSet>(&())),
        "replicaset" | "replicasets" | "rs" => namespaced(ApiResource::erase::<ReplicaSet>(&())),
        "pod" | "pods" | "po" => namespaced(ApiResource::erase::<Pod>(&())),
        "service" | "services" | "svc" => namespaced(ApiResource::erase::<Service>(&())),
        "configmap" | "configmaps" | "cm" => namespaced(ApiResource::erase::<ConfigMap>(&())),
        "persistentvolumeclaim" | "persistentvolumeclaims" | "pvc" => {
            namespaced(ApiResource::erase::<PersistentVolumeClaim>(&()))
        }
        "horizontalpodautoscaler" | "horizontalpodautoscalers" | "hpa" => {
            namespaced(ApiResource::erase::<HorizontalPodAutoscaler>(&()))
        }
        "job" | "jobs" => namespaced(ApiResource::erase::<Job>(&())),
        "cronjob" | "cronjobs" | "cj" => namespaced(ApiResource::erase::<CronJob>(&())),
        "networkpolicy" | "networkpolicies" | "netpol" => {
            namespaced(ApiResource::erase::<NetworkPolicy>(&()))
        }
        "node" | "nodes" | "no" => KnownKind {
            resource: ApiResource::erase::<Node>(&()),
            namespaced: false,
        },
        "secret" | "secrets" => {
            return Err(ActionError::invalid(
                "the executor does not read Secrets: their values must never reach a status or a ConfigMap",
            ));
        }
        other => {
            return Err(ActionError::invalid(format!(
                "`resource` kind {other:?} is not supported (use deployment, statefulset, daemonset, replicaset, pod, service, configmap, pvc, hpa, job, cronjob, networkpolicy or node)"
            )));
        }
    };
    Ok((known, name.to_string()))
}

/// Reads the object `resource` names.
async fn read_object(
    ctx: &ActionContext,
    p: &Params,
) -> Result<(DynamicObject, Target, KnownKind), ActionError> {
    let ns = p.string("namespace")?;
    let (known, name) = kind_of(p.string("resource")?)?;
    let (api, target) = if known.namespaced {
        (
            Api::<DynamicObject>::namespaced_with(ctx.client.clone(), ns, &known.resource),
            Target::namespaced(&known.resource.kind, ns, &name),
        )
    } else {
        (
            Api::<DynamicObject>::all_with(ctx.client.clone(), &known.resource),
            Target::cluster(&known.resource.kind, &name),
        )
    };
    let obj = api
        .get(&name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    Ok((obj, target, known))
}

// ---- collect_diagnostics -------------------------------------------------------------------

/// One line about an object's state: replica counts, phase, conditions.
pub fn summarize(target: &Target, data: &Value) -> String {
    let mut parts = Vec::new();
    let status = &data["status"];
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    if let Some(desired) = data["spec"]["replicas"].as_i64() {
        parts.push(format!(
            "{desired} desired, {} ready, {} updated, {} available",
            int(&status["readyReplicas"]),
            int(&status["updatedReplicas"]),
            int(&status["availableReplicas"])
        ));
    }
    if let Some(desired) = status["desiredNumberScheduled"].as_i64() {
        parts.push(format!(
            "{desired} desired, {} ready, {} updated, {} available",
            int(&status["numberReady"]),
            int(&status["updatedNumberScheduled"]),
            int(&status["numberAvailable"])
        ));
    }
    if let Some(schedule) = data["spec"]["schedule"].as_str() {
        let suspended = data["spec"]["suspend"].as_bool() == Some(true);
        let active = status["active"].as_array().map_or(0, Vec::len);
        parts.push(format!(
            "schedule {schedule:?}{}, {active} active Jobs",
            if suspended { ", suspended" } else { "" }
        ));
        if let Some(last) = status["lastScheduleTime"].as_str() {
            parts.push(format!("last scheduled {last}"));
        }
    }
    if let Some(phase) = status["phase"].as_str() {
        parts.push(format!("phase {phase}"));
    }
    if let Some(statuses) = status["containerStatuses"].as_array() {
        let restarts: i64 = statuses.iter().map(|c| int(&c["restartCount"])).sum();
        parts.push(format!("{restarts} restarts"));
    }
    if let Some(conditions) = status["conditions"].as_array() {
        let list: Vec<String> = conditions
            .iter()
            .map(|c| {
                let t = c["type"].as_str().unwrap_or("?");
                let s = c["status"].as_str().unwrap_or("?");
                match c["reason"].as_str() {
                    Some(r) if !r.is_empty() => format!("{t}={s} ({r})"),
                    _ => format!("{t}={s}"),
                }
            })
            .collect();
        if !list.is_empty() {
            parts.push(list.join(", "));
        }
    }
    if parts.is_empty() {
        format!("{target} exists")
    } else {
        format!("{target}: {}", parts.join("; "))
    }
}

fn event_time(e: &Event) -> Option<jiff::Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The most recent events about the object, oldest first, as `Type Reason: message (xN)`.
async fn recent_events(
    ctx: &ActionContext,
    target: &Target,
    namespace: &str,
) -> Result<Vec<Value>, ActionError> {
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), namespace);
    let mut events: Vec<Event> = list_with_fields(
        &api,
        &format!("involvedObject.name={}", target.name),
        target,
        "list the events of",
    )
    .await?
    .into_iter()
    .filter(|e| {
        e.involved_object.name.as_deref() == Some(&target.name)
            && e.involved_object.kind.as_deref() == Some(&target.kind)
    })
    .collect();
    events.sort_by_key(event_time);
    let skip = events.len().saturating_sub(MAX_EVENTS);
    Ok(events
        .iter()
        .skip(skip)
        .map(|e| {
            let count = e
                .count
                .filter(|c| *c > 1)
                .map(|c| format!(" (x{c})"))
                .unwrap_or_default();
            json!(format!(
                "{} {}: {}{count}",
                e.type_.as_deref().unwrap_or("Normal"),
                e.reason.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("")
            ))
        })
        .collect())
}

/// Records a summary of the object and, unless `events: false`, its recent events.
pub async fn apply_collect(ctx: &ActionContext, p: &Params) -> Result<Progress, ActionError> {
    let (obj, target, _) = read_object(ctx, p).await?;
    let summary = summarize(&target, &obj.data);
    let events = if p.opt_bool("events").unwrap_or(true) {
        let ns = obj.namespace().unwrap_or_else(|| "default".to_string());
        recent_events(ctx, &target, &ns).await?
    } else {
        Vec::new()
    };
    Ok(Progress::Done(Outcome::with_output(map([
        ("summary", json!(summary)),
        ("events", Value::Array(events)),
    ]))))
}

// ---- backup_data ---------------------------------------------------------------------------

/// The backup ConfigMap's data: a ConfigMap's own data, or the object as YAML.
fn backup_contents(
    obj: &DynamicObject,
    known: &KnownKind,
    name: &str,
) -> Result<BTreeMap<String, String>, ActionError> {
    if known.resource.kind == "ConfigMap" {
        let data = obj.data["data"].as_object().cloned().unwrap_or_default();
        return Ok(data
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect());
    }
    let copy = json!({
        "apiVersion": known.resource.api_version,
        "kind": known.resource.kind,
        "metadata": {
            "name": name,
            "namespace": obj.namespace(),
            "labels": obj.metadata.labels,
            "annotations": obj.metadata.annotations,
        },
        "spec": obj.data["spec"],
    });
    let yaml = serde_saphyr::to_string(&copy)
        .map_err(|e| ActionError::invalid(format!("could not write the backup as YAML: {e}")))?;
    Ok(BTreeMap::from([(
        format!("{}.{name}.yaml", known.resource.kind.to_ascii_lowercase()),
        yaml,
    )]))
}

/// Copies the object (a ConfigMap's data, or another object's spec) into a backup ConfigMap.
pub async fn apply_backup(ctx: &ActionContext, p: &Params) -> Result<Progress, ActionError> {
    let ns = p.string("namespace")?;
    let resource = p.string("resource")?;
    let (obj, source, known) = read_object(ctx, p).await?;
    let destination = p.opt_string("destination").map_or_else(
        || {
            crate::api::names::with_suffix(
                &ctx.execution_name,
                "-backup",
                crate::api::names::MAX_SUBDOMAIN,
            )
        },
        str::to_string,
    );
    let target = Target::namespaced("ConfigMap", ns, &destination);
    let marker = ctx
        .execution_uid
        .clone()
        .unwrap_or_else(|| format!("{}/{}", ctx.execution_namespace, ctx.execution_name));
    let backup = ConfigMap {
        metadata: ObjectMeta {
            name: Some(destination.clone()),
            namespace: Some(ns.to_string()),
            annotations: Some(BTreeMap::from([
                (BACKUP_OF_ANNOTATION.to_string(), resource.to_string()),
                (BACKUP_BY_ANNOTATION.to_string(), marker.clone()),
            ])),
            ..ObjectMeta::default()
        },
        data: Some(backup_contents(&obj, &known, &source.name)?),
        ..ConfigMap::default()
    };
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let ours = |cm: &ConfigMap| cm.annotations().get(BACKUP_BY_ANNOTATION) == Some(&marker);
    let not_ours = || {
        ActionError::new(
            crate::api::kubernetes_execution::ErrorReason::Conflict,
            format!(
                "{target} already exists and is not this execution's backup; choose another `destination`"
            ),
        )
    };
    let existing = api
        .get_opt(&destination)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    match existing {
        Some(cm) if ours(&cm) => {}
        Some(_) => return Err(not_ours()),
        None => match api.create(&ctx.post_params(), &backup).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => return Err(not_ours()),
            Err(e) => return Err(ActionError::from_kube(&e, "create", &target)),
        },
    }
    Ok(Progress::Done(
        Outcome::with_output(map([("backup", json!(destination))]))
            .changed(&target, format!("created with a backup of {resource}")),
    ))
}

// ---- notify_only ---------------------------------------------------------------------------

/// Publishes a core/v1 Event about the KubernetesExecution.
pub async fn apply_notify(ctx: &ActionContext, p: &Params) -> Result<Progress, ActionError> {
    let execution = ExecutionRef {
        name: ctx.execution_name.clone(),
        namespace: ctx.execution_namespace.clone(),
        uid: ctx.execution_uid.clone(),
    };
    let message = crate::redact::scrub(p.string("message")?, &ctx.secrets);
    let notice = Notice {
        suffix: "notify",
        reason: "RemediationNotice",
        message: &message,
        warning: p.opt_string("severity") == Some("warning"),
    };
    let name = publish(&ctx.client, &execution, &notice, ctx.dry_run, !ctx.fresh)
        .await
        .map_err(|e| {
            let target = Target::namespaced("Event", &execution.namespace, &execution.name);
            ActionError::from_kube(&e, "create", &target)
        })?;
    Ok(Progress::Done(Outcome::with_output(map([(
        "event",
        json!(name),
    )]))))
}

// ---- wait ----------------------------------------------------------------------------------

/// Done once `duration` has passed since the attempt started (at once in a dry run).
pub async fn apply_wait(ctx: &ActionContext, p: &Params) -> Result<Progress, ActionError> {
    let duration = p.duration("duration")?;
    let elapsed = ctx
        .now
        .duration_since(ctx.started_at)
        .try_into()
        .unwrap_or(Duration::ZERO);
    if ctx.dry_run || elapsed >= duration {
        return Ok(Progress::Done(Outcome::default()));
    }
    let remaining = duration - elapsed;
    Ok(Progress::Waiting {
        retry_after: remaining,
        status: format!("waiting {}s more", remaining.as_secs()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_replicas_phase_and_conditions() {
        let web = Target::namespaced("Deployment", "shop", "web");
        let data = json!({
            "spec": { "replicas": 3 },
            "status": {
                "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2,
                "conditions": [
                    { "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable" },
                    { "type": "Progressing", "status": "True" }
                ]
            }
        });
        assert_eq!(
            summarize(&web, &data),
            "Deployment shop/web: 3 desired, 2 ready, 3 updated, 2 available; Available=False (MinimumReplicasUnavailable), Progressing=True"
        );
        let pod = Target::namespaced("Pod", "shop", "web-1");
        let data = json!({ "status": { "phase": "Running", "containerStatuses": [ { "restartCount": 7 } ] } });
        assert_eq!(
            summarize(&pod, &data),
            "Pod shop/web-1: phase Running; 7 restarts"
        );
        assert_eq!(summarize(&pod, &json!({})), "Pod shop/web-1 exists");
    }

    #[test]
    fn resources_are_kind_slash_name() {
        assert!(kind_of("deploy/web").is_ok());
        assert!(kind_of("Node/n1").is_ok_and(|(k, _)| !k.namespaced));
        for bad in ["web", "/web", "deployment/", "secret/db", "widget/x"] {
            assert!(kind_of(bad).is_err(), "{bad}");
        }
    }
}
