//! The seeded fault soak: a scenario run by both real controllers on the embedded cluster,
//! under the faults of one seed's [`Schedule`], then checked against the same scenario run
//! without faults ([`check::violations`]).
//!
//! What FoundationDB and TigerBeetle do to make a distributed system's tests deterministic,
//! taken as far as it fits an async Rust operator:
//! - **one thread, simulated time.** The caller runs [`observe`] on a current-thread tokio
//!   runtime with paused time: whenever every task waits, time jumps to the next timer. Both
//!   controllers read their clocks from tokio's (`clock::ScaledClock`), so a run of several
//!   simulated minutes takes a fraction of a second and timeouts, backoffs and polls keep
//!   their relative order.
//! - **faults at the client's tower layer.** Each controller's `kube::Client` drives the
//!   embedded API server through a `cluster::faults::FaultLayer` whose plan draws every
//!   request's fault from the seed, the client and the request's ordinal.
//! - **controlled restarts.** A kill (timed, or drawn for a request, before or after it
//!   reaches the server) ends a controller's client as a dead process's connections end; the
//!   controller is dropped and started again, with nothing of its memory.
//!
//! What is not deterministic: hash map order and object uids differ from one process to the
//! next, so a replay of a seed meets the same schedule but not always the same interleaving.

pub mod check;
pub mod schedule;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ListParams};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::controllers::{controller_client, controller_configs, spawn_executor, spawn_workflow};
use super::file::Scenario;
use super::runner::{RunError, RunOptions};
use super::stage::{Stage, fault_rules};
use super::summary::Summary;
use crate::api::{KubernetesExecution, LABEL_KIND, WorkflowExecution};
use crate::clock::ScaledClock;
use crate::cluster::faults::{
    Fault, FaultKind, FaultLayer, FaultPlan, Ledger, Lifeline, RequestInfo, Rules,
};
use crate::reconcile::backoff::RetryReason;
use crate::reconcile::metrics::Metrics;
pub use check::{Observed, violations};
pub use schedule::{Controller, Event, Schedule, SeededPlan};

/// How often the run is looked at (its end is known this closely).
pub const POLL: Duration = Duration::from_secs(1);

/// How long a run may take in simulated time before it counts as stuck.
pub const LIMIT: Duration = Duration::from_secs(30 * 60);

/// The scenario's own `faults:` first (they are part of what it shows), then the seed's.
#[derive(Debug)]
struct Combined {
    rules: Rules,
    seeded: Option<Arc<SeededPlan>>,
}

impl FaultPlan for Combined {
    fn decide(&self, client: &str, request: &RequestInfo) -> Fault {
        let fault = self.rules.decide(client, request);
        if fault.kind != FaultKind::Pass {
            return fault;
        }
        match &self.seeded {
            Some(seeded) => {
                let mut more = seeded.decide(client, request);
                more.delay += fault.delay;
                more
            }
            None => fault,
        }
    }
}

/// One running incarnation of a controller.
struct Incarnation {
    handle: JoinHandle<()>,
    life: Arc<Lifeline>,
    metrics: Arc<Metrics>,
}

/// What the controllers of one soak run share.
struct Harness<'a> {
    stage: &'a Stage,
    templates: &'a Path,
    plan: Arc<dyn FaultPlan>,
    ledger: Ledger,
    stop: CancellationToken,
    clocks: [Arc<ScaledClock>; 2],
}

impl Harness<'_> {
    fn start(&self, controller: Controller, n: u32) -> Incarnation {
        let name = format!("{}#{n}", controller.as_str());
        let faults = FaultLayer::new(&name, self.plan.clone()).with_ledger(self.ledger.clone());
        let life = faults.lifeline();
        let metrics = Arc::new(Metrics::new());
        let clock = self.clocks[controller as usize].clone();
        let client: Client = controller_client(
            &self.stage.cluster,
            faults,
            clock.clone(),
            metrics.clone(),
            controller.as_str(),
        );
        let (mut operator, mut executor) =
            controller_configs(self.templates, clock, metrics.clone());
        // Templates do not change during a run: no need to look at the directory again.
        operator.template_poll = Duration::from_secs(24 * 3600);
        // As on a cluster: look again at what an action waits for every 2 s.
        executor.poll_interval = Duration::from_secs(2);
        let handle = match controller {
            Controller::Workflow => spawn_workflow(client, operator, &self.stop),
            Controller::Executor => spawn_executor(client, executor, &self.stop),
        };
        Incarnation {
            handle,
            life,
            metrics,
        }
    }
}

