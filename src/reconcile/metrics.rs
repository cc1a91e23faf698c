//! Both controllers' Prometheus metrics: reconciles and their duration by outcome, runs by
//! outcome, step executions and their durations by action, active runs, retries by
//! controller and reason, and the age of the oldest object a controller has not reconciled.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::sync;

/// Labels of a reconcile: `ok` or the error's metric label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `ok` or an error class.
    pub outcome: String,
}

/// Labels of a finished run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RunLabels {
    /// The run's outcome (`Success`, `RolledBack`, …).
    pub outcome: String,
}

/// Labels of a step execution.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ActionLabels {
    /// The action type.
    pub action: String,
}

/// Labels of a deleted finished run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DeletedLabels {
    /// Why: `ttl` (its retention period passed) or `per_target` (newer runs on its target).
    pub reason: String,
}

/// Labels of a retry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RetryLabels {
    /// `workflow` or `executor`.
    pub controller: String,
    /// Why (`conflict`, `throttled`, `server_error`, `unavailable`, `timeout`, `transport`,
    /// `other`).
    pub reason: String,
}

/// Labels of a per-controller series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ControllerLabels {
    /// `workflow` or `executor`.
    pub controller: String,
}

/// The objects a controller has not reconciled successfully yet, and since when: one that it
/// has seen and not yet reconciled, or whose last reconcile failed. A success clears it.
#[derive(Debug, Default)]
pub struct Unreconciled {
    since: Mutex<HashMap<String, tokio::time::Instant>>,
    reconciled: Mutex<HashSet<String>>,
}

impl Unreconciled {
    /// `key` is known to need a reconcile (first seen): counted from now unless it was
    /// reconciled already.
    pub fn seen(&self, key: &str) {
        let done = sync::lock(&self.reconciled).contains(key);
        if !done {
            sync::lock(&self.since)
                .entry(key.to_string())
                .or_insert_with(tokio::time::Instant::now);
        }
    }

    /// A reconcile of `key` failed: counted from now unless it was already waiting.
    pub fn failed(&self, key: &str) {
        sync::lock(&self.since)
            .entry(key.to_string())
            .or_insert_with(tokio::time::Instant::now);
    }

    /// A reconcile of `key` succeeded.
    pub fn succeeded(&self, key: &str) {
        sync::lock(&self.since).remove(key);
        sync::lock(&self.reconciled).insert(key.to_string());
    }

    /// Forgets the objects `keep` says no to (finished, or gone).
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        sync::lock(&self.since).retain(|k, _| keep(k));
        sync::lock(&self.reconciled).retain(|k| keep(k));
    }

    /// How long the oldest object has waited (zero when none waits).
    pub fn oldest(&self) -> Duration {
        sync::lock(&self.since)
            .values()
            .min()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }
}

