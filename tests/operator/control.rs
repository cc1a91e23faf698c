//! Run control through the real controller: a stop at each phase, deletion mid-run (the
//! finalizer keeps the run and its executions until the stop has played out), and the
//! cluster-wide pause with runs in flight.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{Harness, NS, Outcome, three};
use remedy::api::{
    Outcome as RunOutcome, StepPhase, StopMode, WorkflowExecutionStatus, WorkflowPhase,
};
use remedy::operator::finalizer::FINALIZER;

async fn harness_with(template: &str) -> Harness {
    let mut h = Harness::new().await;
    h.template("t.wf", template);
    h.start();
    h
}

async fn stop(h: &Harness, run: &str, mode: &str) {
    let patch = json!({ "spec": { "stop": {
        "mode": mode, "reason": "it makes things worse", "requestedBy": "alice" } } });
    h.runs()
        .patch(run, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn step_phase(status: &WorkflowExecutionStatus, step: &str) -> StepPhase {
    status
        .steps
        .iter()
        .find(|s| s.name == step)
        .map(|s| s.phase)
        .unwrap()
}

fn condition<'a>(
    status: &'a WorkflowExecutionStatus,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

fn assert_cancelled(status: &WorkflowExecutionStatus) {
    assert_eq!(status.phase, Some(WorkflowPhase::Cancelled), "{status:#?}");
    assert_eq!(status.outcome, Some(RunOutcome::Cancelled));
    let ready = condition(status, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Cancelled")
    );
    let stop = condition(status, "StopRequested").unwrap();
    assert_eq!(stop.status, "True");
    assert!(stop.message.contains("alice"), "{}", stop.message);
}

/// The run's events, once one with `reason` is among them (at most 10 s).
async fn wait_events(h: &Harness, run: &str, reason: &str) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = h.events(run).await;
        if events.iter().any(|(r, _)| r == reason) {
            return events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {reason} event: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn names(h: &Harness, run: &str) -> Vec<String> {
    h.executions_in_order(run)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_before_the_analysis_completes_ends_the_run_at_once() {
    let h = harness_with(&three("", "", "")).await;
    h.analysis_with("ai-1", json!({ "phase": "Investigating" }))
        .await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_for("run-1", "AnalysisPending", |s| {
        condition(s, "AnalysisPending").is_some()
    })
    .await;
    stop(&h, "run-1", "rollback").await;
    let status = h.finished("run-1").await;
    assert_cancelled(&status);
    assert!(condition(&status, "AnalysisPending").is_none());
    assert!(status.plan.is_none(), "never planned");
    assert!(h.execution_names("run-1").await.is_empty());
    let events = wait_events(&h, "run-1", "Cancelled").await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "StopRequested" && n.contains("rollback")),
        "{events:?}"
    );
    assert!(events.iter().any(|(r, _)| r == "Cancelled"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_awaiting_approval_ends_the_run_with_nothing_run() {
    let h = harness_with(&three("approval required", "", "")).await;
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_for("run-1", "AwaitingApproval", |s| {
        s.phase == Some(WorkflowPhase::AwaitingApproval)
    })
    .await;
    stop(&h, "run-1", "halt").await;
    let status = h.finished("run-1").await;
    assert_cancelled(&status);
    for step in ["a", "b", "c", "tell"] {
        assert_eq!(step_phase(&status, step), StepPhase::Skipped, "{step}");
    }
    assert!(h.execution_names("run-1").await.is_empty());
    assert!(
        condition(&status, "SpecChangeIgnored").is_none(),
        "a stop is an allowed spec change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_waiting_for_a_busy_target_ends_only_that_run() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("run-1-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-1").await;
    h.run("run-2", "ai-1", json!({})).await;
    h.wait_for("run-2", "TargetBusy", |s| {
        condition(s, "TargetBusy").is_some()
    })
    .await;
    stop(&h, "run-2", "halt").await;
    let status = h.finished("run-2").await;
    assert_cancelled(&status);
    assert!(condition(&status, "TargetBusy").is_none());
    assert!(h.execution_names("run-2").await.is_empty());
    h.complete("run-1-b-1", Outcome::Ok(json!({}))).await;
    let first = h.finished("run-1").await;
    assert_eq!(first.outcome, Some(RunOutcome::Success));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_mid_run_lets_the_attempt_settle_and_runs_finally() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("run-1-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-1").await;
    stop(&h, "run-1", "halt").await;
    let stopping = h
        .wait_for("run-1", "the stop taken up", |s| s.stop.is_some())
        .await;
    assert_eq!(stopping.phase, Some(WorkflowPhase::Executing));
    assert_eq!(
        step_phase(&stopping, "b"),
        StepPhase::Running,
        "not interrupted"
    );
    h.complete("run-1-b-1", Outcome::Ok(json!({}))).await;
    let status = h.finished("run-1").await;
    assert_cancelled(&status);
    assert_eq!(
        names(&h, "run-1").await,
        ["run-1-a-1", "run-1-b-1", "run-1-tell-1"]
    );
    assert_eq!(step_phase(&status, "b"), StepPhase::Succeeded);
    assert_eq!(step_phase(&status, "c"), StepPhase::Skipped);
    let stop = status.stop.unwrap();
    assert_eq!(
        (stop.mode, stop.requested_by.as_str()),
        (StopMode::Halt, "alice")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_mid_run_compensates_what_completed() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("run-1-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-1").await;
    stop(&h, "run-1", "rollback").await;
    h.wait_for("run-1", "the stop taken up", |s| s.stop.is_some())
        .await;
    h.complete("run-1-b-1", Outcome::Ok(json!({}))).await;
    let status = h.finished("run-1").await;
    assert_cancelled(&status);
    assert_eq!(
        names(&h, "run-1").await,
        [
            "run-1-a-1",
            "run-1-b-1",
            "run-1-b-rb-1",
            "run-1-a-rb-1",
            "run-1-tell-1"
        ]
    );
    assert_eq!(step_phase(&status, "a"), StepPhase::Compensated);
    assert_eq!(step_phase(&status, "b"), StepPhase::Compensated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_during_rollback_finishes_the_compensation_under_way() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("run-1-c-1", Outcome::Fail("boom"));
    h.script.set("run-1-b-rb-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-rb-1").await;
    h.wait_for("run-1", "RollingBack", |s| {
        s.phase == Some(WorkflowPhase::RollingBack)
    })
    .await;
    stop(&h, "run-1", "halt").await;
    h.wait_for("run-1", "the stop taken up", |s| s.stop.is_some())
        .await;
    h.complete("run-1-b-rb-1", Outcome::Ok(json!({}))).await;
    let status = h.finished("run-1").await;
    assert_cancelled(&status);
    assert_eq!(step_phase(&status, "b"), StepPhase::Compensated);
    assert_eq!(
        step_phase(&status, "a"),
        StepPhase::Succeeded,
        "no new compensation after the halt"
    );
    assert!(
        !h.execution_names("run-1")
            .await
            .contains(&"run-1-a-rb-1".to_string())
    );
    assert_eq!(
        status.failure.and_then(|f| f.step).as_deref(),
        Some("c"),
        "the failure is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_on_a_finished_run_changes_nothing() {
    let h = harness_with(&three("", "", "")).await;
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    let done = h.finished("run-1").await;
    assert_eq!(done.outcome, Some(RunOutcome::Success));
    stop(&h, "run-1", "rollback").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = h.status("run-1").await;
    assert_eq!(after, done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_run_rolls_it_back_and_keeps_the_evidence_until_it_ended() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("run-1-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-1").await;
    let run = h.runs().get("run-1").await.unwrap();
    assert!(
        run.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&FINALIZER.to_string())
    );
    h.runs().delete("run-1", &Default::default()).await.unwrap();
    let stopping = h
        .wait_for("run-1", "the deletion taken up as a stop", |s| {
            s.stop.is_some()
        })
        .await;
    let stop = stopping.stop.unwrap();
    assert_eq!(stop.mode, StopMode::Rollback);
    assert_eq!(stop.reason, remedy::operator::finalizer::DELETION_REASON);
    // The run and its executions stay readable while the attempt settles.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = h.runs().get("run-1").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(h.execution_names("run-1").await, ["run-1-a-1", "run-1-b-1"]);
    h.script.set("run-1-a-rb-1", Outcome::Hang);
    h.complete("run-1-b-1", Outcome::Ok(json!({}))).await;
    // Compensations run; the run is still there while the last one is in flight.
    h.wait_execution("run-1-a-rb-1").await;
    let held = h
        .wait_for("run-1", "a compensating", |s| {
            step_phase(s, "a") == StepPhase::Compensating
        })
        .await;
    assert_eq!(held.phase, Some(WorkflowPhase::RollingBack));
    let evidence = h.execution_names("run-1").await;
    assert_eq!(
        evidence,
        ["run-1-a-1", "run-1-a-rb-1", "run-1-b-1", "run-1-b-rb-1"],
        "every execution, with what it recorded, is readable"
    );
    h.complete("run-1-a-rb-1", Outcome::Ok(json!({}))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while h.runs().get_opt("run-1").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run was never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Then the executions go with their run.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !h.execution_names("run-1").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "executions never collected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_finished_run_releases_it_at_once() {
    let h = harness_with(&three("", "", "")).await;
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.finished("run-1").await;
    h.runs().delete("run-1", &Default::default()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.runs().get_opt("run-1").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run was never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn set_pause(h: &Harness, paused: bool) {
    let api: Api<ConfigMap> = Api::namespaced(h.client.clone(), "remedy-system");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": "remedy-pause" },
        "data": { "paused": paused.to_string(), "reason": "change freeze", "pausedBy": "bob" }
    }))
    .unwrap();
    if api.get_opt("remedy-pause").await.unwrap().is_some() {
        api.replace("remedy-pause", &PostParams::default(), &cm)
            .await
            .unwrap();
    } else {
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_new_runs_and_new_attempts_and_resume_continues() {
    let h = harness_with(&three("", "", "")).await;
    h.script.set("run-1-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.analysis_with(
        "ai-2",
        json!({
            "phase": "Completed",
            "recommendedWorkflow": { "name": "three" },
            "targetResource": { "kind": "Deployment", "name": "api", "namespace": NS },
            "confidence": 0.9,
        }),
    )
    .await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-1").await;
    set_pause(&h, true).await;
    let paused = h
        .wait_for("run-1", "Paused", |s| condition(s, "Paused").is_some())
        .await;
    let cond = condition(&paused, "Paused").unwrap();
    assert_eq!(cond.reason, "RemedyPaused");
    assert!(cond.message.contains("bob") && cond.message.contains("change freeze"));
    h.run("run-2", "ai-2", json!({})).await;
    let waiting = h
        .wait_for("run-2", "Paused at Validating", |s| {
            condition(s, "Paused").is_some()
        })
        .await;
    assert_eq!(waiting.phase, Some(WorkflowPhase::Validating));
    // The attempt in flight settles; nothing new starts.
    h.complete("run-1-b-1", Outcome::Ok(json!({}))).await;
    h.wait_for("run-1", "b settled", |s| {
        step_phase(s, "b") == StepPhase::Succeeded
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.execution_names("run-1").await, ["run-1-a-1", "run-1-b-1"]);
    assert!(h.execution_names("run-2").await.is_empty());
    assert_eq!(
        h.status("run-2").await.phase,
        Some(WorkflowPhase::Validating)
    );
    set_pause(&h, false).await;
    for run in ["run-1", "run-2"] {
        let status = h.finished(run).await;
        assert_eq!(
            status.outcome,
            Some(RunOutcome::Success),
            "{run}: {status:#?}"
        );
        assert!(condition(&status, "Paused").is_none());
    }
    assert_eq!(
        names(&h, "run-1").await,
        ["run-1-a-1", "run-1-b-1", "run-1-c-1", "run-1-tell-1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_started_during_a_pause_starts_nothing() {
    // Paused before the operator starts (a restart or a failover during a freeze): its first
    // reconcile already sees the switch.
    let mut h = Harness::new().await;
    h.template("t.wf", &three("", "", ""));
    set_pause(&h, true).await;
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    // The switch's watch is slow to list: the first reconciles come before it.
    h.cluster
        .faults()
        .add_latency("list", "configmaps", Duration::from_millis(1500));
    h.start();
    let waiting = h
        .wait_for("run-1", "Paused", |s| condition(s, "Paused").is_some())
        .await;
    assert_eq!(waiting.phase, Some(WorkflowPhase::Validating));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.execution_names("run-1").await.is_empty());
    set_pause(&h, false).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.outcome, Some(RunOutcome::Success), "{status:#?}");
}
