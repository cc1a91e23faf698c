//! The embedded cluster under the memory attacks of issue 18, with the heap counted: a 1 MB
//! ConfigMap patched again and again while 50 watches never read, and JSON patches of 40
//! self-doubling copies. Each prints the process's resident memory before and its peak during
//! the attack (the figures in docs/cluster.md; Linux only).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use remedy::cluster::{Config, EmbeddedCluster};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

/// Resets the process's peak resident set (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS needs Linux");
}

/// A field of `/proc/self/status` in MiB (`VmRSS`, `VmHWM`).
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn unread_watches(c: &mut Criterion) {
    let rt = runtime();
    let cluster = rt.block_on(async { EmbeddedCluster::new(Config::default()) });
    let cms: Api<ConfigMap> = rt.block_on(async { Api::default_namespaced(cluster.client()) });
    let big = |v: &str| json!({"data": {"k": v.repeat(1_000_000)}});
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "big"}, "data": {"k": "a"}})).unwrap();
    rt.block_on(cms.create(&PostParams::default(), &cm))
        .unwrap();
    // 50 watches whose clients never read: their response bodies are held, not polled.
    let mut svc = cluster.service();
    let watches: Vec<_> = (0..50)
        .map(|_| {
            let req = http::Request::get("/api/v1/namespaces/default/configmaps?watch=true")
                .body(Full::new(bytes::Bytes::new()))
                .unwrap();
            rt.block_on(async {
                ServiceExt::<http::Request<Full<bytes::Bytes>>>::ready(&mut svc)
                    .await
                    .unwrap()
                    .call(req)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let before = status_mib("VmRSS");
    reset_peak();
    let n = AtomicU64::new(0);
    c.bench_function("attacks/patch_1mb_with_50_unread_watches", |b| {
        b.iter(|| {
            let v = if n.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
                "x"
            } else {
                "y"
            };
            rt.block_on(cms.patch("big", &PatchParams::default(), &Patch::Merge(big(v))))
                .unwrap();
        })
    });
    eprintln!(
        "attacks/patch_1mb_with_50_unread_watches: {} patches; RSS {before:.0} MiB before, peak {:.0} MiB, {:.0} MiB after",
        n.load(Ordering::Relaxed),
        status_mib("VmHWM"),
        status_mib("VmRSS"),
    );
    drop(watches);
}

fn doubling_json_patch(c: &mut Criterion) {
    let rt = runtime();
    let cluster = rt.block_on(async { EmbeddedCluster::new(Config::default()) });
    let client = rt.block_on(async { cluster.client() });
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "a"}, "data": {"k": "v".repeat(64)}}))
            .unwrap();
    rt.block_on(cms.create(&PostParams::default(), &cm))
        .unwrap();
    let ops: Vec<Value> = (0..40)
        .map(|i| json!({"op": "copy", "from": "/data", "path": format!("/data/d{i}")}))
        .collect();
    let body = Value::Array(ops).to_string();
    let before = status_mib("VmRSS");
    reset_peak();
    let n = AtomicU64::new(0);
    c.bench_function("attacks/json_patch_40_doubling_copies", |b| {
        b.iter(|| {
            let req = http::Request::patch("/api/v1/namespaces/default/configmaps/a")
                .header("Content-Type", "application/json-patch+json")
                .body(body.clone().into_bytes())
                .unwrap();
            let resp = rt
                .block_on(client.send(req.map(kube::client::Body::from)))
                .unwrap();
            assert_eq!(resp.status(), 422);
            n.fetch_add(1, Ordering::Relaxed);
        })
    });
    eprintln!(
        "attacks/json_patch_40_doubling_copies: {} patches; RSS {before:.0} MiB before, peak {:.0} MiB",
        n.load(Ordering::Relaxed),
        status_mib("VmHWM"),
    );
}

criterion_group!(benches, unread_watches, doubling_json_patch);
criterion_main!(benches);
