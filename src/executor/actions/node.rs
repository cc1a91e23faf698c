//! Node actions: cordon, uncordon, drain, taint, untaint.

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, EvictParams, Patch};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::{ActionContext, Outcome, Progress, list_with_fields, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

/// The annotation that marks a mirror pod (a static pod's reflection in the API).
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

fn node(ctx: &ActionContext, p: &Params) -> Result<(Api<Node>, Target), ActionError> {
    Ok((
        Api::all(ctx.client.clone()),
        Target::cluster("Node", p.string("node")?),
    ))
}

async fn get(api: &Api<Node>, target: &Target) -> Result<Node, ActionError> {
    api.get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))
}

fn is_unschedulable(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

fn recorded_bool(recorded: &JsonMap, key: &str) -> Option<bool> {
    recorded.get(key).and_then(Value::as_bool)
}

async fn set_unschedulable(
    ctx: &ActionContext,
    api: &Api<Node>,
    target: &Target,
    value: bool,
) -> Result<(), ActionError> {
    let verb = if value { "cordon" } else { "uncordon" };
    api.patch(
        &target.name,
        &ctx.patch_params(),
        &Patch::Merge(json!({ "spec": { "unschedulable": value } })),
    )
    .await
    .map(|_| ())
    .map_err(|e| ActionError::from_kube(&e, verb, target))
}

// ---- cordon / uncordon ---------------------------------------------------------------------

/// Records `was_unschedulable`.
pub async fn prepare_schedulable(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = node(ctx, p)?;
    let n = get(&api, &target).await?;
    Ok(map([("was_unschedulable", json!(is_unschedulable(&n)))]))
}

/// Sets `spec.unschedulable` to `cordon` unless it already is.
pub async fn apply_schedulable(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
    cordon: bool,
) -> Result<Progress, ActionError> {
    let (api, target) = node(ctx, p)?;
    let n = get(&api, &target).await?;
    let current = is_unschedulable(&n);
    let was = recorded_bool(recorded, "was_unschedulable").unwrap_or(current);
    if current != cordon {
        set_unschedulable(ctx, &api, &target, cordon).await?;
    }
    let outcome = Outcome::with_output(map([("was_unschedulable", json!(was))]));
    Ok(Progress::Done(if was == cordon {
        outcome
    } else {
        outcome.changed(&target, if cordon { "cordoned" } else { "uncordoned" })
    }))
}

// ---- drain ---------------------------------------------------------------------------------

/// Why a pod on the node stays: DaemonSet pods come back anyway; mirror pods cannot be evicted.
fn stays_on_node(pod: &Pod) -> bool {
    let daemon = pod
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.kind == "DaemonSet");
    let mirror = pod.annotations().contains_key(MIRROR_ANNOTATION);
    daemon || mirror || pod.meta().deletion_timestamp.is_some()
}

fn uses_empty_dir(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .is_some_and(|vs| vs.iter().any(|v| v.empty_dir.is_some()))
}

/// The pods drain would evict from the node.
async fn pods_to_evict(ctx: &ActionContext, target: &Target) -> Result<Vec<Pod>, ActionError> {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let fields = format!("spec.nodeName={}", target.name);
    let pods = list_with_fields(&api, &fields, target, "list the pods of").await?;
    Ok(pods
        .into_iter()
        .filter(|pod| pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(&target.name))
        .filter(|pod| !stays_on_node(pod))
        .collect())
}

fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

fn refuse_empty_dir(p: &Params, pods: &[Pod], target: &Target) -> Result<(), ActionError> {
    if p.opt_bool("delete_emptydir_data").unwrap_or(false) {
        return Ok(());
    }
    let local: Vec<String> = pods
        .iter()
        .filter(|p| uses_empty_dir(p))
        .map(pod_key)
        .collect();
    if local.is_empty() {
        return Ok(());
    }
    Err(ActionError::invalid(format!(
        "draining {target} would lose the emptyDir data of {}; set `delete_emptydir_data: true` to evict them anyway",
        local.join(", ")
    )))
}

fn grace_period(p: &Params) -> Result<Option<u32>, ActionError> {
    p.opt_int("grace_period_seconds")
        .map(|g| {
            u32::try_from(g).map_err(|_| {
                ActionError::invalid(format!(
                    "drain_node: `grace_period_seconds` must be 0 or more, got {g}"
                ))
            })
        })
        .transpose()
}

/// Records `was_unschedulable`; refuses early when pods with emptyDir data would be evicted.
pub async fn prepare_drain(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    grace_period(p)?;
    let (api, target) = node(ctx, p)?;
    let n = get(&api, &target).await?;
    refuse_empty_dir(p, &pods_to_evict(ctx, &target).await?, &target)?;
    Ok(map([("was_unschedulable", json!(is_unschedulable(&n)))]))
}

