//! Ordering, conditions, retries, timeouts, approval, dry run and the decision contract.

use remedy::api::{
    ExecutionKind, FailureReason, LABEL_KIND, LABEL_STEP, LABEL_WORKFLOW, Outcome, StepPhase,
    WorkflowPhase,
};
use remedy::engine::simulate::{AttemptScript, Script, Stop, simulate};
use remedy::engine::{Observations, Program, initial_status};
use serde_json::json;

use crate::support::*;

#[test]
fn steps_run_in_declared_sequence() {
    let plan = PlanBuilder::new().step("a").step("b").step("c").build();
    let sim = run(&plan, &script(&[("b", vec![ok(3000)])]));
    assert_eq!(labels(&sim), ["a", "b", "c"]);
    assert_eq!(started_at(&sim, "c"), [4000]);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Completed));
    assert_eq!(sim.status.outcome, Some(Outcome::Success));
    assert_eq!(sim.stop, Stop::Terminal);
}

#[test]
fn after_replaces_the_implicit_dependency() {
    let plan = PlanBuilder::new()
        .step("a")
        .step("b")
        .step("c")
        .after(&["a"])
        .build();
    let sim = run(&plan, &script(&[("b", vec![ok(5000)])]));
    assert_eq!(started_at(&sim, "b"), [1000]);
    assert_eq!(started_at(&sim, "c"), [1000]);
    assert_eq!(labels(&sim), ["a", "b", "c"]);
}

#[test]
fn a_parallel_group_starts_together_and_joins() {
    let plan = PlanBuilder::new()
        .step("a")
        .parallel(&["b", "c"])
        .step("d")
        .build();
    let sim = run(&plan, &script(&[("c", vec![ok(4000)])]));
    assert_eq!(started_at(&sim, "b"), [1000]);
    assert_eq!(started_at(&sim, "c"), [1000]);
    assert_eq!(started_at(&sim, "d"), [5000]);
}

#[test]
fn max_parallel_bounds_executions_in_flight() {
    let plan = PlanBuilder::new()
        .parallel(&["a", "b", "c", "d"])
        .max_parallel(2)
        .build();
    let sim = run(&plan, &script(&[("a", vec![ok(3000)])]));
    assert_eq!(labels(&sim), ["a", "b", "c", "d"]);
    assert_eq!(started_at(&sim, "c"), [1000]);
    assert_eq!(started_at(&sim, "d"), [2000]);
    let waiting = sim
        .trace
        .iter()
        .flat_map(|(_, d)| d.status.steps.iter())
        .any(|s| s.name == "d" && s.phase == StepPhase::Waiting);
    assert!(waiting, "d waits for a slot in phase Waiting");
}

#[test]
fn ready_steps_start_in_the_order_they_became_ready() {
    // h holds a slot; w takes a's slot at 1s; q became ready at 1s, p at 6s: q goes first
    // although p is declared before it.
    let plan = PlanBuilder::new()
        .parallel(&["h", "a", "w"])
        .step("p")
        .after(&["w"])
        .step("q")
        .after(&["a"])
        .max_parallel(2)
        .build();
    let sim = run(
        &plan,
        &script(&[("h", vec![ok(10_000)]), ("w", vec![ok(5000)])]),
    );
    assert_eq!(labels(&sim), ["h", "a", "w", "q", "p"]);
    assert_eq!(started_at(&sim, "q"), [6000]);
    assert_eq!(started_at(&sim, "p"), [7000]);
}

#[test]
fn when_false_skips_and_counts_as_done() {
    let plan = PlanBuilder::new()
        .param("confidence", json!(0.5))
        .step("a")
        .step("b")
        .when("confidence >= 0.8")
        .step("c")
        .build();
    let sim = run(
        &plan,
        &Script {
            approved: true,
            ..Script::default()
        },
    );
    assert_eq!(labels(&sim), ["a", "c"]);
    assert_eq!(phase(&sim, "b"), StepPhase::Skipped);
    assert_eq!(started_at(&sim, "c"), [1000]);
    assert_eq!(sim.status.outcome, Some(Outcome::Success));
}

