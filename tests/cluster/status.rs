//! The status subresource isolated both ways; the scale subresource; pod eviction.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{api_err, cluster, deployment};

#[tokio::test]
async fn main_resource_writes_ignore_status_and_status_writes_ignore_the_rest() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let mut d = deployment("web", 1, "nginx:1");
    d.status = Some(serde_json::from_value(json!({"replicas": 7})).unwrap());
    let created = deps.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.status, None, "status is not settable on create");

    let p = json!({"spec": {"replicas": 4}, "status": {"replicas": 9}});
    let out = deps
        .patch("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(out.spec.as_ref().unwrap().replicas, Some(4));
    assert_eq!(out.status, None);
    assert_eq!(out.metadata.generation, Some(2));

    let out = deps
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(out.status.as_ref().unwrap().replicas, Some(9));
    assert_eq!(
        out.spec.as_ref().unwrap().replicas,
        Some(4),
        "spec is ignored on /status"
    );
    assert_eq!(
        out.metadata.generation,
        Some(2),
        "status writes never bump generation"
    );

    let mut replaced = out.clone();
    replaced.spec.as_mut().unwrap().replicas = Some(1);
    replaced.status.as_mut().unwrap().replicas = Some(3);
    let out = deps
        .replace_status("web", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(out.status.as_ref().unwrap().replicas, Some(3));
    assert_eq!(out.spec.as_ref().unwrap().replicas, Some(4));
    let got = deps.get_status("web").await.unwrap();
    assert_eq!(got.metadata.resource_version, out.metadata.resource_version);
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    deps.create(&PostParams::default(), &deployment("web", 2, "nginx:1"))
        .await
        .unwrap();
    let scale = deps.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let out = deps
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(out.spec.unwrap().replicas, Some(5));
    let d = deps.get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(5));
    assert_eq!(d.metadata.generation, Some(2));
    let stale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "resourceVersion": "1"}, "spec": {"replicas": 1}});
    let s = api_err(
        deps.replace_scale(
            "web",
            &PostParams::default(),
            &serde_json::from_value(stale).unwrap(),
        )
        .await,
    );
    assert_eq!(s.code, 409);
}

fn pod(name: &str, ready: bool) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "db"}},
        "spec": {"containers": [{"name": "c", "image": "db:1"}]},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn eviction_deletes_the_pod_unless_a_budget_forbids_it() {
    let c = cluster();
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    for name in ["db-0", "db-1"] {
        pods.create(&PostParams::default(), &pod(name, true))
            .await
            .unwrap();
        let st = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&st))
            .await
            .unwrap();
    }
    let pdbs: Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> =
        Api::default_namespaced(c.client());
    let pdb = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}})).unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    pods.evict("db-0", &EvictParams::default()).await.unwrap();
    assert_eq!(api_err(pods.get("db-0").await).code, 404);
    let s = api_err(pods.evict("db-1", &EvictParams::default()).await);
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    pods.get("db-1").await.unwrap();
}