/// Every series the operator serves, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: Family<ReconcileLabels, Histogram>,
    runs: Family<RunLabels, Counter>,
    executions: Family<ActionLabels, Counter>,
    execution_duration: Family<ActionLabels, Histogram>,
    active_runs: Gauge,
    archived: Counter,
    archive_failures: Counter,
    unarchived: Gauge,
    deleted: Family<DeletedLabels, Counter>,
    retries: Family<RetryLabels, Counter>,
    oldest_unreconciled: Family<ControllerLabels, Gauge<f64, AtomicU64>>,
    /// The runs the workflow controller has not reconciled yet (by uid).
    pub unreconciled_runs: Unreconciled,
    /// The executions the executor has not reconciled yet (by `namespace/name`).
    pub unreconciled_executions: Unreconciled,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, registered under the `remedy` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("remedy");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_duration = Family::<ReconcileLabels, Histogram>::new_with_constructor(
            reconcile_histogram as fn() -> Histogram,
        );
        let runs = Family::<RunLabels, Counter>::default();
        let executions = Family::<ActionLabels, Counter>::default();
        let execution_duration = Family::<ActionLabels, Histogram>::new_with_constructor(
            execution_histogram as fn() -> Histogram,
        );
        let active_runs = Gauge::default();
        let archived = Counter::default();
        let archive_failures = Counter::default();
        let unarchived = Gauge::default();
        let deleted = Family::<DeletedLabels, Counter>::default();
        registry.register(
            "runs_archived",
            "Finished runs whose record was committed to the archive",
            archived.clone(),
        );
        registry.register(
            "archive_failures",
            "Failed attempts to archive a finished run",
            archive_failures.clone(),
        );
        registry.register(
            "runs_unarchived",
            "Finished runs kept because their last archive attempt failed",
            unarchived.clone(),
        );
        registry.register(
            "runs_deleted",
            "Finished runs deleted by retention, by reason",
            deleted.clone(),
        );
        let retries = Family::<RetryLabels, Counter>::default();
        let oldest_unreconciled = Family::<ControllerLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "reconciles",
            "WorkflowExecution reconciles by outcome",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of WorkflowExecution reconciles by outcome",
            reconcile_duration.clone(),
        );
        registry.register("runs", "Workflow runs that ended, by outcome", runs.clone());
        registry.register(
            "step_executions",
            "KubernetesExecutions created, by action",
            executions.clone(),
        );
        registry.register(
            "step_duration_seconds",
            "Duration of finished step executions, by action",
            execution_duration.clone(),
        );
        registry.register(
            "active_runs",
            "Workflow runs not yet in a terminal phase",
            active_runs.clone(),
        );
        registry.register(
            "retries",
            "Retries of reconciles, requests and action steps, by controller and reason",
            retries.clone(),
        );
        registry.register(
            "oldest_unreconciled_seconds",
            "Age of the oldest object a controller has seen and not reconciled successfully since (its first reconcile is due, or its last one failed)",
            oldest_unreconciled.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            runs,
            executions,
            execution_duration,
            active_runs,
            archived,
            archive_failures,
            unarchived,
            deleted,
            retries,
            oldest_unreconciled,
            unreconciled_runs: Unreconciled::default(),
            unreconciled_executions: Unreconciled::default(),
        }
    }

    /// Counts a run whose record was committed to the archive.
    pub fn run_archived(&self) {
        self.archived.inc();
    }

    /// Counts a failed archive attempt.
    pub fn archive_failed(&self) {
        self.archive_failures.inc();
    }

    /// Sets the number of runs kept because they could not be archived.
    pub fn set_unarchived_runs(&self, count: usize) {
        self.unarchived
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts a finished run deleted by retention (`ttl` or `per_target`).
    pub fn run_deleted(&self, reason: &str) {
        self.deleted
            .get_or_create(&DeletedLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts one retry by `controller` (`workflow`, `executor`) for `reason`.
    pub fn retried(&self, controller: &str, reason: super::backoff::RetryReason) {
        self.retries
            .get_or_create(&RetryLabels {
                controller: controller.to_string(),
                reason: reason.as_str().to_string(),
            })
            .inc();
    }

    /// Retries counted for `controller` and `reason` so far.
    pub fn retries(&self, controller: &str, reason: super::backoff::RetryReason) -> u64 {
        self.retries
            .get_or_create(&RetryLabels {
                controller: controller.to_string(),
                reason: reason.as_str().to_string(),
            })
            .get()
    }

    /// Starts timing a reconcile; the guard records it when dropped.
    pub fn reconcile_timer(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            started: Instant::now(),
            outcome: "ok".to_string(),
        }
    }

    /// Counts a run that reached a terminal phase.
    pub fn run_ended(&self, outcome: &str) {
        self.runs
            .get_or_create(&RunLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts an execution created for `action`.
    pub fn execution_created(&self, action: &str) {
        self.executions
            .get_or_create(&ActionLabels {
                action: action.to_string(),
            })
            .inc();
    }

    /// Records how long a finished execution of `action` took.
    pub fn execution_finished(&self, action: &str, seconds: f64) {
        self.execution_duration
            .get_or_create(&ActionLabels {
                action: action.to_string(),
            })
            .observe(seconds.max(0.0));
    }

    /// Sets the number of runs not yet ended.
    pub fn set_active_runs(&self, count: usize) {
        self.active_runs
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        for (controller, objects) in [
            ("workflow", &self.unreconciled_runs),
            ("executor", &self.unreconciled_executions),
        ] {
            self.oldest_unreconciled
                .get_or_create(&ControllerLabels {
                    controller: controller.to_string(),
                })
                .set(objects.oldest().as_secs_f64());
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn reconcile_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

fn execution_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.5, 2.0, 14))
}

/// Times one reconcile and records it, with its outcome, when dropped.
#[derive(Debug)]
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    started: Instant,
    outcome: String,
}

impl ReconcileTimer<'_> {
    /// Marks the reconcile as failed with this error class.
    pub fn failed(&mut self, label: &str) {
        self.outcome = label.to_string();
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        let labels = ReconcileLabels {
            outcome: std::mem::take(&mut self.outcome),
        };
        self.metrics.reconciles.get_or_create(&labels).inc();
        self.metrics
            .reconcile_duration
            .get_or_create(&labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_series_are_encoded_with_their_labels() {
        let m = Metrics::new();
        {
            let mut t = m.reconcile_timer();
            t.failed("conflict");
        }
        drop(m.reconcile_timer());
        m.run_ended("RolledBack");
        m.execution_created("scale_deployment");
        m.execution_finished("scale_deployment", 2.5);
        m.set_active_runs(3);
        m.run_archived();
        m.archive_failed();
        m.archive_failed();
        m.set_unarchived_runs(1);
        m.run_deleted("per_target");
        m.retried("executor", super::super::backoff::RetryReason::Throttled);
        m.unreconciled_runs.failed("uid-1");
        m.unreconciled_executions.seen("shop/x");
        m.unreconciled_executions.succeeded("shop/x");
        let text = m.encode().unwrap();
        for line in [
            "remedy_reconciles_total{outcome=\"conflict\"} 1",
            "remedy_reconciles_total{outcome=\"ok\"} 1",
            "remedy_runs_total{outcome=\"RolledBack\"} 1",
            "remedy_step_executions_total{action=\"scale_deployment\"} 1",
            "remedy_step_duration_seconds_count{action=\"scale_deployment\"} 1",
            "remedy_reconcile_duration_seconds_count{outcome=\"ok\"} 1",
            "remedy_active_runs 3",
            "remedy_runs_archived_total 1",
            "remedy_archive_failures_total 2",
            "remedy_runs_unarchived 1",
            "remedy_runs_deleted_total{reason=\"per_target\"} 1",
            "remedy_retries_total{controller=\"executor\",reason=\"throttled\"} 1",
            "remedy_oldest_unreconciled_seconds{controller=\"executor\"} 0.0",
            "remedy_oldest_unreconciled_seconds{controller=\"workflow\"} ",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
    }

    #[test]
    fn an_object_is_unreconciled_from_when_it_is_seen_or_fails_until_it_succeeds() {
        let u = Unreconciled::default();
        assert_eq!(u.oldest(), Duration::ZERO);
        u.seen("a");
        std::thread::sleep(Duration::from_millis(5));
        assert!(u.oldest() >= Duration::from_millis(5));
        u.succeeded("a");
        assert_eq!(u.oldest(), Duration::ZERO);
        // Seen again after a success: nothing is due.
        u.seen("a");
        assert_eq!(u.oldest(), Duration::ZERO);
        // A failure makes it due until the next success; a second failure keeps the first time.
        u.failed("a");
        std::thread::sleep(Duration::from_millis(5));
        u.failed("a");
        assert!(u.oldest() >= Duration::from_millis(5));
        u.retain(|k| k != "a");
        assert_eq!(u.oldest(), Duration::ZERO);
    }
}