/// Runs `scenario` with the templates of `templates` under `schedule` (none: without faults)
/// and answers what it left. Call it on a current-thread runtime with paused time: it then
/// takes the CPU time of the run, not its simulated time.
pub async fn observe(
    scenario: &Scenario,
    templates: &Path,
    schedule: Option<&Schedule>,
) -> Result<Observed, RunError> {
    // The simulation looks at the cluster every 2 s (not every 100 ms): simulated minutes of a
    // template's waits cost a twentieth of the work.
    let stage = Stage::new(scenario, 1.0, Some(Duration::from_secs(2))).await?;
    let seeded = schedule.map(|s| Arc::new(SeededPlan::new(s.clone())));
    let started = Instant::now();
    let origin = jiff::Timestamp::now();
    let harness = Harness {
        stage: &stage,
        templates,
        plan: Arc::new(Combined {
            rules: fault_rules(scenario)?,
            seeded: seeded.clone(),
        }),
        ledger: Ledger::default(),
        stop: CancellationToken::new(),
        clocks: [
            Arc::new(ScaledClock::starting_at(origin, 1.0)),
            Arc::new(ScaledClock::starting_at(origin, 1.0)),
        ],
    };
    let mut running = [
        harness.start(Controller::Workflow, 0),
        harness.start(Controller::Executor, 0),
    ];
    let mut incarnations = [0u32, 0u32];
    let mut retired: Vec<Arc<Metrics>> = Vec::new();
    let mut events = schedule.map(|s| s.events.clone()).unwrap_or_default();
    events.reverse();
    let mut last_event = Duration::ZERO;
    let name = stage.start_run(scenario, &RunOptions::default()).await?;
    let runs: Api<WorkflowExecution> = Api::namespaced(stage.client.clone(), &scenario.namespace);
    let mut took = LIMIT;
    let mut poll = tokio::time::interval(POLL);
    let final_run = loop {
        let next_event = events.last().map(|(at, _)| started + *at);
        let next_event = async move {
            match next_event {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let died_w = running[0].life.died();
        let died_e = running[1].life.died();
        tokio::select! {
            () = died_w => {
                let n = incarnations[0] + 1;
                let old = std::mem::replace(&mut running[0], restart(&harness, schedule, Controller::Workflow, n).await);
                old.handle.abort();
                retired.push(old.metrics);
                incarnations[0] = n;
            }
            () = died_e => {
                let n = incarnations[1] + 1;
                let old = std::mem::replace(&mut running[1], restart(&harness, schedule, Controller::Executor, n).await);
                old.handle.abort();
                retired.push(old.metrics);
                incarnations[1] = n;
            }
            () = next_event => {
                if let Some((at, event)) = events.pop() {
                    last_event = at;
                    match event {
                        Event::Kill(c) => running[c as usize].life.kill(),
                        Event::Jump(c, by) => harness.clocks[c as usize].jump(by),
                    }
                }
            }
            _ = poll.tick() => {
                let run = runs.get_opt(&name).await.ok().flatten();
                let ended = run
                    .as_ref()
                    .and_then(|r| r.status.as_ref())
                    .and_then(|s| s.phase)
                    .is_some_and(crate::api::WorkflowPhase::is_terminal);
                if ended || started.elapsed() >= LIMIT {
                    if ended {
                        took = started.elapsed();
                    }
                    break run;
                }
            }
        }
    };
    // The tending loops run every 2 s: let them see the end before the metric is read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let unreconciled = running
        .iter()
        .map(|i| {
            i.metrics
                .unreconciled_runs
                .oldest()
                .max(i.metrics.unreconciled_executions.oldest())
        })
        .max()
        .unwrap_or_default();
    harness.stop.cancel();
    for incarnation in &mut running {
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut incarnation.handle).await;
        incarnation.handle.abort();
        retired.push(incarnation.metrics.clone());
    }
    let unfinished =
        (took >= LIMIT).then(|| format!("no terminal phase after {}s", LIMIT.as_secs()));
    let summary = Summary {
        scenario: scenario.title(),
        unfinished,
        ..Summary::default()
    };
    let report = stage.report(scenario, final_run.as_ref(), summary).await;
    let mut observed = Observed {
        summary: report.summary,
        took,
        restarts: incarnations.iter().sum(),
        unreconciled,
        ..Observed::default()
    };
    let executions: Api<KubernetesExecution> =
        Api::namespaced(stage.client.clone(), &scenario.namespace);
    let selector = crate::api::executions_of(&name);
    if let Ok(list) = executions
        .list(&ListParams::default().labels(&selector))
        .await
    {
        for kex in list.items {
            let kind = kex
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_KIND).cloned())
                .unwrap_or_default();
            let name = kex.metadata.name.clone().unwrap_or_default();
            observed
                .executions
                .insert(name, (kex.spec.step.clone(), kind));
        }
    }
    observed.record(final_run.as_ref(), &harness.ledger.entries());
    if let Some(seeded) = &seeded {
        observed.injected = seeded.injected();
        observed.faults_end = seeded.last_fault().max(last_event);
    }
    observed.retries = retired
        .iter()
        .map(|m| {
            ["workflow", "executor"]
                .iter()
                .map(|c| {
                    [
                        RetryReason::Conflict,
                        RetryReason::Throttled,
                        RetryReason::ServerError,
                        RetryReason::Unavailable,
                        RetryReason::Timeout,
                        RetryReason::Transport,
                        RetryReason::Other,
                    ]
                    .iter()
                    .map(|r| m.retries(c, *r))
                    .sum::<u64>()
                })
                .sum::<u64>()
        })
        .sum();
    Ok(observed)
}

/// Starts incarnation `n` of a killed controller after the schedule's restart delay.
async fn restart(
    harness: &Harness<'_>,
    schedule: Option<&Schedule>,
    controller: Controller,
    n: u32,
) -> Incarnation {
    let delay = schedule.map_or(Duration::ZERO, |s| s.restart_delay(controller, n));
    tokio::time::sleep(delay).await;
    harness.start(controller, n)
}
