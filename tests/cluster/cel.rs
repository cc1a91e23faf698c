//! The CEL rules (`x-kubernetes-validations`) of custom resources: the project's CRDs carry the
//! contract's invariants and the embedded cluster enforces them with kube-apiserver's errors;
//! a CRD whose rules a real cluster refuses is refused.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::{api_err, cluster};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const RUNS: &str =
    "/apis/workflowexecution.kubernaut.io/v1alpha1/namespaces/default/workflowexecutions";
const EXECUTIONS: &str =
    "/apis/kubernetesexecution.kubernaut.io/v1alpha1/namespaces/default/kubernetesexecutions";

async fn send(client: &Client, method: &str, path: &str, ctype: &str, body: Value) -> (u16, Value) {
    let (code, _, answer) = crate::raw(
        client,
        method,
        path,
        &[("Content-Type", ctype)],
        body.to_string().into_bytes(),
    )
    .await;
    (code, answer)
}

/// A cluster with the project's CRDs installed.
async fn with_crds() -> (remedy::cluster::EmbeddedCluster, Client) {
    let c = cluster();
    let client = c.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in remedy::api::crd::all() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    (c, client)
}

/// Creates run `name` and moves it to `phase` through the status subresource.
async fn run_in_phase(client: &Client, name: &str, phase: &str) {
    let run = json!({"apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
        "metadata": {"name": name}, "spec": {"aiAnalysisRef": {"name": "ai-1"}, "parameters": {"factor": 2}}});
    let (code, answer) = send(client, "POST", RUNS, JSON, run).await;
    assert_eq!(code, 201, "{answer}");
    let status = json!({"status": {"phase": phase}});
    let (code, answer) = send(
        client,
        "PATCH",
        &format!("{RUNS}/{name}/status"),
        MERGE,
        status,
    )
    .await;
    assert_eq!(code, 200, "{answer}");
}

#[tokio::test]
async fn a_planned_runs_spec_is_frozen_but_for_approval() {
    let (_c, client) = with_crds().await;
    run_in_phase(&client, "run", "Executing").await;
    for change in [
        json!({"spec": {"dryRun": true}}),
        json!({"spec": {"parameters": {"factor": 3}}}),
        json!({"spec": {"workflowRef": {"name": "other"}}}),
    ] {
        let (code, answer) = send(
            &client,
            "PATCH",
            &format!("{RUNS}/run"),
            MERGE,
            change.clone(),
        )
        .await;
        assert_eq!(code, 422, "{change}: {answer}");
        assert_eq!(
            answer["message"],
            "WorkflowExecution.workflowexecution.kubernaut.io \"run\" is invalid: spec: Forbidden: spec is immutable once Planning has started, except approved, stop, retryOf",
            "{change}"
        );
        assert_eq!(
            answer["details"]["causes"][0]["reason"],
            "FieldValueForbidden"
        );
    }
    let (_, _, stored) = crate::raw(&client, "GET", &format!("{RUNS}/run"), &[], vec![]).await;
    assert_eq!(stored["spec"]["dryRun"], false);
    assert_eq!(stored["metadata"]["generation"], 1);
    let (code, answer) = send(
        &client,
        "PATCH",
        &format!("{RUNS}/run"),
        MERGE,
        json!({"spec": {"approved": true}}),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["spec"]["approved"], true);
}

