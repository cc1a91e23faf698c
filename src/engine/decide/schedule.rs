//! Scheduling: a failing or stopping run starts no new main or verify step; the stages move on
//! (main, verify, saga, finally) and ready attempts start within `max_parallel`.

use std::collections::BTreeMap;

use crate::api::kubernetes_execution::{ActionCall, execution_name};
use crate::api::names::label_value;
use crate::api::workflow_execution::ObjectRef;
use crate::api::{
    ExecutionKind, FailureReason, KubernetesExecutionSpec, LABEL_KIND, LABEL_STEP, LABEL_WORKFLOW,
    StepPhase, WorkflowPhase,
};
use crate::plan::StepStage;
use crate::units::duration::format_millis as format_duration;

use super::super::NewExecution;
use super::super::bounds::cap_message;
use super::{Run, in_flight, is_done, ms, time};

impl Run<'_> {
    // ---- 3. a failing or stopping run starts no new main or verify step ----

    pub(super) fn stop_pending(&mut self) {
        if !self.halted() {
            return;
        }
        let why = if self.failing() {
            "the run is failing"
        } else {
            "the run was stopped"
        };
        let now = self.now;
        for i in 0..self.st.steps.len() {
            if self.stage(i) == StepStage::Finally {
                continue;
            }
            let s = &mut self.st.steps[i];
            match s.phase {
                StepPhase::Pending | StepPhase::Waiting => {
                    s.phase = StepPhase::Skipped;
                    s.message = format!("not started: {why}");
                }
                StepPhase::Retrying => {
                    s.phase = StepPhase::Failed;
                    s.message = cap_message(&format!("{} (not retried: {why})", s.message));
                }
                _ => continue,
            }
            s.ready_at = None;
            s.completed_at = Some(time(now));
            self.changes += 1;
        }
    }

    // ---- 4. stages: main, verify, saga, finally ----

    /// Advance the stages; true when the run is over (finally settled).
    pub(super) fn progress(&mut self) -> bool {
        if !self.halted() {
            self.ready_pass(StepStage::Main);
        }
        if !self.settled(StepStage::Main) {
            return false;
        }
        if !self.halted() && self.has(StepStage::Verify) {
            if self.p.plan.dry_run {
                self.skip_all(StepStage::Verify, "dry run: verification skipped");
            } else {
                if self.st.phase == Some(WorkflowPhase::Executing) {
                    self.st.phase = Some(WorkflowPhase::Monitoring);
                    self.st.monitoring_started_at = Some(time(self.now));
                    self.changed();
                }
                self.ready_pass(StepStage::Verify);
            }
        }
        if !self.settled(StepStage::Verify) {
            return false;
        }
        if self.halted() && !self.saga() {
            return false;
        }
        self.ready_pass(StepStage::Finally);
        self.settled(StepStage::Finally)
    }

    fn has(&self, stage: StepStage) -> bool {
        self.p.plan.steps.iter().any(|s| s.stage == stage)
    }

    fn settled(&self, stage: StepStage) -> bool {
        self.st
            .steps
            .iter()
            .enumerate()
            .all(|(i, s)| self.stage(i) != stage || (is_done(s.phase) && !in_flight(s)))
    }

    fn skip(&mut self, i: usize, message: &str) {
        let now = self.now;
        let s = &mut self.st.steps[i];
        s.phase = StepPhase::Skipped;
        s.message = message.to_string();
        s.completed_at = Some(time(now));
        s.ready_at = None;
        self.changed();
    }

    fn skip_all(&mut self, stage: StepStage, message: &str) {
        for i in 0..self.st.steps.len() {
            if self.stage(i) == stage && self.st.steps[i].phase == StepPhase::Pending {
                self.skip(i, message);
            }
        }
    }

    /// Make ready every pending step of `stage` whose dependencies are done, evaluating its
    /// `when`. Dependencies come earlier in the plan, so one pass in order follows cascades.
    fn ready_pass(&mut self, stage: StepStage) {
        for i in 0..self.st.steps.len() {
            if self.stage(i) != stage || self.st.steps[i].phase != StepPhase::Pending {
                continue;
            }
            if stage != StepStage::Finally && self.halted() {
                return;
            }
            let p = self.p;
            if !p.steps[i]
                .deps
                .iter()
                .all(|&d| is_done(self.st.steps[d].phase))
            {
                continue;
            }
            if let Some(when) = &p.steps[i].when {
                match self.eval_when(i, when) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.skip(i, "skipped: `when` was false");
                        continue;
                    }
                    Err(msg) => {
                        self.script_failed(i, &format!("`when`: {msg}"));
                        continue;
                    }
                }
            }
            let now = self.now;
            let s = &mut self.st.steps[i];
            s.phase = StepPhase::Waiting;
            s.ready_at = Some(time(now));
            self.changed();
        }
    }

    fn script_failed(&mut self, i: usize, msg: &str) {
        self.step_failed(
            i,
            StepPhase::Failed,
            &format!("script error: {msg}"),
            FailureReason::ScriptError,
        );
    }

    // ---- 5. starting attempts ----

    pub(super) fn start_eligible(&mut self) {
        if self.paused {
            return;
        }
        let max = self.p.plan.max_parallel.max(1) as usize;
        let mut flying = self.st.steps.iter().filter(|s| in_flight(s)).count();
        if flying >= max {
            return;
        }
        let now = self.now;
        let mut eligible: Vec<(i64, usize)> = self
            .st
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(
                    s.phase,
                    StepPhase::Waiting | StepPhase::Retrying | StepPhase::Compensating
                )
            })
            .filter_map(|(i, s)| s.ready_at.as_ref().map(|t| (ms(t), i)))
            .filter(|&(t, _)| t <= now)
            .collect();
        eligible.sort_unstable();
        for (_, i) in eligible {
            if flying >= max {
                break;
            }
            let compensation = self.st.steps[i].phase == StepPhase::Compensating;
            if !compensation && self.stage(i) != StepStage::Finally && self.halted() {
                continue;
            }
            if self.start(i, compensation) {
                flying += 1;
            }
        }
    }

    /// Start the next attempt of step `i` (or of its compensation); false if it could not
    /// start because a deferred value failed to evaluate.
    fn start(&mut self, i: usize, compensation: bool) -> bool {
        let p = self.p;
        let planned = &p.plan.steps[i];
        let prog = &p.steps[i];
        let (action, aprog, kind) = match (compensation, &planned.rollback, &prog.rollback) {
            (true, Some(a), Some(ap)) => (a, ap, ExecutionKind::Rollback),
            (true, _, _) => return false,
            (false, _, _) => (&planned.action, &prog.action, prog.kind),
        };
        let attempt = if compensation {
            self.st.steps[i].rollback_attempts + 1
        } else {
            self.st.steps[i].attempts + 1
        };
        let parameters = match self.resolve(i, aprog, compensation) {
            Ok(params) => params,
            Err(msg) if compensation => {
                let now = self.now;
                let s = &mut self.st.steps[i];
                s.phase = StepPhase::CompensationFailed;
                s.completed_at = Some(time(now));
                s.ready_at = None;
                s.message = cap_message(&format!("compensation failed: script error: {msg}"));
                self.changed();
                return false;
            }
            Err(msg) => {
                self.script_failed(i, &msg);
                return false;
            }
        };
        let name = execution_name(&p.execution, &planned.name, kind, attempt);
        let labels = BTreeMap::from([
            (LABEL_WORKFLOW.to_string(), label_value(&p.execution)),
            (LABEL_STEP.to_string(), label_value(&planned.name)),
            (LABEL_KIND.to_string(), kind.as_str().to_string()),
        ]);
        let spec = KubernetesExecutionSpec {
            workflow_execution_ref: ObjectRef {
                name: p.execution.clone(),
                namespace: p.namespace.clone(),
            },
            step: planned.name.clone(),
            attempt,
            action: ActionCall {
                action_type: action.action_type.clone(),
                parameters,
            },
            timeout: Some(format_duration(action.timeout_ms)),
            dry_run: p.plan.dry_run && kind != ExecutionKind::Rollback,
        };
        let now = time(self.now);
        let s = &mut self.st.steps[i];
        if compensation {
            s.rollback_attempts = attempt;
        } else {
            s.phase = StepPhase::Running;
            s.attempts = attempt;
            if s.started_at.is_none() {
                s.started_at = Some(now.clone());
            }
        }
        s.execution_ref = Some(name.clone());
        s.attempt_started_at = Some(now);
        s.ready_at = None;
        self.st.current_step = Some(planned.name.clone());
        self.create.push(NewExecution { name, labels, spec });
        self.changed();
        true
    }
}
