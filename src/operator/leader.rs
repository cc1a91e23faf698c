//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): only the holder of the
//! Lease runs the controllers, and losing the Lease stops them until it is won again.

use std::future::Future;
use std::pin::Pin;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::oneshot;

/// Where the Lease lives and how long a hold lasts.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// The Lease's name.
    pub lease_name: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// This instance's identity (usually the pod name).
    pub identity: String,
    /// Seconds a hold is valid after its last renewal.
    pub duration_secs: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_secs: u64,
}

/// Why leader election stopped.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease could not be created or read.
    #[error("leader election: {0}")]
    Lease(#[from] LeaseManagerError),
    /// The background task that holds the Lease ended unexpectedly.
    #[error("leader election: the lease task ended")]
    TaskEnded,
}

/// A future that completes when the work must stop (leadership lost or shutdown).
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs `work` whenever this instance holds the Lease, until `shutdown` completes.
/// `work` gets a signal that completes when it must stop; it is started again when the Lease
/// is won again.
pub async fn run_as_leader<W, F>(
    client: Client,
    config: LeaderConfig,
    shutdown: impl Future<Output = ()>,
    mut work: W,
) -> Result<(), LeaderError>
where
    W: FnMut(StopSignal) -> F,
    F: Future<Output = ()>,
{
    let manager = LeaseManagerBuilder::new(client, &config.lease_name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration_secs)
        .with_grace(config.grace_secs)
        .build()
        .await?;
    let (mut leader, task) = manager.watch().await;
    tokio::pin!(shutdown);
    loop {
        // Wait to become leader.
        while !*leader.borrow_and_update() {
            tokio::select! {
                () = &mut shutdown => {
                    drop(leader);
                    release(task).await;
                    return Ok(());
                }
                changed = leader.changed() => if changed.is_err() { return Err(LeaderError::TaskEnded) },
            }
        }
        tracing::info!(lease = %config.lease_name, identity = %config.identity, "acquired the lease; reconciling");
        let (stop, stopped) = oneshot::channel::<()>();
        let work_done = work(Box::pin(async move {
            let _ = stopped.await;
        }));
        tokio::pin!(work_done);
        let mut stop = Some(stop);
        let mut shutting_down = false;
        loop {
            tokio::select! {
                () = &mut work_done => break,
                () = &mut shutdown, if !shutting_down => {
                    shutting_down = true;
                    if let Some(s) = stop.take() { let _ = s.send(()); }
                }
                changed = leader.changed(), if stop.is_some() => {
                    let still = changed.is_ok() && *leader.borrow_and_update();
                    if !still {
                        tracing::warn!(lease = %config.lease_name, "lost the lease; stopping reconciliation");
                        if let Some(s) = stop.take() { let _ = s.send(()); }
                    }
                }
            }
        }
        if shutting_down {
            drop(leader);
            release(task).await;
            return Ok(());
        }
        if leader.has_changed().is_err() {
            return Err(LeaderError::TaskEnded);
        }
    }
}

async fn release(
    task: tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
) {
    match task.await {
        Ok(Ok(_)) => tracing::info!("released the lease"),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not release the lease"),
        Err(e) => tracing::warn!(error = %e, "the lease task failed"),
    }
}
