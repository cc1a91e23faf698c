//! Label and field selectors on lists.

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::{api_err, cluster, configmap};

async fn names(api: &Api<ConfigMap>, selector: &str) -> Vec<String> {
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap();
    list.items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect()
}

#[tokio::test]
async fn label_selectors_support_every_operator() {
    let c = cluster();
    let cms: Api<ConfigMap> = Api::default_namespaced(c.client());
    for (n, l) in [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "db"})),
        ("c", json!({"tier": "back"})),
    ] {
        cms.create(&PostParams::default(), &configmap(n, l))
            .await
            .unwrap();
    }
    assert_eq!(names(&cms, "app=web").await, ["a"]);
    assert_eq!(names(&cms, "app==db").await, ["b"]);
    assert_eq!(names(&cms, "app!=web").await, ["b", "c"]);
    assert_eq!(names(&cms, "app in (web,db)").await, ["a", "b"]);
    assert_eq!(names(&cms, "app notin (web)").await, ["b", "c"]);
    assert_eq!(names(&cms, "tier").await, ["a", "c"]);
    assert_eq!(names(&cms, "!tier").await, ["b"]);
    assert_eq!(names(&cms, "app,!tier").await, ["b"]);
}

#[tokio::test]
async fn field_selectors_match_names_namespaces_and_pod_fields() {
    let c = cluster();
    let pods: Api<Pod> = Api::default_namespaced(c.client());
    for (n, node) in [("p1", "node-a"), ("p2", "node-b")] {
        let p = serde_json::from_value(json!({"metadata": {"name": n}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}})).unwrap();
        pods.create(&PostParams::default(), &p).await.unwrap();
    }
    let list = |f: &'static str| {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().fields(f)).await.map(|l| {
                l.items
                    .into_iter()
                    .map(|p| p.metadata.name.unwrap())
                    .collect::<Vec<_>>()
            })
        }
    };
    assert_eq!(list("spec.nodeName=node-b").await.unwrap(), ["p2"]);
    assert_eq!(list("metadata.name!=p2").await.unwrap(), ["p1"]);
    assert_eq!(
        list("status.phase=Pending,metadata.namespace=default")
            .await
            .unwrap(),
        ["p1", "p2"]
    );
    let all: Api<Pod> = Api::all(c.client());
    assert_eq!(
        all.list(&ListParams::default().fields("metadata.namespace=kube-system"))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    let s = api_err(list("spec.bogus=1").await);
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
}
