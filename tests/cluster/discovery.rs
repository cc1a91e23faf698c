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
    // `kubectl get svc`: the kubernetes Service's row as kubectl shows it.
    let (_, table) = raw_get(
        &c.client(),
        "/api/v1/namespaces/default/services/kubernetes",
        accept,
    )
    .await;
    let cells = table["rows"][0]["cells"].as_array().unwrap();
    assert_eq!(
        cells[0..5],
        [
            json!("kubernetes"),
            json!("ClusterIP"),
            json!("10.96.0.1"),
            json!("<none>"),
            json!("443/TCP")
        ]
    );
    let (_, table) = raw_get(&c.client(), "/api/v1/componentstatuses", accept).await;
    assert_eq!(table["rows"][0]["cells"][1], "Healthy");
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

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[tokio::test]
async fn aggregated_discovery_answers_kube_rs_and_kubectl_accept_header() {
    let c = cluster();
    let client = c.client();
    let (code, content_type, apis) =
        crate::raw(&client, "GET", "/apis", &[("Accept", AGGREGATED)], vec![]).await;
    assert_eq!(code, 200);
    assert_eq!(
        content_type,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(
        (apis["kind"].as_str(), apis["apiVersion"].as_str()),
        (
            Some("APIGroupDiscoveryList"),
            Some("apidiscovery.k8s.io/v2")
        )
    );
    let apps = apis["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap();
    let deployments = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .unwrap();
    assert_eq!(deployments["responseKind"]["kind"], "Deployment");
    assert_eq!(deployments["scope"], "Namespaced");
    let scale = deployments["subresources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subresource"] == "scale")
        .unwrap();
    assert_eq!(
        scale["responseKind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    // The core group alone at /api; a plain Accept keeps the legacy documents.
    let (_, _, core) = crate::raw(&client, "GET", "/api", &[("Accept", AGGREGATED)], vec![]).await;
    assert_eq!(core["items"].as_array().unwrap().len(), 1);
    let pods = core["items"][0]["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "pods")
        .unwrap();
    assert!(pods["verbs"].as_array().unwrap().contains(&json!("list")));
    let (_, _, legacy) = crate::raw(
        &client,
        "GET",
        "/api",
        &[("Accept", "application/json")],
        vec![],
    )
    .await;
    assert_eq!(legacy["kind"], "APIVersions");
    // kube-rs's own reading of it: every group, the core one included.
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    assert!(discovery.has_group("") && discovery.has_group("apps") && discovery.has_group("batch"));
    let (ar, caps) = discovery
        .get("apiregistration.k8s.io")
        .unwrap()
        .recommended_kind("APIService")
        .unwrap();
    assert_eq!(ar.plural, "apiservices");
    assert!(caps.supports_operation(kube::discovery::verbs::LIST));
    // A read-only resource says so.
    let (_, _, v1) = crate::raw(
        &client,
        "GET",
        "/api/v1",
        &[("Accept", "application/json")],
        vec![],
    )
    .await;
    let cs = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "componentstatuses")
        .unwrap();
    assert_eq!(cs["verbs"], json!(["get", "list"]));
}

#[tokio::test]
async fn openapi_v3_documents_carry_the_schemas_kubectl_explain_reads() {
    let c = cluster();
    let client = c.client();
    let (_, index) = raw_get(&client, "/openapi/v3", "application/json").await;
    assert_eq!(
        index["paths"]["apis/apps/v1"]["serverRelativeURL"],
        "/openapi/v3/apis/apps/v1"
    );
    let (code, apps) = raw_get(&client, "/openapi/v3/apis/apps/v1", "application/json").await;
    assert_eq!(code, 200);
    let schemas = &apps["components"]["schemas"];
    let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
    );
    // Every reference resolves within the document (what kubectl's template follows).
    let text = apps.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(
            schemas.get(name).is_some(),
            "{name} is referenced but missing"
        );
    }
    assert_eq!(
        schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );
    // The PATCH operation still says the server validates fields.
    assert!(text.contains("\"fieldValidation\""));
    // A custom resource's schema is its CRD's, with metadata pointing at ObjectMeta.
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.io"},
            "spec": {"group": "example.io", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true,
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                       "spec": {"type": "object", "description": "The widget.",
                                                "properties": {"size": {"type": "integer"}}}}}}}]}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let (_, doc) = raw_get(
        &client,
        "/openapi/v3/apis/example.io/v1",
        "application/json",
    )
    .await;
    let widget = &doc["components"]["schemas"]["io.example.v1.Widget"];
    assert_eq!(
        widget["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );
    assert_eq!(
        widget["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(
        doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object()
    );
    // The CRD's group-version got its APIService, as kube-apiserver registers one.
    let (code, svc) = raw_get(
        &client,
        "/apis/apiregistration.k8s.io/v1/apiservices/v1.example.io",
        "application/json",
    )
    .await;
    assert_eq!(
        (code, svc["spec"]["group"].as_str()),
        (200, Some("example.io"))
    );
    crds.delete("widgets.example.io", &Default::default())
        .await
        .unwrap();
    let (code, _) = raw_get(
        &client,
        "/apis/apiregistration.k8s.io/v1/apiservices/v1.example.io",
        "application/json",
    )
    .await;
    assert_eq!(code, 404, "the APIService leaves with its CRD");
}
