//! Rollout actions: restart a StatefulSet or DaemonSet, pause or resume a Deployment's
//! rollout, restart the workloads that use a Secret, and wait for a rollout to complete.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams, Patch};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::deployment::RESTARTED_AT_ANNOTATION;
use super::migrate::selector_query;
use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

/// A namespaced kind with a pod template that `kubectl rollout restart` can restart.
pub(crate) trait Workload:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
{
    /// The pod template's spec.
    fn pod_spec(&self) -> Option<&PodSpec>;
    /// The workload's label selector.
    fn selector(&self) -> Option<&LabelSelector>;
}

impl Workload for Deployment {
    fn pod_spec(&self) -> Option<&PodSpec> {
        self.spec.as_ref()?.template.spec.as_ref()
    }
    fn selector(&self) -> Option<&LabelSelector> {
        self.spec.as_ref().map(|s| &s.selector)
    }
}

impl Workload for StatefulSet {
    fn pod_spec(&self) -> Option<&PodSpec> {
        self.spec.as_ref()?.template.spec.as_ref()
    }
    fn selector(&self) -> Option<&LabelSelector> {
        self.spec.as_ref().map(|s| &s.selector)
    }
}

impl Workload for DaemonSet {
    fn pod_spec(&self) -> Option<&PodSpec> {
        self.spec.as_ref()?.template.spec.as_ref()
    }
    fn selector(&self) -> Option<&LabelSelector> {
        self.spec.as_ref().map(|s| &s.selector)
    }
}

