//! The WorkflowExecution controller: reads a run, its executions and its analysis, asks the
//! engine what to do, creates executions and writes status. Glue only: every rule of the run
//! lives in the engine.
//!
//! | file | what |
//! |---|---|
//! | `controller` | context → `reconcile` / `error_policy` → `run`; a file per step: `plan`, `validate` (lock claims), `execute`, `status` (writes, events), `watch` |
//! | `finished` | the executions seen finished, so a decision needs no list of them |
//! | `finalizer` | deleting a run is a rollback stop; the run stays until it has ended |
//! | `pause` | the cluster-wide pause switch (ConfigMap `remedy-pause`) |
//! | `planning` | the analysis and template → the pinned plan; the run's target |
//! | `safety`, `target_lock` | the checks at Validating; canonical target identities |
//! | `sealing` | the plan stored sealed and opened for the engine; executions sealed and signed |
//! | `retention` | finished runs: archive, then delete when due (period, per-target bound) |
//! | `run_state` | failing a run, spec digests, status transitions (events, metrics) |
//! | `events` | publishing Events with names and notes a real API server accepts |
//! | `conditions` | standard conditions with observedGeneration |
//! | `templates` | the template directory, reloaded on change |
//! | `config` | what the operator is told (its clock is [`crate::clock`]) |
//! | `http`, `leader` | `/metrics` `/healthz` `/readyz` (the series are [`crate::reconcile::metrics`]), Lease election |
//!
//! **Invariant:** the operator never decides what a run does next; `engine::decide` does.
//! It only plans, validates, and applies decisions idempotently.

pub mod conditions;
pub mod config;
pub mod controller;
pub mod events;
pub mod finalizer;
pub mod finished;
pub mod http;
pub mod leader;
pub mod pause;
pub mod planning;
pub mod retention;
pub mod run_state;
pub mod safety;
pub mod sealing;
pub mod target_lock;
pub mod templates;

use std::future::Future;

pub use config::{ControllerKind, OperatorConfig};

/// Runs the workflow controller on `client` until `shutdown` completes, then lets the
/// reconciles in flight finish. `remedy operator`, `remedy run` and the tests all use it.
pub async fn run(
    client: kube::Client,
    config: OperatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    controller::run(client, config, shutdown).await;
}
