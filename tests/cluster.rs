//! The embedded API server through kube-rs, in-process: CRUD, patches, status isolation,
//! selectors, lists, watches, garbage collection, finalizers, dryRun, CRDs, discovery, tables,
//! subresources, faults and the workload simulation; kube-runtime's watcher, reflector,
//! Controller and finalizer helper against it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster {
    mod batch;
    mod cel;
    mod crd;
    mod crud;
    mod deletion;
    mod discovery;
    mod faults;
    mod kubelet;
    mod managed_fields;
    mod metadata;
    mod patches;
    mod robustness;
    mod selectors;
    mod services;
    mod simulation;
    mod status;
    mod tokens;
    mod validation;
    mod watches;
}

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use remedy::cluster::{Config, EmbeddedCluster};
use serde_json::{Value, json};

/// A fresh cluster with default settings.
pub fn cluster() -> EmbeddedCluster {
    EmbeddedCluster::new(Config::default())
}

/// A ConfigMap with one data entry and labels.
pub fn configmap(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .unwrap()
}

/// A Deployment of `app=<name>` with one container `app` at `image`.
pub fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "env": [{"name": "MODE", "value": "a"}]}]}
            }
        }
    }))
    .unwrap()
}

/// The API error of a kube call that must fail.
pub fn api_err<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A raw GET through the client, answering (status code, body).
pub async fn raw_get(client: &Client, path: &str, accept: &str) -> (u16, Value) {
    let req = http::Request::get(path)
        .header("Accept", accept)
        .body(Vec::new())
        .unwrap();
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A raw request through the client with headers and a body: (status, Content-Type, body).
pub async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String, Value) {
    let mut req = http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .send(req.body(body).unwrap().map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (code, content_type, body)
}
