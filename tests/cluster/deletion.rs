//! Finalizers and deletionTimestamp, ownerReference garbage collection, dryRun.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use serde_json::{Value, json};

use crate::{api_err, cluster, configmap, deployment};

fn owned(name: &str, owner: &ConfigMap) -> ConfigMap {
    let mut cm = configmap(name, json!({}));
    cm.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name, "uid": owner.metadata.uid, "blockOwnerDeletion": true
    }))
    .unwrap()]);
    cm
}

#[tokio::test]
async fn finalizers_defer_deletion_until_the_last_one_is_removed() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let mut cm = configmap("a", json!({}));
    cm.metadata.finalizers = Some(vec!["example.com/a".into(), "example.com/b".into()]);
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let pending = cms
        .delete("a", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("the object is still there");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let add =
        json!({"metadata": {"finalizers": ["example.com/a", "example.com/b", "example.com/c"]}});
    assert_eq!(
        api_err(
            cms.patch("a", &PatchParams::default(), &Patch::Merge(&add))
                .await
        )
        .code,
        422
    );
    let one = json!({"metadata": {"finalizers": ["example.com/b"]}});
    let still = cms
        .patch("a", &PatchParams::default(), &Patch::Merge(&one))
        .await
        .unwrap();
    assert_eq!(still.metadata.finalizers.unwrap(), ["example.com/b"]);
    let none = json!({"metadata": {"finalizers": null}});
    cms.patch("a", &PatchParams::default(), &Patch::Merge(&none))
        .await
        .unwrap();
    assert_eq!(api_err(cms.get("a").await).code, 404);
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let owner = cms
        .create(&PostParams::default(), &configmap("owner", json!({})))
        .await
        .unwrap();
    let child = cms
        .create(&PostParams::default(), &owned("child", &owner))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned("grandchild", &child))
        .await
        .unwrap();
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    for n in ["owner", "child", "grandchild"] {
        assert_eq!(api_err(cms.get(n).await).code, 404, "{n}");
    }
}

#[tokio::test]
async fn a_dependent_with_another_living_owner_survives_without_the_dead_reference() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let a = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let b = cms
        .create(&PostParams::default(), &configmap("b", json!({})))
        .await
        .unwrap();
    let mut dep = owned("dep", &a);
    let mut refs = dep.metadata.owner_references.take().unwrap();
    refs.extend(owned("x", &b).metadata.owner_references.unwrap());
    dep.metadata.owner_references = Some(refs);
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let dep = cms.get("dep").await.unwrap();
    let owners: Vec<String> = dep
        .metadata
        .owner_references
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(owners, ["b"]);
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let owner = cms
        .create(&PostParams::default(), &configmap("owner", json!({})))
        .await
        .unwrap();
    let mut child = owned("child", &owner);
    child.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &child).await.unwrap();
    let out = cms
        .delete("owner", &DeleteParams::foreground())
        .await
        .unwrap()
        .left()
        .expect("owner waits");
    assert!(
        out.metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string())
    );
    let child = cms.get("child").await.unwrap();
    assert!(child.metadata.deletion_timestamp.is_some());
    cms.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_err(cms.get("child").await).code, 404);
    assert_eq!(
        api_err(cms.get("owner").await).code,
        404,
        "the owner goes once its dependents are gone"
    );
}

#[tokio::test]
async fn orphan_deletion_leaves_dependents_without_the_owner() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let owner = cms
        .create(&PostParams::default(), &configmap("owner", json!({})))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned("child", &owner))
        .await
        .unwrap();
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..Default::default()
    };
    cms.delete("owner", &dp).await.unwrap();
    let child = cms.get("child").await.unwrap();
    assert_eq!(child.metadata.owner_references, None);
}