#[test]
fn when_sees_the_outputs_of_earlier_steps() {
    let plan = PlanBuilder::new()
        .step("a")
        .step("b")
        .when("steps.a.output.replicas > 2")
        .step("c")
        .when("steps.a.output.replicas > 5")
        .build();
    let sim = run(
        &plan,
        &script(&[("a", vec![ok_after(1000, json!({"replicas": 3}))])]),
    );
    assert_eq!(labels(&sim), ["a", "b"]);
    assert_eq!(phase(&sim, "c"), StepPhase::Skipped);
}

#[test]
fn a_failing_when_is_a_script_error_of_its_step() {
    let plan = PlanBuilder::new().step("a").when("nope.field > 1").build();
    let sim = run(
        &plan,
        &Script {
            approved: true,
            ..Script::default()
        },
    );
    assert_eq!(phase(&sim, "a"), StepPhase::Failed);
    let failure = sim.status.failure.clone().expect("failure");
    assert_eq!(failure.reason, FailureReason::ScriptError);
    assert_eq!(failure.step.as_deref(), Some("a"));
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
}

#[test]
fn retries_back_off_exponentially_up_to_the_cap() {
    let plan = PlanBuilder::new().step("a").retry(3, 5000, 8000).build();
    let sim = run(
        &plan,
        &script(&[("a", vec![fail("x"), fail("y"), fail("z")])]),
    );
    // attempt 1 fails at 1s, +5s; attempt 2 fails at 7s, +8s (10s capped); attempt 3 at 16s +8s
    assert_eq!(started_at(&sim, "a"), [0, 6000, 15_000, 24_000]);
    assert_eq!(phase(&sim, "a"), StepPhase::Succeeded);
    let s = &sim.status.steps[0];
    assert_eq!(s.attempts, 4);
    assert_eq!(s.execution_ref.as_deref(), Some("wfe-a-a-4"));
    let retrying = sim
        .trace
        .iter()
        .any(|(t, d)| *t == 1000 && d.status.steps[0].phase == StepPhase::Retrying);
    assert!(retrying, "after a failed attempt the step is Retrying");
    let requeue = sim
        .trace
        .iter()
        .find(|(t, _)| *t == 1000)
        .and_then(|(_, d)| d.requeue_after);
    assert_eq!(requeue, Some(std::time::Duration::from_secs(5)));
}

#[test]
fn the_last_failed_attempt_fails_the_step() {
    let plan = PlanBuilder::new()
        .step("a")
        .retry(1, 1000, 1000)
        .step("b")
        .build();
    let sim = run(
        &plan,
        &script(&[("a", vec![fail("x"), fail("quota exceeded")])]),
    );
    assert_eq!(labels(&sim), ["a", "a"]);
    assert_eq!(phase(&sim, "a"), StepPhase::Failed);
    assert_eq!(phase(&sim, "b"), StepPhase::Skipped);
    let failure = sim.status.failure.clone().expect("failure");
    assert_eq!(failure.reason, FailureReason::StepFailed);
    assert!(
        failure.message.contains("quota exceeded"),
        "{}",
        failure.message
    );
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
    assert_eq!(sim.status.outcome, Some(Outcome::Failed));
}

#[test]
fn an_attempt_past_its_timeout_counts_as_failed() {
    let plan = PlanBuilder::new()
        .step("a")
        .timeout(2000)
        .retry(1, 1000, 1000)
        .build();
    let sim = run(
        &plan,
        &script(&[("a", vec![AttemptScript::Hang, AttemptScript::Hang])]),
    );
    assert_eq!(started_at(&sim, "a"), [0, 3000]);
    assert_eq!(phase(&sim, "a"), StepPhase::TimedOut);
    let failure = sim.status.failure.clone().expect("failure");
    assert_eq!(failure.reason, FailureReason::StepTimedOut);
    assert_eq!(sim.elapsed_ms, 5000);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
}

#[test]
fn a_timed_out_attempt_can_be_retried_into_success() {
    let plan = PlanBuilder::new()
        .step("a")
        .timeout(2000)
        .retry(1, 1000, 1000)
        .build();
    let sim = run(&plan, &script(&[("a", vec![AttemptScript::Hang])]));
    assert_eq!(phase(&sim, "a"), StepPhase::Succeeded);
    assert_eq!(sim.status.outcome, Some(Outcome::Success));
}