/// The pod template's restart stamp ("" when it has none).
fn stamp_of<K: Serialize>(obj: &K) -> String {
    serde_json::to_value(obj)
        .ok()
        .and_then(|v| {
            v.pointer("/spec/template/metadata/annotations")?
                .get(RESTARTED_AT_ANNOTATION)?
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Sets the restart stamp (`""`: removes it) unless the template already has it. True when
/// it wrote.
async fn set_stamp<K: Workload>(
    ctx: &ActionContext,
    api: &Api<K>,
    obj: &K,
    stamp: &str,
    target: &Target,
) -> Result<bool, ActionError> {
    if stamp_of(obj) == stamp {
        return Ok(false);
    }
    let value = if stamp.is_empty() {
        Value::Null
    } else {
        json!(stamp)
    };
    let patch = json!({ "spec": { "template": { "metadata": { "annotations": {
        RESTARTED_AT_ANNOTATION: value
    } } } } });
    api.patch(&target.name, &ctx.patch_params(), &Patch::Merge(patch))
        .await
        .map_err(|e| ActionError::from_kube(&e, "restart", target))?;
    Ok(true)
}

fn describe_stamp(previous: &str, stamp: &str) -> Option<String> {
    match (previous == stamp, stamp.is_empty()) {
        (true, _) => None,
        (false, true) => Some("restart stamp removed (template as before the restart)".into()),
        (false, false) if previous.is_empty() => Some("restarted".into()),
        (false, false) => Some(format!("restarted (stamp {previous}→{stamp})")),
    }
}

// ---- restart_statefulset, restart_daemonset ------------------------------------------------

fn restart_target(p: &Params) -> Result<(&'static str, &'static str), ActionError> {
    match p.action() {
        "restart_statefulset" => Ok(("StatefulSet", "statefulset")),
        "restart_daemonset" => Ok(("DaemonSet", "daemonset")),
        other => Err(ActionError::invalid(format!("{other} restarts nothing"))),
    }
}

async fn prepare_restart_of<K: Workload>(
    ctx: &ActionContext,
    p: &Params,
) -> Result<JsonMap, ActionError> {
    let (kind, param) = restart_target(p)?;
    let ns = p.string("namespace")?;
    let target = Target::namespaced(kind, ns, p.string(param)?);
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let obj = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    let stamp = p
        .opt_string("restarted_at")
        .map_or_else(|| ctx.now.to_string(), str::to_string);
    Ok(map([
        ("previous_restarted_at", json!(stamp_of(&obj))),
        ("_restarted_at", json!(stamp)),
    ]))
}

async fn apply_restart_of<K: Workload>(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let (kind, param) = restart_target(p)?;
    let ns = p.string("namespace")?;
    let target = Target::namespaced(kind, ns, p.string(param)?);
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let obj = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    let previous = recorded
        .get("previous_restarted_at")
        .and_then(Value::as_str)
        .map_or_else(|| stamp_of(&obj), str::to_string);
    let stamp = recorded
        .get("_restarted_at")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| p.opt_string("restarted_at").map(str::to_string))
        .unwrap_or_else(|| ctx.now.to_string());
    set_stamp(ctx, &api, &obj, &stamp, &target).await?;
    let outcome = Outcome::with_output(map([
        ("previous_restarted_at", json!(previous)),
        ("restarted_at", json!(stamp)),
    ]));
    Ok(Progress::Done(match describe_stamp(&previous, &stamp) {
        Some(change) => outcome.changed(&target, change),
        None => outcome,
    }))
}

/// Records the restart stamp before, and the one this attempt sets.
pub async fn prepare_restart(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    match p.action() {
        "restart_statefulset" => prepare_restart_of::<StatefulSet>(ctx, p).await,
        _ => prepare_restart_of::<DaemonSet>(ctx, p).await,
    }
}

/// Sets the pod template's restart stamp (or removes it, for the compensation).
pub async fn apply_restart(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    match p.action() {
        "restart_statefulset" => apply_restart_of::<StatefulSet>(ctx, p, recorded).await,
        _ => apply_restart_of::<DaemonSet>(ctx, p, recorded).await,
    }
}

// ---- pause_rollout, resume_rollout ---------------------------------------------------------

fn deployment(ctx: &ActionContext, p: &Params) -> Result<(Api<Deployment>, Target), ActionError> {
    let ns = p.string("namespace")?;
    Ok((
        Api::namespaced(ctx.client.clone(), ns),
        Target::namespaced("Deployment", ns, p.string("deployment")?),
    ))
}

fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// Records `was_paused`.
pub async fn prepare_pause(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let d = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    Ok(map([("was_paused", json!(is_paused(&d)))]))
}

/// Sets `spec.paused` to `pause` unless it already is.
pub async fn apply_pause(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
    pause: bool,
) -> Result<Progress, ActionError> {
    let (api, target) = deployment(ctx, p)?;
    let d = api
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    let current = is_paused(&d);
    let was = recorded
        .get("was_paused")
        .and_then(Value::as_bool)
        .unwrap_or(current);
    if current != pause {
        let verb = if pause { "pause" } else { "resume" };
        api.patch(
            &target.name,
            &ctx.patch_params(),
            &Patch::Merge(json!({ "spec": { "paused": pause } })),
        )
        .await
        .map_err(|e| ActionError::from_kube(&e, &format!("{verb} the rollout of"), &target))?;
    }
    let outcome = Outcome::with_output(map([("was_paused", json!(was))]));
    Ok(Progress::Done(if was == pause {
        outcome
    } else {
        outcome.changed(
            &target,
            if pause {
                "rollout paused"
            } else {
                "rollout resumed"
            },
        )
    }))
}

// ---- rotate_secret_consumers ---------------------------------------------------------------

/// Whether a pod spec uses the Secret: a volume (or projected source), an env var or envFrom
/// of any container. Image pull secrets are left out: they are read at pull time only.
pub fn uses_secret(spec: &PodSpec, secret: &str) -> bool {
    let volumes = spec.volumes.iter().flatten().any(|v| {
        v.secret
            .as_ref()
            .is_some_and(|s| s.secret_name.as_deref() == Some(secret))
            || v.projected.as_ref().is_some_and(|p| {
                p.sources
                    .iter()
                    .flatten()
                    .any(|s| s.secret.as_ref().is_some_and(|s| s.name == secret))
            })
    });
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| {
            c.env.iter().flatten().any(|e| {
                e.value_from
                    .as_ref()
                    .and_then(|f| f.secret_key_ref.as_ref())
                    .is_some_and(|r| r.name == secret)
            }) || c
                .env_from
                .iter()
                .flatten()
                .any(|f| f.secret_ref.as_ref().is_some_and(|r| r.name == secret))
        });
    volumes || containers
}

/// The consumers of the Secret of each kind, as `Kind/name` → previous stamp.
async fn consumers_of<K: Workload>(
    ctx: &ActionContext,
    ns: &str,
    kind: &str,
    secret: &str,
    out: &mut BTreeMap<String, String>,
) -> Result<(), ActionError> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let target = Target::namespaced(kind, ns, "*");
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| ActionError::from_kube(&e, "list", &target))?;
    for obj in list.items {
        if obj.pod_spec().is_some_and(|s| uses_secret(s, secret)) {
            out.insert(format!("{kind}/{}", obj.name_any()), stamp_of(&obj));
        }
    }
    Ok(())
}

