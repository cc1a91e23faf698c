//! Stopping a run on request (halt, rollback) at every phase, and the cluster-wide pause.

use remedy::api::{
    Outcome, StepPhase, StopMode, StopRequest, WorkflowExecutionStatus, WorkflowPhase,
};
use remedy::engine::simulate::{AttemptScript, Script, Simulation};
use remedy::engine::{Observations, Program, initial_status};
use remedy::plan::RollbackMode;

use crate::support::*;

fn request(mode: StopMode) -> StopRequest {
    StopRequest {
        mode,
        reason: "the change makes it worse".into(),
        requested_by: "alice".into(),
    }
}

/// `entries`' outcomes, and a stop in `mode` at `at_ms`.
fn stopped_at(at_ms: u64, mode: StopMode, entries: &[(&str, Vec<AttemptScript>)]) -> Script {
    Script {
        stop: Some((at_ms, request(mode))),
        ..script(entries)
    }
}

/// a (1s) → b (2s) → c, each with a compensation, and a finally step.
fn three() -> remedy::plan::ExecutionPlan {
    PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .rollback()
        .step("c")
        .rollback()
        .finally("report")
        .build()
}

fn assert_cancelled(sim: &Simulation) {
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Cancelled), "{sim:#?}");
    assert_eq!(sim.status.outcome, Some(Outcome::Cancelled));
    assert!(sim.status.completed_at.is_some());
}

#[test]
fn halt_lets_the_attempt_in_flight_settle_starts_nothing_new_and_runs_finally() {
    // b runs from 1s to 3s; the stop comes at 1.5s.
    let sim = run(
        &three(),
        &stopped_at(1500, StopMode::Halt, &[("b", vec![ok(2000)])]),
    );
    assert_eq!(labels(&sim), ["a", "b", "finally:report"]);
    assert_eq!(
        started_at(&sim, "finally:report"),
        [3000],
        "after b settled"
    );
    assert_eq!(phase(&sim, "a"), StepPhase::Succeeded);
    assert_eq!(phase(&sim, "b"), StepPhase::Succeeded, "not interrupted");
    assert_eq!(phase(&sim, "c"), StepPhase::Skipped);
    assert_eq!(message(&sim, "c"), "not started: the run was stopped");
    assert_cancelled(&sim);
    let stop = sim.status.stop.clone().expect("the stop is recorded");
    assert_eq!(stop.mode, StopMode::Halt);
    assert_eq!(stop.requested_by, "alice");
    assert!(sim.status.failure.is_none(), "a stop is not a failure");
}

#[test]
fn rollback_compensates_every_completed_step_newest_first_then_finally() {
    let sim = run(
        &three(),
        &stopped_at(1500, StopMode::Rollback, &[("b", vec![ok(2000)])]),
    );
    assert_eq!(
        labels(&sim),
        ["a", "b", "rollback:b", "rollback:a", "finally:report"]
    );
    assert_eq!(phase(&sim, "a"), StepPhase::Compensated);
    assert_eq!(
        phase(&sim, "b"),
        StepPhase::Compensated,
        "finished after the stop, still undone"
    );
    assert_eq!(phase(&sim, "c"), StepPhase::Skipped);
    assert!(
        sim.trace
            .iter()
            .any(|(_, d)| d.status.phase == Some(WorkflowPhase::RollingBack))
    );
    assert_cancelled(&sim);
}

#[test]
fn an_attempt_that_fails_while_stopping_is_not_retried() {
    let plan = PlanBuilder::new()
        .step("a")
        .retry(3, 1000, 10_000)
        .step("b")
        .build();
    let sim = run(
        &plan,
        &stopped_at(500, StopMode::Halt, &[("a", vec![fail("boom")])]),
    );
    assert_eq!(labels(&sim), ["a"]);
    assert_eq!(phase(&sim, "a"), StepPhase::Failed);
    assert_eq!(phase(&sim, "b"), StepPhase::Skipped);
    assert_cancelled(&sim);
}

