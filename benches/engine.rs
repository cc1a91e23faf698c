//! `engine::decide` on 10-, 100- and 1,000-step plans, from a mid-run status: "steady" (nothing
//! changed since the last decision) and "advance" (one attempt finished: absorb it, start the
//! next ready step). Run: `cargo bench --bench engine`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/engine/support.rs"]
mod support;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use remedy::api::kubernetes_execution::execution_name;
use remedy::api::{ExecutionKind, ExecutionPhase, StepPhase, WorkflowExecutionStatus};
use remedy::engine::simulate::{Script, simulate};
use remedy::engine::{Observation, Observations, Program, initial_status};
use remedy::plan::ExecutionPlan;
use serde_json::json;
use support::{PlanBuilder, t0};

/// `n` main steps in parallel groups of ten (with `max_parallel 5`, half of a group waits for
/// a slot), a compensation on every third, resolved `with` values, a verify step and a
/// finally step.
fn plan(n: usize) -> ExecutionPlan {
    let mut b = PlanBuilder::new().max_parallel(5);
    let mut i = 0;
    while i < n {
        let names: Vec<String> = (i..(i + 10).min(n)).map(|k| format!("step_{k}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        b = b.parallel(&refs);
        i += 10;
    }
    let mut plan = b.verify("healthy").finally("tell").build();
    for (k, s) in plan.steps.iter_mut().enumerate() {
        for (key, value) in [
            ("namespace", json!("shop")),
            ("deployment", json!(format!("web-{k}"))),
            ("replicas", json!(k % 7 + 1)),
        ] {
            s.action
                .with
                .insert(key.into(), remedy::plan::PlannedValue::Value(value));
        }
        if k % 3 == 0 {
            s.rollback = Some(support::action("undo"));
        }
    }
    plan
}

/// What the cluster shows for a status: every attempt's execution, the last one as the step is.
fn observe(plan: &ExecutionPlan, status: &WorkflowExecutionStatus) -> Observations {
    let mut executions = Vec::new();
    for (s, planned) in status.steps.iter().zip(&plan.steps) {
        for attempt in 1..=s.attempts {
            let last = attempt == s.attempts;
            let phase = match (last, s.phase) {
                (false, _) => ExecutionPhase::Failed,
                (true, StepPhase::Running) => ExecutionPhase::Running,
                (true, StepPhase::Failed | StepPhase::TimedOut) => ExecutionPhase::Failed,
                (true, _) => ExecutionPhase::Succeeded,
            };
            executions.push(Observation {
                name: execution_name("wfe-a", &planned.name, ExecutionKind::Step, attempt),
                step: planned.name.clone(),
                kind: ExecutionKind::Step,
                attempt,
                phase,
                output: s.output.clone().unwrap_or_default(),
                error: String::new(),
                timed_out: false,
                started_at: None,
                completed_at: None,
            });
        }
    }
    Observations {
        executions,
        approved: true,
        ..Observations::default()
    }
}

/// The status halfway through the run, at a decision where steps wait for a slot, and the
/// time then.
fn mid_run(program: &Program, plan: &ExecutionPlan) -> (WorkflowExecutionStatus, jiff::Timestamp) {
    let sim = simulate(
        program,
        initial_status(plan),
        &Script::default(),
        t0(),
        true,
    );
    let waiting: Vec<&(i64, remedy::engine::Decision)> = sim
        .trace
        .iter()
        .filter(|(_, d)| d.status.steps.iter().any(|s| s.phase == StepPhase::Waiting))
        .collect();
    let (at, d) = waiting[waiting.len() / 2];
    let now = t0() + jiff::SignedDuration::from_millis(*at);
    (d.status.clone(), now)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for n in [10usize, 100, 1000] {
        let plan = plan(n);
        let program = Program::new(&plan).unwrap();
        let (status, now) = mid_run(&program, &plan);
        let steady = observe(&plan, &status);
        let mut advance = steady.clone();
        let running = advance
            .executions
            .iter_mut()
            .find(|o| o.phase == ExecutionPhase::Running)
            .expect("a running attempt mid-run");
        running.phase = ExecutionPhase::Succeeded;
        let d = program.decide(&status, &advance, now);
        assert_eq!(d.create.len(), 1, "advance starts one step");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("steady", n), &n, |b, _| {
            b.iter(|| program.decide(&status, &steady, now))
        });
        group.bench_with_input(BenchmarkId::new("advance", n), &n, |b, _| {
            b.iter(|| program.decide(&status, &advance, now))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
