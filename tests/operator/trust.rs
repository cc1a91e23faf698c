//! Attacks on the workflow controller's boundaries: target identities however the analysis
//! spells them, analyses from other namespaces, and credentials in what it stores.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use remedy::api::{
    AIAnalysis, ANNOTATION_DIGEST, FailureReason, KubernetesExecution, WorkflowPhase,
};
use serde_json::{Value, json};

use crate::{Harness, NS, Outcome, three};

async fn harness_with(template: &str) -> Harness {
    let mut h = Harness::new().await;
    h.template("t.wf", template);
    h.start();
    h
}

async fn analysis_on(h: &Harness, name: &str, target: Value) {
    h.analysis_with(
        name,
        json!({
            "phase": "Completed",
            "recommendedWorkflow": { "name": "three" },
            "targetResource": target,
        }),
    )
    .await;
}

async fn busy(h: &Harness, run: &str) -> String {
    let waiting = h
        .wait_for(run, "TargetBusy", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "TargetBusy" && c.status == "True")
        })
        .await;
    assert_eq!(waiting.phase, Some(WorkflowPhase::Validating));
    waiting
        .conditions
        .iter()
        .find(|c| c.type_ == "TargetBusy")
        .unwrap()
        .message
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_one_target_waits_for_the_run_that_holds_it() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("first-b-1", Outcome::Hang);
    analysis_on(
        &h,
        "ai-1",
        json!({ "kind": "Deployment", "name": "web", "namespace": NS }),
    )
    .await;
    h.run("first", "ai-1", json!({})).await;
    h.wait_execution("first-b-1").await;
    let spellings = [
        json!({ "kind": "deployment", "name": "web", "namespace": NS }),
        json!({ "kind": "DEPLOYMENTS", "name": "web", "namespace": NS }),
        json!({ "kind": "deploy", "name": "web", "namespace": NS, "apiVersion": "apps/v1" }),
        json!({ "kind": "Deployment.apps", "name": "web", "namespace": NS }),
    ];
    for (i, target) in spellings.iter().enumerate() {
        let (ai, run) = (format!("ai-s{i}"), format!("spelled-{i}"));
        analysis_on(&h, &ai, target.clone()).await;
        h.run(&run, &ai, json!({})).await;
        let message = busy(&h, &run).await;
        assert!(
            message.contains("Deployment shop/web") && message.contains("shop/first"),
            "{target}: {message}"
        );
    }
    // A mis-cased namespace names no namespace a cluster can have: it is refused outright,
    // and never runs beside the holder either.
    analysis_on(
        &h,
        "ai-ns",
        json!({ "kind": "deployment", "name": "web", "namespace": "Shop" }),
    )
    .await;
    h.run("mis-cased", "ai-ns", json!({})).await;
    let status = h.finished("mis-cased").await;
    assert_eq!(
        status.failure.unwrap().reason,
        FailureReason::SafetyViolation
    );
    assert!(h.execution_names("mis-cased").await.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (i, target) in spellings.iter().enumerate() {
        assert!(
            h.execution_names(&format!("spelled-{i}")).await.is_empty(),
            "{target}: ran beside the holder"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_with_a_forged_api_version_is_refused_and_nothing_is_created() {
    let h = harness_with(&three("", "", "")).await;
    analysis_on(
        &h,
        "ai-1",
        json!({ "kind": "Deployment", "name": "web", "namespace": NS, "apiVersion": "evil.example/v1" }),
    )
    .await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    let failure = status.failure.unwrap();
    assert_eq!(failure.reason, FailureReason::SafetyViolation);
    assert!(
        failure
            .message
            .contains("`evil.example/v1` does not serve kind Deployment"),
        "{}",
        failure.message
    );
    assert!(h.execution_names("run-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mis_cased_protected_namespace_is_still_protected() {
    let h = harness_with(&three("", "", "")).await;
    analysis_on(
        &h,
        "ai-1",
        json!({ "kind": "Deployment", "name": "coredns", "namespace": "Kube-System" }),
    )
    .await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    let failure = status.failure.unwrap();
    assert_eq!(failure.reason, FailureReason::SafetyViolation);
    assert!(failure.message.contains("protected"), "{}", failure.message);
    assert!(h.execution_names("run-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysis_in_another_namespace_is_refused() {
    let h = harness_with(&three("", "", "")).await;
    let namespaces: Api<Namespace> = Api::all(h.client.clone());
    let other: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": "other" } })).unwrap();
    namespaces
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    let analyses: Api<AIAnalysis> = Api::namespaced(h.client.clone(), "other");
    let obj: AIAnalysis = serde_json::from_value(json!({
        "apiVersion": "aianalysis.kubernaut.io/v1alpha1", "kind": "AIAnalysis",
        "metadata": { "name": "ai-x" }, "spec": {}
    }))
    .unwrap();
    analyses.create(&PostParams::default(), &obj).await.unwrap();
    let status = json!({ "status": {
        "phase": "Completed",
        "recommendedWorkflow": { "name": "three" },
        "targetResource": { "kind": "Deployment", "name": "web", "namespace": NS },
    }});
    analyses
        .patch_status(
            "ai-x",
            &Default::default(),
            &kube::api::Patch::Merge(&status),
        )
        .await
        .unwrap();
    h.run(
        "run-1",
        "ai-x",
        json!({ "aiAnalysisRef": { "name": "ai-x", "namespace": "other" } }),
    )
    .await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Failed));
    let failure = status.failure.unwrap();
    assert_eq!(failure.reason, FailureReason::InvalidParameters);
    assert!(
        failure
            .message
            .contains("may only use an AIAnalysis in its own namespace (`shop`)"),
        "{}",
        failure.message
    );
    assert!(status.plan.is_none(), "nothing was planned from it");
    assert!(h.execution_names("run-1").await.is_empty());
}

/// A template that reads credentials: a param, the analysis's root cause, a `when` and a
/// deferred value computed from them.
const SECRETS: &str = r#"workflow "secrets" version "1.0.0" {
  param namespace: string = ${ analysis.target.namespace }
  param db_password: string
  let conn = "postgres://app:${db_password}@db:5432/shop"
  step patch {
    when ${ db_password.len() > 3 }
    action "patch_configmap"
    with { namespace, configmap: "app", data: { "DB_PASSWORD": db_password, "DSN": conn, mode: "safe" } }
    rollback {
      action "patch_configmap"
      with { namespace, configmap: "app", data: ${ self.output.previous_data } }
    }
  }
  finally {
    step tell {
      action "notify_only"
      with { message: "rotated for ${analysis.rootCause}, pw ${db_password}, after ${steps.patch.attempts} attempt" }
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_is_stored_in_clear_and_the_engine_still_reads_them() {
    let h = harness_with(SECRETS).await;
    h.analysis_with(
        "ai-1",
        json!({
            "phase": "Completed",
            "recommendedWorkflow": { "name": "secrets" },
            "targetResource": { "kind": "Deployment", "name": "web", "namespace": NS },
            "rootCause": "a leaked login: password=swordfish-7 in the logs",
            "parameters": { "db_password": "hunter2-x" },
        }),
    )
    .await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    // The `when` read the credential: the step ran.
    assert_eq!(Harness::step_phases(&status)["patch"], "Succeeded");

    let clear = ["hunter2-x", "swordfish-7"];
    let run = h.runs().get("run-1").await.unwrap();
    let mut stored = vec![("run", serde_json::to_string(&run).unwrap())];
    let kexes = h
        .executions()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    for k in &kexes {
        stored.push(("execution", serde_json::to_string(k).unwrap()));
        assert!(
            k.annotations().contains_key(ANNOTATION_DIGEST),
            "{}",
            k.name_any()
        );
    }
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(h.client.clone(), NS);
    for e in events.list(&ListParams::default()).await.unwrap().items {
        stored.push(("event", serde_json::to_string(&e).unwrap()));
    }
    for (what, text) in &stored {
        for c in clear {
            assert!(!text.contains(c), "{what} holds {c} in clear: {text}");
        }
    }
    // The parameters the executor gets open to exactly what the engine computed.
    let keys = remedy::seal::store::load(&h.client, "remedy-system")
        .await
        .unwrap()
        .unwrap();
    let uid = run.uid().unwrap();
    let open = |kex: &KubernetesExecution| {
        let mut v = Value::Object(kex.spec.action.parameters.clone());
        keys.open_value(&uid, &mut v, &mut BTreeSet::new()).unwrap();
        v
    };
    let patch = kexes.iter().find(|k| k.spec.step == "patch").unwrap();
    assert_eq!(
        open(patch)["data"],
        json!({
            "DB_PASSWORD": "hunter2-x",
            "DSN": "postgres://app:hunter2-x@db:5432/shop",
            "mode": "safe"
        })
    );
    let tell = kexes.iter().find(|k| k.spec.step == "tell").unwrap();
    assert_eq!(
        open(tell)["message"],
        "rotated for a leaked login: password=swordfish-7 in the logs, pw hunter2-x, after 1 attempt"
    );
}
