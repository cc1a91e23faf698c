//! CustomResourceDefinitions: registration, discovery, schema validation and defaults,
//! the status subresource of custom resources, printer columns, removal.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use crate::{api_err, cluster, raw_get};

/// A hand-written CRD like the project's WorkflowExecution.
pub fn crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "workflowexecutions.remedy.example.io"},
        "spec": {
            "group": "remedy.example.io",
            "scope": "Namespaced",
            "names": {"plural": "workflowexecutions", "singular": "workflowexecution", "kind": "WorkflowExecution", "shortNames": ["wfe"], "categories": ["remedy"]},
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Steps", "type": "integer", "jsonPath": ".spec.steps", "priority": 1}
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["template"], "properties": {
                        "template": {"type": "string", "minLength": 1},
                        "mode": {"type": "string", "enum": ["Auto", "Manual"], "default": "Auto"},
                        "steps": {"type": "integer", "minimum": 0},
                        "params": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "targets": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}
                    }},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
                }}}
            }]
        }
    }))
    .unwrap()
}

fn api(client: kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("remedy.example.io", "v1alpha1", "WorkflowExecution");
    Api::default_namespaced_with(
        client,
        &ApiResource::from_gvk_with_plural(&gvk, "workflowexecutions"),
    )
}

fn wfe(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "remedy.example.io/v1alpha1", "kind": "WorkflowExecution", "metadata": {"name": name}, "spec": spec})).unwrap()
}

async fn install(c: &remedy::cluster::EmbeddedCluster) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(c.client());
    crds.create(&PostParams::default(), &crd()).await.unwrap()
}

#[tokio::test]
async fn a_crd_is_served_after_it_is_created_and_reports_established() {
    let c = cluster();
    let wfes = api(c.client());
    assert_eq!(api_err(wfes.get("x").await).code, 404);
    let created = install(&c).await;
    let conds = created.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    let made = wfes
        .create(
            &PostParams::default(),
            &wfe("wf-1", json!({"template": "t@1"})),
        )
        .await
        .unwrap();
    assert_eq!(made.metadata.generation, Some(1));
    let (code, list) = raw_get(
        &c.client(),
        "/apis/remedy.example.io/v1alpha1",
        "application/json",
    )
    .await;
    assert_eq!(code, 200);
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["workflowexecutions", "workflowexecutions/status"]);
    assert_eq!(list["resources"][0]["shortNames"], json!(["wfe"]));
    let (_, groups) = raw_get(&c.client(), "/apis", "application/json").await;
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "remedy.example.io")
    );
}

#[tokio::test]
async fn schema_violations_are_invalid_with_field_paths_and_defaults_apply() {
    let c = cluster();
    install(&c).await;
    let wfes = api(c.client());
    let bad = wfe(
        "bad",
        json!({"mode": "Sometimes", "steps": -1, "targets": [{"nome": "x"}]}),
    );
    let s = api_err(wfes.create(&PostParams::default(), &bad).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    let mut fields: Vec<String> = s
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| c.field)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "spec.mode",
            "spec.steps",
            "spec.targets[0].name",
            "spec.template"
        ]
    );
    assert!(
        s.message
            .starts_with("WorkflowExecution.remedy.example.io \"bad\" is invalid: "),
        "{}",
        s.message
    );
    let good = wfe(
        "good",
        json!({"template": "t@1", "unknown": 1, "params": {"free": {"form": true}}}),
    );
    let made = wfes.create(&PostParams::default(), &good).await.unwrap();
    assert_eq!(
        made.data["spec"],
        json!({"template": "t@1", "mode": "Auto", "params": {"free": {"form": true}}})
    );
    let wrong_type = json!({"spec": {"steps": "three"}});
    let s = api_err(
        wfes.patch("good", &PatchParams::default(), &Patch::Merge(&wrong_type))
            .await,
    );
    assert_eq!(s.details.unwrap().causes[0].field, "spec.steps");
}

#[tokio::test]
async fn custom_resource_status_is_a_subresource() {
    let c = cluster();
    install(&c).await;
    let wfes = api(c.client());
    let mut obj = wfe("wf", json!({"template": "t@1"}));
    obj.data["status"] = json!({"phase": "Done"});
    let made = wfes.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(made.data.get("status"), None, "status is dropped on create");
    let st = json!({"status": {"phase": "Running"}, "spec": {"template": "other"}});
    let out = wfes
        .patch_status("wf", &PatchParams::default(), &Patch::Merge(&st))
        .await
        .unwrap();
    assert_eq!(out.data["status"]["phase"], "Running");
    assert_eq!(out.data["spec"]["template"], "t@1");
    assert_eq!(out.metadata.generation, Some(1));
    let s = api_err(
        wfes.patch(
            "wf",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"steps": 1}})),
        )
        .await,
    );
    assert_eq!(
        s.code, 415,
        "strategic merge patch is not supported for custom resources"
    );
}

