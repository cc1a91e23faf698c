//! Fault injection: failing requests, added latency, cut watch streams.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchParams};
use serde_json::json;

use crate::{api_err, cluster, configmap};

#[tokio::test]
async fn the_next_matching_requests_fail_with_the_given_code() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    c.faults().fail_next("create", "configmaps", 2, 503);
    for _ in 0..2 {
        let s = api_err(
            cms.create(&PostParams::default(), &configmap("a", json!({})))
                .await,
        );
        assert_eq!((s.code, s.reason.as_str()), (503, "ServiceUnavailable"));
    }
    cms.list(&ListParams::default()).await.unwrap();
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    c.faults().fail_next("*", "pods", 1, 500);
    cms.get("a").await.unwrap();
}

#[tokio::test]
async fn latency_slows_only_matching_requests_until_cleared() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    c.faults()
        .add_latency("get", "configmaps", Duration::from_millis(400));
    let t = Instant::now();
    cms.get("a").await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(400));
    let t = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(400));
    c.faults().clear();
    let t = Instant::now();
    cms.get("a").await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn cutting_watches_ends_open_streams() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let rv = c.resource_version().to_string();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    c.faults().cut_watches();
    let end = tokio::time::timeout(Duration::from_secs(2), stream.next())
        .await
        .expect("the stream ends");
    assert!(end.is_none());
    let mut fresh = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(2), fresh.next())
        .await
        .unwrap();
    assert!(
        matches!(e, Some(Ok(kube::api::WatchEvent::Added(_)))),
        "watches opened after the cut work"
    );
}
