//! A compact plan builder and a driver around `engine::simulate` for the engine's tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use remedy::api::{JsonMap, StepPhase};
use remedy::catalog::Effect;
use remedy::engine::simulate::{AttemptScript, Script, Simulation, simulate};
use remedy::engine::{Program, initial_status};
use remedy::plan::{
    ExecutionPlan, PlannedAction, PlannedStep, PlannedValue, RetryPolicy, StepStage,
};
use remedy::plan::{OnFailure, RollbackMode};
use serde_json::{Value, json};

/// Builds an `ExecutionPlan` the way the planner would: items in sequence, `after` replaces the
/// implicit dependency, `parallel` groups, verify and finally in their own sequences.
pub struct PlanBuilder {
    plan: ExecutionPlan,
    prev: HashMap<&'static str, Vec<String>>,
}

fn stage_key(stage: StepStage) -> &'static str {
    match stage {
        StepStage::Main => "main",
        StepStage::Verify => "verify",
        StepStage::Finally => "finally",
    }
}

pub fn action(kind: &str) -> PlannedAction {
    PlannedAction {
        action_type: kind.to_string(),
        with: BTreeMap::new(),
        timeout_ms: 60_000,
        retry: RetryPolicy::default(),
    }
}

impl PlanBuilder {
    pub fn new() -> Self {
        let Value::Object(info) = json!({
            "name": "wf", "version": "1.0.0", "namespace": "shop", "execution": "wfe-a"
        }) else {
            unreachable!()
        };
        PlanBuilder {
            plan: ExecutionPlan {
                workflow: "wf".into(),
                version: "1.0.0".into(),
                digest: "sha256:test".into(),
                timeout_ms: 30 * 60_000,
                max_parallel: 5,
                rollback: RollbackMode::Automatic,
                approval_required: false,
                dry_run: false,
                verify_within_ms: None,
                parameters: JsonMap::new(),
                analysis: JsonMap::new(),
                workflow_info: info,
                modules: BTreeMap::new(),
                steps: Vec::new(),
            },
            prev: HashMap::new(),
        }
    }

    fn push(mut self, name: &str, stage: StepStage, deps: Vec<String>) -> Self {
        self.plan.steps.push(PlannedStep {
            name: name.to_string(),
            stage,
            depends_on: deps,
            action: action("noop"),
            effect: Effect::Reversible,
            when: None,
            on_failure: OnFailure::Rollback,
            rollback: None,
        });
        self
    }

    fn seq(self, name: &str, stage: StepStage) -> Self {
        let key = stage_key(stage);
        let deps = self.prev.get(key).cloned().unwrap_or_default();
        let mut me = self.push(name, stage, deps);
        me.prev.insert(key, vec![name.to_string()]);
        me
    }

    /// A main step depending on the item before it.
    pub fn step(self, name: &str) -> Self {
        self.seq(name, StepStage::Main)
    }

