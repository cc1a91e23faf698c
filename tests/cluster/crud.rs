//! Create, get, list, replace, delete; server-set metadata; errors as Status objects.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::{api_err, cluster, configmap, deployment};

#[tokio::test]
async fn create_sets_server_fields_and_get_returns_them() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let created = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, None, "configmaps do not track generation");
    let got = cms.get("a").await.unwrap();
    assert_eq!(got.metadata.resource_version, meta.resource_version);
    assert_eq!(got.data.unwrap()["k"], "v");
}

#[tokio::test]
async fn resource_versions_come_from_one_global_counter() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let a = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let d = deps
        .create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .unwrap();
    let b = cms
        .create(&PostParams::default(), &configmap("b", json!({})))
        .await
        .unwrap();
    let rv =
        |m: &kube::core::ObjectMeta| m.resource_version.clone().unwrap().parse::<u64>().unwrap();
    assert_eq!(rv(&d.metadata), rv(&a.metadata) + 1);
    assert_eq!(rv(&b.metadata), rv(&d.metadata) + 1);
    let list = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.metadata.resource_version.unwrap(),
        rv(&b.metadata).to_string()
    );
}

#[tokio::test]
async fn duplicate_create_is_already_exists() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let s = api_err(
        cms.create(&PostParams::default(), &configmap("a", json!({})))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(s.message, "configmaps \"a\" already exists");
    let details = s.details.unwrap();
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("a", "configmaps")
    );
}

#[tokio::test]
async fn get_of_a_missing_object_is_not_found_with_group() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let s = api_err(deps.get("nope").await);
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(s.message, "deployments.apps \"nope\" not found");
    assert_eq!(s.details.unwrap().group, "apps");
}

#[tokio::test]
async fn generate_name_makes_a_unique_name() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let mut cm = configmap("", json!({}));
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("run-".into());
    let a = cms.create(&PostParams::default(), &cm).await.unwrap();
    let b = cms.create(&PostParams::default(), &cm).await.unwrap();
    let (na, nb) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(na.starts_with("run-") && na.len() == 9, "{na}");
    assert_ne!(na, nb);
}

#[tokio::test]
async fn namespaced_objects_need_their_namespace() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::namespaced(c.client(), "team-a");
    let s = api_err(
        cms.create(&PostParams::default(), &configmap("a", json!({})))
            .await,
    );
    assert_eq!(
        (s.code, s.message.as_str()),
        (404, "namespaces \"team-a\" not found")
    );
    let nss: Api<Namespace> = Api::all(c.client());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap();
    let created = nss.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        nss.get(ns).await.unwrap();
    }
}

#[tokio::test]
async fn replace_with_a_stale_resource_version_is_a_conflict() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let first = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let mut second = first.clone();
    second.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = cms
        .replace("a", &PostParams::default(), &second)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        first.metadata.resource_version
    );
    let s = api_err(cms.replace("a", &PostParams::default(), &first).await);
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_resource_version() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let first = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let again = cms
        .replace("a", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        first.metadata.resource_version
    );
}

#[tokio::test]
async fn generation_counts_spec_changes_only() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let d = deps
        .create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    assert_eq!(
        d.spec.as_ref().unwrap().revision_history_limit,
        Some(10),
        "defaults are applied"
    );
    let mut labelled = d.clone();
    labelled.metadata.labels = Some([("team".to_string(), "x".to_string())].into());
    let labelled = deps
        .replace("web", &PostParams::default(), &labelled)
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let mut scaled = labelled.clone();
    scaled.spec.as_mut().unwrap().replicas = Some(3);
    let scaled = deps
        .replace("web", &PostParams::default(), &scaled)
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
}

#[tokio::test]
async fn invalid_objects_are_rejected_with_field_paths() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let mut d = deployment("web", 1, "nginx:1");
    d.spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .as_mut()
        .unwrap()
        .labels = Some([("app".to_string(), "other".to_string())].into());
    let s = api_err(deps.create(&PostParams::default(), &d).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    let causes = s.details.unwrap().causes;
    assert_eq!(causes[0].field, "spec.template.metadata.labels");
    assert!(
        s.message
            .starts_with("Deployment.apps \"web\" is invalid: spec.template.metadata.labels"),
        "{}",
        s.message
    );
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let s = api_err(
        cms.create(&PostParams::default(), &configmap("Bad_Name", json!({})))
            .await,
    );
    assert_eq!(
        (s.code, s.details.unwrap().causes[0].field.as_str()),
        (422, "metadata.name")
    );
}

#[tokio::test]
async fn delete_removes_and_reports_success() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let out = cms.delete("a", &DeleteParams::default()).await.unwrap();
    let status = out.right().expect("an immediate deletion answers a Status");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    assert_eq!(api_err(cms.get("a").await).code, 404);
    assert_eq!(
        api_err(cms.delete("a", &DeleteParams::default()).await).code,
        404
    );
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    for i in 0..5 {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("cm-{i}"), json!({})),
        )
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = cms.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = ListParams::default().limit(2).continue_token(&token),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
}

#[tokio::test]
async fn a_continue_token_older_than_the_window_is_gone() {
    let c = remedy::cluster::EmbeddedCluster::new(remedy::cluster::Config {
        event_window: 5,
        ..Default::default()
    });
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    for i in 0..3 {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("cm-{i}"), json!({})),
        )
        .await
        .unwrap();
    }
    let page = cms.list(&ListParams::default().limit(1)).await.unwrap();
    let token = page.metadata.continue_.unwrap();
    for i in 3..12 {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("cm-{i}"), json!({})),
        )
        .await
        .unwrap();
    }
    let s = api_err(
        cms.list(&ListParams::default().limit(1).continue_token(&token))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn events_recorded_through_events_k8s_io_are_core_events_too() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event as NewEvent;
    use kube::Resource;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let cm = cms
        .create(&PostParams::default(), &configmap("target", json!({})))
        .await
        .unwrap();
    let recorder = Recorder::new(
        c.client(),
        Reporter {
            controller: "remedy-test".into(),
            instance: None,
        },
    );
    let ev = Event {
        type_: EventType::Warning,
        reason: "StepFailed".into(),
        note: Some("restart failed".into()),
        action: "Restart".into(),
        secondary: None,
    };
    recorder.publish(&ev, &cm.object_ref(&())).await.unwrap();
    recorder.publish(&ev, &cm.object_ref(&())).await.unwrap();
    let core: Api<CoreEvent> = Api::default_namespaced(c.client());
    let listed = core
        .list(&ListParams::default().fields("involvedObject.name=target"))
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].message.as_deref(), Some("restart failed"));
    assert_eq!(listed[0].reason.as_deref(), Some("StepFailed"));
    assert_eq!(listed[0].series.as_ref().map(|s| s.count), Some(Some(2)));
    let new: Api<NewEvent> = Api::default_namespaced(c.client());
    let same = new
        .list(&ListParams::default().fields("regarding.name=target"))
        .await
        .unwrap()
        .items;
    assert_eq!(same.len(), 1);
    assert_eq!(same[0].note.as_deref(), Some("restart failed"));
    assert_eq!(
        same[0].regarding.as_ref().unwrap().name.as_deref(),
        Some("target")
    );
}
