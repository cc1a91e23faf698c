//! The requests a hostile client sent (issue 18), each answered as kube-apiserver answers it:
//! malformed names and metadata, mistyped fields of built-in kinds, oversized bodies and
//! objects, JSON patches that multiply, watchers that stop reading, wrong media types, uid
//! preconditions, malformed selectors, reads from the future, terminating namespaces and
//! orphaned workloads.

use std::time::Duration;

use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};
use remedy::cluster::{Config, EmbeddedCluster, SimulationConfig};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

use crate::{cluster, deployment};

const JSON: &str = "application/json";
const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

/// Sends `body` with a Content-Type (none when `ctype` is empty): (status, answer).
async fn send(
    client: &Client,
    method: &str,
    path: &str,
    ctype: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = if ctype.is_empty() {
        vec![]
    } else {
        vec![("Content-Type", ctype)]
    };
    let (code, _, answer) = crate::raw(client, method, path, &headers, body).await;
    (code, answer)
}

async fn post(client: &Client, path: &str, body: Value) -> (u16, Value) {
    send(client, "POST", path, JSON, body.to_string().into_bytes()).await
}

fn message(answer: &Value) -> &str {
    answer["message"].as_str().unwrap_or_default()
}

/// How many objects a list path holds.
async fn count(client: &Client, path: &str) -> usize {
    let (code, list) = crate::raw_get(client, path, JSON).await;
    assert_eq!(code, 200, "{list}");
    list["items"].as_array().map_or(0, Vec::len)
}

fn cm(name: &str, extra: Value) -> Value {
    let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            if k == "metadata" {
                for (mk, mx) in x.as_object().unwrap() {
                    o["metadata"][mk] = mx.clone();
                }
            } else {
                o.insert(k.clone(), x.clone());
            }
        }
    }
    v
}

