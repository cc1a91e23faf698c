//! Discovery documents, tables for built-in kinds, OpenAPI answers, method errors.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::{cluster, deployment, raw_get};

#[tokio::test]
async fn discovery_describes_groups_resources_and_subresources() {
    let c = cluster();
    let client = c.client();
    let (_, version) = raw_get(&client, "/version", "application/json").await;
    assert_eq!(
        (version["major"].as_str(), version["minor"].as_str()),
        (Some("1"), Some("33"))
    );
    let (_, api) = raw_get(&client, "/api", "application/json").await;
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, apps) = raw_get(&client, "/apis/apps", "application/json").await;
    assert_eq!(apps["preferredVersion"]["groupVersion"], "apps/v1");
    let (_, list) = raw_get(&client, "/apis/apps/v1", "application/json").await;
    let deploy = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments")
        .unwrap();
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    assert_eq!(deploy["categories"], json!(["all"]));
    assert_eq!(deploy["verbs"].as_array().unwrap().len(), 8);
    let scale = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments/scale")
        .unwrap();
    assert_eq!(
        (scale["group"].as_str(), scale["kind"].as_str()),
        (Some("autoscaling"), Some("Scale"))
    );
    let (_, core) = raw_get(&client, "/api/v1", "application/json").await;
    assert!(
        core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "pods/eviction" && r["kind"] == "Eviction")
    );
    let (code, _) = raw_get(&client, "/openapi/v2", "application/json").await;
    assert_eq!(code, 404);
    let (code, missing) = raw_get(&client, "/apis/nope/v1/things", "application/json").await;
    assert_eq!(
        (code, missing["kind"].as_str(), missing["reason"].as_str()),
        (404, Some("Status"), Some("NotFound"))
    );
}

#[tokio::test]
async fn built_in_tables_have_kubectl_columns() {
    let c = cluster();
    let deps: Api<Deployment> = Api::default_namespaced(c.client());
    deps.create(&PostParams::default(), &deployment("web", 3, "nginx:1"))
        .await
        .unwrap();
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (_, table) = raw_get(
        &c.client(),
        "/apis/apps/v1/namespaces/default/deployments/web?includeObject=Object",
        accept,
    )
    .await;
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let cells = table["rows"][0]["cells"].as_array().unwrap();
    assert_eq!(
        cells[0..4],
        [json!("web"), json!("0/3"), json!(0), json!(0)]
    );
    assert_eq!(
        cells[5..8],
        [json!("app"), json!("nginx:1"), json!("app=web")]
    );
    assert_eq!(table["rows"][0]["object"]["kind"], "Deployment");
}

#[tokio::test]
async fn wrong_methods_are_not_allowed() {
    let c = cluster();
    let req = http::Request::post("/apis/apps/v1/namespaces/default/deployments/web")
        .body(b"{}".to_vec())
        .unwrap();
    let err = c.client().request_text(req).await.unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("{err:?}")
    };
    assert_eq!((s.code, s.reason.as_str()), (405, "MethodNotAllowed"));
}