#[test]
fn approval_holds_the_run_until_approved() {
    let plan = PlanBuilder::new().approval().step("a").build();
    let program = Program::new(&plan).expect("plan");
    let held = simulate(
        &program,
        initial_status(&plan),
        &Script::default(),
        t0(),
        true,
    );
    assert_eq!(held.stop, Stop::AwaitingApproval);
    assert_eq!(held.status.phase, Some(WorkflowPhase::AwaitingApproval));
    assert!(held.started.is_empty());
    assert_eq!(held.trace[0].1.requeue_after, None);
    let released = simulate(
        &program,
        held.status.clone(),
        &Script {
            approved: true,
            ..Script::default()
        },
        t0(),
        false,
    );
    assert_eq!(labels(&released), ["a"]);
    assert_eq!(released.status.phase, Some(WorkflowPhase::Completed));
}

#[test]
fn the_engine_waits_for_a_passed_validation() {
    let plan = PlanBuilder::new().step("a").build();
    let program = Program::new(&plan).expect("plan");
    let mut status = initial_status(&plan);
    status.validation = None;
    let d = program.decide(&status, &Observations::default(), t0());
    assert!(d.create.is_empty());
    assert_eq!(d.status, status);
    status.phase = Some(WorkflowPhase::Planning);
    let d = program.decide(&status, &Observations::default(), t0());
    assert_eq!(d.status.phase, Some(WorkflowPhase::Planning));
}

#[test]
fn a_dry_run_runs_main_and_finally_skips_verify() {
    let plan = PlanBuilder::new()
        .dry_run()
        .step("a")
        .rollback()
        .verify("v")
        .finally("f")
        .build();
    let sim = run(
        &plan,
        &Script {
            approved: true,
            ..Script::default()
        },
    );
    assert_eq!(labels(&sim), ["a", "finally:f"]);
    assert_eq!(phase(&sim, "v"), StepPhase::Skipped);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Completed));
    assert_eq!(sim.status.outcome, Some(Outcome::DryRun));
    let dry = sim
        .trace
        .iter()
        .flat_map(|(_, d)| d.create.iter())
        .all(|c| c.spec.dry_run);
    assert!(dry, "every execution of a dry run has dryRun set");
}

#[test]
fn a_failed_dry_run_ends_failed_without_compensation() {
    let plan = PlanBuilder::new()
        .dry_run()
        .step("a")
        .rollback()
        .step("b")
        .finally("f")
        .build();
    let sim = run(&plan, &script(&[("b", vec![fail("invalid")])]));
    assert_eq!(labels(&sim), ["a", "b", "finally:f"]);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
    assert_eq!(sim.status.outcome, Some(Outcome::Failed));
    assert_eq!(phase(&sim, "a"), StepPhase::Succeeded);
}

#[test]
fn a_vanished_execution_is_a_failed_attempt_that_retries() {
    let plan = PlanBuilder::new().step("a").retry(1, 1000, 1000).build();
    let sim = run(
        &plan,
        &script(&[("a", vec![AttemptScript::Vanish { after_ms: 500 }])]),
    );
    assert_eq!(started_at(&sim, "a"), [0, 1500]);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Completed));
    let lost = sim.trace.iter().any(|(_, d)| {
        d.status.steps[0].phase == StepPhase::Retrying
            && d.status.steps[0].message.contains("ExecutionLost")
    });
    assert!(lost, "the lost attempt is reported as ExecutionLost");
}

#[test]
fn a_vanished_execution_without_retries_fails_the_step() {
    let plan = PlanBuilder::new().step("a").build();
    let sim = run(
        &plan,
        &script(&[("a", vec![AttemptScript::Vanish { after_ms: 500 }])]),
    );
    assert_eq!(phase(&sim, "a"), StepPhase::Failed);
    assert!(message(&sim, "a").contains("ExecutionLost"));
    assert_eq!(sim.status.phase, Some(WorkflowPhase::Failed));
}

#[test]
fn deferred_values_are_evaluated_when_the_step_is_scheduled() {
    let plan = PlanBuilder::new()
        .param("namespace", json!("shop"))
        .step("a")
        .step("b")
        .with_value("namespace", json!("shop"))
        .with_deferred("replicas", "steps.a.output.replicas + 1")
        .build();
    let sim = run(
        &plan,
        &script(&[("a", vec![ok_after(1000, json!({"replicas": 2}))])]),
    );
    let b = sim
        .trace
        .iter()
        .flat_map(|(_, d)| d.create.iter())
        .find(|c| c.spec.step == "b")
        .expect("b created");
    assert_eq!(b.spec.action.parameters.get("replicas"), Some(&json!(3)));
    assert_eq!(
        b.spec.action.parameters.get("namespace"),
        Some(&json!("shop"))
    );
}

