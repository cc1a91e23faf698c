//! Failure policies, the rollback saga, verification, finally and the workflow timeout.

use remedy::api::{FailureReason, Outcome, StepPhase, WorkflowPhase};
use remedy::engine::simulate::{AttemptScript, Script};
use remedy::plan::{OnFailure, RollbackMode};
use serde_json::json;

use crate::support::*;

fn three_with_rollbacks() -> PlanBuilder {
    PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .rollback()
        .step("c")
        .rollback()
}

#[test]
fn on_failure_rollback_compensates_in_reverse_order() {
    let plan = three_with_rollbacks().step("d").finally("f").build();
    let sim = run(&plan, &script(&[("d", vec![fail("boom")])]));
    assert_eq!(
        labels(&sim),
        [
            "a",
            "b",
            "c",
            "d",
            "rollback:c",
            "rollback:b",
            "rollback:a",
            "finally:f"
        ]
    );
    for s in ["a", "b", "c"] {
        assert_eq!(phase(&sim, s), StepPhase::Compensated);
    }
    assert_eq!(phase(&sim, "d"), StepPhase::Failed);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RolledBack));
    assert_eq!(sim.status.outcome, Some(Outcome::RolledBack));
    let failure = sim.status.failure.clone().expect("failure");
    assert_eq!(failure.step.as_deref(), Some("d"));
    assert_eq!(failure.reason, FailureReason::StepFailed);
    let rolling = sim
        .trace
        .iter()
        .any(|(_, d)| d.status.phase == Some(WorkflowPhase::RollingBack));
    assert!(rolling, "the run passes through RollingBack");
}

#[test]
fn compensation_follows_completion_order_not_declaration() {
    let plan = PlanBuilder::new()
        .parallel(&["a", "b", "c"])
        .rollback()
        .step("d")
        .build();
    let mut plan = plan;
    for s in plan.steps.iter_mut().take(2) {
        s.rollback = Some(action("undo"));
    }
    let sim = run(
        &plan,
        &script(&[
            ("a", vec![ok(3000)]),
            ("b", vec![ok(1000)]),
            ("c", vec![ok(2000)]),
            ("d", vec![fail("boom")]),
        ]),
    );
    assert_eq!(
        &labels(&sim)[4..],
        ["rollback:a", "rollback:c", "rollback:b"]
    );
}

#[test]
fn steps_without_a_compensation_are_passed_over() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .step("c")
        .build();
    let sim = run(&plan, &script(&[("c", vec![fail("boom")])]));
    assert_eq!(labels(&sim), ["a", "b", "c", "rollback:a"]);
    assert_eq!(phase(&sim, "b"), StepPhase::Succeeded);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RolledBack));
}

#[test]
fn a_failure_with_nothing_to_compensate_ends_failed() {
    let plan = PlanBuilder::new().step("a").step("b").build();
    let sim = run(&plan, &script(&[("b", vec![fail("boom")])]));
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
    assert_eq!(sim.status.outcome, Some(Outcome::Failed));
}

#[test]
fn on_failure_fail_stops_without_compensation() {
    let plan = three_with_rollbacks()
        .step("d")
        .on_failure(OnFailure::Fail)
        .step("e")
        .build();
    let sim = run(&plan, &script(&[("d", vec![fail("boom")])]));
    assert_eq!(labels(&sim), ["a", "b", "c", "d"]);
    assert_eq!(phase(&sim, "e"), StepPhase::Skipped);
    assert_eq!(phase(&sim, "a"), StepPhase::Succeeded);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
}

#[test]
fn on_failure_continue_records_and_goes_on() {
    let plan = PlanBuilder::new()
        .step("a")
        .on_failure(OnFailure::Continue)
        .step("b")
        .build();
    let sim = run(&plan, &script(&[("a", vec![fail("meh")])]));
    assert_eq!(labels(&sim), ["a", "b"]);
    assert_eq!(phase(&sim, "a"), StepPhase::Failed);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Completed));
    assert_eq!(sim.status.outcome, Some(Outcome::Success));
    assert!(sim.status.failure.is_none());
}

#[test]
fn manual_rollback_records_the_plan_and_ends_failed() {
    let plan = three_with_rollbacks()
        .mode(RollbackMode::Manual)
        .step("d")
        .build();
    let sim = run(&plan, &script(&[("d", vec![fail("boom")])]));
    assert_eq!(labels(&sim), ["a", "b", "c", "d"]);
    assert_eq!(sim.status.rollback_plan, ["c", "b", "a"]);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
    assert_eq!(sim.status.outcome, Some(Outcome::Failed));
}

#[test]
fn rollback_none_just_fails() {
    let plan = three_with_rollbacks()
        .mode(RollbackMode::None)
        .step("d")
        .build();
    let sim = run(&plan, &script(&[("d", vec![fail("boom")])]));
    assert_eq!(labels(&sim), ["a", "b", "c", "d"]);
    assert!(sim.status.rollback_plan.is_empty());
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
}

