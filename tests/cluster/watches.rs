//! Watches: events from a resourceVersion, 410 Gone past the window, bookmarks, timeouts,
//! selector transitions, and a kube-runtime reflector staying in sync through cut streams.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use remedy::cluster::{Config, EmbeddedCluster};
use serde_json::json;

use crate::{cluster, configmap};

fn kind_and_name(e: &WatchEvent<ConfigMap>) -> (String, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED".into(), o.metadata.name.clone().unwrap()),
        WatchEvent::Modified(o) => ("MODIFIED".into(), o.metadata.name.clone().unwrap()),
        WatchEvent::Deleted(o) => ("DELETED".into(), o.metadata.name.clone().unwrap()),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version.clone()),
        WatchEvent::Error(s) => ("ERROR".into(), s.code.to_string()),
    }
}

#[tokio::test]
async fn watch_from_a_resource_version_sees_later_changes_in_order() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("before", json!({})))
        .await
        .unwrap();
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut rvs = Vec::new();
    for _ in 0..3 {
        let e = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &e {
            rvs.push(
                o.metadata
                    .resource_version
                    .clone()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
        }
        seen.push(kind_and_name(&e));
    }
    let expected: Vec<(String, String)> = [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
    assert_eq!(seen, expected);
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");
    assert!(rvs[0] > rv.parse().unwrap());
}

#[tokio::test]
async fn watch_from_a_version_older_than_the_window_is_gone() {
    let c = EmbeddedCluster::new(Config {
        event_window: 4,
        ..Default::default()
    });
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let first = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    for i in 0..6 {
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"i": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    let rv = first.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let e = stream.try_next().await.unwrap().unwrap();
    let WatchEvent::Error(s) = e else {
        panic!("expected an ERROR event, got {e:?}")
    };
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
    let recent = cms
        .get("a")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let recent_rv: u64 = recent.parse().unwrap();
    let mut ok = cms
        .watch(&WatchParams::default(), &(recent_rv - 2).to_string())
        .await
        .unwrap()
        .boxed();
    let e = tokio::time::timeout(Duration::from_secs(5), ok.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(kind_and_name(&e).0, "MODIFIED");
}

#[tokio::test]
async fn bookmarks_carry_the_current_version_and_timeouts_end_the_stream() {
    let c = EmbeddedCluster::new(Config {
        bookmark_interval: Duration::from_millis(50),
        ..Default::default()
    });
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let rv = c.resource_version().to_string();
    let wp = WatchParams::default().timeout(1);
    let events: Vec<_> = tokio::time::timeout(
        Duration::from_secs(5),
        cms.watch(&wp, &rv).await.unwrap().collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ends at timeoutSeconds");
    let bookmarks: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Ok(WatchEvent::Bookmark(b)) => Some(b.metadata.resource_version.clone()),
            _ => None,
        })
        .collect();
    assert!(bookmarks.len() >= 3, "{bookmarks:?}");
    assert!(bookmarks.iter().all(|b| *b == rv));
    let no_bookmarks: Vec<_> = cms
        .watch(&WatchParams::default().disable_bookmarks().timeout(1), &rv)
        .await
        .unwrap()
        .collect()
        .await;
    assert!(no_bookmarks.is_empty());
}

#[tokio::test]
async fn label_selected_watch_sees_objects_enter_and_leave() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    cms.create(
        &PostParams::default(),
        &configmap("a", json!({"team": "x"})),
    )
    .await
    .unwrap();
    let rv = c.resource_version().to_string();
    let mut stream = cms
        .watch(&WatchParams::default().labels("team=y"), &rv)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "y"}}})),
    )
    .await
    .unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "z"}}})),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(kind_and_name(&e).0);
    }
    assert_eq!(seen, ["ADDED", "MODIFIED", "DELETED"]);
}

#[tokio::test]
async fn watch_without_version_starts_with_the_current_objects() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    for n in ["a", "b"] {
        cms.create(&PostParams::default(), &configmap(n, json!({})))
            .await
            .unwrap();
    }
    let mut stream = cms
        .watch(&WatchParams::default().fields("metadata.name=b"), "0")
        .await
        .unwrap()
        .boxed();
    let e = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(kind_and_name(&e), ("ADDED".to_string(), "b".to_string()));
}