#[tokio::test]
async fn tables_use_printer_columns() {
    let c = cluster();
    install(&c).await;
    let wfes = api(c.client());
    wfes.create(
        &PostParams::default(),
        &wfe("wf", json!({"template": "t@1", "steps": 3})),
    )
    .await
    .unwrap();
    wfes.patch_status(
        "wf",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (code, table) = raw_get(
        &c.client(),
        "/apis/remedy.example.io/v1alpha1/namespaces/default/workflowexecutions",
        accept,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(table["kind"], "Table");
    let cols: Vec<(&str, i64)> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["priority"].as_i64().unwrap()))
        .collect();
    assert_eq!(cols, [("Name", 0), ("Phase", 0), ("Steps", 1)]);
    assert_eq!(table["rows"][0]["cells"], json!(["wf", "Running", 3]));
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn deleting_a_crd_removes_its_objects_and_stops_serving_it() {
    let c = cluster();
    install(&c).await;
    let wfes = api(c.client());
    wfes.create(
        &PostParams::default(),
        &wfe("wf", json!({"template": "t@1"})),
    )
    .await
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(c.client());
    crds.delete(
        "workflowexecutions.remedy.example.io",
        &DeleteParams::default(),
    )
    .await
    .unwrap();
    let s = api_err(wfes.get("wf").await);
    assert_eq!(s.code, 404);
    install(&c).await;
    assert_eq!(
        api_err(wfes.get("wf").await).code,
        404,
        "objects do not come back with the CRD"
    );
}

#[tokio::test]
async fn a_crd_named_wrongly_is_invalid() {
    let c = cluster();
    let crds: Api<CustomResourceDefinition> = Api::all(c.client());
    let mut bad = crd();
    bad.metadata.name = Some("wfes.remedy.example.io".into());
    let s = api_err(crds.create(&PostParams::default(), &bad).await);
    assert_eq!(
        (s.code, s.details.unwrap().causes[0].field.as_str()),
        (422, "metadata.name")
    );
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields() {
    let c = cluster();
    install(&c).await;
    let wfes = api(c.client());
    wfes.create(
        &PostParams::default(),
        &wfe("wf", json!({"template": "t@1"})),
    )
    .await
    .unwrap();
    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..Default::default()
    };
    let s = api_err(
        wfes.patch("wf", &strict, &Patch::Merge(json!({"spec": {"bogus": 1}})))
            .await,
    );
    assert_eq!(s.code, 400);
    assert!(
        s.message.contains("unknown field \"spec.bogus\""),
        "{}",
        s.message
    );
    let pruned = wfes
        .patch(
            "wf",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"bogus": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(pruned.data["spec"].get("bogus"), None);
}

#[tokio::test]
async fn apply_tracks_main_and_status_fields_separately_per_manager() {
    let c = cluster();
    install(&c).await;
    let wfes = api(c.client());
    let pp = PatchParams::apply("operator").force();
    let body = |extra: Value| {
        let mut v = json!({"apiVersion": "remedy.example.io/v1alpha1", "kind": "WorkflowExecution", "metadata": {"name": "wf"}});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    wfes.patch(
        "wf",
        &pp,
        &Patch::Apply(body(json!({"spec": {"template": "t@1", "steps": 2}}))),
    )
    .await
    .unwrap();
    wfes.patch_status(
        "wf",
        &pp,
        &Patch::Apply(body(json!({"status": {"phase": "Running"}}))),
    )
    .await
    .unwrap();
    let out = wfes
        .patch(
            "wf",
            &pp,
            &Patch::Apply(body(json!({"spec": {"template": "t@1"}}))),
        )
        .await
        .unwrap();
    assert_eq!(
        out.data["spec"].get("steps"),
        None,
        "a field the manager stopped applying is removed"
    );
    assert_eq!(
        out.data["status"]["phase"], "Running",
        "status fields belong to the status apply"
    );
    let subs: Vec<Option<String>> = out
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| m.subresource)
        .collect();
    assert_eq!(subs, [Some("status".to_string()), None]);
}