#[test]
fn a_failed_compensation_stops_the_saga() {
    let plan = three_with_rollbacks().step("d").finally("f").build();
    let sim = run(
        &plan,
        &script(&[
            ("d", vec![fail("boom")]),
            ("rollback:b", vec![fail("stuck")]),
        ]),
    );
    assert_eq!(
        labels(&sim),
        ["a", "b", "c", "d", "rollback:c", "rollback:b", "finally:f"]
    );
    assert_eq!(phase(&sim, "b"), StepPhase::CompensationFailed);
    assert_eq!(phase(&sim, "a"), StepPhase::Succeeded);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RollbackFailed));
    assert_eq!(sim.status.outcome, Some(Outcome::Failed));
}

#[test]
fn compensations_retry_with_their_own_policy() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback_retry(1, 2000)
        .step("b")
        .build();
    let sim = run(
        &plan,
        &script(&[
            ("b", vec![fail("boom")]),
            ("rollback:a", vec![fail("conflict")]),
        ]),
    );
    assert_eq!(started_at(&sim, "rollback:a"), [2000, 5000]);
    assert_eq!(phase(&sim, "a"), StepPhase::Compensated);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RolledBack));
}

#[test]
fn compensations_see_the_output_of_their_step() {
    let plan = PlanBuilder::new()
        .step("scale")
        .rollback_deferred("replicas", "self.output.previous_replicas")
        .step("b")
        .build();
    let sim = run(
        &plan,
        &script(&[
            (
                "scale",
                vec![ok_after(1000, json!({"previous_replicas": 2}))],
            ),
            ("b", vec![fail("boom")]),
        ]),
    );
    let rb = sim
        .trace
        .iter()
        .flat_map(|(_, d)| d.create.iter())
        .find(|c| c.name == "wfe-a-scale-rb-1")
        .expect("compensation created");
    assert_eq!(rb.spec.action.parameters.get("replicas"), Some(&json!(2)));
    assert_eq!(rb.spec.action.action_type, "undo");
}

#[test]
fn a_failing_run_awaits_running_attempts_and_compensates_them() {
    let plan = PlanBuilder::new()
        .parallel(&["x", "y"])
        .rollback()
        .step("z")
        .build();
    let sim = run(
        &plan,
        &script(&[("x", vec![fail("boom")]), ("y", vec![ok(5000)])]),
    );
    assert_eq!(labels(&sim), ["x", "y", "rollback:y"]);
    assert_eq!(started_at(&sim, "rollback:y"), [5000]);
    assert_eq!(phase(&sim, "z"), StepPhase::Skipped);
    assert_eq!(phase(&sim, "y"), StepPhase::Compensated);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RolledBack));
}

#[test]
fn a_failing_run_does_not_retry_other_steps() {
    let plan = PlanBuilder::new().parallel(&["x", "y"]).step("z").build();
    let mut plan = plan;
    plan.steps[1].action.retry.retries = 3;
    let sim = run(
        &plan,
        &script(&[
            ("x", vec![fail("boom")]),
            ("y", vec![fail_after(2000, "flaky")]),
        ]),
    );
    assert_eq!(labels(&sim), ["x", "y"]);
    assert_eq!(phase(&sim, "y"), StepPhase::Failed);
    assert_eq!(
        sim.status.failure.as_ref().and_then(|f| f.step.as_deref()),
        Some("x")
    );
}

#[test]
fn waiting_steps_are_skipped_once_the_run_fails() {
    let plan = PlanBuilder::new()
        .parallel(&["x", "y", "w"])
        .max_parallel(2)
        .build();
    let sim = run(
        &plan,
        &script(&[("x", vec![fail("boom")]), ("y", vec![ok(3000)])]),
    );
    assert_eq!(labels(&sim), ["x", "y"]);
    assert_eq!(phase(&sim, "w"), StepPhase::Skipped);
}

#[test]
fn the_workflow_timeout_starts_failing() {
    let plan = PlanBuilder::new()
        .workflow_timeout(10_000)
        .step("a")
        .rollback()
        .step("b")
        .rollback()
        .step("c")
        .build();
    let sim = run(&plan, &script(&[("b", vec![ok(20_000)])]));
    // b is awaited past the deadline (it succeeds at 21s) and compensated too
    assert_eq!(labels(&sim), ["a", "b", "rollback:b", "rollback:a"]);
    assert_eq!(started_at(&sim, "rollback:b"), [21_000]);
    let failure = sim.status.failure.clone().expect("failure");
    assert_eq!(failure.reason, FailureReason::WorkflowTimedOut);
    assert_eq!(failure.step, None);
    assert_eq!(phase(&sim, "c"), StepPhase::Skipped);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RolledBack));
    let failing_at_10s = sim
        .trace
        .iter()
        .find(|(t, _)| *t == 10_000)
        .map(|(_, d)| d.status.failure.is_some());
    assert_eq!(
        failing_at_10s,
        Some(true),
        "the deadline is noticed when it passes"
    );
}