    /// A parallel group of main steps.
    pub fn parallel(mut self, names: &[&str]) -> Self {
        let deps = self.prev.get("main").cloned().unwrap_or_default();
        for n in names {
            self = self.push(n, StepStage::Main, deps.clone());
        }
        self.prev
            .insert("main", names.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn verify(self, name: &str) -> Self {
        self.seq(name, StepStage::Verify)
    }

    pub fn finally(self, name: &str) -> Self {
        self.seq(name, StepStage::Finally)
    }

    fn last(&mut self) -> &mut PlannedStep {
        self.plan.steps.last_mut().expect("a step first")
    }

    /// Replace the last step's dependencies.
    pub fn after(mut self, deps: &[&str]) -> Self {
        self.last().depends_on = deps.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn retry(mut self, retries: u32, backoff_ms: u64, max_ms: u64) -> Self {
        self.last().action.retry = RetryPolicy {
            retries,
            backoff_ms,
            max_backoff_ms: max_ms,
        };
        self
    }

    pub fn timeout(mut self, ms: u64) -> Self {
        self.last().action.timeout_ms = ms;
        self
    }

    pub fn when(mut self, expr: &str) -> Self {
        self.last().when = Some(expr.to_string());
        self
    }

    pub fn on_failure(mut self, policy: OnFailure) -> Self {
        self.last().on_failure = policy;
        self
    }

    pub fn with_value(mut self, key: &str, value: Value) -> Self {
        self.last()
            .action
            .with
            .insert(key.into(), PlannedValue::Value(value));
        self
    }

    pub fn with_deferred(mut self, key: &str, expr: &str) -> Self {
        self.last()
            .action
            .with
            .insert(key.into(), PlannedValue::Deferred(expr.into()));
        self
    }

    /// Give the last step a compensation (action `undo`).
    pub fn rollback(mut self) -> Self {
        self.last().rollback = Some(action("undo"));
        self
    }

    pub fn rollback_deferred(mut self, key: &str, expr: &str) -> Self {
        let rb = self.last().rollback.get_or_insert_with(|| action("undo"));
        rb.with
            .insert(key.into(), PlannedValue::Deferred(expr.into()));
        self
    }

    pub fn rollback_retry(mut self, retries: u32, backoff_ms: u64) -> Self {
        let rb = self.last().rollback.get_or_insert_with(|| action("undo"));
        rb.retry = RetryPolicy {
            retries,
            backoff_ms,
            max_backoff_ms: 300_000,
        };
        self
    }

    pub fn max_parallel(mut self, n: u32) -> Self {
        self.plan.max_parallel = n;
        self
    }

    pub fn workflow_timeout(mut self, ms: u64) -> Self {
        self.plan.timeout_ms = ms;
        self
    }

    pub fn verify_within(mut self, ms: u64) -> Self {
        self.plan.verify_within_ms = Some(ms);
        self
    }

    pub fn mode(mut self, mode: RollbackMode) -> Self {
        self.plan.rollback = mode;
        self
    }

    pub fn approval(mut self) -> Self {
        self.plan.approval_required = true;
        self
    }

    pub fn dry_run(mut self) -> Self {
        self.plan.dry_run = true;
        self
    }

    pub fn param(mut self, name: &str, value: Value) -> Self {
        self.plan.parameters.insert(name.into(), value);
        self
    }

    pub fn build(self) -> ExecutionPlan {
        self.plan
    }
}

pub fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).expect("valid")
}

/// A success after `ms` with an output.
pub fn ok_after(ms: u64, output: Value) -> AttemptScript {
    AttemptScript::Done {
        success: true,
        output: match output {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        },
        error: String::new(),
        duration_ms: ms,
    }
}

pub fn ok(ms: u64) -> AttemptScript {
    ok_after(ms, json!({}))
}

pub fn fail(error: &str) -> AttemptScript {
    fail_after(1000, error)
}

pub fn fail_after(ms: u64, error: &str) -> AttemptScript {
    AttemptScript::Done {
        success: false,
        output: JsonMap::new(),
        error: error.to_string(),
        duration_ms: ms,
    }
}

pub fn script(entries: &[(&str, Vec<AttemptScript>)]) -> Script {
    Script {
        outcomes: entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        approved: true,
        ..Script::default()
    }
}

/// Run a plan to its end with a script, tracing every decision.
pub fn run(plan: &ExecutionPlan, script: &Script) -> Simulation {
    let program = Program::new(plan).expect("valid plan");
    simulate(&program, initial_status(plan), script, t0(), true)
}

pub fn labels(sim: &Simulation) -> Vec<&str> {
    sim.started.iter().map(|s| s.label.as_str()).collect()
}

pub fn started_at(sim: &Simulation, label: &str) -> Vec<i64> {
    sim.started
        .iter()
        .filter(|s| s.label == label)
        .map(|s| s.at_ms)
        .collect()
}

pub fn phase(sim: &Simulation, step: &str) -> StepPhase {
    sim.status
        .steps
        .iter()
        .find(|s| s.name == step)
        .map(|s| s.phase)
        .expect("step in status")
}

pub fn message<'a>(sim: &'a Simulation, step: &str) -> &'a str {
    sim.status
        .steps
        .iter()
        .find(|s| s.name == step)
        .map(|s| s.message.as_str())
        .expect("step in status")
}
