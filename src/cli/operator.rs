//! `remedy operator`: run the controllers against a cluster (kubeconfig or in-cluster), with
//! Prometheus metrics, health probes, graceful shutdown and optional leader election.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use std::future::Future;

use tokio::sync::oneshot;

use crate::executor::{self, ExecutorConfig};
use crate::operator::http::{self, Readiness};
use crate::operator::leader::{self, LeaderConfig};
use crate::operator::{ControllerKind, OperatorConfig};
use crate::reconcile::backoff::ThrottleRetryLayer;
use crate::reconcile::metrics::Metrics;

/// Arguments of `remedy operator`.
#[derive(Debug, clap::Args)]
pub struct OperatorArgs {
    /// The template directory (`*.wf`, `lib/*.rhai`), e.g. a mounted ConfigMap; reloaded on change.
    #[arg(
        long,
        env = "REMEDY_TEMPLATES",
        default_value = "/etc/remedy/templates"
    )]
    pub templates: PathBuf,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "REMEDY_WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// The controllers to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "workflow")]
    pub controllers: Vec<ControllerArg>,
    /// Address of the Prometheus metrics endpoint (`/metrics`).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Address of the health probes (`/healthz`, `/readyz`); may equal the metrics address.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub probe_addr: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Reconcile only while holding a Lease, so that several replicas can run safely.
    #[arg(long)]
    pub leader_elect: bool,
    /// The Lease's name.
    #[arg(long, default_value = "remedy-operator")]
    pub leader_election_id: String,
    /// The namespace the operator runs in: holds the Lease, and is protected.
    #[arg(long, env = "POD_NAMESPACE", default_value = crate::catalog::DEFAULT_OPERATOR_NAMESPACE)]
    pub operator_namespace: String,
    /// This replica's identity in the Lease and in events (default: the pod name or host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// A namespace no run may touch, besides kube-system, kube-public, kube-node-lease and the
    /// operator's own (repeatable).
    #[arg(long = "protected-namespace", value_name = "NAMESPACE")]
    pub protected_namespaces: Vec<String>,
    /// Where finished runs are archived before they are deleted (default: not archived).
    #[command(flatten)]
    pub archive: super::archive_flags::ArchiveFlags,
    /// How long finished runs stay.
    #[command(flatten)]
    pub retention: super::archive_flags::RetentionFlags,
}

/// A controller to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ControllerArg {
    /// The WorkflowExecution controller.
    Workflow,
    /// The KubernetesExecution controller (the executor).
    Executor,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Runs the operator until SIGTERM or Ctrl-C; exit code 2 when it cannot start.
pub fn run(args: OperatorArgs) -> ExitCode {
    init_logging(args.log_format);
    // A long-running process: what it frees (the start's lists of every run and execution)
    // goes back to the system at once, so that its memory follows what it holds.
    let purge_delay_ms = remedy_alloc::purge_promptly();
    tracing::debug!(purge_delay_ms, "allocator purge delay");
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(operate(args))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = result {
        eprintln!("warning: logging already set up: {e}");
    }
}