#[test]
fn verify_runs_after_main_in_monitoring() {
    let plan = PlanBuilder::new()
        .parallel(&["a", "b"])
        .verify("v1")
        .verify("v2")
        .build();
    let sim = run(&plan, &script(&[("b", vec![ok(2000)])]));
    assert_eq!(labels(&sim), ["a", "b", "verify:v1", "verify:v2"]);
    assert_eq!(started_at(&sim, "verify:v1"), [2000]);
    let monitoring = sim
        .trace
        .iter()
        .any(|(_, d)| d.status.phase == Some(WorkflowPhase::Monitoring));
    assert!(monitoring);
    assert!(sim.status.monitoring_started_at.is_some());
    assert_eq!(sim.status.outcome, Some(Outcome::Success));
}

#[test]
fn a_failed_verify_is_ineffective_and_rolls_back() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .verify("v")
        .retry(1, 1000, 1000)
        .build();
    let sim = run(
        &plan,
        &script(&[("verify:v", vec![fail("unhealthy"), fail("still unhealthy")])]),
    );
    assert_eq!(labels(&sim), ["a", "verify:v", "verify:v", "rollback:a"]);
    let failure = sim.status.failure.clone().expect("failure");
    assert_eq!(failure.reason, FailureReason::Ineffective);
    assert_eq!(failure.step.as_deref(), Some("v"));
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RolledBack));
    assert_eq!(sim.status.outcome, Some(Outcome::Ineffective));
}

#[test]
fn verify_within_bounds_the_whole_monitoring_phase() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .verify_within(10_000)
        .verify("v")
        .retry(10, 3000, 3000)
        .build();
    let failing = vec![fail("not yet"); 11];
    let sim = run(&plan, &script(&[("verify:v", failing)]));
    // attempts at 1s, 5s, 9s; the bound passes at 11s during the backoff
    assert_eq!(started_at(&sim, "verify:v"), [1000, 5000, 9000]);
    let failure = sim.status.failure.clone().expect("failure");
    assert_eq!(failure.reason, FailureReason::Ineffective);
    assert_eq!(started_at(&sim, "rollback:a"), [11_000]);
    assert_eq!(sim.status.outcome, Some(Outcome::Ineffective));
}

#[test]
fn finally_runs_after_success_failure_and_rollback() {
    for (outcomes, end) in [
        (script(&[]), WorkflowPhase::Completed),
        (script(&[("b", vec![fail("x")])]), WorkflowPhase::RolledBack),
    ] {
        let plan = PlanBuilder::new()
            .step("a")
            .rollback()
            .step("b")
            .finally("f1")
            .finally("f2")
            .build();
        let sim = run(&plan, &outcomes);
        let l = labels(&sim);
        assert_eq!(&l[l.len() - 2..], ["finally:f1", "finally:f2"]);
        assert_eq!(sim.status.phase, Some(end));
    }
    let plan = PlanBuilder::new()
        .step("a")
        .on_failure(OnFailure::Fail)
        .finally("f")
        .build();
    let sim = run(&plan, &script(&[("a", vec![fail("x")])]));
    assert_eq!(labels(&sim), ["a", "finally:f"]);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
}

#[test]
fn a_failed_finally_step_changes_no_outcome() {
    let plan = PlanBuilder::new()
        .step("a")
        .finally("f")
        .retry(1, 1000, 1000)
        .finally("g")
        .build();
    let sim = run(&plan, &script(&[("finally:f", vec![fail("x"), fail("y")])]));
    assert_eq!(labels(&sim), ["a", "finally:f", "finally:f", "finally:g"]);
    assert_eq!(phase(&sim, "f"), StepPhase::Failed);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Completed));
    assert_eq!(sim.status.outcome, Some(Outcome::Success));
    assert!(sim.status.failure.is_none());
}

#[test]
fn finally_sees_the_phase_the_run_ends_in() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .finally("tell")
        .with_deferred("message", "`ended ${workflow.phase}`")
        .finally("only_on_failure")
        .when("workflow.failed")
        .build();
    let message_of = |sim: &remedy::engine::simulate::Simulation| {
        sim.trace
            .iter()
            .flat_map(|(_, d)| d.create.iter())
            .find(|c| c.spec.step == "tell")
            .and_then(|c| c.spec.action.parameters.get("message").cloned())
    };
    let failed = run(&plan, &script(&[("b", vec![fail("x")])]));
    assert_eq!(message_of(&failed), Some(json!("ended RolledBack")));
    assert_eq!(phase(&failed, "only_on_failure"), StepPhase::Succeeded);
    let ok = run(
        &plan,
        &Script {
            approved: true,
            ..Script::default()
        },
    );
    assert_eq!(message_of(&ok), Some(json!("ended Completed")));
    assert_eq!(phase(&ok, "only_on_failure"), StepPhase::Skipped);
}

#[test]
fn a_hanging_compensation_times_out_and_fails_the_saga() {
    let mut plan = PlanBuilder::new().step("a").rollback().step("b").build();
    if let Some(rb) = plan.steps[0].rollback.as_mut() {
        rb.timeout_ms = 4000;
    }
    let sim = run(
        &plan,
        &script(&[
            ("b", vec![fail("x")]),
            ("rollback:a", vec![AttemptScript::Hang]),
        ]),
    );
    assert_eq!(phase(&sim, "a"), StepPhase::CompensationFailed);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RollbackFailed));
    assert_eq!(sim.elapsed_ms, 6000);
}