/// Cordons the node, then evicts every pod on it except DaemonSet and mirror pods.
pub async fn apply_drain(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let grace = grace_period(p)?;
    let (api, target) = node(ctx, p)?;
    let n = get(&api, &target).await?;
    let current = is_unschedulable(&n);
    let was = recorded_bool(recorded, "was_unschedulable").unwrap_or(current);
    if !current {
        set_unschedulable(ctx, &api, &target, true).await?;
    }
    let pods = pods_to_evict(ctx, &target).await?;
    refuse_empty_dir(p, &pods, &target)?;
    let mut outcome = Outcome::default();
    if !was {
        outcome = outcome.changed(&target, "cordoned");
    }
    let mut evicted = Vec::new();
    for pod in &pods {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let pod_target = Target::namespaced("Pod", &ns, &name);
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        let ep = EvictParams {
            delete_options: Some(ctx.delete_params(grace)),
            post_options: ctx.post_params(),
        };
        match pods.evict(&name, &ep).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(ActionError::from_kube(&e, "evict", &pod_target)),
        }
        evicted.push(json!(pod_key(pod)));
        outcome = outcome.changed(&pod_target, format!("evicted from {}", target.name));
    }
    outcome.output = map([
        ("evicted", Value::Array(evicted)),
        ("was_unschedulable", json!(was)),
    ]);
    Ok(Progress::Done(outcome))
}

// ---- taint / untaint -----------------------------------------------------------------------

fn taints(n: &Node) -> Vec<Taint> {
    n.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
}

fn describe(t: &Taint) -> String {
    match &t.value {
        Some(v) => format!("{}={v}:{}", t.key, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

async fn replace_taints(
    ctx: &ActionContext,
    api: &Api<Node>,
    mut n: Node,
    new: Vec<Taint>,
    target: &Target,
    verb: &str,
) -> Result<(), ActionError> {
    n.spec.get_or_insert_with(Default::default).taints = Some(new);
    api.replace(&target.name, &ctx.post_params(), &n)
        .await
        .map(|_| ())
        .map_err(|e| ActionError::from_kube(&e, verb, target))
}

fn wanted_taint(p: &Params) -> Result<Taint, ActionError> {
    Ok(Taint {
        key: p.string("key")?.to_string(),
        value: p.opt_string("value").map(str::to_string),
        effect: p.string("effect")?.to_string(),
        time_added: None,
    })
}

/// Records `previous_taint`: the taint with the same key and effect, or null.
pub async fn prepare_taint(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let wanted = wanted_taint(p)?;
    let (api, target) = node(ctx, p)?;
    let previous = taints(&get(&api, &target).await?)
        .into_iter()
        .find(|t| t.key == wanted.key && t.effect == wanted.effect);
    Ok(map([(
        "previous_taint",
        previous.map_or(Value::Null, |t| {
            serde_json::to_value(t).unwrap_or(Value::Null)
        }),
    )]))
}

/// Adds the taint, replacing one with the same key and effect (like `kubectl taint`).
pub async fn apply_taint(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let wanted = wanted_taint(p)?;
    let (api, target) = node(ctx, p)?;
    let n = get(&api, &target).await?;
    let current = taints(&n);
    let same = |t: &Taint| t.key == wanted.key && t.effect == wanted.effect;
    let previous: Option<Taint> = match recorded.get("previous_taint") {
        Some(v) => serde_json::from_value(v.clone()).ok(),
        None => current.iter().find(|t| same(t)).cloned(),
    };
    let present = current.iter().any(|t| same(t) && t.value == wanted.value);
    if !present {
        let mut new: Vec<Taint> = current.into_iter().filter(|t| !same(t)).collect();
        new.push(wanted.clone());
        replace_taints(ctx, &api, n, new, &target, "taint").await?;
    }
    let change = match &previous {
        Some(old) if old.value == wanted.value => None,
        Some(old) => Some(format!("taint {}→{}", describe(old), describe(&wanted))),
        None => Some(format!("tainted {}", describe(&wanted))),
    };
    let outcome = Outcome::with_output(map([(
        "previous_taint",
        previous.map_or(Value::Null, |t| {
            serde_json::to_value(t).unwrap_or(Value::Null)
        }),
    )]));
    Ok(Progress::Done(match change {
        Some(c) => outcome.changed(&target, c),
        None => outcome,
    }))
}

fn matches_untaint(p: &Params, t: &Taint) -> bool {
    Some(t.key.as_str()) == p.opt_string("key")
        && p.opt_string("effect").is_none_or(|e| e == t.effect)
}

/// Records `removed`: the taints with that key (and effect, if given).
pub async fn prepare_untaint(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    let (api, target) = node(ctx, p)?;
    let removed: Vec<Taint> = taints(&get(&api, &target).await?)
        .into_iter()
        .filter(|t| matches_untaint(p, t))
        .collect();
    Ok(map([(
        "removed",
        serde_json::to_value(removed).unwrap_or(Value::Null),
    )]))
}

/// Removes the matching taints, if any are left.
pub async fn apply_untaint(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    p.string("key")?;
    let (api, target) = node(ctx, p)?;
    let n = get(&api, &target).await?;
    let current = taints(&n);
    let removed: Vec<Taint> = match recorded.get("removed") {
        Some(v) => serde_json::from_value(v.clone()).unwrap_or_default(),
        None => current
            .iter()
            .filter(|t| matches_untaint(p, t))
            .cloned()
            .collect(),
    };
    if current.iter().any(|t| matches_untaint(p, t)) {
        let kept = current
            .into_iter()
            .filter(|t| !matches_untaint(p, t))
            .collect();
        replace_taints(ctx, &api, n, kept, &target, "untaint").await?;
    }
    let outcome = Outcome::with_output(map([(
        "removed",
        serde_json::to_value(&removed).unwrap_or(Value::Null),
    )]));
    Ok(Progress::Done(if removed.is_empty() {
        outcome
    } else {
        let list: Vec<String> = removed.iter().map(describe).collect();
        outcome.changed(&target, format!("removed taint {}", list.join(", ")))
    }))
}