/// The stamps the call sets, per consumer: the `restarted_at` map, or this attempt's stamp.
fn wanted_stamps(
    p: &Params,
    consumers: &BTreeMap<String, String>,
    now: &str,
) -> Result<BTreeMap<String, String>, ActionError> {
    let Some(given) = p.opt_map("restarted_at") else {
        return Ok(consumers
            .keys()
            .map(|k| (k.clone(), now.to_string()))
            .collect());
    };
    given
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) if parse_consumer(k).is_some() => Ok((k.clone(), s.clone())),
            _ => Err(ActionError::invalid(format!(
                "rotate_secret_consumers: `restarted_at` maps Deployment/NAME, StatefulSet/NAME or DaemonSet/NAME to a stamp string, got {k}: {v}"
            ))),
        })
        .collect()
}

fn parse_consumer(key: &str) -> Option<(&str, &str)> {
    let (kind, name) = key.split_once('/')?;
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet")
        .then_some((kind, name))
        .filter(|(_, n)| !n.is_empty())
}

/// Finds the workloads using the Secret (never reading it) and records their stamps.
pub async fn prepare_rotate(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let ns = p.string("namespace")?;
    let secret = p.string("secret")?;
    let mut consumers = BTreeMap::new();
    consumers_of::<Deployment>(ctx, ns, "Deployment", secret, &mut consumers).await?;
    consumers_of::<StatefulSet>(ctx, ns, "StatefulSet", secret, &mut consumers).await?;
    consumers_of::<DaemonSet>(ctx, ns, "DaemonSet", secret, &mut consumers).await?;
    let wanted = wanted_stamps(p, &consumers, &ctx.now.to_string())?;
    if wanted.is_empty() {
        return Err(ActionError::new(
            crate::api::kubernetes_execution::ErrorReason::NotFound,
            format!(
                "no Deployment, StatefulSet or DaemonSet in {ns} uses Secret {secret}; check the step's `secret`"
            ),
        ));
    }
    let previous: JsonMap = wanted
        .keys()
        .map(|k| {
            (
                k.clone(),
                json!(consumers.get(k).cloned().unwrap_or_default()),
            )
        })
        .collect();
    Ok(map([
        ("previous_restarted_at", Value::Object(previous)),
        (
            "_stamps",
            Value::Object(wanted.into_iter().map(|(k, v)| (k, json!(v))).collect()),
        ),
    ]))
}

async fn stamp_one<K: Workload>(
    ctx: &ActionContext,
    ns: &str,
    kind: &str,
    name: &str,
    stamp: &str,
) -> Result<(), ActionError> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let target = Target::namespaced(kind, ns, name);
    let obj = api
        .get(name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &target))?;
    set_stamp(ctx, &api, &obj, stamp, &target).await.map(|_| ())
}

/// Sets each recorded consumer's restart stamp.
pub async fn apply_rotate(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let ns = p.string("namespace")?;
    let stamps = recorded
        .get("_stamps")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            ActionError::invalid("rotate_secret_consumers: the workloads to roll were not recorded")
        })?;
    let previous = recorded
        .get("previous_restarted_at")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut outcome = Outcome::default();
    let mut restarted = Vec::new();
    for (key, stamp) in &stamps {
        let stamp = stamp.as_str().unwrap_or_default();
        let Some((kind, name)) = parse_consumer(key) else {
            continue;
        };
        match kind {
            "Deployment" => stamp_one::<Deployment>(ctx, ns, kind, name, stamp).await?,
            "StatefulSet" => stamp_one::<StatefulSet>(ctx, ns, kind, name, stamp).await?,
            _ => stamp_one::<DaemonSet>(ctx, ns, kind, name, stamp).await?,
        }
        restarted.push(json!(key));
        let before = previous
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(change) = describe_stamp(before, stamp) {
            outcome = outcome.changed(&Target::namespaced(kind, ns, name), change);
        }
    }
    outcome.output = map([
        ("restarted", Value::Array(restarted)),
        ("previous_restarted_at", Value::Object(previous)),
    ]);
    Ok(Progress::Done(outcome))
}

// ---- verify_rollout ------------------------------------------------------------------------

