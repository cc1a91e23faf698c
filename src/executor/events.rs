//! core/v1 Events about a KubernetesExecution: `notify_only`'s message and failures.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use kube::{Client, Resource};

use super::actions::FIELD_MANAGER;
use crate::api::kubernetes_execution::KubernetesExecution;
use crate::redact::redact_text;

/// The execution an Event is about.
#[derive(Debug, Clone)]
pub struct ExecutionRef {
    /// Its name.
    pub name: String,
    /// Its namespace (where the Event goes).
    pub namespace: String,
    /// Its uid, when known.
    pub uid: Option<String>,
}

/// One Event to publish.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    /// Appended to the execution's name to name the Event, so that publishing twice finds
    /// the first one instead of duplicating it.
    pub suffix: &'a str,
    /// The Event's reason (`RemediationNotice`, `ActionFailed`).
    pub reason: &'a str,
    /// The message (redacted before it is written).
    pub message: &'a str,
    /// Warning rather than Normal.
    pub warning: bool,
}

/// Publishes `notice` about `execution` (with the server's dry run when asked); answers the
/// Event's name. An Event of that name that already exists counts as published; with
/// `look_first` (an attempt that may have published before) it is read first, so that it is
/// never even sent twice.
pub async fn publish(
    client: &Client,
    execution: &ExecutionRef,
    notice: &Notice<'_>,
    dry_run: bool,
    look_first: bool,
) -> Result<String, kube::Error> {
    // A hand-made execution may have a name of any length: the Event's must stay valid.
    let name = crate::api::names::with_suffix(
        &execution.name,
        &format!(".{}", notice.suffix),
        crate::api::names::MAX_SUBDOMAIN,
    );
    let now = Time(Timestamp::now());
    let event = Event {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(execution.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(KubernetesExecution::api_version(&()).into_owned()),
            kind: Some(KubernetesExecution::kind(&()).into_owned()),
            name: Some(execution.name.clone()),
            namespace: Some(execution.namespace.clone()),
            uid: execution.uid.clone(),
            ..ObjectReference::default()
        },
        reason: Some(notice.reason.to_string()),
        message: Some(redact_text(notice.message)),
        type_: Some(if notice.warning { "Warning" } else { "Normal" }.to_string()),
        count: Some(1),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        source: Some(EventSource {
            component: Some(FIELD_MANAGER.to_string()),
            host: None,
        }),
        reporting_component: Some(FIELD_MANAGER.to_string()),
        ..Event::default()
    };
    let pp = PostParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &execution.namespace);
    if look_first && api.get_opt(&name).await?.is_some() {
        return Ok(name);
    }
    match api.create(&pp, &event).await {
        Ok(_) => Ok(name),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(name),
        Err(e) => Err(e),
    }
}
