//! The executions the workflow controller has seen finish, by run, taken from its watch of
//! executions. A reconcile whose in-flight executions have all finished decides from these
//! copies instead of listing the run's executions: a finished execution (`Succeeded` or
//! `Failed`) never changes again, so its copy cannot be stale. Anything else (an execution
//! still running, or not seen yet) is read from the API, as before.
//!
//! A run's copies go when a status write shows their steps no longer in flight, when the
//! run finishes, or when the run is gone; a deleted execution goes with its Delete event.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::runtime::watcher;

use crate::api::{KubernetesExecution, WorkflowExecution};
use crate::sync;

/// Finished executions by the uid of the run that owns them, then by name.
#[derive(Debug, Default)]
pub struct FinishedExecutions {
    by_run: Mutex<HashMap<String, HashMap<String, KubernetesExecution>>>,
}

/// The uid of the WorkflowExecution that controls `kex`.
fn owner_run(kex: &KubernetesExecution) -> Option<&str> {
    kex.metadata
        .owner_references
        .as_deref()?
        .iter()
        .find(|o| o.kind == "WorkflowExecution" && o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

impl FinishedExecutions {
    /// Takes in one event of the watch of executions. A finished execution is kept only when
    /// `run_in_flight` says its run (by namespace, name and uid) is still being decided: a
    /// finished run's executions are never read again, and there may be many of them.
    pub fn observe(
        &self,
        event: &watcher::Event<KubernetesExecution>,
        run_in_flight: impl Fn(&str, &str, &str) -> bool,
    ) {
        match event {
            watcher::Event::Apply(kex) | watcher::Event::InitApply(kex) if kex.is_finished() => {
                let owner = kex.metadata.owner_references.as_deref().and_then(|refs| {
                    refs.iter()
                        .find(|o| o.kind == "WorkflowExecution" && o.controller == Some(true))
                });
                let ns = kex.metadata.namespace.as_deref().unwrap_or_default();
                if owner.is_some_and(|o| run_in_flight(ns, &o.name, &o.uid)) {
                    self.keep(kex)
                }
            }
            watcher::Event::Delete(kex) => self.drop_one(kex),
            _ => {}
        }
    }

    fn keep(&self, kex: &KubernetesExecution) {
        let (Some(run), Some(name)) = (owner_run(kex), kex.metadata.name.as_deref()) else {
            return;
        };
        let mut copy = kex.clone();
        copy.metadata.managed_fields = None;
        sync::lock(&self.by_run)
            .entry(run.to_string())
            .or_default()
            .insert(name.to_string(), copy);
    }

    fn drop_one(&self, kex: &KubernetesExecution) {
        let (Some(run), Some(name)) = (owner_run(kex), kex.metadata.name.as_deref()) else {
            return;
        };
        let mut by_run = sync::lock(&self.by_run);
        if let Some(of_run) = by_run.get_mut(run) {
            of_run.remove(name);
            if of_run.is_empty() {
                by_run.remove(run);
            }
        }
    }

    /// The executions `names` of run `run_uid`, when every one of them has been seen
    /// finished; `None` when any has not (then the caller reads them from the API).
    pub fn all_of(&self, run_uid: &str, names: &[&str]) -> Option<Vec<KubernetesExecution>> {
        if names.is_empty() {
            return Some(Vec::new());
        }
        let by_run = sync::lock(&self.by_run);
        let of_run = by_run.get(run_uid)?;
        names.iter().map(|n| of_run.get(*n).cloned()).collect()
    }

    /// Keeps of run `run_uid` only the executions `names` (those still in flight after a
    /// status write: the others have been taken into its status).
    pub fn keep_only(&self, run_uid: &str, names: &[&str]) {
        let mut by_run = sync::lock(&self.by_run);
        if let Some(of_run) = by_run.get_mut(run_uid) {
            of_run.retain(|name, _| names.contains(&name.as_str()));
            if of_run.is_empty() {
                by_run.remove(run_uid);
            }
        }
    }

    /// Forgets the runs `keep` says no to (finished, or gone).
    pub fn retain_runs(&self, mut keep: impl FnMut(&str) -> bool) {
        sync::lock(&self.by_run).retain(|uid, _| keep(uid));
    }

    /// Executions held, over all runs.
    pub fn len(&self) -> usize {
        sync::lock(&self.by_run).values().map(HashMap::len).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The names of the executions `wfe`'s status has in flight, as the engine reads them.
pub fn in_flight_names(status: &crate::api::WorkflowExecutionStatus) -> Vec<&str> {
    status
        .steps
        .iter()
        .filter(|s| crate::engine::in_flight(s))
        .map(|s| s.execution_ref.as_deref().unwrap_or_default())
        .collect()
}

/// The event the controller's cache takes of a watch `event`: a finished run leaves the
/// cache (its Apply becomes a Delete, its InitApply is dropped). Retention has taken the
/// event before, whole, and keeps what is read of a finished run (`retention::index`).
pub fn in_flight_only(
    event: watcher::Event<WorkflowExecution>,
) -> Option<watcher::Event<WorkflowExecution>> {
    match event {
        watcher::Event::Apply(run) if run_ended(&run) => Some(watcher::Event::Delete(run)),
        watcher::Event::InitApply(run) if run_ended(&run) => None,
        other => Some(other),
    }
}

/// Whether `wfe` has ended (a terminal phase): it is decided no more.
pub fn run_ended(wfe: &WorkflowExecution) -> bool {
    wfe.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(crate::api::WorkflowPhase::is_terminal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kex(name: &str, run: &str, phase: Option<&str>) -> KubernetesExecution {
        let mut obj = json!({
            "apiVersion": "kubernetesexecution.kubernaut.io/v1alpha1",
            "kind": "KubernetesExecution",
            "metadata": {
                "name": name, "namespace": "ns",
                "ownerReferences": [{
                    "apiVersion": "workflowexecution.kubernaut.io/v1alpha1",
                    "kind": "WorkflowExecution", "name": "run", "uid": run, "controller": true
                }],
                "managedFields": [{"manager": "remedy", "operation": "Update"}]
            },
            "spec": {
                "workflowExecutionRef": {"name": "run"}, "step": "one", "attempt": 1,
                "action": {"type": "notify_only", "parameters": {}}
            }
        });
        if let Some(p) = phase {
            obj["status"] = json!({"phase": p});
        }
        match serde_json::from_value(obj) {
            Ok(k) => k,
            Err(e) => panic!("test object: {e}"),
        }
    }

    impl FinishedExecutions {
        fn observe_all(&self, event: &watcher::Event<KubernetesExecution>) {
            self.observe(event, |_, _, _| true);
        }
    }

    #[test]
    fn executions_of_runs_not_in_flight_are_not_kept() {
        let f = FinishedExecutions::default();
        f.observe(
            &watcher::Event::InitApply(kex("a", "r1", Some("Succeeded"))),
            |ns, name, uid| (ns, name, uid) == ("ns", "run", "r2"),
        );
        assert!(f.is_empty());
        f.observe(
            &watcher::Event::InitApply(kex("a", "r2", Some("Succeeded"))),
            |ns, name, uid| (ns, name, uid) == ("ns", "run", "r2"),
        );
        assert_eq!(f.len(), 1);
    }

    fn run(phase: &str) -> WorkflowExecution {
        match serde_json::from_value(json!({
            "apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
            "metadata": {"name": "r", "namespace": "ns", "uid": "u"},
            "spec": {"aiAnalysisRef": {"name": "a"}},
            "status": {"phase": phase}
        })) {
            Ok(r) => r,
            Err(e) => panic!("test object: {e}"),
        }
    }

    fn kind(event: Option<watcher::Event<WorkflowExecution>>) -> &'static str {
        match event {
            None => "dropped",
            Some(watcher::Event::Apply(_)) => "apply",
            Some(watcher::Event::InitApply(_)) => "init-apply",
            Some(watcher::Event::Delete(_)) => "delete",
            Some(watcher::Event::Init) => "init",
            Some(watcher::Event::InitDone) => "init-done",
        }
    }

    #[test]
    fn the_cache_takes_runs_in_flight_and_lets_finished_ones_go() {
        for phase in ["Completed", "Failed", "RolledBack"] {
            assert_eq!(
                kind(in_flight_only(watcher::Event::Apply(run(phase)))),
                "delete"
            );
            assert_eq!(
                kind(in_flight_only(watcher::Event::InitApply(run(phase)))),
                "dropped"
            );
            assert_eq!(
                kind(in_flight_only(watcher::Event::Delete(run(phase)))),
                "delete"
            );
        }
        for phase in ["Pending", "Executing", "RollingBack"] {
            assert_eq!(
                kind(in_flight_only(watcher::Event::Apply(run(phase)))),
                "apply"
            );
            assert_eq!(
                kind(in_flight_only(watcher::Event::InitApply(run(phase)))),
                "init-apply"
            );
        }
        assert_eq!(kind(in_flight_only(watcher::Event::Init)), "init");
        assert_eq!(kind(in_flight_only(watcher::Event::InitDone)), "init-done");
    }

    #[test]
    fn only_finished_executions_are_kept_and_all_or_none_is_answered() {
        let f = FinishedExecutions::default();
        f.observe_all(&watcher::Event::Apply(kex("a", "r1", Some("Running"))));
        f.observe_all(&watcher::Event::Apply(kex("b", "r1", None)));
        assert!(f.is_empty());
        // Nothing in flight: nothing to read.
        assert_eq!(f.all_of("r1", &[]).map(|v| v.len()), Some(0));
        assert!(f.all_of("r1", &["a"]).is_none());

        f.observe_all(&watcher::Event::Apply(kex("a", "r1", Some("Succeeded"))));
        f.observe_all(&watcher::Event::InitApply(kex("c", "r1", Some("Failed"))));
        let got = f.all_of("r1", &["a", "c"]).unwrap_or_default();
        assert_eq!(got.len(), 2);
        // The copies keep no managedFields.
        assert!(got.iter().all(|k| k.metadata.managed_fields.is_none()));
        // One of the names not seen finished: the caller must read them all.
        assert!(f.all_of("r1", &["a", "b"]).is_none());
        // Another run's executions are not this run's.
        assert!(f.all_of("r2", &["a"]).is_none());
    }

    #[test]
    fn copies_go_with_deletes_status_writes_and_ended_runs() {
        let f = FinishedExecutions::default();
        for (name, run) in [("a", "r1"), ("b", "r1"), ("c", "r2")] {
            f.observe_all(&watcher::Event::Apply(kex(name, run, Some("Succeeded"))));
        }
        assert_eq!(f.len(), 3);
        f.observe_all(&watcher::Event::Delete(kex("a", "r1", Some("Succeeded"))));
        assert!(f.all_of("r1", &["a"]).is_none());
        f.keep_only("r1", &[]);
        assert!(f.all_of("r1", &["b"]).is_none());
        assert_eq!(f.len(), 1);
        f.retain_runs(|uid| uid != "r2");
        assert!(f.is_empty());
    }

    #[test]
    fn an_execution_without_a_controlling_run_is_not_kept() {
        let f = FinishedExecutions::default();
        let mut orphan = kex("a", "r1", Some("Succeeded"));
        orphan.metadata.owner_references = None;
        f.observe_all(&watcher::Event::Apply(orphan));
        assert!(f.is_empty());
    }
}