#[test]
fn a_step_waiting_for_its_retry_is_not_retried_after_a_stop() {
    let plan = PlanBuilder::new()
        .step("a")
        .retry(3, 10_000, 60_000)
        .build();
    // the first attempt fails at 1s; the retry would start at 11s; the stop comes at 5s.
    let sim = run(
        &plan,
        &stopped_at(5000, StopMode::Halt, &[("a", vec![fail("boom")])]),
    );
    assert_eq!(labels(&sim), ["a"]);
    assert_eq!(phase(&sim, "a"), StepPhase::Failed);
    assert!(
        message(&sim, "a").ends_with("(not retried: the run was stopped)"),
        "{}",
        message(&sim, "a")
    );
    assert_cancelled(&sim);
}

#[test]
fn a_stop_while_awaiting_approval_ends_the_run_at_once_with_nothing_run() {
    let plan = PlanBuilder::new()
        .approval()
        .step("a")
        .rollback()
        .finally("report")
        .build();
    let sim = run(
        &plan,
        &Script {
            approved: false,
            ..stopped_at(60_000, StopMode::Rollback, &[])
        },
    );
    assert!(sim.started.is_empty(), "no finally: nothing ran");
    assert_eq!(
        sim.elapsed_ms, 60_000,
        "it waited for approval until the stop"
    );
    assert_eq!(phase(&sim, "a"), StepPhase::Skipped);
    assert_eq!(phase(&sim, "report"), StepPhase::Skipped);
    assert_cancelled(&sim);
}

#[test]
fn a_stop_at_validating_ends_the_run_before_it_starts() {
    let plan = three();
    let program = Program::new(&plan).unwrap();
    let obs = Observations {
        stop: Some(request(StopMode::Halt)),
        ..Observations::default()
    };
    let d = program.decide(&initial_status(&plan), &obs, t0());
    assert!(d.create.is_empty());
    assert_eq!(d.requeue_after, None);
    assert_eq!(d.status.phase, Some(WorkflowPhase::Cancelled));
    assert_eq!(d.status.started_at, None, "it never executed");
}

#[test]
fn a_stop_on_a_finished_run_changes_nothing() {
    let plan = three();
    let program = Program::new(&plan).unwrap();
    let done = run(&plan, &script(&[]));
    assert_eq!(done.status.phase, Some(WorkflowPhase::Completed));
    for mode in [StopMode::Halt, StopMode::Rollback] {
        let obs = Observations {
            stop: Some(request(mode)),
            ..Observations::default()
        };
        let d = program.decide(&done.status, &obs, t0());
        assert_eq!(d.status, done.status);
        assert!(d.create.is_empty());
    }
}

#[test]
fn halt_during_rollback_finishes_the_compensation_under_way_and_starts_no_other() {
    // a 0-1s, b 1-2s, c 2-3s, d fails at 4s; rollback:c runs 4s-6s (its first attempt fails at
    // 5s, the retry runs 5.5s-6.5s); the halt comes at 5.2s, between the two attempts.
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .rollback()
        .step("c")
        .rollback()
        .rollback_retry(2, 300)
        .step("d")
        .finally("report")
        .build();
    let sim = run(
        &plan,
        &stopped_at(
            5200,
            StopMode::Halt,
            &[
                ("d", vec![fail("boom")]),
                ("rollback:c", vec![fail_after(1000, "busy"), ok(1000)]),
            ],
        ),
    );
    assert_eq!(
        labels(&sim),
        [
            "a",
            "b",
            "c",
            "d",
            "rollback:c",
            "rollback:c",
            "finally:report"
        ],
        "the compensation of c is finished (its retry included); b and a are left as they are"
    );
    assert_eq!(phase(&sim, "c"), StepPhase::Compensated);
    assert_eq!(phase(&sim, "b"), StepPhase::Succeeded);
    assert_eq!(phase(&sim, "a"), StepPhase::Succeeded);
    assert_cancelled(&sim);
    assert_eq!(
        sim.status.failure.as_ref().and_then(|f| f.step.as_deref()),
        Some("d"),
        "the failure before the stop is kept"
    );
}

#[test]
fn rollback_during_rollback_lets_the_saga_finish() {
    let sim = run(
        &three(),
        &stopped_at(
            3500,
            StopMode::Rollback,
            &[("c", vec![fail_after(1000, "boom")])],
        ),
    );
    assert_eq!(
        labels(&sim),
        ["a", "b", "c", "rollback:b", "rollback:a", "finally:report"]
    );
    assert_eq!(phase(&sim, "a"), StepPhase::Compensated);
    assert_cancelled(&sim);
}

