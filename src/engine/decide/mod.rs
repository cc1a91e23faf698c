//! The state machine behind [`Program::decide`](super::Program::decide): one pass from the
//! observed executions to the next status, in a fixed order (absorb results, check deadlines,
//! stop what a failing run must not start, then advance stages and start what is ready).
//!
//! This file holds the pass itself and the run's bookkeeping; each stage of it has a file:
//! `absorb` (pause, stop and attempt results), `deadlines`, `schedule` (stopping what must not
//! start, the stages, starting attempts), `saga` (compensation), `expressions` (what `when` and
//! `with` see) and `finish` (the end phase, the outcome, the next wake-up).

mod absorb;
mod deadlines;
mod expressions;
mod finish;
mod saga;
mod schedule;

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::workflow_execution::Failure;
use crate::api::{
    FailureReason, JsonMap, StepPhase, StepStatus, StopMode, WorkflowExecutionStatus, WorkflowPhase,
};
use crate::plan::StepStage;

use super::bounds::cap_message;
use super::stop;
use super::{Decision, NewExecution, Observations, Program};

/// How an attempt ended.
enum End<'o> {
    Succeeded(&'o JsonMap),
    Failed(String),
    TimedOut(String),
}

/// One decision in the making.
struct Run<'a> {
    p: &'a Program,
    st: WorkflowExecutionStatus,
    now: i64,
    /// Remedy is paused: nothing starts, deadlines of the run stand still.
    paused: bool,
    create: Vec<NewExecution>,
    next_order: u32,
    /// Bumped by every change, to find the fixpoint and to keep the `steps` cache fresh.
    changes: u64,
    steps_ctx: Option<(u64, JsonMap)>,
}

pub(super) fn run(
    p: &Program,
    status: &WorkflowExecutionStatus,
    obs: &Observations,
    now: Timestamp,
) -> Decision {
    let mut st = status.clone();
    let now_ms = now.as_millisecond();
    if st.phase.is_some_and(WorkflowPhase::is_terminal) {
        // A finished run never changes, stop or no stop.
        return idle(st);
    }
    if let Some(request) = &obs.stop
        && stop::stops_at_once(st.phase)
    {
        if obs.executions.is_empty() {
            align(p, &mut st);
            stop::cancel_unstarted(&mut st, request, now);
            return idle(st);
        }
        // An earlier decision started the run and lost its status write (to the stop's own
        // spec change): the run has started, and stops as a started run does.
        st.phase = Some(WorkflowPhase::Executing);
        st.started_at = Some(time(now_ms));
    }
    match st.phase {
        None | Some(WorkflowPhase::Pending | WorkflowPhase::Planning) => return idle(st),
        Some(WorkflowPhase::Validating) => {
            if !st.validation.as_ref().is_some_and(|v| v.passed) || obs.paused {
                return idle(st);
            }
            if p.plan.approval_required && !obs.approved {
                st.phase = Some(WorkflowPhase::AwaitingApproval);
                align(p, &mut st);
                return idle(st);
            }
            st.phase = Some(WorkflowPhase::Executing);
            st.started_at = Some(time(now_ms));
        }
        Some(WorkflowPhase::AwaitingApproval) => {
            if !obs.approved || obs.paused {
                return idle(st);
            }
            st.phase = Some(WorkflowPhase::Executing);
            st.started_at = Some(time(now_ms));
        }
        Some(_) => {}
    }
    let next_order = align(p, &mut st);
    let mut run = Run {
        p,
        st,
        now: now_ms,
        paused: obs.paused,
        create: Vec::new(),
        next_order,
        changes: 0,
        steps_ctx: None,
    };
    run.track_pause();
    run.acknowledge_stop(obs.stop.as_ref());
    run.absorb(obs);
    run.deadlines();
    run.stop_pending();
    let mut done = false;
    // Each round either changes something monotone (a step moves forward) or ends the loop.
    for _ in 0..(4 * p.plan.steps.len() + 8) {
        let before = run.changes;
        done = run.progress();
        run.start_eligible();
        run.stop_pending();
        if run.changes == before {
            break;
        }
    }
    if done {
        run.terminate();
    }
    run.into_decision()
}

/// Nothing to do: the status unchanged, nothing to create, no timer.
fn idle(status: WorkflowExecutionStatus) -> Decision {
    Decision {
        create: Vec::new(),
        status,
        requeue_after: None,
    }
}

/// Make `status.steps` list the plan's steps in plan order; return the next completion order.
fn align(p: &Program, st: &mut WorkflowExecutionStatus) -> u32 {
    let steps = &p.plan.steps;
    let aligned = st.steps.len() == steps.len()
        && st.steps.iter().zip(steps).all(|(s, ps)| s.name == ps.name);
    if !aligned {
        let mut old: HashMap<String, StepStatus> =
            st.steps.drain(..).map(|s| (s.name.clone(), s)).collect();
        st.steps = steps
            .iter()
            .map(|ps| {
                old.remove(&ps.name).unwrap_or_else(|| StepStatus {
                    name: ps.name.clone(),
                    ..StepStatus::default()
                })
            })
            .collect();
    }
    st.steps
        .iter()
        .filter_map(|s| s.completion_order)
        .max()
        .unwrap_or(0)
        + 1
}

fn time(ms: i64) -> Time {
    Time(Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX))
}

fn ms(t: &Time) -> i64 {
    t.0.as_millisecond()
}

fn add(t: i64, ms: u64) -> i64 {
    t.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A step that is over for ordering purposes (its dependents may start).
fn is_done(phase: StepPhase) -> bool {
    matches!(
        phase,
        StepPhase::Succeeded
            | StepPhase::Failed
            | StepPhase::Skipped
            | StepPhase::TimedOut
            | StepPhase::Compensating
            | StepPhase::Compensated
            | StepPhase::CompensationFailed
    )
}

/// A step with an attempt (or a compensation attempt) running now: its `executionRef` names
/// the execution it waits for.
pub fn in_flight(s: &StepStatus) -> bool {
    match s.phase {
        StepPhase::Running => true,
        StepPhase::Compensating => s.ready_at.is_none() && s.rollback_attempts > 0,
        _ => false,
    }
}

fn phase_name<T: std::fmt::Debug>(phase: T) -> String {
    format!("{phase:?}")
}

impl<'a> Run<'a> {
    fn stage(&self, i: usize) -> StepStage {
        self.p.plan.steps[i].stage
    }

    fn failing(&self) -> bool {
        self.st.failure.is_some()
    }

    /// The mode of the stop the run honours, if one was requested.
    fn stop_mode(&self) -> Option<StopMode> {
        self.st.stop.as_ref().map(|s| s.mode)
    }

    /// No new main or verify step starts: the run is failing or stopping.
    fn halted(&self) -> bool {
        self.failing() || self.st.stop.is_some()
    }

    fn changed(&mut self) {
        self.changes += 1;
    }

    /// Record the first failure of the run; later ones only mark their steps.
    fn fail(&mut self, step: Option<&str>, reason: FailureReason, message: &str) {
        if self.st.failure.is_none() {
            self.st.failure = Some(Failure {
                step: step.map(str::to_string),
                reason,
                message: cap_message(message),
            });
            self.changed();
        }
    }
}
