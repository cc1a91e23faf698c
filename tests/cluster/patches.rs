//! Merge, JSON, strategic merge and server-side apply patches.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{api_err, cluster, configmap, deployment};

fn container(d: &Deployment) -> serde_json::Value {
    serde_json::to_value(
        &d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers,
    )
    .unwrap()
}

#[tokio::test]
async fn merge_patch_sets_and_removes_fields() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({"x": "1"})))
        .await
        .unwrap();
    let p = json!({"metadata": {"labels": {"x": null, "y": "2"}}, "data": {"k2": "v2"}});
    let out = cms
        .patch("a", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(out.metadata.labels).unwrap(),
        json!({"y": "2"})
    );
    assert_eq!(
        serde_json::to_value(out.data).unwrap(),
        json!({"k": "v", "k2": "v2"})
    );
}

#[tokio::test]
async fn merge_patch_with_a_stale_resource_version_conflicts() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let first = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "1"}})),
    )
    .await
    .unwrap();
    let stale = json!({"metadata": {"resourceVersion": rv}, "data": {"k": "2"}});
    let s = api_err(
        cms.patch("a", &PatchParams::default(), &Patch::Merge(&stale))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(cms.get("a").await.unwrap().data.unwrap()["k"], "1");
}

#[tokio::test]
async fn json_patch_applies_operations_and_test_guards_them() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/k", "value": "v"},
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "add", "path": "/data/n", "value": "1"}
    ]))
    .unwrap();
    let out = cms
        .patch("a", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(out.data).unwrap(),
        json!({"k": "w", "n": "1"})
    );
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/k", "value": "v"}])).unwrap();
    let s = api_err(
        cms.patch("a", &PatchParams::default(), &Patch::<()>::Json(failing))
            .await,
    );
    assert_eq!(s.code, 422);
}

#[tokio::test]
async fn strategic_merge_patch_merges_containers_env_and_ports_by_key() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let mut d = deployment("web", 1, "nginx:1");
    let spec = d.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    spec.containers.push(
        serde_json::from_value(
            json!({"name": "sidecar", "image": "envoy:1", "ports": [{"containerPort": 9901}]}),
        )
        .unwrap(),
    );
    deps.create(&PostParams::default(), &d).await.unwrap();
    let p = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:2", "env": [{"name": "EXTRA", "value": "1"}]},
        {"name": "sidecar", "ports": [{"containerPort": 8080}]}
    ]}}}});
    let out = deps
        .patch("web", &PatchParams::default(), &Patch::Strategic(&p))
        .await
        .unwrap();
    let cs = container(&out);
    assert_eq!(cs[0]["image"], "nginx:2");
    assert_eq!(
        cs[0]["env"],
        json!([{"name": "MODE", "value": "a"}, {"name": "EXTRA", "value": "1"}])
    );
    assert_eq!(cs[1]["image"], "envoy:1");
    let ports: Vec<i64> = cs[1]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [9901, 8080]);
    let del = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}});
    let out = deps
        .patch("web", &PatchParams::default(), &Patch::Strategic(&del))
        .await
        .unwrap();
    let names: Vec<String> = container(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["app"]);
    assert_eq!(out.metadata.generation, Some(3));
}

#[tokio::test]
async fn server_side_apply_creates_merges_and_detects_conflicts() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let applied = serde_json::to_value(deployment("web", 2, "nginx:1")).unwrap();
    let pp = PatchParams::apply("team-a");
    let created = deps
        .patch("web", &pp, &Patch::Apply(&applied))
        .await
        .unwrap();
    assert_eq!(created.spec.as_ref().unwrap().replicas, Some(2));
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .map(|m| m.manager.clone().unwrap())
        .collect();
    assert_eq!(managers, ["team-a"]);
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let s = api_err(
        deps.patch("web", &PatchParams::apply("team-b"), &Patch::Apply(&other))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("team-a") && s.message.contains("spec.replicas"),
        "{}",
        s.message
    );
    let forced = deps
        .patch(
            "web",
            &PatchParams::apply("team-b").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(5));
    assert_eq!(
        container(&forced)[0]["image"],
        "nginx:1",
        "fields of other managers stay"
    );
    let labels = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"owner": "b"}}});
    let merged = deps
        .patch("web", &PatchParams::apply("team-c"), &Patch::Apply(&labels))
        .await
        .unwrap();
    assert_eq!(merged.metadata.labels.unwrap()["owner"], "b");
    assert_eq!(merged.spec.unwrap().replicas, Some(5));
}

#[tokio::test]
async fn apply_without_field_manager_is_invalid() {
    let c = cluster();
    let svc = c.client();
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/a")
        .header("Content-Type", "application/apply-patch+yaml")
        .body(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n".to_vec())
        .unwrap();
    let err = svc.request::<ConfigMap>(req).await.unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("{err:?}")
    };
    assert_eq!(s.code, 422);
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/a?fieldManager=me")
        .header("Content-Type", "application/apply-patch+yaml")
        .body(
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  from: yaml\n"
                .to_vec(),
        )
        .unwrap();
    let cm: ConfigMap = svc.request(req).await.unwrap();
    assert_eq!(cm.data.unwrap()["from"], "yaml");
}

#[tokio::test]
async fn unknown_patch_content_type_is_unsupported() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/a")
        .header("Content-Type", "text/plain")
        .body(b"{}".to_vec())
        .unwrap();
    let err = c.client().request::<ConfigMap>(req).await.unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("{err:?}")
    };
    assert_eq!(s.code, 415);
}
