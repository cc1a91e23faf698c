//! Metadata-only requests (`Accept: …;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`):
//! what kube-rs's `get_metadata`, `list_metadata`, `patch_metadata` and `watch_metadata` ask
//! for, answered as `meta.k8s.io/v1` PartialObjectMetadata, or 406 when it cannot be served.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ObjectMeta, PartialObjectMetaExt};
use serde_json::json;

use crate::{cluster, configmap, raw};

#[tokio::test]
async fn metadata_requests_answer_partial_object_metadata() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(
        &PostParams::default(),
        &configmap("meta", json!({"app": "x"})),
    )
    .await
    .unwrap();

    let got = cms.get_metadata("meta").await.unwrap();
    let types = got.types.as_ref().unwrap();
    assert_eq!(
        (types.kind.as_str(), types.api_version.as_str()),
        ("PartialObjectMetadata", "meta.k8s.io/v1")
    );
    assert_eq!(got.metadata.labels.as_ref().unwrap()["app"], "x");

    let list = cms.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("meta"));
    assert!(list.metadata.resource_version.is_some());

    let patch = ObjectMeta {
        annotations: Some([("test".to_string(), "123".to_string())].into()),
        ..Default::default()
    }
    .into_request_partial::<ConfigMap>();
    let patched = cms
        .patch_metadata("meta", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        patched.types.as_ref().unwrap().kind,
        "PartialObjectMetadata"
    );
    assert_eq!(patched.metadata.annotations.unwrap()["test"], "123");
    // The object itself is whole: only the answer was metadata.
    assert_eq!(cms.get("meta").await.unwrap().data.unwrap()["k"], "v");

    let mut events = cms
        .watch_metadata(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Added(o)) => {
            assert_eq!(o.types.unwrap().kind, "PartialObjectMetadata");
            assert_eq!(o.metadata.name.as_deref(), Some("meta"));
        }
        other => panic!("expected ADDED, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rendering_that_cannot_be_served_is_406() {
    let c = cluster();
    let client = c.client();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(&PostParams::default(), &configmap("meta", json!({})))
        .await
        .unwrap();
    let path = "/api/v1/namespaces/default/configmaps";
    // A list asked for as one object's metadata, and one object as a list.
    for (p, accept) in [
        (
            path.to_string(),
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        ),
        (
            format!("{path}/meta"),
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        ),
        (
            format!("{path}/meta"),
            "application/json;as=Unknown;g=example.io;v=v1",
        ),
    ] {
        let (code, _, status) = raw(&client, "GET", &p, &[("Accept", accept)], vec![]).await;
        assert_eq!(
            (code, status["reason"].as_str()),
            (406, Some("NotAcceptable")),
            "{p} {accept}"
        );
    }
    // With a plain fallback after it, the object is served.
    let (code, _, obj) = raw(
        &client,
        "GET",
        &format!("{path}/meta"),
        &[(
            "Accept",
            "application/json;as=Unknown;g=example.io;v=v1, application/json",
        )],
        vec![],
    )
    .await;
    assert_eq!((code, obj["kind"].as_str()), (200, Some("ConfigMap")));
}