#[tokio::test]
async fn delete_preconditions_are_checked() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let s = api_err(cms.delete("a", &dp).await);
    assert_eq!(s.code, 409);
    assert!(
        s.message
            .starts_with("Precondition failed: UID in precondition: other"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn dry_run_validates_but_persists_and_bumps_nothing() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let preview = cms.create(&dry, &configmap("a", json!({}))).await.unwrap();
    assert_eq!(preview.metadata.name.as_deref(), Some("a"));
    assert_eq!(api_err(cms.get("a").await).code, 404);
    let rv0 = c.resource_version();
    let real = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let rv1 = c.resource_version();
    assert_eq!(rv1, rv0 + 1);
    let mut changed = real.clone();
    changed.data = Some([("k".to_string(), "dry".to_string())].into());
    let out = cms.replace("a", &dry, &changed).await.unwrap();
    assert_eq!(out.data.unwrap()["k"], "dry");
    let pp = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    cms.patch("a", &pp, &Patch::Merge(json!({"data": {"k": "patched"}})))
        .await
        .unwrap();
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    cms.delete("a", &dp).await.unwrap();
    assert_eq!(cms.get("a").await.unwrap().data.unwrap()["k"], "v");
    assert_eq!(c.resource_version(), rv1, "dry runs bump nothing");
    let s = api_err(cms.create(&dry, &configmap("a", json!({}))).await);
    assert_eq!(s.code, 409, "dry runs still validate");
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let c = cluster();
    let nss: Api<Namespace> = Api::all(c.client());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(c.client(), "team");
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let mut held = configmap("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    nss.delete("team", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("team").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert_eq!(api_err(cms.get("a").await).code, 404);
    let s = api_err(
        cms.create(&PostParams::default(), &configmap("new", json!({})))
            .await,
    );
    assert_eq!(s.code, 403);
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_err(nss.get("team").await).code, 404);
}

#[tokio::test]
async fn replica_sets_owned_by_a_deployment_go_with_it() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let d = deps
        .create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .unwrap();
    let rss: Api<ReplicaSet> = Api::default_namespaced(c.client());
    let rs: Value = json!({
        "metadata": {"name": "web-1", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d.metadata.uid, "controller": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}}
    });
    rss.create(&PostParams::default(), &serde_json::from_value(rs).unwrap())
        .await
        .unwrap();
    deps.delete("web", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_err(rss.get("web-1").await).code, 404);
}

#[tokio::test]
async fn delete_collection_removes_the_selected_objects() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    for (n, team) in [("a", "x"), ("b", "y"), ("c", "x")] {
        cms.create(&PostParams::default(), &configmap(n, json!({"team": team})))
            .await
            .unwrap();
    }
    let out = cms
        .delete_collection(
            &DeleteParams::default(),
            &kube::api::ListParams::default().labels("team=x"),
        )
        .await
        .unwrap();
    let deleted: Vec<String> = out
        .left()
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(deleted, ["a", "c"]);
    let left: Vec<String> = cms
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["b"]);
}

#[tokio::test]
async fn kube_runtime_finalizer_helper_adds_and_removes_its_finalizer() {
    use kube::runtime::controller::Action;
    use kube::runtime::finalizer::{Event, finalizer};
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let run = |obj: ConfigMap| {
        let cms = cms.clone();
        async move {
            finalizer(
                &cms,
                "remedy.example.io/cleanup",
                std::sync::Arc::new(obj),
                |event| async move {
                    Ok::<_, std::convert::Infallible>(match event {
                        Event::Apply(_) => Action::await_change(),
                        Event::Cleanup(_) => Action::await_change(),
                    })
                },
            )
            .await
            .map_err(|e| e.to_string())
        }
    };
    run(cms.get("a").await.unwrap()).await.unwrap();
    assert_eq!(
        cms.get("a").await.unwrap().metadata.finalizers.unwrap(),
        ["remedy.example.io/cleanup"]
    );
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    run(cms.get("a").await.unwrap()).await.unwrap();
    assert_eq!(api_err(cms.get("a").await).code, 404);
}
