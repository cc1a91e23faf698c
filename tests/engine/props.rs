//! Properties over random step graphs, policies and attempt outcomes.

use std::collections::HashSet;

use proptest::prelude::*;
use remedy::api::{ExecutionKind, StepPhase, StepStatus, WorkflowPhase};
use remedy::engine::simulate::{AttemptScript, Script, Simulation, Stop};
use remedy::plan::{ExecutionPlan, StepStage};
use remedy::plan::{OnFailure, RollbackMode};

use crate::support::*;

#[derive(Debug, Clone)]
struct Shape {
    /// Per main step: dependency bits over earlier steps, has rollback, on_failure, retries.
    main: Vec<(u16, bool, u8, u32)>,
    verify: usize,
    finally: usize,
    max_parallel: u32,
    mode: u8,
    dry_run: bool,
    workflow_timeout_s: u64,
    /// Outcome codes, consumed per label and attempt.
    outcomes: Vec<(u8, u8)>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec((any::<u16>(), any::<bool>(), 0u8..3, 0u32..3), 1..10),
        0usize..3,
        0usize..3,
        1u32..5,
        0u8..3,
        prop::bool::weighted(0.15),
        10u64..120,
        prop::collection::vec((0u8..12, 0u8..6), 0..60),
    )
        .prop_map(
            |(main, verify, finally, max_parallel, mode, dry_run, workflow_timeout_s, outcomes)| {
                Shape {
                    main,
                    verify,
                    finally,
                    max_parallel,
                    mode,
                    dry_run,
                    workflow_timeout_s,
                    outcomes,
                }
            },
        )
}

fn build(shape: &Shape) -> (ExecutionPlan, Script) {
    let mut b = PlanBuilder::new()
        .max_parallel(shape.max_parallel)
        .workflow_timeout(shape.workflow_timeout_s * 1000)
        .mode(match shape.mode {
            0 => RollbackMode::Automatic,
            1 => RollbackMode::Manual,
            _ => RollbackMode::None,
        });
    if shape.dry_run {
        b = b.dry_run();
    }
    let mut labels = Vec::new();
    for (i, (bits, rollback, policy, retries)) in shape.main.iter().enumerate() {
        let name = format!("s{i}");
        b = b.step(&name);
        let deps: Vec<String> = (0..i)
            .filter(|j| bits & (1 << (j % 16)) != 0)
            .map(|j| format!("s{j}"))
            .collect();
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        b = b.after(&deps).timeout(3000).retry(*retries, 500, 2000);
        b = b.on_failure(match policy {
            0 => OnFailure::Rollback,
            1 => OnFailure::Fail,
            _ => OnFailure::Continue,
        });
        if *rollback {
            b = b.rollback().rollback_retry(*retries, 500);
            labels.push(format!("rollback:{name}"));
        }
        labels.push(name);
    }
    for i in 0..shape.verify {
        b = b.verify(&format!("v{i}")).timeout(3000).retry(1, 500, 500);
        labels.push(format!("verify:v{i}"));
    }
    for i in 0..shape.finally {
        b = b.finally(&format!("f{i}")).timeout(3000);
        labels.push(format!("finally:f{i}"));
    }
    let mut plan = b.build();
    for s in plan.steps.iter_mut() {
        if let Some(rb) = s.rollback.as_mut() {
            rb.timeout_ms = 3000;
        }
    }
    let mut codes = shape.outcomes.iter();
    let mut outcomes = std::collections::HashMap::new();
    for label in labels {
        let attempts: Vec<AttemptScript> = codes
            .by_ref()
            .take(3)
            .map(|&(kind, dur)| {
                let ms = u64::from(dur) * 500;
                match kind {
                    0..=6 => ok(ms),
                    7..=9 => fail_after(ms, "scripted failure"),
                    10 => AttemptScript::Hang,
                    _ => AttemptScript::Vanish { after_ms: ms },
                }
            })
            .collect();
        outcomes.insert(label, attempts);
    }
    (
        plan,
        Script {
            outcomes,
            approved: true,
            ..Script::default()
        },
    )
}

