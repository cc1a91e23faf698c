//! Reads what a finished run's record holds from the cluster: the run itself, its
//! executions (by the run's label) and the events about both.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use super::record::{RecordError, RunRecord};
use crate::api::{KubernetesExecution, LABEL_WORKFLOW, WorkflowExecution};

/// Why a run's record could not be collected.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A read from the API server failed.
    #[error("reading the run's objects: {0}")]
    Kube(#[from] kube::Error),
    /// The objects do not make a record.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The record of `run` (as read now, finished), with its executions and events.
pub async fn record_of(
    client: &Client,
    run: &WorkflowExecution,
) -> Result<RunRecord, CollectError> {
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let executions: Api<KubernetesExecution> = Api::namespaced(client.clone(), &ns);
    let owned = executions
        .list(&ListParams::default().labels(&format!("{LABEL_WORKFLOW}={name}")))
        .await?
        .items;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    // Lists the server selects, so that a namespace full of other runs' events costs
    // nothing: the run's own, then each execution's.
    let mut about = Vec::new();
    let objects = std::iter::once(("WorkflowExecution", name.clone()))
        .chain(owned.iter().map(|k| ("KubernetesExecution", k.name_any())));
    for (kind, object) in objects {
        let selector = format!("involvedObject.kind={kind},involvedObject.name={object}");
        about.extend(
            events
                .list(&ListParams::default().fields(&selector))
                .await?
                .items,
        );
    }
    Ok(RunRecord::build(run, &owned, &about)?)
}
