//! A Deployment's revisions: the ReplicaSets it owns, which one is current, and when two pod
//! templates are the same.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::revision_of;
use crate::executor::actions::ActionContext;
use crate::executor::failure::{ActionError, Target};
use crate::pod_template::{POD_TEMPLATE_HASH, without_empties};

/// The ReplicaSets a Deployment owns, with their revisions, oldest first.
pub(super) async fn revisions(
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
pub(super) async fn current_revision(
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
pub(super) fn template_without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

/// True when two templates are the same once empty fields (`resources: {}`, `null`), which
/// clients add or drop freely, are left out.
pub(super) fn same_template(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let a = serde_json::to_value(a)
        .ok()
        .and_then(|v| without_empties(&v));
    let b = serde_json::to_value(b)
        .ok()
        .and_then(|v| without_empties(&v));
    a == b
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

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
