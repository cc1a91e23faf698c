//! Embedded cluster throughput and latency through `kube::Client`, in-process:
//! create+get+patch round trips, and watch event delivery with 1,000 watched objects.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use remedy::cluster::{Config, EmbeddedCluster};
use serde_json::json;

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"bench": "yes"}}, "data": {"k": "v"}}),
    )
    .unwrap()
}

fn round_trips(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = rt.block_on(async { EmbeddedCluster::new(Config::default()) });
    let cms: Api<ConfigMap> = rt.block_on(async { Api::default_namespaced(cluster.client()) });
    let n = AtomicU64::new(0);
    c.bench_function("cluster/create_get_patch", |b| {
        b.iter(|| {
            rt.block_on(async {
                let name = format!("cm-{}", n.fetch_add(1, Ordering::Relaxed));
                cms.create(&PostParams::default(), &configmap(&name))
                    .await
                    .unwrap();
                cms.get(&name).await.unwrap();
                cms.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"k": "w"}})),
                )
                .await
                .unwrap();
            })
        })
    });
}

fn watch_latency(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = rt.block_on(async { EmbeddedCluster::new(Config::default()) });
    let cms: Api<ConfigMap> = rt.block_on(async { Api::default_namespaced(cluster.client()) });
    rt.block_on(async {
        for i in 0..1000 {
            cms.create(&PostParams::default(), &configmap(&format!("w-{i}")))
                .await
                .unwrap();
        }
    });
    let rv = cluster.resource_version().to_string();
    let mut stream = rt.block_on(async {
        cms.watch(&WatchParams::default().labels("bench=yes"), &rv)
            .await
            .unwrap()
            .boxed()
    });
    let n = AtomicU64::new(0);
    c.bench_function("cluster/watch_event_latency_1000_objects", |b| {
        b.iter(|| {
            rt.block_on(async {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let name = format!("w-{}", i % 1000);
                cms.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"k": i.to_string()}})),
                )
                .await
                .unwrap();
                loop {
                    match stream.next().await {
                        Some(Ok(WatchEvent::Modified(o)))
                            if o.metadata.name.as_deref() == Some(name.as_str()) =>
                        {
                            break;
                        }
                        Some(_) => continue,
                        None => panic!("watch ended"),
                    }
                }
            })
        })
    });
}

criterion_group!(benches, round_trips, watch_latency);
criterion_main!(benches);
