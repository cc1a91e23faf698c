//! Template + AIAnalysis + overrides → [`ExecutionPlan`]: the pinned, resolved form of a run
//! that the interpreter executes. Serialisable: the operator pins it in the run's status.

mod error;
pub mod params;
mod resolve;
mod size;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::JsonMap;
use crate::catalog::Effect;
use crate::dsl::ast::{OnFailure, RollbackMode};

pub use error::{PlanError, PlanFailure};
pub use resolve::{
    DEFAULT_MAX_PARALLEL, DEFAULT_STEP_TIMEOUT_MS, DEFAULT_WORKFLOW_TIMEOUT_MS, PlanContext,
    display, plan, rhai_literal,
};
pub use size::MAX_PLAN_BYTES;

/// A run's plan: every value that needs no step output is resolved; the rest is kept as
/// rhai source to evaluate when its step is scheduled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionPlan {
    /// The workflow name.
    pub workflow: String,
    /// Its version.
    pub version: String,
    /// `sha256:…` of the template source and its imports.
    pub digest: String,
    /// Deadline of the whole run (Executing to end of Monitoring), in milliseconds.
    pub timeout_ms: u64,
    /// At most this many executions of the run in flight.
    pub max_parallel: u32,
    /// How a failed run compensates.
    #[serde(with = "rollback_mode_serde")]
    pub rollback: RollbackMode,
    /// Whether the run waits in AwaitingApproval (decided at Planning).
    pub approval_required: bool,
    /// Whether every main step runs as a dry run.
    pub dry_run: bool,
    /// Bound of the whole Monitoring phase, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_within_ms: Option<u64>,
    /// Resolved params and lets, by name.
    pub parameters: JsonMap,
    /// What deferred expressions see besides params: `analysis` and `workflow`.
    pub analysis: JsonMap,
    /// `workflow.name`, `version`, `namespace`, `execution`.
    pub workflow_info: JsonMap,
    /// Imported rhai modules: alias → source (pinned with the plan).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub modules: BTreeMap<String, String>,
    /// Every step: main (declared order), then verify, then finally.
    pub steps: Vec<PlannedStep>,
}

/// Where a step runs in the run's life: the step graph's phase (main, verify, finally).
pub use crate::graph::Phase as StepStage;

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedStep {
    /// The step name.
    pub name: String,
    /// Main, verify or finally.
    pub stage: StepStage,
    /// The steps that must be done before this one starts (from the step graph).
    pub depends_on: Vec<String>,
    /// The action to run.
    pub action: PlannedAction,
    /// The action's effect, from the catalog.
    pub effect: Effect,
    /// `when`: rhai source evaluated when the step becomes ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// After the last attempt fails.
    #[serde(with = "on_failure_serde")]
    pub on_failure: OnFailure,
    /// The compensation, if the step has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<PlannedAction>,
}

/// An action with its parameters, attempt timeout and retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedAction {
    /// The action type.
    #[serde(rename = "type")]
    pub action_type: String,
    /// Its parameters: resolved, or deferred to when the step is scheduled.
    pub with: BTreeMap<String, PlannedValue>,
    /// Deadline of one attempt, in milliseconds.
    pub timeout_ms: u64,
    /// The retry policy.
    pub retry: RetryPolicy,
}

/// A parameter value of a planned action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlannedValue {
    /// Resolved at Planning.
    Value(Value),
    /// Refers to `steps` or `self`: this rhai source is evaluated when the step is scheduled.
    Deferred(String),
}

/// `retry N backoff D max D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Extra attempts after the first.
    pub retries: u32,
    /// Delay before the second attempt, in milliseconds; doubles each time.
    pub backoff_ms: u64,
    /// Cap of the delay, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            backoff_ms: 10_000,
            max_backoff_ms: 300_000,
        }
    }
}

impl ExecutionPlan {
    /// The scope of this run's deferred expressions before any step ran: `analysis`, params
    /// and lets, `workflow`. The interpreter adds `steps` (and `self`, `workflow.phase`).
    pub fn eval_context(&self) -> crate::script::EvalContext {
        crate::script::EvalContext {
            analysis: self.analysis.clone(),
            params: self.parameters.clone(),
            workflow: self.workflow_info.clone(),
            steps: None,
            self_step: None,
        }
    }

