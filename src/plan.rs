//! Template + AIAnalysis + overrides → [`ExecutionPlan`]: the pinned, resolved form of a run
//! that the interpreter executes. Serialisable: the operator pins it in the run's status.

mod error;
mod resolve;
mod size;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::JsonMap;
use crate::catalog::Effect;
use crate::dsl::ast;

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
            backoff_ms: crate::dsl::defaults::DEFAULT_RETRY_BACKOFF_MS,
            max_backoff_ms: crate::dsl::defaults::DEFAULT_RETRY_MAX_BACKOFF_MS,
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

/// How a failed run compensates its completed steps: the template's `rollback` mode, or the
/// run's `rollbackStrategy`. Pinned in status as `automatic`, `manual` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackMode {
    /// Run the compensations in reverse order of completion.
    Automatic,
    /// Record the compensations that would run, and stop.
    Manual,
    /// Just fail.
    None,
}

impl RollbackMode {
    /// The mode's keyword, as pinned and as the template writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackMode::Automatic => "automatic",
            RollbackMode::Manual => "manual",
            RollbackMode::None => "none",
        }
    }
}

impl From<ast::RollbackMode> for RollbackMode {
    fn from(mode: ast::RollbackMode) -> Self {
        match mode {
            ast::RollbackMode::Automatic => RollbackMode::Automatic,
            ast::RollbackMode::Manual => RollbackMode::Manual,
            ast::RollbackMode::None => RollbackMode::None,
        }
    }
}

/// What happens after a step's last attempt fails (the step's `on_failure`). Pinned in status
/// as `rollback`, `fail` or `continue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Roll back per the run's rollback mode.
    Rollback,
    /// Fail without compensation.
    Fail,
    /// Record Failed and go on.
    Continue,
}

impl OnFailure {
    /// The policy's keyword, as pinned and as the template writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Rollback => "rollback",
            OnFailure::Fail => "fail",
            OnFailure::Continue => "continue",
        }
    }
}

impl From<ast::OnFailure> for OnFailure {
    fn from(policy: ast::OnFailure) -> Self {
        match policy {
            ast::OnFailure::Rollback => OnFailure::Rollback,
            ast::OnFailure::Fail => OnFailure::Fail,
            ast::OnFailure::Continue => OnFailure::Continue,
        }
    }
}

/// The target resource of a pinned plan (its `analysis.targetResource`), read from the
/// plan's text without parsing the rest of it; `None` when the text has none.
pub fn pinned_target(text: &str) -> Option<crate::api::TargetResource> {
    #[derive(Deserialize)]
    struct Plan {
        analysis: Analysis,
    }
    #[derive(Deserialize)]
    struct Analysis {
        #[serde(rename = "targetResource")]
        target: Option<crate::api::TargetResource>,
    }
    serde_json::from_str::<Plan>(text).ok()?.analysis.target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_read_from_a_pinned_plan_alone() {
        let text = r#"{"steps":[{"huge":"ignored"}],"analysis":{"confidence":0.9,
            "targetResource":{"kind":"Deployment","namespace":"shop","name":"web"}}}"#;
        let t = pinned_target(text);
        assert_eq!(
            t.as_ref().map(|t| (t.kind.as_str(), t.name.as_str())),
            Some(("Deployment", "web"))
        );
        assert!(pinned_target(r#"{"analysis":{}}"#).is_none());
        assert!(pinned_target(r#"{"analysis":{"targetResource":null}}"#).is_none());
        assert!(pinned_target("not json").is_none());
    }

    /// A plan pinned in a WorkflowExecution's status before the plan had types of its own
    /// (the modes were written by hand-made serde shims over the syntax tree's enums): it
    /// reads back, and writes out byte for byte as it was stored.
    #[test]
    fn a_pinned_plan_reads_back_and_writes_out_unchanged() {
        let stored = concat!(
            r#"{"workflow":"restart-crashloop","version":"1.2.0","digest":"sha256:00ff","#,
            r#""timeoutMs":1800000,"maxParallel":5,"rollback":"manual","#,
            r#""approvalRequired":false,"dryRun":true,"verifyWithinMs":60000,"#,
            r#""parameters":{"replicas":3},"analysis":{"signal":"CrashLoopBackOff"},"#,
            r#""workflowInfo":{"name":"restart-crashloop"},"modules":{"lib":"fn f() { 1 }"},"#,
            r#""steps":[{"name":"scale","stage":"main","dependsOn":[],"#,
            r#""action":{"type":"scale_deployment","with":{"replicas":{"value":3}},"#,
            r#""timeoutMs":300000,"retry":{"retries":2,"backoffMs":10000,"maxBackoffMs":300000}},"#,
            r#""effect":"reversible","onFailure":"rollback","#,
            r#""rollback":{"type":"scale_deployment","with":{"replicas":{"deferred":"self.output.previous"}},"#,
            r#""timeoutMs":300000,"retry":{"retries":0,"backoffMs":10000,"maxBackoffMs":300000}}},"#,
            r#"{"name":"check","stage":"verify","dependsOn":["scale"],"#,
            r#""action":{"type":"wait","with":{},"timeoutMs":300000,"#,
            r#""retry":{"retries":0,"backoffMs":10000,"maxBackoffMs":300000}},"#,
            r#""effect":"read_only","when":"true","onFailure":"continue"},"#,
            r#"{"name":"report","stage":"finally","dependsOn":[],"#,
            r#""action":{"type":"wait","with":{},"timeoutMs":300000,"#,
            r#""retry":{"retries":0,"backoffMs":10000,"maxBackoffMs":300000}},"#,
            r#""effect":"read_only","onFailure":"fail"}]}"#,
        );
        let plan: ExecutionPlan = serde_json::from_str(stored).expect("a stored plan reads");
        assert_eq!(plan.rollback, RollbackMode::Manual);
        let policies: Vec<OnFailure> = plan.steps.iter().map(|s| s.on_failure).collect();
        assert_eq!(
            policies,
            [OnFailure::Rollback, OnFailure::Continue, OnFailure::Fail]
        );
        assert_eq!(serde_json::to_string(&plan).expect("serialises"), stored);

        // The pinned word is the language's keyword, whichever way the mode came.
        for (written, mode) in [
            (ast::RollbackMode::Automatic, RollbackMode::Automatic),
            (ast::RollbackMode::Manual, RollbackMode::Manual),
            (ast::RollbackMode::None, RollbackMode::None),
        ] {
            assert_eq!(RollbackMode::from(written), mode);
            let json = serde_json::to_value(mode).ok();
            assert_eq!(json, Some(Value::from(written.as_str())));
            assert_eq!(mode.as_str(), written.as_str());
        }
        for (written, policy) in [
            (ast::OnFailure::Rollback, OnFailure::Rollback),
            (ast::OnFailure::Fail, OnFailure::Fail),
            (ast::OnFailure::Continue, OnFailure::Continue),
        ] {
            assert_eq!(OnFailure::from(written), policy);
            let json = serde_json::to_value(policy).ok();
            assert_eq!(json, Some(Value::from(written.as_str())));
            assert_eq!(policy.as_str(), written.as_str());
        }
        let forged = stored.replace(r#""rollback":"manual""#, r#""rollback":"Manual""#);
        assert!(serde_json::from_str::<ExecutionPlan>(&forged).is_err());
    }

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