#[tokio::test]
async fn malformed_names_and_namespaces_are_refused() {
    let c = cluster();
    let client = c.client();
    for name in ["a..b", "a.-b"] {
        let (code, answer) = post(&client, CMS, cm(name, json!({}))).await;
        assert_eq!(code, 422, "{answer}");
        assert_eq!(answer["reason"], "Invalid");
        assert!(
            message(&answer).contains("a lowercase RFC 1123 subdomain must consist of"),
            "{answer}"
        );
        assert_eq!(answer["details"]["causes"][0]["field"], "metadata.name");
    }
    let long = "n".repeat(64);
    for (name, says) in [
        ("a.b", "must not contain dots"),
        (long.as_str(), "must be no more than 63 characters"),
    ] {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let (code, answer) = post(&client, "/api/v1/namespaces", body).await;
        assert_eq!(code, 422, "{answer}");
        assert!(message(&answer).contains(says), "{answer}");
    }
    assert_eq!(count(&client, CMS).await, 0);
    let (_, nss) = crate::raw_get(&client, "/api/v1/namespaces", JSON).await;
    assert!(
        nss["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["metadata"]["name"] != "a.b" && n["metadata"]["name"] != long.as_str())
    );
}

#[tokio::test]
async fn malformed_labels_and_mistyped_metadata_are_refused() {
    let c = cluster();
    let client = c.client();
    let cases = [
        (
            json!({"metadata": {"labels": {"a": "v".repeat(100)}}}),
            422,
            "must be no more than 63 characters",
        ),
        (
            json!({"metadata": {"labels": {"a b!": "v"}}}),
            422,
            "name part must consist of alphanumeric characters",
        ),
        (
            json!({"metadata": {"labels": {"a": 1}}}),
            400,
            "cannot unmarshal number",
        ),
        (
            json!({"metadata": {"ownerReferences": "x"}}),
            400,
            "cannot unmarshal string",
        ),
        (
            json!({"metadata": {"finalizers": {"a": 1}}}),
            400,
            "cannot unmarshal object",
        ),
        (json!({"data": {"k": 1}}), 400, "cannot unmarshal number"),
        (
            json!({"binaryData": {"k": "not base64!"}}),
            400,
            "illegal base64 data",
        ),
    ];
    for (i, (extra, want, says)) in cases.into_iter().enumerate() {
        let (code, answer) = post(&client, CMS, cm(&format!("c{i}"), extra.clone())).await;
        assert_eq!(code, want, "{extra}: {answer}");
        assert!(message(&answer).contains(says), "{extra}: {answer}");
    }
    assert_eq!(count(&client, CMS).await, 0);
}

#[tokio::test]
async fn replicas_are_int32() {
    let c = cluster();
    let client = c.client();
    for replicas in [json!(9223372036854775807_i64), json!("three"), json!(2.5)] {
        let mut d = serde_json::to_value(deployment("web", 1, "nginx:1")).unwrap();
        d["spec"]["replicas"] = replicas.clone();
        let (code, answer) = post(&client, DEPLOYMENTS, d).await;
        assert_eq!(code, 400, "{replicas}: {answer}");
        assert!(
            message(&answer).contains("spec.replicas"),
            "{replicas}: {answer}"
        );
    }
    assert_eq!(count(&client, DEPLOYMENTS).await, 0);
}

#[tokio::test]
async fn bodies_and_objects_past_the_size_limits_are_refused() {
    let c = cluster();
    let client = c.client();
    // A 4 MiB body: past the 3 MiB request limit.
    let body = cm("huge", json!({"data": {"k": "x".repeat(4 << 20)}}));
    let (code, answer) = post(&client, CMS, body).await;
    assert_eq!(code, 413, "{}", message(&answer));
    assert_eq!(answer["reason"], "RequestEntityTooLarge");
    // 2 MiB of data in a body under the limit: past what a ConfigMap may hold.
    let body = cm("big", json!({"data": {"k": "x".repeat(2 << 20)}}));
    let (code, answer) = post(&client, CMS, body).await;
    assert_eq!(code, 422, "{}", message(&answer));
    assert!(message(&answer).ends_with("Too long: may not be more than 1048576 bytes"));
    // A 2 MiB annotation on a Deployment: past what the store keeps.
    let mut d = serde_json::to_value(deployment("web", 1, "nginx:1")).unwrap();
    d["spec"]["template"]["metadata"]["annotations"] = json!({"a": "x".repeat(2 << 20)});
    let (code, answer) = post(&client, DEPLOYMENTS, d).await;
    assert_eq!(code, 500, "{}", message(&answer));
    assert_eq!(message(&answer), "etcdserver: request is too large");
    assert_eq!(count(&client, DEPLOYMENTS).await, 0);
    assert_eq!(count(&client, CMS).await, 0);
}

#[tokio::test]
async fn a_json_patch_of_doubling_copies_is_refused() {
    let c = cluster();
    let client = c.client();
    let (code, answer) = post(
        &client,
        CMS,
        cm("a", json!({"data": {"k": "v".repeat(64)}})),
    )
    .await;
    assert_eq!(code, 201, "{answer}");
    // 40 copies, each of the whole data into itself: 2^40 times the data if applied.
    let ops: Vec<Value> = (0..40)
        .map(|i| json!({"op": "copy", "from": "/data", "path": format!("/data/d{i}")}))
        .collect();
    let (code, answer) = send(
        &client,
        "PATCH",
        &format!("{CMS}/a"),
        "application/json-patch+json",
        Value::Array(ops).to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, 422, "{answer}");
    assert!(
        message(&answer).contains("the accumulated size increase of copy is"),
        "{answer}"
    );
    let (code, stored) = crate::raw_get(&client, &format!("{CMS}/a"), JSON).await;
    assert_eq!(code, 200);
    assert_eq!(
        stored["data"],
        json!({"k": "v".repeat(64)}),
        "nothing changed"
    );
}

#[tokio::test]
async fn a_watcher_that_stops_reading_is_closed() {
    let c = EmbeddedCluster::new(Config {
        watch_backlog_bytes: 64 * 1024,
        ..Config::default()
    });
    let client = c.client();
    let mut svc = c.service();
    let req = http::Request::get(format!("{CMS}?watch=true"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = ServiceExt::<http::Request<http_body_util::Full<bytes::Bytes>>>::ready(&mut svc)
        .await
        .unwrap()
        .call(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // 50 writes of a 10 KB ConfigMap, none read by the watcher: 500 KB of events.
    let value = "x".repeat(10_000);
    for i in 0..50 {
        let body = cm(&format!("c{i}"), json!({"data": {"k": value}}));
        let (code, answer) = post(&client, CMS, body).await;
        assert_eq!(code, 201, "{answer}");
    }
    // The stream ends (rather than holding every event): what was queued is dropped.
    let read = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .expect("a watch that fell behind is closed")
        .unwrap()
        .to_bytes();
    assert!(
        read.len() <= 64 * 1024,
        "{} bytes kept for the watcher",
        read.len()
    );
    let events = read
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!(events < 50, "{events} events");
}

#[tokio::test]
async fn bodies_without_a_json_media_type_are_refused() {
    let c = cluster();
    let client = c.client();
    let body = cm("a", json!({})).to_string().into_bytes();
    for ctype in ["text/plain", "application/x-www-form-urlencoded"] {
        let (code, answer) = send(&client, "POST", CMS, ctype, body.clone()).await;
        assert_eq!(code, 415, "{ctype:?}: {answer}");
        assert_eq!(answer["reason"], "UnsupportedMediaType");
    }
    assert_eq!(count(&client, CMS).await, 0);
    // As kube-apiserver's input negotiation, a body without a Content-Type is read as JSON;
    // a patch must name its type.
    let (code, answer) = send(&client, "POST", CMS, "", body).await;
    assert_eq!(code, 201, "{answer}");
    let (code, answer) = send(&client, "PATCH", &format!("{CMS}/a"), "", b"{}".to_vec()).await;
    assert_eq!(code, 415, "{answer}");
}

#[tokio::test]
async fn a_put_with_another_uid_is_a_conflict() {
    let c = cluster();
    let client = c.client();
    let (code, created) = post(&client, CMS, cm("a", json!({"data": {"k": "v"}}))).await;
    assert_eq!(code, 201);
    let mut forged = created.clone();
    forged["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    forged["data"]["k"] = json!("w");
    let (code, answer) = send(
        &client,
        "PUT",
        &format!("{CMS}/a"),
        JSON,
        forged.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, 409, "{answer}");
    assert!(
        message(&answer).contains("Precondition failed: UID in precondition"),
        "{answer}"
    );
    let (_, stored) = crate::raw_get(&client, &format!("{CMS}/a"), JSON).await;
    assert_eq!(stored["data"]["k"], "v");
}

#[tokio::test]
async fn malformed_selectors_are_bad_requests() {
    let c = cluster();
    let client = c.client();
    for selector in ["a%3Db%3Dc", "a,,b", "a%20notin%20()"] {
        let (code, answer) =
            crate::raw_get(&client, &format!("{CMS}?labelSelector={selector}"), JSON).await;
        assert_eq!(code, 400, "{selector}: {answer}");
        assert_eq!(answer["reason"], "BadRequest", "{selector}: {answer}");
    }
}

#[tokio::test]
async fn a_read_from_a_future_resource_version_times_out() {
    let c = cluster();
    let client = c.client();
    let (code, answer) = crate::raw_get(
        &client,
        &format!("{CMS}?resourceVersion=999999999&resourceVersionMatch=NotOlderThan"),
        JSON,
    )
    .await;
    assert_eq!(code, 504, "{answer}");
    assert!(
        message(&answer).starts_with("Timeout: Too large resource version: 999999999, current: "),
        "{answer}"
    );
    assert_eq!(
        answer["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
}

#[tokio::test]
async fn a_watch_with_initial_events_from_a_future_resource_version_ends_in_an_error() {
    let c = cluster();
    let client = c.client();
    let path = format!(
        "{CMS}?watch=true&resourceVersion=999999999&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&allowWatchBookmarks=true"
    );
    let (code, _, body) = tokio::time::timeout(
        Duration::from_secs(10),
        crate::raw(&client, "GET", &path, &[], vec![]),
    )
    .await
    .expect("the watch answers rather than waiting silently");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["type"], "ERROR", "{body}");
    assert_eq!(body["object"]["code"], 504, "{body}");
    assert_eq!(
        body["object"]["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
}

#[tokio::test]
async fn a_terminating_namespace_says_what_it_waits_for() {
    let c = cluster();
    let client = c.client();
    let (code, ns) = post(
        &client,
        "/api/v1/namespaces",
        json!({"metadata": {"name": "team"}}),
    )
    .await;
    assert_eq!(code, 201, "{ns}");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    let held = cm(
        "held",
        json!({"metadata": {"finalizers": ["example.com/hold"]}}),
    );
    let (code, _) = post(&client, "/api/v1/namespaces/team/configmaps", held).await;
    assert_eq!(code, 201);
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("team", &DeleteParams::default()).await.unwrap();
    let ns = serde_json::to_value(nss.get("team").await.unwrap()).unwrap();
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["status"]["phase"], "Terminating");
    let conditions = ns["status"]["conditions"].as_array().expect("conditions");
    let remaining = conditions
        .iter()
        .find(|c| c["type"] == "NamespaceFinalizersRemaining")
        .expect("NamespaceFinalizersRemaining");
    assert_eq!(remaining["status"], "True");
    assert_eq!(
        remaining["message"],
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_set_of_a_deleted_deployment_stops_making_pods() {
    let c = cluster();
    let _sim = c.start_simulation(SimulationConfig {
        tick: Duration::from_millis(10),
        pod_ready_delay: Duration::from_millis(50),
        nodes: 3,
        failing_images: vec![],
        ..SimulationConfig::default()
    });
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    let rss: Api<ReplicaSet> = Api::default_namespaced(c.client());
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    deps.create(
        &PostParams::default(),
        &deployment("web", 100_000, "nginx:1"),
    )
    .await
    .unwrap();
    for _ in 0..500 {
        if !pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    deps.delete("web", &DeleteParams::default()).await.unwrap();
    let mut gone = false;
    // Collection is eventual: a generous deadline, so that a loaded machine does not fail it.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let left_rs = rss.list(&ListParams::default()).await.unwrap().items.len();
        let left_pods = pods.list(&ListParams::default()).await.unwrap().items.len();
        if left_rs == 0 && left_pods == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the ReplicaSet and its pods are collected");
    // A tick that read the ReplicaSet just before its deletion may still create a pod, as
    // Kubernetes' controller may from a lagging cache: that orphan is collected in turn. What
    // must not happen is pods coming on and on: within a few ticks there are none, and none
    // come back.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let left = pods.list(&ListParams::default()).await.unwrap().items;
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pods keep coming after the ReplicaSet is gone: {:?}",
            left.iter().map(|p| p.name_any()).collect::<Vec<_>>()
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "a pod came back after the ReplicaSet was gone"
    );
}
