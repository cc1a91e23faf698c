//! Drive the engine on a virtual clock with scripted attempt outcomes instead of a cluster:
//! the loop behind rehearsals and the engine's tests.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::api::{
    ExecutionKind, ExecutionPhase, JsonMap, StopRequest, WorkflowExecutionStatus, WorkflowPhase,
};

use super::{Decision, Observation, Observations, Program};

/// The scripted outcome of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptScript {
    /// The attempt finishes after `duration_ms`, succeeding or not.
    Done {
        /// Whether the action succeeds.
        success: bool,
        /// What it returns.
        output: JsonMap,
        /// Its error message when it fails.
        error: String,
        /// How long it runs, in milliseconds.
        duration_ms: u64,
    },
    /// The attempt never finishes (it runs past any timeout).
    Hang,
    /// The execution disappears after `after_ms` without a result.
    Vanish {
        /// When it disappears, in milliseconds after it was created.
        after_ms: u64,
    },
}

impl Default for AttemptScript {
    fn default() -> Self {
        AttemptScript::Done {
            success: true,
            output: JsonMap::new(),
            error: String::new(),
            duration_ms: 1000,
        }
    }
}

/// Scripted outcomes per execution label ([`label`]), one entry per attempt; attempts not
/// listed succeed after 1s with an empty output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// Outcomes by label.
    pub outcomes: HashMap<String, Vec<AttemptScript>>,
    /// Whether `spec.approved` is set.
    pub approved: bool,
    /// A stop requested this many milliseconds of virtual time after the start.
    pub stop: Option<(u64, StopRequest)>,
    /// Intervals of virtual time (ms after the start, from and until) while Remedy is paused.
    pub pauses: Vec<(u64, u64)>,
}

impl Script {
    /// The stop request in force at `at` ms after the start.
    fn stop_at(&self, at: u64) -> Option<StopRequest> {
        self.stop
            .as_ref()
            .filter(|(from, _)| *from <= at)
            .map(|(_, r)| r.clone())
    }

    /// Whether Remedy is paused at `at` ms after the start.
    fn paused_at(&self, at: u64) -> bool {
        self.pauses
            .iter()
            .any(|&(from, until)| from <= at && at < until)
    }

    /// The next moment after `at` when the stop or a pause changes what the engine sees.
    fn next_change(&self, at: u64) -> Option<u64> {
        let stop = self.stop.as_ref().map(|(from, _)| *from);
        let pauses = self.pauses.iter().flat_map(|&(from, until)| [from, until]);
        stop.into_iter().chain(pauses).filter(|&t| t > at).min()
    }
}

/// How rehearsals name an execution: `step`, `rollback:step`, `verify:step`, `finally:step`.
pub fn label(kind: ExecutionKind, step: &str) -> String {
    match kind {
        ExecutionKind::Step => step.to_string(),
        ExecutionKind::Rollback => format!("rollback:{step}"),
        ExecutionKind::Verify => format!("verify:{step}"),
        ExecutionKind::Finally => format!("finally:{step}"),
    }
}

/// One execution the engine started during a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// Its label ([`label`]).
    pub label: String,
    /// Its step.
    pub step: String,
    /// Its kind.
    pub kind: ExecutionKind,
    /// Its attempt number.
    pub attempt: u32,
    /// When it started, in milliseconds of virtual time since the start.
    pub at_ms: i64,
}

/// Why a simulation stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The run reached a terminal phase.
    Terminal,
    /// The run waits for an approval that the script does not give.
    AwaitingApproval,
    /// Nothing more can happen: no timer and nothing running (an engine bug if it happens).
    Stalled,
    /// The step budget ran out (an engine bug if it happens).
    TooLong,
}

/// What happened in a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The final status.
    pub status: WorkflowExecutionStatus,
    /// Every execution started, in order.
    pub started: Vec<Started>,
    /// Why it stopped.
    pub stop: Stop,
    /// Every decision with its virtual time (ms since the start), when traced.
    pub trace: Vec<(i64, Decision)>,
    /// Virtual time at the end, in milliseconds since the start.
    pub elapsed_ms: i64,
}

/// One execution of the virtual cluster.
struct Virtual {
    observation: Observation,
    /// When it finishes or vanishes (virtual ms); `None`: never.
    due: Option<i64>,
    script: AttemptScript,
    gone: bool,
}