async fn operate(args: OperatorArgs) -> ExitCode {
    let controllers: BTreeSet<ControllerKind> = args
        .controllers
        .iter()
        .map(|c| match c {
            ControllerArg::Workflow => ControllerKind::Workflow,
            ControllerArg::Executor => ControllerKind::Executor,
        })
        .collect();
    if controllers.is_empty() {
        eprintln!("error: --controllers names no controller (workflow, executor)");
        return ExitCode::from(2);
    }
    let archive = match args.archive.open(false) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(archive) = &archive
        && controllers.contains(&ControllerKind::Workflow)
    {
        // Migrated at start so that two replicas starting together settle the schema once
        // (under the database's lock); a database that is down only delays it: finished runs
        // wait, and the first archive attempt migrates.
        match archive.migrate().await {
            Ok(()) => tracing::info!(archive = archive.location(), "archive schema is current"),
            Err(e) => tracing::warn!(
                error = %crate::redact::redact_text(&e.to_string()),
                "the archive is not reachable yet; finished runs are kept until it is"
            ),
        }
    }
    let metrics = Arc::new(Metrics::new());
    let clients = match clients(&metrics).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: cannot connect to the cluster (kubeconfig or in-cluster configuration): {e}"
            );
            return ExitCode::from(2);
        }
    };
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let ready = Arc::new(Readiness::default());
    let mut config = OperatorConfig::new(&args.templates);
    config.namespace = args.namespace.clone();
    config.operator_namespace = args.operator_namespace.clone();
    config.protected_namespaces = args.protected_namespaces.iter().cloned().collect();
    config.instance = Some(identity.clone());
    config.metrics = metrics.clone();
    config.ready = ready.clone();
    config.archive = archive;
    config.retention = args.retention.config(&args.archive);
    // The executor protects the operator's namespace and reads the sealing key there.
    let executor_config = ExecutorConfig {
        namespace: args.namespace.clone(),
        operator_namespace: args.operator_namespace.clone(),
        protected_namespaces: args.protected_namespaces.clone(),
        metrics: metrics.clone(),
        ..ExecutorConfig::default()
    };
    if !controllers.contains(&ControllerKind::Workflow) {
        // Only the workflow controller reports readiness itself.
        ready.set(true);
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    let mut addrs = vec![args.metrics_addr];
    if args.probe_addr != args.metrics_addr {
        addrs.push(args.probe_addr);
    }
    for addr in addrs {
        let listener = match http::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {addr}: {e}");
                return ExitCode::from(2);
            }
        };
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
        servers.push(tokio::spawn(http::serve(
            listener,
            metrics.clone(),
            ready.clone(),
            stopped(stop_rx.clone()),
        )));
    }

    tracing::info!(
        templates = %args.templates.display(),
        namespace = args.namespace.as_deref().unwrap_or("(all)"),
        leader_elect = args.leader_elect,
        "remedy operator starting"
    );
    let outcome = if args.leader_elect {
        let leader_config = LeaderConfig {
            lease_name: args.leader_election_id.clone(),
            namespace: args.operator_namespace.clone(),
            identity,
            duration_secs: 15,
            grace_secs: 5,
        };
        // Standing by for the Lease is ready: another replica is serving.
        ready.set(true);
        leader::run_as_leader(clients.0.clone(), leader_config, terminated(), |stop| {
            let run = run_controllers(
                clients.clone(),
                controllers.clone(),
                config.clone(),
                executor_config.clone(),
                stop,
            );
            async move {
                if let Err(e) = run.await {
                    tracing::error!(error = %e, "a controller stopped with an error");
                }
            }
        })
        .await
        .map_err(|e| e.to_string())
    } else {
        run_controllers(clients, controllers, config, executor_config, terminated()).await
    };
    let _ = stop_tx.send(true);
    for s in servers {
        let _ = s.await;
    }
    match outcome {
        Ok(()) => {
            tracing::info!("remedy operator stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The clients of the workflow controller and of the executor, from the kubeconfig or the
/// in-cluster configuration. kube-rs's own retry layer (which also resends requests that may
/// have been carried out) is replaced by the controllers' policy: the client only resends a
/// request answered 429 with a `Retry-After` (`reconcile::backoff`); everything else is retried
/// by the controller that knows whether a request may be redone.
async fn clients(metrics: &Arc<Metrics>) -> Result<(kube::Client, kube::Client), String> {
    let mut config = kube::Config::infer().await.map_err(|e| e.to_string())?;
    config.default_retry = false;
    let client = |controller: &'static str| -> Result<kube::Client, String> {
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
        let retry = ThrottleRetryLayer::new(clock, metrics.clone(), controller);
        Ok(kube::client::ClientBuilder::try_from(config.clone())
            .map_err(|e| e.to_string())?
            .with_layer(&tower::buffer::BufferLayer::new(1024))
            .with_layer(&retry)
            .build())
    };
    Ok((client("workflow")?, client("executor")?))
}

/// Runs the chosen controllers until `shutdown`, each shutting down gracefully.
async fn run_controllers(
    (client, executor_client): (kube::Client, kube::Client),
    controllers: BTreeSet<ControllerKind>,
    config: OperatorConfig,
    executor_config: ExecutorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    // Fan the one signal out; a oneshot receiver is the Sync future kube-runtime asks for.
    let (workflow_stop, workflow_stopped) = oneshot::channel::<()>();
    let (executor_stop, executor_stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = workflow_stop.send(());
        let _ = executor_stop.send(());
    });
    let workflow = async {
        if controllers.contains(&ControllerKind::Workflow) {
            crate::operator::run(client.clone(), config, async move {
                let _ = workflow_stopped.await;
            })
            .await;
        }
        Ok::<(), String>(())
    };
    let executor = async {
        if controllers.contains(&ControllerKind::Executor) {
            executor::run_until(executor_client.clone(), executor_config, async move {
                let _ = executor_stopped.await;
            })
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let (w, e) = tokio::join!(workflow, executor);
    w.and(e)
}

async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Completes on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "remedy".to_string());
    format!("{host}-{}", uuid::Uuid::new_v4().simple())
}