    /// The plan as people may see it: every credential (values under credential keys,
    /// credential-looking text, and those values wherever they recur) shown as `***`. For
    /// printing only: the engine needs the values.
    pub fn redacted(&self) -> ExecutionPlan {
        use crate::redact::{collect_secrets, is_credential_key, redact_text, redact_traced};
        let mut plan = self.clone();
        let mut secrets = std::collections::BTreeSet::new();
        collect_secrets(&Value::Object(plan.parameters.clone()), &mut secrets);
        collect_secrets(&Value::Object(plan.analysis.clone()), &mut secrets);
        for step in &plan.steps {
            for action in std::iter::once(&step.action).chain(step.rollback.as_ref()) {
                for (k, v) in &action.with {
                    if let PlannedValue::Value(v) = v {
                        let mut one = JsonMap::new();
                        one.insert(k.clone(), v.clone());
                        collect_secrets(&Value::Object(one), &mut secrets);
                    }
                }
            }
        }
        for map in [&mut plan.parameters, &mut plan.analysis] {
            for (k, v) in map.iter_mut() {
                redact_traced(v, is_credential_key(k), &secrets);
            }
        }
        for step in &mut plan.steps {
            if let Some(when) = step.when.as_mut() {
                *when = redact_text(when);
            }
            for action in std::iter::once(&mut step.action).chain(step.rollback.as_mut()) {
                for (k, v) in action.with.iter_mut() {
                    match v {
                        PlannedValue::Value(v) => redact_traced(v, is_credential_key(k), &secrets),
                        PlannedValue::Deferred(src) => *src = crate::redact::scrub(src, &secrets),
                    }
                }
            }
        }
        plan
    }

    /// The sandboxed engine for this run's expressions, with its pinned modules.
    pub fn script_engine(&self) -> Result<crate::script::ScriptEngine, crate::script::ScriptError> {
        crate::script::ScriptEngine::new(&self.modules)
    }
}

impl PlannedValue {
    /// The value: as planned, or by evaluating the deferred source in `ctx`.
    pub fn resolve(
        &self,
        engine: &crate::script::ScriptEngine,
        ctx: &crate::script::EvalContext,
    ) -> Result<Value, crate::script::ScriptError> {
        match self {
            PlannedValue::Value(v) => Ok(v.clone()),
            PlannedValue::Deferred(source) => engine.eval_source(source, ctx),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempt` (2 = the first retry), capped.
    pub fn delay_before(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(2).min(63);
        self.backoff_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_backoff_ms)
    }
}

mod rollback_mode_serde {
    use super::RollbackMode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &RollbackMode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(mode.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RollbackMode, D::Error> {
        match String::deserialize(d)?.as_str() {
            "automatic" => Ok(RollbackMode::Automatic),
            "manual" => Ok(RollbackMode::Manual),
            "none" => Ok(RollbackMode::None),
            other => Err(serde::de::Error::custom(format!(
                "unknown rollback mode `{other}` (automatic, manual or none)"
            ))),
        }
    }
}

mod on_failure_serde {
    use super::OnFailure;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &OnFailure, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OnFailure, D::Error> {
        match String::deserialize(d)?.as_str() {
            "rollback" => Ok(OnFailure::Rollback),
            "fail" => Ok(OnFailure::Fail),
            "continue" => Ok(OnFailure::Continue),
            other => Err(serde::de::Error::custom(format!(
                "unknown on_failure policy `{other}` (rollback, fail or continue)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            retries: 5,
            backoff_ms: 5_000,
            max_backoff_ms: 60_000,
        };
        assert_eq!(p.delay_before(2), 5_000);
        assert_eq!(p.delay_before(3), 10_000);
        assert_eq!(p.delay_before(4), 20_000);
        assert_eq!(p.delay_before(6), 60_000);
        assert_eq!(p.delay_before(60), 60_000);
    }
}
