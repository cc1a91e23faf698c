//! The operator's Prometheus metrics: reconciles and their duration by outcome, runs by
//! outcome, step executions and their durations by action, and active runs.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
    }
}