#[tokio::test]
async fn reflector_stays_in_sync_through_cut_streams_and_gone_versions() {
    let c = EmbeddedCluster::new(Config {
        event_window: 5,
        ..Default::default()
    });
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(writer, watcher(cms.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    let faults = c.faults();
    for round in 0..4 {
        if round % 2 == 1 {
            // Slow the re-watch down so more than the window of events happens in between.
            faults.add_latency("watch", "configmaps", Duration::from_millis(200));
        }
        faults.cut_watches();
        for i in 0..8 {
            let name = format!("cm-{}", (round * 3 + i) % 10);
            let cm = configmap(&name, json!({"round": round.to_string()}));
            if cms.create(&PostParams::default(), &cm).await.is_err() {
                cms.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"r": format!("{round}-{i}")}})),
                )
                .await
                .unwrap();
            }
            if i % 3 == 2 {
                cms.delete(&name, &DeleteParams::default()).await.unwrap();
            }
        }
        faults.clear();
    }
    let truth = |l: Vec<ConfigMap>| {
        let mut v: Vec<(String, String)> = l
            .into_iter()
            .map(|c| {
                (
                    c.metadata.name.unwrap(),
                    c.metadata.resource_version.unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let want = truth(cms.list(&ListParams::default()).await.unwrap().items);
    let mut have = Vec::new();
    for _ in 0..100 {
        have = truth(reader.state().iter().map(|c| (**c).clone()).collect());
        if have == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(have, want);
    task.abort();
}

#[tokio::test]
async fn streaming_list_watchers_get_initial_events_then_changes() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    for n in ["a", "b"] {
        cms.create(&PostParams::default(), &configmap(n, json!({})))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(cms.clone(), watcher::Config::default().streaming_lists()),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    tokio::time::timeout(Duration::from_secs(5), reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reader.state().len(), 2);
    cms.create(&PostParams::default(), &configmap("c", json!({})))
        .await
        .unwrap();
    for _ in 0..100 {
        if reader.state().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reader.state().len(), 3);
    task.abort();
}

#[tokio::test]
async fn a_kube_runtime_controller_reconciles_and_owns_its_children() {
    use kube::Resource;
    use kube::runtime::controller::{Action, Controller};
    use std::sync::Arc;
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    let reconcile = |cm: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>| async move {
        let name = cm.metadata.name.clone().unwrap();
        if name.ends_with("-copy") {
            return Ok::<_, kube::Error>(Action::await_change());
        }
        let mut copy = configmap(&format!("{name}-copy"), json!({"copy": "yes"}));
        copy.data = cm.data.clone();
        copy.metadata.owner_references = Some(vec![cm.controller_owner_ref(&()).unwrap()]);
        let pp = PatchParams::apply("copier").force();
        api.patch(
            copy.metadata.name.as_deref().unwrap(),
            &pp,
            &Patch::Apply(&copy),
        )
        .await?;
        Ok(Action::await_change())
    };
    let controller = Controller::new(cms.clone(), watcher::Config::default().labels("!copy"))
        .owns(cms.clone(), watcher::Config::default().labels("copy"))
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            Arc::new(cms.clone()),
        )
        .for_each(|_| async {});
    let task = tokio::spawn(controller);
    cms.create(&PostParams::default(), &configmap("src", json!({})))
        .await
        .unwrap();
    let mut copied = None;
    for _ in 0..200 {
        if let Ok(cm) = cms.get("src-copy").await {
            copied = Some(cm);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        copied.expect("the controller made a copy").data.unwrap()["k"],
        "v"
    );
    cms.patch(
        "src",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "changed"}})),
    )
    .await
    .unwrap();
    let mut value = String::new();
    for _ in 0..200 {
        value = cms.get("src-copy").await.unwrap().data.unwrap()["k"].clone();
        if value == "changed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(value, "changed");
    cms.delete("src", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        crate::api_err(cms.get("src-copy").await).code,
        404,
        "garbage collected with its owner"
    );
    task.abort();
}
