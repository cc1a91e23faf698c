//! Runs from start to end: success, failure and rollback, continue, dry run, approval,
//! timeouts, verify failure, finally.

use serde_json::json;

use crate::{Harness, Outcome, REMEDIATE, three};
use remedy::api::{FailureReason, Outcome as RunOutcome, StepPhase, WorkflowPhase};

async fn harness_with(template: &str) -> Harness {
    let mut h = Harness::new().await;
    h.template("t.wf", template);
    h.start();
    h
}

fn names(list: Vec<(String, String, bool)>) -> Vec<String> {
    list.into_iter().map(|e| e.0).collect()
}

fn step_phase(status: &remedy::api::WorkflowExecutionStatus, step: &str) -> StepPhase {
    status
        .steps
        .iter()
        .find(|s| s.name == step)
        .map(|s| s.phase)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_succeeds_and_every_stage_runs_once() {
    let h = harness_with(REMEDIATE).await;
    h.analysis("ai-1", "remediate").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    assert_eq!(status.outcome, Some(RunOutcome::Success));
    assert_eq!(
        names(h.executions_in_order("run-1").await),
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
    assert_eq!(status.observed_generation, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_is_retried_then_completed_steps_are_compensated_in_reverse() {
    let h = harness_with(&three("", "", "retry 2 backoff 20ms")).await;
    h.script
        .set("run-1-a-1", Outcome::Ok(json!({ "previous_replicas": 2 })));
    for attempt in 1..=3 {
        h.script.set(
            &format!("run-1-c-{attempt}"),
            Outcome::Fail("rollout stuck"),
        );
    }
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::RolledBack), "{status:#?}");
    assert_eq!(status.outcome, Some(RunOutcome::RolledBack));
    let failure = status.failure.clone().unwrap();
    assert_eq!(
        (failure.reason, failure.step.as_deref()),
        (FailureReason::StepFailed, Some("c"))
    );
    assert_eq!(
        names(h.executions_in_order("run-1").await),
        [
            "run-1-a-1",
            "run-1-b-1",
            "run-1-c-1",
            "run-1-c-2",
            "run-1-c-3",
            "run-1-b-rb-1",
            "run-1-a-rb-1",
            "run-1-tell-1"
        ]
    );
    assert_eq!(step_phase(&status, "a"), StepPhase::Compensated);
    assert_eq!(step_phase(&status, "b"), StepPhase::Compensated);
    assert_eq!(step_phase(&status, "c"), StepPhase::Failed);
    // Events are published right after the status write the test saw.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let events = h.events("run-1").await;
    for (reason, needle) in [
        (
            "StepRetrying",
            "step c will be retried (attempts so far: 1): attempt 1: rollout stuck",
        ),
        ("StepFailed", "step c: attempt 3: rollout stuck"),
        ("RollingBack", "phase Executing → RollingBack"),
        (
            "RolledBack",
            "phase RollingBack → RolledBack: StepFailed: step c failed",
        ),
    ] {
        assert!(
            events
                .iter()
                .any(|(r, n)| r == reason && n.contains(needle)),
            "no {reason} event with `{needle}` in {events:#?}"
        );
    }
    // The compensation read what the step returned.
    let undo = h.executions().get("run-1-a-rb-1").await.unwrap();
    assert_eq!(undo.spec.action.parameters["replicas"], json!(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_continue_records_the_failure_and_goes_on() {
    let h = harness_with(&three("", "on_failure continue", "")).await;
    h.script.set("run-1-b-1", Outcome::Fail("quota exceeded"));
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    assert_eq!(step_phase(&status, "b"), StepPhase::Failed);
    assert_eq!(step_phase(&status, "c"), StepPhase::Succeeded);
    assert_eq!(
        names(h.executions_in_order("run-1").await),
        ["run-1-a-1", "run-1-b-1", "run-1-c-1", "run-1-tell-1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_creates_only_dry_run_executions_and_skips_verify() {
    let h = harness_with(REMEDIATE).await;
    h.analysis("ai-1", "remediate").await;
    h.run("run-1", "ai-1", json!({ "dryRun": true })).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    assert_eq!(status.outcome, Some(RunOutcome::DryRun));
    let created = h.executions_in_order("run-1").await;
    let main: Vec<_> = created.iter().filter(|e| e.0 != "run-1-tell-1").collect();
    assert_eq!(main.len(), 2, "{created:?}");
    assert!(
        main.iter().all(|e| e.2),
        "every main step is a dry run: {created:?}"
    );
    assert!(
        !created.iter().any(|e| e.0.contains("healthy")),
        "verify is skipped: {created:?}"
    );
    assert_eq!(step_phase(&status, "healthy"), StepPhase::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_gate_holds_the_run_until_approved() {
    let h = harness_with(&three("approval required", "", "")).await;
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    let waiting = h
        .wait_for("run-1", "AwaitingApproval", |s| {
            s.phase == Some(WorkflowPhase::AwaitingApproval)
        })
        .await;
    let approved = waiting
        .conditions
        .iter()
        .find(|c| c.type_ == "Approved")
        .unwrap();
    assert_eq!(approved.status, "False");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(h.execution_names("run-1").await.is_empty());
    let patch = json!({ "spec": { "approved": true } });
    h.runs()
        .patch(
            "run-1",
            &Default::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    let approved = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Approved")
        .unwrap();
    assert_eq!(approved.status, "True");
    // Approving is the one spec change allowed: it is not reported as ignored.
    assert!(
        !status
            .conditions
            .iter()
            .any(|c| c.type_ == "SpecChangeIgnored")
    );
    assert_eq!(status.observed_generation, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_past_its_timeout_fails_the_run() {
    let h = harness_with(&three("", "timeout 300ms", "")).await;
    h.script.set("run-1-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::RolledBack), "{status:#?}");
    assert_eq!(
        status.failure.clone().unwrap().reason,
        FailureReason::StepTimedOut
    );
    assert_eq!(step_phase(&status, "b"), StepPhase::TimedOut);
    assert!(
        !h.execution_names("run-1")
            .await
            .contains(&"run-1-c-1".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_the_workflow_timeout_stops_and_rolls_back() {
    // b's attempts time out one after another; the workflow's 2s deadline comes first.
    let template =
        three("", "timeout 300ms retry 30 backoff 10ms", "").replace("timeout 20s", "timeout 2s");
    let h = harness_with(&template).await;
    for attempt in 1..=31 {
        h.script.set(&format!("run-1-b-{attempt}"), Outcome::Hang);
    }
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(
        status.failure.clone().unwrap().reason,
        FailureReason::WorkflowTimedOut,
        "{status:#?}"
    );
    assert_eq!(status.phase, Some(WorkflowPhase::RolledBack));
    assert_eq!(step_phase(&status, "a"), StepPhase::Compensated);
    let ran = status
        .completed_at
        .unwrap()
        .0
        .duration_since(status.started_at.unwrap().0);
    assert!(
        ran >= jiff::SignedDuration::from_secs(2),
        "ended after {ran:?}"
    );
    assert!(
        !h.execution_names("run-1")
            .await
            .contains(&"run-1-c-1".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_verification_is_ineffective_and_rolls_back_then_finally_runs() {
    let h = harness_with(REMEDIATE).await;
    h.script.set(
        "run-1-healthy-1",
        Outcome::Fail("0 of 3 replicas available"),
    );
    h.analysis("ai-1", "remediate").await;
    h.run("run-1", "ai-1", json!({})).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.outcome, Some(RunOutcome::Ineffective), "{status:#?}");
    assert_eq!(
        status.failure.clone().unwrap().reason,
        FailureReason::Ineffective
    );
    assert_eq!(status.phase, Some(WorkflowPhase::RolledBack));
    assert_eq!(
        names(h.executions_in_order("run-1").await),
        [
            "run-1-scale-out-1",
            "run-1-raise-memory-1",
            "run-1-healthy-1",
            "run-1-raise-memory-rb-1",
            "run-1-scale-out-rb-1",
            "run-1-tell-1"
        ]
    );
}
