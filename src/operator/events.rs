//! events.k8s.io/v1 Events about runs, named and sized so that a real API server accepts them.
//!
//! kube-runtime's `Recorder` names an Event `<object>.<nanoseconds>`, which passes the 253
//! characters a name may have when the run's own name is long, and sends its note whatever its
//! size, while the API server refuses a note over 1 KiB. This recorder does what that one does
//! (a repeat of the same event within a few minutes becomes a series of the first) with a name
//! shortened by a hash when needed and the note cut to the API server's limit.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Client, ResourceExt};

use crate::api::names::{MAX_SUBDOMAIN, with_suffix};
use crate::sync;

/// The longest note the API server accepts (bytes).
pub const MAX_NOTE_BYTES: usize = 1024;

/// How long a published event is remembered: a repeat within it becomes a series.
const CACHE_TTL: SignedDuration = SignedDuration::from_mins(6);

/// What makes two events "the same" (the note is not part of it).
type Key = (bool, String, String, String, String, String);

/// Publishes Events about objects for one reporting controller.
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    published: Mutex<HashMap<Key, K8sEvent>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

/// The Event name for `object` at `nanos`: `<object>.<nanos in hex>`, shortened by a hash
/// when that passes the 253 characters a name may have.
pub fn event_name(object: &str, nanos: i128) -> String {
    with_suffix(object, &format!(".{nanos:x}"), MAX_SUBDOMAIN)
}

/// `note` cut to the API server's limit on a character boundary, marked with `…`.
pub fn cap_note(note: &str) -> String {
    if note.len() <= MAX_NOTE_BYTES {
        return note.to_string();
    }
    let mut end = MAX_NOTE_BYTES - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

impl Recorder {
    /// A recorder that reports as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Recorder {
            client,
            reporter,
            published: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes `event` about `regarding`, in its namespace (`default` for cluster-scoped
    /// objects); a repeat within six minutes updates the first one's series instead.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key: Key = (
            matches!(event.type_, EventType::Normal),
            event.action.clone(),
            event.reason.clone(),
            regarding.namespace.clone().unwrap_or_default(),
            regarding.name.clone().unwrap_or_default(),
            regarding.uid.clone().unwrap_or_default(),
        );
        let earlier = {
            let mut published = sync::lock(&self.published);
            published.retain(|_, e| last_seen(e).is_some_and(|t| t + CACHE_TTL > now));
            published.get(&key).cloned()
        };
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        let sent = match earlier {
            Some(mut e) => {
                let count = e.series.as_ref().map_or(2, |s| s.count + 1);
                e.series = Some(EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                });
                events
                    .patch(&e.name_any(), &PatchParams::default(), &Patch::Merge(&e))
                    .await?;
                e
            }
            None => {
                let e = self.generate(event, regarding, now);
                events.create(&PostParams::default(), &e).await?;
                e
            }
        };
        sync::lock(&self.published).insert(key, sent);
        Ok(())
    }

    fn generate(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let object = regarding
            .name
            .as_deref()
            .unwrap_or(&self.reporter.controller);
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            note: event.note.as_deref().map(cap_note),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(event_name(object, now.as_nanosecond())),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            // The API server takes at most 128 characters here.
            reporting_instance: Some(
                self.reporter
                    .instance
                    .as_deref()
                    .unwrap_or(&self.reporter.controller)
                    .chars()
                    .take(128)
                    .collect(),
            ),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            related: event.secondary.clone(),
            ..K8sEvent::default()
        }
    }
}

fn last_seen(e: &K8sEvent) -> Option<Timestamp> {
    e.series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::names::is_dns1123_subdomain;

    #[test]
    fn events_of_a_run_with_the_longest_name_have_valid_names() {
        // A run may be named with up to 253 characters; its Events must be too.
        let run = format!("{}.{}", "a".repeat(126), "b".repeat(126));
        assert!(is_dns1123_subdomain(&run));
        let name = event_name(&run, 1_764_000_000_123_456_789);
        assert!(is_dns1123_subdomain(&name), "{} chars: {name}", name.len());
        assert_ne!(name, event_name(&run, 1_764_000_000_123_456_790));
        assert_eq!(event_name("web-oom", 255), "web-oom.ff");
    }

    #[test]
    fn notes_are_cut_to_what_the_api_server_accepts() {
        let long = format!("step {}: {}", "s".repeat(40), "é".repeat(600));
        let note = cap_note(&long);
        assert!(
            note.len() <= MAX_NOTE_BYTES && note.ends_with('…'),
            "{}",
            note.len()
        );
        assert_eq!(cap_note("short"), "short");
    }
}