#[test]
fn a_compensation_that_fails_during_a_stop_ends_rollback_failed() {
    let sim = run(
        &three(),
        &stopped_at(
            1500,
            StopMode::Rollback,
            &[("b", vec![ok(2000)]), ("rollback:b", vec![fail("stuck")])],
        ),
    );
    assert_eq!(labels(&sim), ["a", "b", "rollback:b", "finally:report"]);
    assert_eq!(phase(&sim, "b"), StepPhase::CompensationFailed);
    assert_eq!(phase(&sim, "a"), StepPhase::Succeeded);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RollbackFailed));
    assert_eq!(sim.status.outcome, Some(Outcome::Cancelled));
}

#[test]
fn a_stop_during_monitoring_lets_the_check_settle_and_skips_the_rest() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .verify("check")
        .verify("check_again")
        .build();
    let sim = run(
        &plan,
        &stopped_at(
            1500,
            StopMode::Rollback,
            &[("verify:check", vec![ok(2000)])],
        ),
    );
    assert_eq!(labels(&sim), ["a", "verify:check", "rollback:a"]);
    assert_eq!(phase(&sim, "check"), StepPhase::Succeeded);
    assert_eq!(phase(&sim, "check_again"), StepPhase::Skipped);
    assert_eq!(phase(&sim, "a"), StepPhase::Compensated);
    assert_cancelled(&sim);
}

#[test]
fn rollback_follows_the_runs_policy_manual_records_and_none_undoes_nothing() {
    let manual = PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .mode(RollbackMode::Manual)
        .build();
    let sim = run(
        &manual,
        &stopped_at(1500, StopMode::Rollback, &[("b", vec![ok(2000)])]),
    );
    assert_eq!(labels(&sim), ["a", "b"]);
    assert_eq!(sim.status.rollback_plan, ["a"]);
    assert_cancelled(&sim);
    let none = PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .mode(RollbackMode::None)
        .build();
    let sim = run(
        &none,
        &stopped_at(1500, StopMode::Rollback, &[("b", vec![ok(2000)])]),
    );
    assert_eq!(labels(&sim), ["a", "b"]);
    assert!(sim.status.rollback_plan.is_empty());
    assert_cancelled(&sim);
}

#[test]
fn a_dry_run_stopped_with_rollback_compensates_nothing() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .dry_run()
        .build();
    let sim = run(
        &plan,
        &stopped_at(1500, StopMode::Rollback, &[("b", vec![ok(2000)])]),
    );
    assert_eq!(labels(&sim), ["a", "b"]);
    assert_cancelled(&sim);
}

/// Decides `status` once with the given stop at `at_ms` after t0, without pause.
fn decide_with(
    program: &Program,
    status: &WorkflowExecutionStatus,
    executions: Vec<remedy::engine::Observation>,
    stop: Option<StopRequest>,
    at_ms: i64,
) -> remedy::engine::Decision {
    let now = jiff::Timestamp::from_millisecond(t0().as_millisecond() + at_ms).unwrap();
    let obs = Observations {
        executions,
        approved: true,
        stop,
        paused: false,
    };
    program.decide(status, &obs, now)
}