#[test]
fn a_deferred_value_that_fails_is_a_script_error() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .step("b")
        .with_deferred("replicas", "steps.a.output.missing + 1")
        .build();
    let sim = run(
        &plan,
        &Script {
            approved: true,
            ..Script::default()
        },
    );
    assert_eq!(labels(&sim), ["a", "rollback:a"]);
    assert_eq!(phase(&sim, "b"), StepPhase::Failed);
    assert!(
        message(&sim, "b").contains("replicas"),
        "{}",
        message(&sim, "b")
    );
    let failure = sim.status.failure.clone().expect("failure");
    assert_eq!(failure.reason, FailureReason::ScriptError);
    assert_eq!(sim.status.phase, Some(WorkflowPhase::RolledBack));
}

#[test]
fn executions_carry_the_contract_names_labels_and_spec() {
    let plan = PlanBuilder::new()
        .step("scale_out")
        .timeout(120_000)
        .with_value("replicas", json!(3))
        .build();
    let program = Program::new(&plan).expect("plan");
    let d = program.decide(&initial_status(&plan), &Observations::default(), t0());
    assert_eq!(d.create.len(), 1);
    let c = &d.create[0];
    assert_eq!(c.name, "wfe-a-scale-out-1");
    assert_eq!(
        c.labels.get(LABEL_WORKFLOW).map(String::as_str),
        Some("wfe-a")
    );
    assert_eq!(
        c.labels.get(LABEL_STEP).map(String::as_str),
        Some("scale_out")
    );
    assert_eq!(c.labels.get(LABEL_KIND).map(String::as_str), Some("step"));
    assert_eq!(c.spec.workflow_execution_ref.name, "wfe-a");
    assert_eq!(
        c.spec.workflow_execution_ref.namespace.as_deref(),
        Some("shop")
    );
    assert_eq!(c.spec.attempt, 1);
    assert_eq!(c.spec.action.action_type, "noop");
    assert_eq!(c.spec.timeout.as_deref(), Some("2m"));
    assert!(!c.spec.dry_run);
    assert_eq!(d.status.phase, Some(WorkflowPhase::Executing));
    assert_eq!(d.status.steps[0].phase, StepPhase::Running);
    assert_eq!(d.status.current_step.as_deref(), Some("scale_out"));
    assert_eq!(d.requeue_after, Some(std::time::Duration::from_secs(120)));
}

#[test]
fn deciding_again_on_the_same_inputs_gives_the_same_decision() {
    let plan = PlanBuilder::new()
        .parallel(&["a", "b", "c"])
        .max_parallel(2)
        .step("d")
        .build();
    let sc = script(&[("b", vec![fail("x")])]);
    let first = run(&plan, &sc);
    let second = run(&plan, &sc);
    assert_eq!(first, second);
    let program = Program::new(&plan).expect("plan");
    let status = &first.trace[1].1.status;
    let once = program.decide(status, &Observations::default(), t0());
    let twice = program.decide(status, &Observations::default(), t0());
    assert_eq!(once, twice);
}

#[test]
fn outputs_and_messages_in_status_are_bounded() {
    let big = json!({ "blob": "x".repeat(10_000) });
    let plan = PlanBuilder::new()
        .step("a")
        .step("b")
        .on_failure(remedy::plan::OnFailure::Continue)
        .build();
    let long_error = "e".repeat(5000);
    let sim = run(
        &plan,
        &script(&[
            ("a", vec![ok_after(1000, big)]),
            ("b", vec![fail(&long_error)]),
        ]),
    );
    let a = &sim.status.steps[0];
    assert_eq!(
        a.output.as_ref().and_then(|o| o.get("truncated")),
        Some(&json!(true))
    );
    assert!(sim.status.steps[1].message.len() <= remedy::engine::MAX_MESSAGE_BYTES);
    assert!(serde_json::to_vec(&sim.status).expect("json").len() < 8 * 1024);
}

