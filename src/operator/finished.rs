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
    /// Takes in one event of the watch of executions.
    pub fn observe(&self, event: &watcher::Event<KubernetesExecution>) {
        match event {
            watcher::Event::Apply(kex) | watcher::Event::InitApply(kex) if kex.is_finished() => {
                self.keep(kex)
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
        if let Ok(mut by_run) = self.by_run.lock() {
            by_run
                .entry(run.to_string())
                .or_default()
                .insert(name.to_string(), copy);
        }
    }

    fn drop_one(&self, kex: &KubernetesExecution) {
        let (Some(run), Some(name)) = (owner_run(kex), kex.metadata.name.as_deref()) else {
            return;
        };
        if let Ok(mut by_run) = self.by_run.lock()
            && let Some(of_run) = by_run.get_mut(run)
        {
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
        let by_run = self.by_run.lock().ok()?;
        let of_run = by_run.get(run_uid)?;
        names.iter().map(|n| of_run.get(*n).cloned()).collect()
    }

    /// Keeps of run `run_uid` only the executions `names` (those still in flight after a
    /// status write: the others have been taken into its status).
    pub fn keep_only(&self, run_uid: &str, names: &[&str]) {
        if let Ok(mut by_run) = self.by_run.lock()
            && let Some(of_run) = by_run.get_mut(run_uid)
        {
            of_run.retain(|name, _| names.contains(&name.as_str()));
            if of_run.is_empty() {
                by_run.remove(run_uid);
            }
        }
    }

    /// Forgets the runs `keep` says no to (finished, or gone).
    pub fn retain_runs(&self, mut keep: impl FnMut(&str) -> bool) {
        if let Ok(mut by_run) = self.by_run.lock() {
            by_run.retain(|uid, _| keep(uid));
        }
    }

    /// Executions held, over all runs.
    pub fn len(&self) -> usize {
        self.by_run
            .lock()
            .map(|m| m.values().map(HashMap::len).sum())
            .unwrap_or_default()
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

    #[test]
    fn only_finished_executions_are_kept_and_all_or_none_is_answered() {
        let f = FinishedExecutions::default();
        f.observe(&watcher::Event::Apply(kex("a", "r1", Some("Running"))));
        f.observe(&watcher::Event::Apply(kex("b", "r1", None)));
        assert!(f.is_empty());
        // Nothing in flight: nothing to read.
        assert_eq!(f.all_of("r1", &[]).map(|v| v.len()), Some(0));
        assert!(f.all_of("r1", &["a"]).is_none());

        f.observe(&watcher::Event::Apply(kex("a", "r1", Some("Succeeded"))));
        f.observe(&watcher::Event::InitApply(kex("c", "r1", Some("Failed"))));
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
            f.observe(&watcher::Event::Apply(kex(name, run, Some("Succeeded"))));
        }
        assert_eq!(f.len(), 3);
        f.observe(&watcher::Event::Delete(kex("a", "r1", Some("Succeeded"))));
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
        f.observe(&watcher::Event::Apply(orphan));
        assert!(f.is_empty());
    }
}
