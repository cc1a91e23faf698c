//! migrate_workload: evict a workload's pods from one node through the Eviction API (so
//! PodDisruptionBudgets apply), one at a time, without cordoning the node.
//!
//! The pods to move are recorded (name and uid) when the attempt starts. Each pass evicts the
//! next one once no other pod of the workload is still starting, and waits (the execution is
//! requeued) while a replacement starts or while a budget allows no disruption (429).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, EvictParams, ListParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::rollout::{Workload, workload_of};
use super::{ActionContext, Outcome, Progress, map};
use crate::api::JsonMap;
use crate::executor::failure::{ActionError, Target};
use crate::executor::params::Params;

const KINDS: [&str; 3] = ["Deployment", "StatefulSet", "ReplicaSet"];

impl Workload for ReplicaSet {
    fn pod_spec(&self) -> Option<&k8s_openapi::api::core::v1::PodSpec> {
        self.spec.as_ref()?.template.as_ref()?.spec.as_ref()
    }
    fn selector(&self) -> Option<&LabelSelector> {
        self.spec.as_ref().map(|s| &s.selector)
    }
}

/// A label selector as the `labelSelector` query parameter writes it.
pub fn selector_query(selector: &LabelSelector) -> String {
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        terms.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    terms.join(",")
}

fn grace_period(p: &Params) -> Result<Option<u32>, ActionError> {
    p.opt_int("grace_period_seconds")
        .map(|g| {
            u32::try_from(g).map_err(|_| {
                ActionError::invalid(format!(
                    "migrate_workload: `grace_period_seconds` must be 0 or more, got {g}"
                ))
            })
        })
        .transpose()
}

async fn selector_of<K: Workload>(
    ctx: &ActionContext,
    target: &Target,
) -> Result<String, ActionError> {
    let ns = target.namespace.as_deref().unwrap_or_default();
    let obj: K = Api::namespaced(ctx.client.clone(), ns)
        .get(&target.name)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", target))?;
    let query = obj.selector().map(selector_query).unwrap_or_default();
    if query.is_empty() {
        return Err(ActionError::invalid(format!(
            "{target} has no selector, so its pods cannot be told apart"
        )));
    }
    Ok(query)
}

/// The workload's pods (by its selector), with the workload's description.
async fn workload_pods(ctx: &ActionContext, p: &Params) -> Result<(Vec<Pod>, Target), ActionError> {
    let ns = p.string("namespace")?;
    let (kind, name) = workload_of(p.string("workload")?, &KINDS)?;
    let target = Target::namespaced(kind, ns, &name);
    let selector = match kind {
        "Deployment" => selector_of::<Deployment>(ctx, &target).await?,
        "StatefulSet" => selector_of::<StatefulSet>(ctx, &target).await?,
        _ => selector_of::<ReplicaSet>(ctx, &target).await?,
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ActionError::from_kube(&e, "list the pods of", &target))?;
    Ok((list.items, target))
}

