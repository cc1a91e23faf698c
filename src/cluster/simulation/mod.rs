//! Workload simulation: the controllers and kubelets a real cluster would run, acting through
//! the API like any client. Deployments get a ReplicaSet per pod-template revision,
//! ReplicaSets, StatefulSets and DaemonSets get Pods, Pods are scheduled on schedulable Nodes and become
//! Ready after a delay, PVCs bind and show resizes, HPAs report replicas, Jobs get their Pods
//! (which never finish: no process runs), CronJobs create Jobs on schedule (on a clock that
//! may run faster than real time), every namespace gets its `default` ServiceAccount.
//! Level-triggered:
//! every tick recomputes from what exists and writes only differences.

mod api;
mod autoscaler;
mod claim;
mod cronjob;
mod daemonset;
mod deployment;
mod job;
mod pods;
mod replicaset;
mod serviceaccounts;
mod statefulset;
mod volumes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

// tokio's clock, so that a runtime with paused time (the soak) drives pod readiness too.
use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use super::server::Server;
use api::SimClient;

/// Settings of the workload simulation.
#[derive(Debug, Clone)]
pub struct SimulationConfig {
    /// How often the simulated controllers reconcile.
    pub tick: Duration,
    /// How long after scheduling a Pod becomes Ready.
    pub pod_ready_delay: Duration,
    /// Nodes to create at start when the cluster has none.
    pub nodes: usize,
    /// Images that fail to pull: a container whose image contains one of these strings keeps
    /// its Pod Pending in ImagePullBackOff (for rollouts that get stuck).
    pub failing_images: Vec<String>,
    /// How many times faster than real time the CronJob controller's clock runs (at least
    /// 1), so that schedules keep pace with `remedy run --speed`.
    pub speed: f64,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            tick: Duration::from_millis(100),
            pod_ready_delay: Duration::from_secs(1),
            nodes: 3,
            failing_images: Vec::new(),
            speed: 1.0,
        }
    }
}

/// A running simulation; dropping the handle does not stop it, `stop` does (so does dropping
/// the cluster).
#[derive(Debug)]
pub struct Simulation {
    stop: CancellationToken,
}

impl Simulation {
    /// Stops the simulated controllers.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// What the simulation remembers between ticks (only what a kubelet would know locally).
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// When each pod (by uid) was seen scheduled.
    scheduled_at: HashMap<String, Instant>,
}

/// Starts the simulation on `server`; it stops with `stop` or when `shutdown` is cancelled.
pub(crate) fn start(
    server: Arc<Server>,
    config: SimulationConfig,
    shutdown: CancellationToken,
) -> Simulation {
    let stop = shutdown.child_token();
    let token = stop.clone();
    tokio::spawn(async move {
        let client = SimClient::new(server);
        pods::ensure_nodes(&client, config.nodes).await;
        let mut memory = Memory::default();
        let clock = cronjob::SimClock::new(config.speed);
        let mut ticks = tokio::time::interval(config.tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = ticks.tick() => {}
            }
            deployment::reconcile(&client).await;
            replicaset::reconcile(&client).await;
            statefulset::reconcile(&client).await;
            daemonset::reconcile(&client).await;
            job::reconcile(&client).await;
            cronjob::reconcile(&client, &clock).await;
            pods::reconcile(&client, &config, &mut memory).await;
            volumes::reconcile(&client).await;
            autoscaler::reconcile(&client).await;
            serviceaccounts::reconcile(&client).await;
            client.collect_garbage(replicaset::BURST_REPLICAS);
        }
    });
    Simulation { stop }
}