#[tokio::test]
async fn a_pending_runs_spec_may_change() {
    let (_c, client) = with_crds().await;
    run_in_phase(&client, "run", "Pending").await;
    let (code, answer) = send(
        &client,
        "PATCH",
        &format!("{RUNS}/run"),
        MERGE,
        json!({"spec": {"dryRun": true}}),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
}

#[tokio::test]
async fn run_status_rules_hold() {
    let (_c, client) = with_crds().await;
    run_in_phase(&client, "run", "Executing").await;
    let (code, answer) = send(
        &client,
        "PATCH",
        &format!("{RUNS}/run/status"),
        MERGE,
        json!({"status": {"outcome": "Success"}}),
    )
    .await;
    assert_eq!(code, 422, "{answer}");
    assert_eq!(
        answer["details"]["causes"][0]["message"],
        "Invalid value: \"Success\": status.outcome is set only once the run has ended"
    );
    assert_eq!(answer["details"]["causes"][0]["field"], "status.outcome");
    let ended = json!({"status": {"phase": "Completed", "outcome": "Success", "completedAt": "2026-01-01T00:00:00Z"}});
    let (code, answer) = send(
        &client,
        "PATCH",
        &format!("{RUNS}/run/status"),
        MERGE,
        ended,
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    let (code, answer) = send(
        &client,
        "PATCH",
        &format!("{RUNS}/run/status"),
        MERGE,
        json!({"status": {"phase": "Executing", "outcome": null, "completedAt": null}}),
    )
    .await;
    assert_eq!(code, 422, "{answer}");
    assert_eq!(answer["details"]["causes"][0]["field"], "status.phase");
    assert_eq!(
        answer["details"]["causes"][0]["message"],
        "Invalid value: \"Executing\": a run that has ended keeps its phase"
    );
}

#[tokio::test]
async fn enums_and_attempts_are_checked() {
    let (_c, client) = with_crds().await;
    let run = json!({"apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
        "metadata": {"name": "run"}, "spec": {"aiAnalysisRef": {"name": "ai-1"}, "rollbackStrategy": "sometimes"}});
    let (code, answer) = send(&client, "POST", RUNS, JSON, run).await;
    assert_eq!(code, 422, "{answer}");
    assert_eq!(
        answer["details"]["causes"][0]["reason"],
        "FieldValueNotSupported"
    );
    let execution = json!({"apiVersion": "kubernetesexecution.kubernaut.io/v1alpha1", "kind": "KubernetesExecution",
        "metadata": {"name": "run-a-0"}, "spec": {"workflowExecutionRef": {"name": "run"}, "step": "a", "attempt": 0,
        "action": {"type": "scale_deployment"}}});
    let (code, answer) = send(&client, "POST", EXECUTIONS, JSON, execution).await;
    assert_eq!(code, 422, "{answer}");
    assert_eq!(answer["details"]["causes"][0]["field"], "spec.attempt");
    assert_eq!(
        answer["details"]["causes"][0]["message"],
        "Invalid value: 0: spec.attempt counts from 1"
    );
}

/// A CRD of kind Thing whose spec carries `rules`.
fn thing(rules: Value) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
                    "x-kubernetes-validations": rules,
                    "properties": {
                        "size": {"type": "integer"},
                        "items": {"type": "array", "items": {"type": "object",
                            "x-kubernetes-validations": [{"rule": "self.name == oldSelf.name"}],
                            "properties": {"name": {"type": "string"}}}}
                    }}}}}}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_crd_with_rules_a_real_cluster_refuses_is_refused() {
    let c = cluster();
    let crds: Api<CustomResourceDefinition> = Api::all(c.client());
    let s = api_err(
        crds.create(
            &PostParams::default(),
            &thing(json!([
                {"rule": "self.size >"},
                {"rule": "self.sise > 0"},
                {"rule": "self.size > 0", "reason": "TooSmall"},
                {"rule": "self.size > 0", "fieldPath": ".nothing"}
            ])),
        )
        .await,
    );
    assert_eq!(s.code, 422, "{s:?}");
    let details = s.details.unwrap();
    let fields: Vec<&str> = details.causes.iter().map(|c| c.field.as_str()).collect();
    let base = "spec.versions[0].schema.openAPIV3Schema";
    let at = |s: &str| format!("{base}.properties[spec]{s}");
    assert_eq!(
        fields,
        vec![
            at(".x-kubernetes-validations[0].rule"),
            at(".x-kubernetes-validations[1].rule"),
            at(".x-kubernetes-validations[2].reason"),
            at(".x-kubernetes-validations[3].fieldPath"),
            at(".properties[items].items.x-kubernetes-validations[0].rule"),
        ]
    );
    assert!(
        details.causes[1].message.contains("undefined field 'sise'"),
        "{:?}",
        details.causes[1]
    );
    assert!(
        details.causes[4]
            .message
            .contains("oldSelf cannot be used on the uncorrelatable portion of the schema"),
        "{:?}",
        details.causes[4]
    );
    assert_eq!(api_err(crds.get("things.example.io").await).code, 404);
}
