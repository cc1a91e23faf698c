//! What stops or holds a run before anything runs: safety violations, planning failures, the
//! analysis, the per-target lock, spec changes.

use serde_json::json;

use crate::{Harness, NS, Outcome, REMEDIATE, three};
use remedy::api::{FailureReason, Outcome as RunOutcome, WorkflowPhase};

async fn harness_with(template: &str) -> Harness {
    let mut h = Harness::new().await;
    h.template("t.wf", template);
    h.start();
    h
}

fn condition<'a>(
    status: &'a remedy::api::WorkflowExecutionStatus,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_in_a_protected_namespace_is_refused_and_nothing_is_created() {
    let h = harness_with(REMEDIATE).await;
    h.analysis_with(
        "ai-1",
        json!({
            "phase": "Completed",
            "recommendedWorkflow": { "name": "remediate" },
            "targetResource": { "kind": "Deployment", "name": "coredns", "namespace": "kube-system" },
        }),
    )
    .await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Failed));
    assert_eq!(status.outcome, Some(RunOutcome::Failed));
    let failure = status.failure.clone().unwrap();
    assert_eq!(failure.reason, FailureReason::SafetyViolation);
    assert!(
        failure.message.contains("kube-system"),
        "{}",
        failure.message
    );
    let validation = status.validation.clone().unwrap();
    assert!(!validation.passed);
    assert!(
        validation
            .violations
            .iter()
            .any(|v| v.contains("namespace `kube-system` is protected"))
    );
    assert_eq!(condition(&status, "Validated").unwrap().status, "False");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(h.execution_names("run-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_protected_namespace_is_refused_too() {
    let mut h = Harness::new().await;
    h.template("t.wf", REMEDIATE);
    let mut config = h.config();
    config.protected_namespaces.insert(NS.to_string());
    h.start_with(config);
    h.analysis("ai-1", "remediate").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(
        status.failure.unwrap().reason,
        FailureReason::SafetyViolation
    );
    assert!(h.execution_names("run-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irreversible_action_without_approval_is_refused() {
    // The approval expression is false for this analysis, so the run would not ask.
    let template = r#"workflow "evict" version "1.0.0" {
  approval ${ analysis.confidence < 0.5 }
  param namespace: string = ${ analysis.target.namespace }
  step evict {
    action "delete_pod"
    with { namespace, pod: "web-1" }
  }
}
"#;
    let h = harness_with(template).await;
    h.analysis("ai-1", "evict").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    let failure = status.failure.unwrap();
    assert_eq!(failure.reason, FailureReason::SafetyViolation);
    assert!(
        failure.message.contains("irreversible"),
        "{}",
        failure.message
    );
    assert!(h.execution_names("run-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_template_and_bad_parameters_fail_with_their_reason() {
    let h = harness_with(REMEDIATE).await;
    h.analysis("ai-1", "remediate").await;
    h.analysis("ai-2", "no-such-workflow").await;
    h.run(
        "bad-params",
        "ai-1",
        json!({ "parameters": { "factor": 9.0 } }),
    )
    .await;
    h.run("no-template", "ai-2", json!({})).await;
    h.run(
        "bad-version",
        "ai-1",
        json!({ "workflowRef": { "name": "remediate", "version": "2.0.0" } }),
    )
    .await;
    for (run, reason, needle) in [
        ("bad-params", FailureReason::InvalidParameters, "factor"),
        (
            "no-template",
            FailureReason::TemplateNotFound,
            "no-such-workflow",
        ),
        ("bad-version", FailureReason::TemplateNotFound, "2.0.0"),
    ] {
        let status = h.finished(run).await;
        let failure = status.failure.clone().unwrap();
        assert_eq!(failure.reason, reason, "{run}: {failure:?}");
        assert!(
            failure.message.contains(needle),
            "{run}: {}",
            failure.message
        );
        assert_eq!(
            condition(&status, "Planned").unwrap().status,
            "False",
            "{run}"
        );
        assert!(h.execution_names(run).await.is_empty(), "{run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_its_analysis_and_starts_when_it_completes() {
    let h = harness_with(REMEDIATE).await;
    h.run("run-1", "ai-1", json!({})).await;
    let waiting = h
        .wait_for("run-1", "AnalysisPending", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "AnalysisPending" && c.status == "True")
        })
        .await;
    assert_eq!(waiting.phase, Some(WorkflowPhase::Pending));
    h.analysis_with("ai-1", json!({ "phase": "Analyzing" }))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(h.status("run-1").await.phase, Some(WorkflowPhase::Pending));
    h.set_analysis_status(
        "ai-1",
        json!({
            "phase": "Completed",
            "recommendedWorkflow": { "name": "remediate" },
            "targetResource": { "kind": "Deployment", "name": "web", "namespace": NS },
        }),
    )
    .await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    assert!(condition(&status, "AnalysisPending").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_analysis_ends_the_run() {
    let h = harness_with(REMEDIATE).await;
    h.analysis_with("ai-1", json!({ "phase": "Failed" })).await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Failed));
    assert_eq!(
        status.failure.unwrap().reason,
        FailureReason::AnalysisFailed
    );
    assert!(h.execution_names("run-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_target_waits_for_the_first() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("first-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("first", "ai-1", json!({})).await;
    h.wait_execution("first-b-1").await;
    h.run("second", "ai-1", json!({})).await;
    let waiting = h
        .wait_for("second", "TargetBusy", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "TargetBusy" && c.status == "True")
        })
        .await;
    assert_eq!(waiting.phase, Some(WorkflowPhase::Validating));
    assert!(
        condition(&waiting, "TargetBusy")
            .unwrap()
            .message
            .contains("shop/first")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(h.execution_names("second").await.is_empty());
    h.complete("first-b-1", Outcome::Ok(json!({}))).await;
    assert_eq!(
        h.finished("first").await.phase,
        Some(WorkflowPhase::Completed)
    );
    let second = h.finished("second").await;
    assert_eq!(second.phase, Some(WorkflowPhase::Completed), "{second:#?}");
    assert!(condition(&second, "TargetBusy").is_none());
    // The second started only after the first had ended.
    let first_end = h.status("first").await.completed_at.unwrap().0;
    assert!(second.started_at.unwrap().0 >= first_end);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_change_after_planning_is_reported_and_ignored() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("run-1-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-1").await;
    let patch = json!({ "spec": { "dryRun": true } });
    // The CRD's rule refuses the change...
    let refused = h
        .runs()
        .patch(
            "run-1",
            &Default::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await;
    match refused {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422);
            assert!(
                s.message
                    .contains("spec is immutable once Planning has started")
            );
        }
        other => panic!("the spec change was not refused: {other:?}"),
    }
    // ...and where the CRD was installed without its rules, the engine ignores it.
    let crds: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(h.client.clone());
    let unruled = json!([{ "op": "remove",
        "path": "/spec/versions/0/schema/openAPIV3Schema/x-kubernetes-validations" }]);
    crds.patch(
        "workflowexecutions.workflowexecution.kubernaut.io",
        &Default::default(),
        &kube::api::Patch::<()>::Json(serde_json::from_value(unruled).unwrap()),
    )
    .await
    .unwrap();
    h.runs()
        .patch(
            "run-1",
            &Default::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let noted = h
        .wait_for("run-1", "SpecChangeIgnored", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "SpecChangeIgnored" && c.observed_generation == Some(2))
        })
        .await;
    assert_eq!(noted.observed_generation, Some(2));
    h.complete("run-1-b-1", Outcome::Ok(json!({}))).await;
    let status = h.finished("run-1").await;
    assert_eq!(
        status.outcome,
        Some(RunOutcome::Success),
        "the pinned plan was no dry run"
    );
    let c1 = h.executions().get("run-1-c-1").await.unwrap();
    assert!(!c1.spec.dry_run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_with_lint_errors_is_named_with_its_first_errors() {
    let mut h = Harness::new().await;
    h.template("t.wf", REMEDIATE);
    // `broken` parses but does not pass lint: the operator leaves it out. A run asking for it
    // must say which file and which errors, not only "no template named broken".
    h.template(
        "broken.wf",
        r#"workflow "broken" version "1.2.0" {
  step a {
    action "scale_deploymnt"
    with { namespace: "shop", deployment: "web", replicas: 3 }
  }
}
"#,
    );
    h.start();
    h.analysis("ai-1", "broken").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    let failure = status.failure.clone().unwrap();
    assert_eq!(failure.reason, FailureReason::TemplateNotFound);
    for needle in [
        "broken@1.2.0",
        "broken.wf",
        "3:12",
        "scale_deploymnt",
        "lint",
    ] {
        assert!(
            failure.message.contains(needle),
            "{needle} missing from: {}",
            failure.message
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_namespace_no_cluster_can_have_is_refused_at_validating() {
    // `Kube-System` is not a namespace name. Before, every step was attempted and retried
    // against it (15 s of retries for the oom workflow); now nothing is created.
    let h = harness_with(REMEDIATE).await;
    h.analysis_with(
        "ai-1",
        json!({
            "phase": "Completed",
            "recommendedWorkflow": { "name": "remediate" },
            "targetResource": { "kind": "Deployment", "name": "web", "namespace": "Kube-System" },
        }),
    )
    .await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    let failure = status.failure.clone().unwrap();
    assert_eq!(
        failure.reason,
        FailureReason::SafetyViolation,
        "{failure:?}"
    );
    assert!(
        failure
            .message
            .contains("`Kube-System` is not a namespace name"),
        "{}",
        failure.message
    );
    assert!(status.steps.iter().all(|s| s.attempts == 0), "{status:#?}");
    assert!(h.execution_names("run-1").await.is_empty());
}
