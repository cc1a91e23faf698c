//! A plan prepared for deciding: steps indexed, dependencies resolved to indices, every `when`
//! and deferred `with` expression compiled once.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::api::{ExecutionKind, JsonMap, WorkflowExecutionStatus};
use crate::plan::{ExecutionPlan, PlannedAction, PlannedValue, StepStage};
use crate::script::{CompiledExpr, EvalContext, ScriptEngine, ScriptError};

use super::{Decision, Observations};

/// A plan the engine cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// Two steps share a name.
    #[error("step `{0}` is declared twice in the plan")]
    DuplicateStep(String),
    /// A dependency names no step of the plan.
    #[error("step `{step}` depends on unknown step `{dependency}`")]
    UnknownDependency {
        /// The dependent step.
        step: String,
        /// The missing one.
        dependency: String,
    },
    /// A dependency is declared after its dependent (the plan must list steps in order).
    #[error("step `{step}` depends on `{dependency}`, which is declared after it")]
    DependencyOrder {
        /// The dependent step.
        step: String,
        /// The later one.
        dependency: String,
    },
}

/// An expression compiled once, or the error compiling it gave (reported when it is needed).
pub(crate) type Compiled = Result<CompiledExpr, ScriptError>;

/// One parameter of an action: a resolved value or a compiled deferred expression.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Value(Value),
    Deferred(Compiled),
}

/// An action prepared for scheduling.
#[derive(Debug, Clone)]
pub(crate) struct ActionProgram {
    pub args: Vec<(String, Arg)>,
    pub deferred: bool,
}

/// One step prepared for deciding.
#[derive(Debug, Clone)]
pub(crate) struct StepProgram {
    pub deps: Vec<usize>,
    pub kind: ExecutionKind,
    pub when: Option<Compiled>,
    pub action: ActionProgram,
    pub rollback: Option<ActionProgram>,
}

/// A plan prepared for [`Program::decide`]; build it once per run and reuse it.
pub struct Program {
    pub(crate) plan: ExecutionPlan,
    pub(crate) scripts: Result<std::sync::Arc<ScriptEngine>, ScriptError>,
    pub(crate) steps: Vec<StepProgram>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) base: EvalContext,
    pub(crate) execution: String,
    pub(crate) namespace: Option<String>,
    /// Whether a decision may evaluate a script (see [`Program::runs_scripts`]).
    scripted: bool,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("workflow", &self.plan.workflow)
            .field("steps", &self.plan.steps.len())
            .finish_non_exhaustive()
    }
}

impl Program {
    /// Index the plan's steps and compile its expressions. Script errors are kept and become
    /// the failure (ScriptError) of the step that needs the expression.
    pub fn new(plan: &ExecutionPlan) -> Result<Program, ProgramError> {
        let scripts = ScriptEngine::shared(&plan.modules);
        let mut index = HashMap::with_capacity(plan.steps.len());
        for (i, step) in plan.steps.iter().enumerate() {
            if index.insert(step.name.clone(), i).is_some() {
                return Err(ProgramError::DuplicateStep(step.name.clone()));
            }
        }
        let compile = |source: &str| -> Compiled {
            match &scripts {
                Ok(engine) => engine.compile(source),
                Err(e) => Err(e.clone()),
            }
        };
        let mut steps = Vec::with_capacity(plan.steps.len());
        for (i, step) in plan.steps.iter().enumerate() {
            let mut deps = Vec::with_capacity(step.depends_on.len());
            for dep in &step.depends_on {
                let Some(&d) = index.get(dep) else {
                    return Err(ProgramError::UnknownDependency {
                        step: step.name.clone(),
                        dependency: dep.clone(),
                    });
                };
                if d >= i {
                    return Err(ProgramError::DependencyOrder {
                        step: step.name.clone(),
                        dependency: dep.clone(),
                    });
                }
                deps.push(d);
            }
            steps.push(StepProgram {
                deps,
                kind: match step.stage {
                    StepStage::Main => ExecutionKind::Step,
                    StepStage::Verify => ExecutionKind::Verify,
                    StepStage::Finally => ExecutionKind::Finally,
                },
                when: step.when.as_deref().map(compile),
                action: prepare(&step.action, &compile),
                rollback: step.rollback.as_ref().map(|r| prepare(r, &compile)),
            });
        }
        let execution =
            string_field(&plan.workflow_info, "execution").unwrap_or_else(|| plan.workflow.clone());
        let namespace = string_field(&plan.workflow_info, "namespace");
        let base = EvalContext {
            analysis: plan.analysis.clone(),
            params: plan.parameters.clone(),
            workflow: plan.workflow_info.clone(),
            steps: None,
            self_step: None,
        };
        let scripted = steps.iter().any(|s| {
            s.when.is_some() || s.action.deferred || s.rollback.as_ref().is_some_and(|r| r.deferred)
        });
        Ok(Program {
            plan: plan.clone(),
            scripts,
            steps,
            index,
            base,
            execution,
            namespace,
            scripted,
        })
    }

    /// True when a decision may evaluate a script: a step has a `when`, or a deferred `with`
    /// value (its own or its compensation's). A caller that must keep scripts off some
    /// threads can decide a run without scripts anywhere.
    pub fn runs_scripts(&self) -> bool {
        self.scripted
    }

    /// The plan this program runs.
    pub fn plan(&self) -> &ExecutionPlan {
        &self.plan
    }

    /// The index of a step by name.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Decide the next move of the run: pure and deterministic.
    pub fn decide(
        &self,
        status: &WorkflowExecutionStatus,
        observations: &Observations,
        now: Timestamp,
    ) -> Decision {
        super::decide::run(self, status, observations, now)
    }

    /// Evaluate a compiled expression against a context.
    pub(crate) fn eval(&self, expr: &Compiled, ctx: &EvalContext) -> Result<Value, ScriptError> {
        let expr = expr.as_ref().map_err(Clone::clone)?;
        match &self.scripts {
            Ok(engine) => engine.eval(expr, ctx),
            Err(e) => Err(e.clone()),
        }
    }
}

fn prepare(action: &PlannedAction, compile: &impl Fn(&str) -> Compiled) -> ActionProgram {
    let mut deferred = false;
    let args = action
        .with
        .iter()
        .map(|(k, v)| {
            let arg = match v {
                PlannedValue::Value(v) => Arg::Value(v.clone()),
                PlannedValue::Deferred(src) => {
                    deferred = true;
                    Arg::Deferred(compile(src))
                }
            };
            (k.clone(), arg)
        })
        .collect();
    ActionProgram { args, deferred }
}

fn string_field(map: &JsonMap, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn program(steps: &str) -> Program {
        let text = format!("workflow \"w\" version \"1.0.0\" {{\n{steps}\n}}\n");
        let template = crate::template::Template::from_source("w.wf", &text, Default::default())
            .expect("template");
        let plan = crate::plan::plan(
            &template,
            &Default::default(),
            &Default::default(),
            &Default::default(),
        )
        .expect("plan");
        Program::new(&plan).expect("program")
    }

    #[test]
    fn knows_whether_deciding_runs_scripts() {
        let plain = "step a { action \"notify_only\" with { message: ${ \"at planning\" } } }";
        assert!(!program(plain).runs_scripts());
        for scripted in [
            "step a { when ${ analysis.confidence > 0.5 } action \"notify_only\" with { message: \"x\" } }",
            "step a { action \"notify_only\" with { message: \"x\" } }\n\
             step b { action \"notify_only\" with { message: ${ steps.a.phase } } }",
        ] {
            assert!(program(scripted).runs_scripts(), "{scripted}");
        }
    }
}