fn in_flight(s: &StepStatus) -> bool {
    s.phase == StepPhase::Running
        || (s.phase == StepPhase::Compensating && s.ready_at.is_none() && s.rollback_attempts > 0)
}

fn done(p: StepPhase) -> bool {
    !matches!(
        p,
        StepPhase::Pending | StepPhase::Waiting | StepPhase::Running | StepPhase::Retrying
    )
}

fn check(plan: &ExecutionPlan, sim: &Simulation) -> Result<(), TestCaseError> {
    prop_assert_eq!(&sim.stop, &Stop::Terminal, "every run ends");
    let phase = sim.status.phase.expect("phase");
    prop_assert!(phase.is_terminal());
    let index = |name: &str| plan.steps.iter().position(|s| s.name == name);
    // no step starts before its dependencies are done; stages keep their order
    for (_, d) in &sim.trace {
        let flying = d.status.steps.iter().filter(|s| in_flight(s)).count();
        prop_assert!(flying <= plan.max_parallel as usize, "{} in flight", flying);
        for c in &d.create {
            let i = index(&c.spec.step).expect("known step");
            let planned = &plan.steps[i];
            if c.labels.values().any(|v| v == "rollback") {
                continue;
            }
            for dep in &planned.depends_on {
                let j = index(dep).expect("known dep");
                prop_assert!(
                    done(d.status.steps[j].phase),
                    "{} before {}",
                    planned.name,
                    dep
                );
            }
            if planned.stage != StepStage::Main {
                for (k, s) in plan.steps.iter().enumerate() {
                    if s.stage == StepStage::Main {
                        prop_assert!(
                            done(d.status.steps[k].phase) && !in_flight(&d.status.steps[k])
                        );
                    }
                }
            }
            if planned.stage == StepStage::Finally {
                prop_assert!(
                    d.status
                        .steps
                        .iter()
                        .all(|s| s.phase != StepPhase::Compensating)
                );
            }
        }
    }
    // each (execution, attempt) starts once, attempts stay within the policy
    let mut seen = HashSet::new();
    for s in &sim.started {
        prop_assert!(
            seen.insert((s.label.clone(), s.attempt)),
            "{} twice",
            s.label
        );
        let i = index(&s.step).expect("known");
        let retry = if s.kind == ExecutionKind::Rollback {
            plan.steps[i].rollback.as_ref().expect("rollback").retry
        } else {
            plan.steps[i].action.retry
        };
        prop_assert!(s.attempt <= retry.retries + 1);
    }
    // compensations in reverse order of completion
    let mut comp: Vec<&str> = Vec::new();
    for s in &sim.started {
        if s.kind == ExecutionKind::Rollback && !comp.contains(&s.step.as_str()) {
            comp.push(&s.step);
        }
    }
    let order = |name: &str| sim.status.steps[index(name).expect("known")].completion_order;
    for w in comp.windows(2) {
        prop_assert!(order(w[0]) > order(w[1]), "{:?}", comp);
    }
    if !comp.is_empty() {
        prop_assert!(!plan.dry_run);
        prop_assert!(matches!(
            phase,
            WorkflowPhase::RolledBack | WorkflowPhase::RollbackFailed
        ));
    }
    // finally always runs
    for s in plan.steps.iter().filter(|s| s.stage == StepStage::Finally) {
        let label = format!("finally:{}", s.name);
        prop_assert!(
            sim.started.iter().any(|x| x.label == label),
            "{} ran",
            label
        );
    }
    // the end matches the failure
    match &sim.status.failure {
        None => prop_assert_eq!(phase, WorkflowPhase::Completed),
        Some(_) => prop_assert_ne!(phase, WorkflowPhase::Completed),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_runs_keep_every_rule(shape in shape()) {
        let (plan, script) = build(&shape);
        let sim = run(&plan, &script);
        check(&plan, &sim)?;
        let again = run(&plan, &script);
        prop_assert_eq!(sim, again, "same inputs, same run");
    }
}
