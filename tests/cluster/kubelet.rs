//! The kubelet paths of a Pod (`log`, `exec`, `attach`, `portforward`): checked as
//! kube-apiserver checks them, then answered as a kubelet answers for a container that is not
//! running (the simulated kubelets run no processes), never as a missing route.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::{cluster, raw};

#[tokio::test]
async fn kubelet_paths_answer_as_for_a_container_that_is_not_running() {
    let c = cluster();
    let client = c.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let two: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "two"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &two).await.unwrap();
    let base = "/api/v1/namespaces/default/pods";
    let get = |path: String| {
        let client = client.clone();
        async move { raw(&client, "GET", &path, &[], vec![]).await }
    };

    let (code, _, s) = get(format!("{base}/two/log")).await;
    assert_eq!(code, 400);
    assert_eq!(
        s["message"],
        "a container name must be specified for pod two, choose one of: [a b]"
    );
    let (code, _, s) = get(format!("{base}/two/log?container=c")).await;
    assert_eq!(
        (code, s["message"].as_str()),
        (400, Some("container c is not valid for pod two"))
    );
    let (code, _, s) = get(format!("{base}/two/log?container=a")).await;
    assert_eq!(code, 400);
    assert_eq!(
        s["message"],
        "container \"a\" in pod \"two\" is waiting to start: ContainerCreating"
    );
    let (code, _, s) = get(format!("{base}/missing/log")).await;
    assert_eq!((code, s["reason"].as_str()), (404, Some("NotFound")));

    let (code, _, s) = raw(
        &client,
        "POST",
        &format!("{base}/two/exec?container=a&command=ls"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        (code, s["message"].as_str()),
        (500, Some("container not found (\"a\")"))
    );
    let (code, _, _) = raw(
        &client,
        "GET",
        &format!("{base}/two/attach?container=b"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(code, 500);
    let (code, _, _) = raw(&client, "DELETE", &format!("{base}/two/exec"), &[], vec![]).await;
    assert_eq!(code, 405);

    // An unscheduled pod: no kubelet to ask; the log is empty, exec has no host.
    let pending: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending"},
        "spec": {"containers": [{"name": "a", "image": "x"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pending).await.unwrap();
    let (code, _, body) = get(format!("{base}/pending/log")).await;
    assert_eq!((code, body), (200, json!("")));
    let (code, _, s) = raw(
        &client,
        "POST",
        &format!("{base}/pending/exec?command=ls"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        (code, s["message"].as_str()),
        (400, Some("pod pending does not have a host assigned"))
    );
    // kube-rs's typed call gets the same answer.
    let e = pods
        .logs(
            "two",
            &kube::api::LogParams {
                container: Some("b".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(e, Err(kube::Error::Api(s)) if s.code == 400));
}