/// Run `status` forward with `program` until it ends; `trace` keeps every decision.
pub fn simulate(
    program: &Program,
    status: WorkflowExecutionStatus,
    script: &Script,
    start: Timestamp,
    trace: bool,
) -> Simulation {
    let t0 = start.as_millisecond();
    let mut now = t0;
    let mut status = status;
    let mut cluster: Vec<Virtual> = Vec::new();
    let mut started = Vec::new();
    let mut traced = Vec::new();
    let mut stop = Stop::TooLong;
    for _ in 0..100_000 {
        for v in cluster.iter_mut() {
            if v.gone || v.observation.phase != ExecutionPhase::Running {
                continue;
            }
            if v.due.is_some_and(|d| d <= now) {
                finish(v, now);
            }
        }
        let since = u64::try_from(now - t0).unwrap_or(0);
        let observations = Observations {
            executions: cluster
                .iter()
                .filter(|v| !v.gone)
                .map(|v| v.observation.clone())
                .collect(),
            approved: script.approved,
            stop: script.stop_at(since),
            paused: script.paused_at(since),
        };
        let at = Timestamp::from_millisecond(now).unwrap_or(Timestamp::MAX);
        let decision = program.decide(&status, &observations, at);
        for new in &decision.create {
            if cluster.iter().any(|v| v.observation.name == new.name) {
                continue;
            }
            let kind = kind_of(new.labels.get(crate::api::LABEL_KIND).map(String::as_str));
            let lbl = label(kind, &new.spec.step);
            let attempt = new.spec.attempt;
            let script = script
                .outcomes
                .get(&lbl)
                .and_then(|list| list.get(attempt.saturating_sub(1) as usize))
                .cloned()
                .unwrap_or_default();
            let due = match &script {
                AttemptScript::Done { duration_ms, .. } => Some(now + *duration_ms as i64),
                AttemptScript::Vanish { after_ms } => Some(now + *after_ms as i64),
                AttemptScript::Hang => None,
            };
            started.push(Started {
                label: lbl,
                step: new.spec.step.clone(),
                kind,
                attempt,
                at_ms: now - t0,
            });
            cluster.push(Virtual {
                observation: Observation {
                    name: new.name.clone(),
                    step: new.spec.step.clone(),
                    kind,
                    attempt,
                    phase: ExecutionPhase::Running,
                    output: JsonMap::new(),
                    error: String::new(),
                    timed_out: false,
                    started_at: Some(at),
                    completed_at: None,
                },
                due,
                script,
                gone: false,
            });
        }
        let requeue = decision.requeue_after;
        status = decision.status.clone();
        if trace {
            traced.push((now - t0, decision));
        }
        match status.phase {
            Some(p) if p.is_terminal() => {
                stop = Stop::Terminal;
                break;
            }
            Some(WorkflowPhase::AwaitingApproval)
                if !script.approved && script.next_change(since).is_none() =>
            {
                stop = Stop::AwaitingApproval;
                break;
            }
            _ => {}
        }
        let next_finish = cluster
            .iter()
            .filter(|v| !v.gone && v.observation.phase == ExecutionPhase::Running)
            .filter_map(|v| v.due)
            .min();
        let next_timer = requeue.map(|d| now + d.as_millis() as i64);
        let next_change = script
            .next_change(since)
            .map(|t| t0 + i64::try_from(t).unwrap_or(i64::MAX - t0));
        let next = [next_finish, next_timer, next_change]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            stop = Stop::Stalled;
            break;
        };
        now = next.max(now);
    }
    Simulation {
        status,
        started,
        stop,
        trace: traced,
        elapsed_ms: now - t0,
    }
}

fn finish(v: &mut Virtual, now: i64) {
    let at = Timestamp::from_millisecond(now).ok();
    match &v.script {
        AttemptScript::Done {
            success,
            output,
            error,
            ..
        } => {
            let o = &mut v.observation;
            o.phase = if *success {
                ExecutionPhase::Succeeded
            } else {
                ExecutionPhase::Failed
            };
            o.output = output.clone();
            o.error = error.clone();
            o.completed_at = at;
        }
        AttemptScript::Vanish { .. } => v.gone = true,
        AttemptScript::Hang => {}
    }
}

fn kind_of(label: Option<&str>) -> ExecutionKind {
    match label {
        Some("rollback") => ExecutionKind::Rollback,
        Some("verify") => ExecutionKind::Verify,
        Some("finally") => ExecutionKind::Finally,
        _ => ExecutionKind::Step,
    }
}
