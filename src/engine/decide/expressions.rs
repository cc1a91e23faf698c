//! What a step's `when` and deferred `with` expressions see, and their evaluation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::api::{JsonMap, StepPhase, StepStatus};
use crate::plan::StepStage;
use crate::script::EvalContext;

use super::super::program::{ActionProgram, Arg, Compiled};
use super::{Run, phase_name};

impl Run<'_> {
    // ---- expressions ----

    pub(super) fn resolve(
        &mut self,
        i: usize,
        action: &ActionProgram,
        self_step: bool,
    ) -> Result<JsonMap, String> {
        let mut out = JsonMap::new();
        if !action.deferred {
            for (k, arg) in &action.args {
                if let Arg::Value(v) = arg {
                    out.insert(k.clone(), v.clone());
                }
            }
            return Ok(out);
        }
        let ctx = self.context(i, self_step);
        for (k, arg) in &action.args {
            let value = match arg {
                Arg::Value(v) => v.clone(),
                Arg::Deferred(expr) => {
                    self.p.eval(expr, &ctx).map_err(|e| format!("`{k}`: {e}"))?
                }
            };
            out.insert(k.clone(), value);
        }
        Ok(out)
    }

    pub(super) fn eval_when(&mut self, i: usize, when: &Compiled) -> Result<bool, String> {
        let ctx = self.context(i, false);
        match self.p.eval(when, &ctx) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("must be true or false, got {other}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// What an expression of step `i` sees at run time.
    fn context(&mut self, i: usize, self_step: bool) -> EvalContext {
        let mut ctx = self.p.base.clone();
        ctx.steps = Some(self.steps_map());
        if self_step {
            ctx.self_step = Some(step_map(&self.st.steps[i]));
        }
        if self.stage(i) == StepStage::Finally {
            ctx.workflow
                .insert("phase".into(), Value::String(phase_name(self.end_phase())));
            ctx.workflow
                .insert("failed".into(), Value::Bool(self.failing()));
        }
        ctx
    }

    fn steps_map(&mut self) -> JsonMap {
        if let Some((at, map)) = &self.steps_ctx
            && *at == self.changes
        {
            return map.clone();
        }
        let map: JsonMap = self
            .st
            .steps
            .iter()
            .filter(|s| s.phase != StepPhase::Pending)
            .map(|s| (s.name.clone(), Value::Object(step_map(s))))
            .collect();
        self.steps_ctx = Some((self.changes, map.clone()));
        map
    }
}

/// A step as expressions see it under `steps.NAME` or `self`.
fn step_map(s: &StepStatus) -> JsonMap {
    let mut m = JsonMap::new();
    m.insert("phase".into(), Value::String(phase_name(s.phase)));
    m.insert("attempts".into(), Value::from(s.attempts));
    m.insert(
        "output".into(),
        Value::Object(s.output.clone().unwrap_or_default()),
    );
    let stamp = |t: &Option<Time>| {
        t.as_ref()
            .map_or(Value::Null, |t| Value::String(t.0.to_string()))
    };
    m.insert("started_at".into(), stamp(&s.started_at));
    m.insert("completed_at".into(), stamp(&s.completed_at));
    m
}
