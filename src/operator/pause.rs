//! The cluster-wide pause switch: the ConfigMap `remedy-pause` in the operator's namespace.
//! While its `paused` key is `"true"`, no run leaves Validating and no attempt starts
//! (the engine's rule; this module only tells it); attempts in flight settle.
//!
//! ```yaml
//! apiVersion: v1
//! kind: ConfigMap
//! metadata: { name: remedy-pause, namespace: remedy-system }
//! data: { paused: "true", reason: "change freeze", pausedBy: alice, pausedAt: "2026-…" }
//! ```
//!
//! The controller watches that one ConfigMap; every change re-reconciles every run, so
//! waiting runs show the `Paused` condition at once and continue at once on resume.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use kube::runtime::watcher;

use crate::sync;

/// The name of the pause ConfigMap, in the operator's namespace.
pub const PAUSE_CONFIGMAP: &str = "remedy-pause";

/// What the switch says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pause {
    /// Remedy is paused.
    pub paused: bool,
    /// Why, as given.
    pub reason: String,
    /// Who paused it, as given (informative).
    pub paused_by: String,
    /// When, as given (RFC 3339).
    pub paused_at: String,
}

impl Pause {
    /// Reads the switch from the ConfigMap's data; only `paused: "true"` (any case) pauses.
    pub fn from_data(data: Option<&BTreeMap<String, String>>) -> Pause {
        let get = |k: &str| {
            data.and_then(|d| d.get(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        Pause {
            paused: get("paused").eq_ignore_ascii_case("true"),
            reason: get("reason"),
            paused_by: get("pausedBy"),
            paused_at: get("pausedAt"),
        }
    }

    /// The ConfigMap data that says this.
    pub fn to_data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("paused".to_string(), self.paused.to_string()),
            ("reason".to_string(), self.reason.clone()),
            ("pausedBy".to_string(), self.paused_by.clone()),
            ("pausedAt".to_string(), self.paused_at.clone()),
        ])
    }

    /// The message of the `Paused` condition on waiting runs.
    pub fn message(&self) -> String {
        let who = if self.paused_by.is_empty() {
            String::new()
        } else {
            format!(" by {}", self.paused_by)
        };
        let why = if self.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.reason)
        };
        format!(
            "Remedy is paused{who}{why}: no run leaves Validating and no attempt starts until \
             `remedy resume`; attempts in flight settle"
        )
    }
}

/// The switch as last seen by the controller's watch (not paused until seen otherwise).
#[derive(Debug, Default)]
pub struct PauseSwitch {
    current: Mutex<Pause>,
}

impl PauseSwitch {
    /// The switch now.
    pub fn current(&self) -> Pause {
        sync::lock(&self.current).clone()
    }

    /// Sets the switch; answers whether it changed.
    fn set(&self, pause: Pause) -> bool {
        let mut current = sync::lock(&self.current);
        if *current == pause {
            return false;
        }
        *current = pause;
        true
    }
}

/// Reads the switch once, before the controller reconciles anything: an operator started
/// (or failed over) during a pause must not start attempts until its watch catches up. A
/// read error is logged and the switch left as it was (not paused).
pub async fn read_once(client: Client, namespace: &str, switch: &PauseSwitch) {
    let maps: Api<ConfigMap> = Api::namespaced(client, namespace);
    match maps.get_opt(PAUSE_CONFIGMAP).await {
        Ok(cm) => {
            switch.set(Pause::from_data(cm.as_ref().and_then(|c| c.data.as_ref())));
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the pause switch; starting as not paused");
        }
    }
}

/// Watches the pause ConfigMap in `namespace` and yields once each time the switch changes.
/// A watch error is logged and the last known state kept: an operator that cannot read the
/// switch keeps going as it was (see docs/operations.md).
pub fn changes(
    client: Client,
    namespace: &str,
    switch: std::sync::Arc<PauseSwitch>,
) -> impl Stream<Item = ()> + Send + 'static {
    let maps: Api<ConfigMap> = Api::namespaced(client, namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={PAUSE_CONFIGMAP}"));
    watcher(maps, config).filter_map(move |event| {
        let changed = match event {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                switch.set(Pause::from_data(cm.data.as_ref()))
            }
            Ok(watcher::Event::Delete(_)) => switch.set(Pause::default()),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the pause switch; keeping its last state");
                false
            }
        };
        if changed {
            tracing::info!(paused = switch.current().paused, "the pause switch changed");
        }
        async move { changed.then_some(()) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_word_true_pauses() {
        let data = |v: &str| BTreeMap::from([("paused".to_string(), v.to_string())]);
        for v in ["true", " true\n", "True", "TRUE"] {
            assert!(Pause::from_data(Some(&data(v))).paused, "{v}");
        }
        for v in ["false", "yes", "1", "TRUE ME", ""] {
            assert!(!Pause::from_data(Some(&data(v))).paused, "{v}");
        }
        assert!(!Pause::from_data(None).paused);
    }

    #[test]
    fn the_data_round_trips_and_the_message_says_who_and_why() {
        let pause = Pause {
            paused: true,
            reason: "change freeze".into(),
            paused_by: "alice".into(),
            paused_at: "2026-01-01T00:00:00Z".into(),
        };
        assert_eq!(Pause::from_data(Some(&pause.to_data())), pause);
        assert!(
            pause
                .message()
                .starts_with("Remedy is paused by alice (change freeze): ")
        );
    }
}