/// A rollout's counts: desired, updated, available, and whether the status is current.
struct Counts {
    /// The workload's label selector, to count its pods.
    selector: String,
    desired: i64,
    updated: i64,
    available: i64,
    current: bool,
}

fn current(generation: Option<i64>, observed: Option<i64>) -> bool {
    match (observed, generation) {
        (Some(seen), Some(generation)) => seen >= generation,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

async fn counts(ctx: &ActionContext, kind: &str, target: &Target) -> Result<Counts, ActionError> {
    let ns = target.namespace.as_deref().unwrap_or_default();
    let read = |e: kube::Error| ActionError::from_kube(&e, "read", target);
    let int = |v: Option<i32>| i64::from(v.unwrap_or(0));
    Ok(match kind {
        "Deployment" => {
            let d = Api::<Deployment>::namespaced(ctx.client.clone(), ns)
                .get(&target.name)
                .await
                .map_err(read)?;
            let s = d.status.clone().unwrap_or_default();
            Counts {
                selector: d.selector().map(selector_query).unwrap_or_default(),
                desired: int(d.spec.as_ref().and_then(|s| s.replicas).or(Some(1))),
                updated: int(s.updated_replicas),
                available: int(s.available_replicas),
                current: current(d.metadata.generation, s.observed_generation),
            }
        }
        "StatefulSet" => {
            let sts = Api::<StatefulSet>::namespaced(ctx.client.clone(), ns)
                .get(&target.name)
                .await
                .map_err(read)?;
            let s = sts.status.clone().unwrap_or_default();
            Counts {
                selector: sts.selector().map(selector_query).unwrap_or_default(),
                desired: int(sts.spec.as_ref().and_then(|s| s.replicas).or(Some(1))),
                updated: int(s.updated_replicas),
                available: int(s.available_replicas),
                current: current(sts.metadata.generation, s.observed_generation),
            }
        }
        "ReplicaSet" => {
            let rs =
                Api::<k8s_openapi::api::apps::v1::ReplicaSet>::namespaced(ctx.client.clone(), ns)
                    .get(&target.name)
                    .await
                    .map_err(read)?;
            let s = rs.status.clone().unwrap_or_default();
            Counts {
                selector: rs.selector().map(selector_query).unwrap_or_default(),
                desired: int(rs.spec.as_ref().and_then(|s| s.replicas).or(Some(1))),
                // A ReplicaSet has one template: every pod it has is of it.
                updated: i64::from(s.replicas),
                available: int(s.available_replicas),
                current: current(rs.metadata.generation, s.observed_generation),
            }
        }
        _ => {
            let ds = Api::<DaemonSet>::namespaced(ctx.client.clone(), ns)
                .get(&target.name)
                .await
                .map_err(read)?;
            let s = ds.status.clone().unwrap_or_default();
            Counts {
                selector: ds.selector().map(selector_query).unwrap_or_default(),
                desired: i64::from(s.desired_number_scheduled),
                updated: int(s.updated_number_scheduled),
                available: int(s.number_available),
                current: current(ds.metadata.generation, s.observed_generation),
            }
        }
    })
}

/// `kind/name` of a workload, for migrate_workload and verify_rollout: the kind as the API
/// names it, and the name.
pub fn workload_of(
    text: &str,
    kinds: &[&'static str],
) -> Result<(&'static str, String), ActionError> {
    let refuse = || {
        let names: Vec<String> = kinds.iter().map(|k| k.to_ascii_lowercase()).collect();
        ActionError::invalid(format!(
            "`workload` must be kind/name with kind one of {}, got {text:?}",
            names.join(", ")
        ))
    };
    let (kind, name) = text
        .split_once('/')
        .filter(|(k, n)| !k.is_empty() && !n.is_empty())
        .ok_or_else(refuse)?;
    let kind = match kind.to_ascii_lowercase().as_str() {
        "deployment" | "deployments" | "deploy" => "Deployment",
        "statefulset" | "statefulsets" | "sts" => "StatefulSet",
        "daemonset" | "daemonsets" | "ds" => "DaemonSet",
        "replicaset" | "replicasets" | "rs" => "ReplicaSet",
        _ => return Err(refuse()),
    };
    if !kinds.contains(&kind) {
        return Err(refuse());
    }
    Ok((kind, name.to_string()))
}

const ROLLOUT_KINDS: [&str; 4] = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"];

/// Checks `workload` and `min_available` before anything is read.
pub fn check_verify(p: &Params) -> Result<(), ActionError> {
    workload_of(p.string("workload")?, &ROLLOUT_KINDS)?;
    if let Some(n) = p.opt_int("min_available").filter(|n| *n < 0) {
        return Err(ActionError::invalid(format!(
            "verify_rollout: `min_available` must be 0 or more, got {n}"
        )));
    }
    Ok(())
}

/// Done when the workload's status is current and enough of its pods are updated and
/// available, like `kubectl rollout status`.
pub async fn apply_verify(ctx: &ActionContext, p: &Params) -> Result<Progress, ActionError> {
    check_verify(p)?;
    let ns = p.string("namespace")?;
    let (kind, name) = workload_of(p.string("workload")?, &ROLLOUT_KINDS)?;
    let target = Target::namespaced(kind, ns, &name);
    let mut c = counts(ctx, kind, &target).await?;
    // A status can lag behind its pods (a pod just relabelled away, or just deleted, is
    // still counted until the controller's next pass): only Ready pods the selector matches
    // now count as available.
    if !c.selector.is_empty() {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        let list = pods
            .list(&ListParams::default().labels(&c.selector))
            .await
            .map_err(|e| ActionError::from_kube(&e, "list the pods of", &target))?;
        let ready = list
            .items
            .iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .filter(|pod| {
                pod.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count() as i64;
        c.available = c.available.min(ready);
    }
    let wanted = p.opt_int("min_available").unwrap_or(c.desired);
    let output = map([
        ("desired", json!(c.desired)),
        ("updated", json!(c.updated)),
        ("available", json!(c.available)),
    ]);
    if ctx.dry_run || (c.current && c.available >= wanted && c.updated >= wanted) {
        return Ok(Progress::Done(Outcome::with_output(output)));
    }
    let lag = if c.current {
        ""
    } else {
        " (its controller has not seen the latest change yet)"
    };
    Ok(Progress::Waiting {
        retry_after: ctx.poll_interval,
        status: format!(
            "{target} has {} of {wanted} pods available and {} updated{lag}",
            c.available, c.updated
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_spec_uses_a_secret_through_volumes_env_or_env_from() {
        let spec = |v: Value| -> PodSpec { serde_json::from_value(v).unwrap() };
        let volume = spec(json!({ "containers": [ { "name": "a" } ],
            "volumes": [ { "name": "tls", "secret": { "secretName": "db-tls" } } ] }));
        let projected = spec(json!({ "containers": [ { "name": "a" } ],
            "volumes": [ { "name": "all", "projected": { "sources": [ { "secret": { "name": "db-tls" } } ] } } ] }));
        let env = spec(json!({ "containers": [ { "name": "a",
            "env": [ { "name": "P", "valueFrom": { "secretKeyRef": { "name": "db-tls", "key": "k" } } } ] } ] }));
        let env_from = spec(json!({ "initContainers": [ { "name": "i",
            "envFrom": [ { "secretRef": { "name": "db-tls" } } ] } ], "containers": [ { "name": "a" } ] }));
        let pull = spec(json!({ "containers": [ { "name": "a" } ],
            "imagePullSecrets": [ { "name": "db-tls" } ] }));
        for (what, s) in [
            ("volume", &volume),
            ("projected", &projected),
            ("env", &env),
            ("envFrom", &env_from),
        ] {
            assert!(uses_secret(s, "db-tls"), "{what}");
            assert!(!uses_secret(s, "other"), "{what}");
        }
        assert!(
            !uses_secret(&pull, "db-tls"),
            "pull secrets need no restart"
        );
    }

    #[test]
    fn workloads_are_kind_slash_name() {
        assert_eq!(
            workload_of("deploy/web", &ROLLOUT_KINDS).unwrap(),
            ("Deployment", "web".to_string())
        );
        assert_eq!(
            workload_of("DaemonSet/agent", &ROLLOUT_KINDS).unwrap(),
            ("DaemonSet", "agent".to_string())
        );
        for bad in ["web", "pod/x", "deployment/", "/web", "cronjob/report"] {
            assert!(workload_of(bad, &ROLLOUT_KINDS).is_err(), "{bad}");
        }
        assert!(workload_of("daemonset/agent", &["Deployment", "ReplicaSet"]).is_err());
    }
}