#[test]
fn execution_kinds_label_rollback_verify_and_finally() {
    let plan = PlanBuilder::new()
        .step("a")
        .rollback()
        .verify("v")
        .finally("f")
        .build();
    let sim = run(&plan, &script(&[("verify:v", vec![fail("unhealthy")])]));
    let kinds: Vec<(String, ExecutionKind)> = sim
        .started
        .iter()
        .map(|s| (s.label.clone(), s.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a".to_string(), ExecutionKind::Step),
            ("verify:v".to_string(), ExecutionKind::Verify),
            ("rollback:a".to_string(), ExecutionKind::Rollback),
            ("finally:f".to_string(), ExecutionKind::Finally),
        ]
    );
    let rb = sim
        .trace
        .iter()
        .flat_map(|(_, d)| d.create.iter())
        .find(|c| c.labels.get(LABEL_KIND).map(String::as_str) == Some("rollback"))
        .expect("rollback created");
    assert_eq!(rb.name, "wfe-a-a-rb-1");
}

#[test]
fn observations_convert_from_kubernetes_executions() {
    use remedy::api::kubernetes_execution::{ErrorReason, ExecutionResult};
    use remedy::api::{ExecutionPhase, KubernetesExecution, KubernetesExecutionStatus};
    use remedy::engine::Observation;
    let plan = PlanBuilder::new().step("scale_out").rollback().build();
    let program = Program::new(&plan).expect("plan");
    let d = program.decide(&initial_status(&plan), &Observations::default(), t0());
    let new = &d.create[0];
    let mut kex = KubernetesExecution::new(&new.name, new.spec.clone());
    kex.metadata.labels = Some(new.labels.clone());
    let pending = Observation::from(&kex);
    assert_eq!(pending.name, "wfe-a-scale-out-1");
    assert_eq!(pending.step, "scale_out");
    assert_eq!(pending.kind, ExecutionKind::Step);
    assert_eq!(pending.attempt, 1);
    assert_eq!(pending.phase, ExecutionPhase::Pending);
    kex.status = Some(KubernetesExecutionStatus {
        phase: Some(ExecutionPhase::Failed),
        result: Some(ExecutionResult {
            success: false,
            error: "took too long".into(),
            reason: Some(ErrorReason::Timeout),
            ..ExecutionResult::default()
        }),
        ..KubernetesExecutionStatus::default()
    });
    let failed = Observation::from(&kex);
    assert!(failed.timed_out);
    assert_eq!(failed.error, "took too long");
    // fed back, the executor's timeout makes the step TimedOut
    let obs = Observations {
        executions: vec![failed],
        approved: true,
        ..Observations::default()
    };
    let next = program.decide(&d.status, &obs, t0());
    assert_eq!(next.status.steps[0].phase, StepPhase::TimedOut);
    assert_eq!(
        next.status.failure.map(|f| f.reason),
        Some(FailureReason::StepTimedOut)
    );
}

#[test]
fn a_lost_status_write_repeats_the_same_creates() {
    use remedy::api::ExecutionPhase;
    use remedy::engine::Observation;
    let plan = PlanBuilder::new().parallel(&["a", "b"]).step("c").build();
    let program = Program::new(&plan).expect("plan");
    let s0 = initial_status(&plan);
    let first = program.decide(&s0, &Observations::default(), t0());
    let names: Vec<&str> = first.create.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["wfe-a-a-1", "wfe-a-b-1"]);
    // the executions were created, then the status write was lost; they even finished
    let done: Vec<Observation> = first
        .create
        .iter()
        .map(|c| Observation {
            name: c.name.clone(),
            step: c.spec.step.clone(),
            kind: ExecutionKind::Step,
            attempt: 1,
            phase: ExecutionPhase::Succeeded,
            output: Default::default(),
            error: String::new(),
            timed_out: false,
            started_at: None,
            completed_at: None,
        })
        .collect();
    let obs = Observations {
        executions: done,
        approved: true,
        ..Observations::default()
    };
    // Seen again, the lost decision repeats the same creates when its executions are not
    // observed (AlreadyExists), ...
    let again = program.decide(&s0, &Observations::default(), t0());
    assert_eq!(
        again.create, first.create,
        "same names: AlreadyExists, no second run"
    );
    // ... and when they are, it takes them up as started and absorbs their results.
    let next = program.decide(&s0, &obs, t0());
    let names: Vec<&str> = next.create.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["wfe-a-c-1"], "their results are absorbed, c starts");
    assert_eq!(next.status.steps[0].phase, StepPhase::Succeeded);
    assert_eq!(next.status.steps[0].attempts, 1);
}