#[test]
fn a_halt_is_raised_to_rollback_while_attempts_settle_but_a_rollback_is_never_lowered() {
    use remedy::api::{ExecutionKind, ExecutionPhase};
    use remedy::engine::Observation;
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .finally("report")
        .build();
    let program = Program::new(&plan).unwrap();
    let started = decide_with(&program, &initial_status(&plan), vec![], None, 0);
    assert_eq!(started.create.len(), 1);
    let running = |phase| Observation {
        name: started.create[0].name.clone(),
        step: "a".into(),
        kind: ExecutionKind::Step,
        attempt: 1,
        phase,
        output: Default::default(),
        error: String::new(),
        timed_out: false,
        started_at: None,
        completed_at: None,
    };
    let halted = decide_with(
        &program,
        &started.status,
        vec![running(ExecutionPhase::Running)],
        Some(request(StopMode::Halt)),
        500,
    );
    assert_eq!(
        halted.status.stop.as_ref().map(|s| s.mode),
        Some(StopMode::Halt)
    );
    let raised = decide_with(
        &program,
        &halted.status,
        vec![running(ExecutionPhase::Running)],
        Some(request(StopMode::Rollback)),
        700,
    );
    let stop = raised.status.stop.clone().unwrap();
    assert_eq!(stop.mode, StopMode::Rollback);
    assert_eq!(
        stop.acknowledged_at,
        halted.status.stop.as_ref().unwrap().acknowledged_at,
        "first seen when the halt came"
    );
    // a settles: it is compensated, as the raised stop asks
    let undo = decide_with(
        &program,
        &raised.status,
        vec![running(ExecutionPhase::Succeeded)],
        Some(request(StopMode::Halt)),
        1000,
    );
    assert_eq!(
        undo.status.stop.as_ref().map(|s| s.mode),
        Some(StopMode::Rollback),
        "a rollback is not lowered to halt"
    );
    let names: Vec<&str> = undo.create.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["wfe-a-a-rb-1"]);
}

#[test]
fn a_halt_is_not_raised_once_finally_has_started() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .finally("report")
        .build();
    let program = Program::new(&plan).unwrap();
    // a finished, finally running: the status of a halted run in its finally stage
    let sim = run(
        &plan,
        &stopped_at(
            1500,
            StopMode::Halt,
            &[
                ("a", vec![ok(2000)]),
                ("finally:report", vec![AttemptScript::Hang]),
            ],
        ),
    );
    let in_finally = sim
        .trace
        .iter()
        .map(|(_, d)| d.status.clone())
        .find(|s| {
            s.steps
                .iter()
                .any(|st| st.name == "report" && st.phase == StepPhase::Running)
        })
        .expect("finally ran");
    assert_eq!(
        in_finally.stop.as_ref().map(|s| s.mode),
        Some(StopMode::Halt)
    );
    let d = decide_with(
        &program,
        &in_finally,
        vec![],
        Some(request(StopMode::Rollback)),
        1600,
    );
    assert_eq!(d.status.stop.as_ref().map(|s| s.mode), Some(StopMode::Halt));
    assert!(d.create.iter().all(|c| !c.name.contains("-rb-")));
}

// ---- the cluster-wide pause ----

fn paused(from: u64, until: u64, entries: &[(&str, Vec<AttemptScript>)]) -> Script {
    Script {
        pauses: vec![(from, until)],
        ..script(entries)
    }
}

#[test]
fn a_pause_lets_attempts_in_flight_settle_and_starts_nothing_until_resumed() {
    let plan = PlanBuilder::new().step("a").step("b").build();
    let sim = run(&plan, &paused(500, 60_000, &[]));
    assert_eq!(labels(&sim), ["a", "b"]);
    assert_eq!(
        started_at(&sim, "b"),
        [60_000],
        "b starts when Remedy resumes"
    );
    let during = sim
        .trace
        .iter()
        .find(|(at, _)| *at == 1000)
        .map(|(_, d)| d.status.clone())
        .expect("a decision when a finished");
    assert_eq!(
        during.steps[0].phase,
        StepPhase::Succeeded,
        "a settled while paused"
    );
    assert!(during.paused_at.is_some());
    assert_eq!(sim.status.outcome, Some(Outcome::Success));
    assert_eq!(sim.status.paused_at, None);
    assert_eq!(sim.status.paused_millis, 59_500);
}

#[test]
fn a_paused_run_does_not_leave_validating() {
    let plan = PlanBuilder::new().step("a").build();
    let sim = run(&plan, &paused(0, 10_000, &[]));
    assert_eq!(started_at(&sim, "a"), [10_000]);
    let first = &sim.trace[0].1;
    assert_eq!(first.status.phase, Some(WorkflowPhase::Validating));
    assert_eq!(first.requeue_after, None, "only the resume moves it");
}