fn on_node(pod: &Pod, node: &str) -> bool {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn live(pod: &Pod) -> bool {
    pod.meta().deletion_timestamp.is_none()
}

/// Records the pods of the workload on the node (name and uid).
pub async fn prepare(ctx: &ActionContext, p: &Params) -> Result<JsonMap, ActionError> {
    grace_period(p)?;
    let node = p.string("node")?;
    let node_target = Target::cluster("Node", node);
    Api::<Node>::all(ctx.client.clone())
        .get(node)
        .await
        .map_err(|e| ActionError::from_kube(&e, "read", &node_target))?;
    let (pods, _) = workload_pods(ctx, p).await?;
    let chosen: Vec<&Pod> = pods
        .iter()
        .filter(|pod| on_node(pod, node) && live(pod))
        .collect();
    Ok(map([
        (
            "evicted",
            Value::Array(chosen.iter().map(|pod| json!(pod.name_any())).collect()),
        ),
        (
            "_pods",
            Value::Array(
                chosen
                    .iter()
                    .map(|pod| json!({ "name": pod.name_any(), "uid": pod.uid() }))
                    .collect(),
            ),
        ),
    ]))
}

/// Evicts the next recorded pod still on the node, or waits, or reports the move done.
pub async fn apply(
    ctx: &ActionContext,
    p: &Params,
    recorded: &JsonMap,
) -> Result<Progress, ActionError> {
    let grace = grace_period(p)?;
    let ns = p.string("namespace")?;
    let node = p.string("node")?;
    let recorded_pods: Vec<(String, String)> = recorded
        .get("_pods")
        .and_then(Value::as_array)
        .map(|pods| {
            pods.iter()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap_or_default().to_string(),
                        v["uid"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .ok_or_else(|| {
            ActionError::invalid("migrate_workload: the pods to move were not recorded")
        })?;
    let (pods, workload) = workload_pods(ctx, p).await?;
    let recorded_uid = |pod: &Pod| {
        recorded_pods
            .iter()
            .any(|(_, uid)| pod.uid().as_deref() == Some(uid.as_str()))
    };
    let left: Vec<&Pod> = pods
        .iter()
        .filter(|pod| recorded_uid(pod) && live(pod))
        .collect();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let evict = |pod: &Pod| {
        let name = pod.name_any();
        let api = api.clone();
        let ep = EvictParams {
            delete_options: Some(ctx.delete_params(grace)),
            post_options: ctx.post_params(),
        };
        async move { (api.evict(&name, &ep).await, name) }
    };
    if ctx.dry_run {
        for pod in &left {
            let (result, name) = evict(pod).await;
            match result {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    return Err(ActionError::from_kube(
                        &e,
                        "evict",
                        &Target::namespaced("Pod", ns, &name),
                    ));
                }
            }
        }
        return Ok(Progress::Done(done(
            ns,
            node,
            &recorded_pods,
            &pods,
            recorded,
        )));
    }
    let Some(next) = left.first() else {
        return Ok(Progress::Done(done(
            ns,
            node,
            &recorded_pods,
            &pods,
            recorded,
        )));
    };
    if let Some(starting) = pods
        .iter()
        .find(|pod| !recorded_uid(pod) && live(pod) && !ready(pod))
    {
        return Ok(Progress::Waiting {
            retry_after: ctx.poll_interval,
            status: format!(
                "pod {} of {workload} is not Ready yet; {} pod(s) still to move from {node}",
                starting.name_any(),
                left.len()
            ),
        });
    }
    let (result, name) = evict(next).await;
    match result {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(kube::Error::Api(s)) if s.code == 429 => {
            return Ok(Progress::Waiting {
                retry_after: ctx.poll_interval,
                status: format!(
                    "the eviction of pod {name} is refused for now ({}); {} pod(s) still to move from {node}",
                    s.message,
                    left.len()
                ),
            });
        }
        Err(e) => {
            return Err(ActionError::from_kube(
                &e,
                "evict",
                &Target::namespaced("Pod", ns, &name),
            ));
        }
    }
    Ok(Progress::Waiting {
        retry_after: ctx.poll_interval,
        status: format!(
            "evicted pod {name} of {workload}; {} pod(s) still to move from {node}",
            left.len() - 1
        ),
    })
}

/// The finished move: every recorded pod evicted, and the replacements found on the node.
fn done(
    ns: &str,
    node: &str,
    recorded_pods: &[(String, String)],
    pods: &[Pod],
    recorded: &JsonMap,
) -> Outcome {
    let returned: Vec<Value> = pods
        .iter()
        .filter(|pod| {
            on_node(pod, node)
                && live(pod)
                && !recorded_pods
                    .iter()
                    .any(|(_, uid)| pod.uid().as_deref() == Some(uid.as_str()))
        })
        .map(|pod| json!(pod.name_any()))
        .collect();
    let mut outcome = Outcome::default();
    for (name, _) in recorded_pods {
        outcome = outcome.changed(
            &Target::namespaced("Pod", ns, name),
            format!("evicted from {node}"),
        );
    }
    outcome.output = map([
        (
            "evicted",
            recorded.get("evicted").cloned().unwrap_or(json!([])),
        ),
        ("returned", Value::Array(returned)),
    ]);
    outcome
}
