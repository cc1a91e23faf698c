//! The controllers of an in-process run: their clients on the embedded cluster, their
//! configurations, and the tasks that run them.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

use super::runner::RunError;
use super::stage::install_crds;
use crate::archive::Archive;
use crate::clock::{Clock, ScaledClock};
use crate::cluster::EmbeddedCluster;
use crate::cluster::faults::FaultLayer;
use crate::executor::ExecutorConfig;
use crate::operator::OperatorConfig;
use crate::operator::retention::RetentionConfig;
use crate::reconcile::backoff::ThrottleRetryLayer;
use crate::reconcile::metrics::Metrics;

/// A controller's client on the embedded cluster, as on a real cluster: a request answered
/// 429 with a `Retry-After` is retried by the client (`operator::backoff`); `faults` applies
/// to every request it sends.
pub fn controller_client(
    cluster: &EmbeddedCluster,
    faults: FaultLayer,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    controller: &'static str,
) -> Client {
    let service = ServiceBuilder::new()
        .layer(ThrottleRetryLayer::new(clock, metrics, controller))
        .layer(faults)
        .service(cluster.service());
    Client::new(service, "default")
}

/// Registers the CRDs and starts both controllers on `client` until `stop` is cancelled (for
/// `remedy serve`).
pub async fn start_in_cluster(
    client: &Client,
    templates: &std::path::Path,
    speed: f64,
    stop: &CancellationToken,
    archive: Option<Archive>,
    retention: RetentionConfig,
) -> Result<Vec<tokio::task::JoinHandle<()>>, RunError> {
    install_crds(client).await?;
    Ok(start_controllers(
        client, templates, speed, stop, archive, retention,
    ))
}

/// Starts the workflow controller (archiving finished runs to `archive`, and keeping them
/// as `retention` says) and the executor on `client` until `stop` is cancelled.
pub fn start_controllers(
    client: &Client,
    templates: &std::path::Path,
    speed: f64,
    stop: &CancellationToken,
    archive: Option<Archive>,
    retention: RetentionConfig,
) -> Vec<tokio::task::JoinHandle<()>> {
    // One clock for both controllers: the engine's waits and the executor's deadlines agree.
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(speed));
    let (mut operator_config, executor_config) =
        controller_configs(templates, clock, Arc::new(Metrics::new()));
    operator_config.archive = archive;
    operator_config.retention = retention;
    vec![
        spawn_workflow(client.clone(), operator_config, stop),
        spawn_executor(client.clone(), executor_config, stop),
    ]
}

/// The controllers' configurations for an in-process run: `clock` for both (the engine's
/// waits and the executor's deadlines agree), quick template polls, short waits for a busy
/// target, and quick polls of awaited conditions.
pub fn controller_configs(
    templates: &std::path::Path,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> (OperatorConfig, ExecutorConfig) {
    let mut config = OperatorConfig::new(templates);
    config.clock = clock.clone();
    config.template_poll = Duration::from_secs(1);
    config.wait_requeue = Duration::from_millis(200);
    config.metrics = metrics.clone();
    let executor_config = ExecutorConfig {
        poll_interval: Duration::from_millis(100),
        concurrency: 16,
        clock,
        metrics,
        ..ExecutorConfig::default()
    };
    (config, executor_config)
}

/// Runs the workflow controller on `client` until `stop` is cancelled.
pub fn spawn_workflow(
    client: Client,
    config: OperatorConfig,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let stop = stop.clone();
    tokio::spawn(async move {
        crate::operator::run(client, config, stop.cancelled_owned()).await;
    })
}

/// Runs the executor on `client` until `stop` is cancelled.
pub fn spawn_executor(
    client: Client,
    config: ExecutorConfig,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let stop = stop.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::executor::run_until(client, config, stop.cancelled_owned()).await {
            tracing::error!(error = %e, "the executor stopped");
        }
    })
}