#[test]
fn the_workflow_deadline_stands_still_while_paused() {
    let plan = PlanBuilder::new()
        .workflow_timeout(5000)
        .step("a")
        .rollback()
        .step("b")
        .build();
    // a runs 0-2s; paused 1.5s-100s; b runs 100s-101s, far past the 5s of the timeout.
    let sim = run(&plan, &paused(1500, 100_000, &[("a", vec![ok(2000)])]));
    assert_eq!(started_at(&sim, "b"), [100_000]);
    assert_eq!(sim.status.outcome, Some(Outcome::Success), "{sim:#?}");
    // without the pause the same run times out
    let slow = run(&plan, &script(&[("a", vec![ok(6000)])]));
    assert_eq!(slow.status.outcome, Some(Outcome::RolledBack));
}

#[test]
fn the_verify_deadline_stands_still_while_paused() {
    let plan = PlanBuilder::new()
        .step("a")
        .verify("check")
        .verify("check_again")
        .verify_within(3000)
        .build();
    // Monitoring begins at 1s; check runs 1s-2s; paused 1.5s-50s; check_again starts at 50s.
    let sim = run(&plan, &paused(1500, 50_000, &[]));
    assert_eq!(started_at(&sim, "verify:check_again"), [50_000]);
    assert_eq!(sim.status.outcome, Some(Outcome::Success), "{sim:#?}");
}

#[test]
fn a_retry_waits_for_the_resume() {
    let plan = PlanBuilder::new().step("a").retry(1, 1000, 1000).build();
    let sim = run(&plan, &paused(500, 30_000, &[("a", vec![fail("boom")])]));
    assert_eq!(started_at(&sim, "a"), [0, 30_000]);
    assert_eq!(sim.status.outcome, Some(Outcome::Success));
}

#[test]
fn a_stop_while_paused_runs_finally_only_after_the_resume() {
    let plan = PlanBuilder::new()
        .step("a")
        .step("b")
        .finally("report")
        .build();
    let sim = run(
        &plan,
        &Script {
            stop: Some((2000, request(StopMode::Halt))),
            ..paused(500, 10_000, &[])
        },
    );
    assert_eq!(labels(&sim), ["a", "finally:report"]);
    assert_eq!(started_at(&sim, "finally:report"), [10_000]);
    assert_cancelled(&sim);
}

#[test]
fn an_approved_run_waits_for_the_resume() {
    let plan = PlanBuilder::new().approval().step("a").build();
    let program = Program::new(&plan).unwrap();
    let mut status = initial_status(&plan);
    status.phase = Some(WorkflowPhase::AwaitingApproval);
    let obs = Observations {
        approved: true,
        paused: true,
        ..Observations::default()
    };
    let d = program.decide(&status, &obs, t0());
    assert_eq!(d.status.phase, Some(WorkflowPhase::AwaitingApproval));
    assert!(d.create.is_empty());
}

#[test]
fn a_stop_after_a_lost_status_write_adopts_the_attempt_that_exists() {
    use remedy::api::{ExecutionKind, ExecutionPhase};
    use remedy::engine::Observation;
    let plan = PlanBuilder::new().step("a").rollback().step("b").build();
    let program = Program::new(&plan).unwrap();
    let s0 = initial_status(&plan);
    let first = decide_with(&program, &s0, vec![], None, 0);
    assert_eq!(first.create[0].name, "wfe-a-a-1");
    // a-1 was created, then the status write lost to the stop's spec change: the next
    // decision sees the old status, the stop, and a-1 running.
    let a1 = |phase| Observation {
        name: "wfe-a-a-1".into(),
        step: "a".into(),
        kind: ExecutionKind::Step,
        attempt: 1,
        phase,
        output: Default::default(),
        error: String::new(),
        timed_out: false,
        started_at: None,
        completed_at: None,
    };
    let stopped = decide_with(
        &program,
        &s0,
        vec![a1(ExecutionPhase::Running)],
        Some(request(StopMode::Rollback)),
        100,
    );
    let a = &stopped.status.steps[0];
    assert_eq!(a.phase, StepPhase::Running, "adopted, not skipped");
    assert_eq!(a.execution_ref.as_deref(), Some("wfe-a-a-1"));
    assert!(stopped.create.is_empty());
    // when it succeeds, the rollback undoes it
    let undo = decide_with(
        &program,
        &stopped.status,
        vec![a1(ExecutionPhase::Succeeded)],
        Some(request(StopMode::Rollback)),
        1000,
    );
    let names: Vec<&str> = undo.create.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["wfe-a-a-rb-1"]);
}
