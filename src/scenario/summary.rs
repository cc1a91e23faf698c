//! What a finished run is summarised as: outcome, steps, rollback, resources changed, events
//! and the scenario's checks. Built from the objects in the cluster; printed by `remedy run`.

use serde::Serialize;

use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;

use super::check::CheckResult;
use crate::api::kubernetes_execution::ExecutionKind;
use crate::api::{KubernetesExecution, LABEL_KIND, WorkflowExecution};
use crate::archive::RunRecord;

/// The summary of one run.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The scenario's name.
    pub scenario: String,
    /// The WorkflowExecution as `namespace/name`.
    pub run: String,
    /// The pinned workflow as `name@version`.
    pub workflow: Option<String>,
    /// The final phase.
    pub phase: Option<String>,
    /// The outcome.
    pub outcome: Option<String>,
    /// Why it failed.
    pub failure: Option<FailureRow>,
    /// True when the run was a dry run.
    pub dry_run: bool,
    /// True when the run ended before a final phase (real-time cap or waiting for approval).
    pub unfinished: Option<String>,
    /// Real time the run took, in milliseconds.
    pub elapsed_ms: u64,
    /// The simulated time factor.
    pub speed: f64,
    /// Every step of the run (main, verify, finally), in status order.
    pub steps: Vec<StepRow>,
    /// The compensations that ran, in order.
    pub rollback: Vec<ExecutionRow>,
    /// What the executions changed, in order.
    pub resources: Vec<ResourceRow>,
    /// Kubernetes Events, oldest first.
    pub events: Vec<EventRow>,
    /// The scenario's expectations and whether they held.
    pub checks: Vec<CheckResult>,
}

/// Why a run failed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRow {
    /// The failing step.
    pub step: Option<String>,
    /// The reason.
    pub reason: String,
    /// The message.
    pub message: String,
}

/// One step of the run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRow {
    /// The step name.
    pub name: String,
    /// Its final phase.
    pub phase: String,
    /// Attempts made.
    pub attempts: u32,
    /// From its first start to its end (or its compensation's end) as seen, in real milliseconds.
    pub duration_ms: Option<u64>,
    /// Its message.
    pub message: String,
}

/// One execution (an attempt or a compensation).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRow {
    /// The step it belongs to.
    pub step: String,
    /// The KubernetesExecution's name.
    pub execution: String,
    /// Its action type.
    pub action: String,
    /// Its phase.
    pub phase: String,
    /// Its error, if it failed.
    pub error: String,
}

/// One resource an execution changed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRow {
    /// The step (or `rollback:STEP`) that changed it.
    pub step: String,
    /// `Kind namespace/name`.
    pub resource: String,
    /// What changed, before → after.
    pub change: String,
}

/// One Kubernetes Event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRow {
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub kind: String,
    /// The reason.
    pub reason: String,
    /// `Kind/name` of the object it is about.
    pub object: String,
    /// The message.
    pub message: String,
    /// How many times it happened.
    pub count: i32,
}

impl Summary {
    /// The same summary `remedy run` prints, built from an archived run's record.
    pub fn from_record(record: &RunRecord) -> Summary {
        let mut summary = Summary::default();
        match serde_json::from_value::<WorkflowExecution>(record.run.clone()) {
            Ok(run) => summary.fill_run(&run),
            Err(_) => {
                summary.run = record.id();
                summary.phase = record.phase.clone();
                summary.outcome = record.outcome.clone();
            }
        }
        // An execution the current types cannot read (written by another version) is left
        // out of the tables rather than failing the whole view.
        let executions = record
            .executions
            .iter()
            .filter_map(|k| serde_json::from_value::<KubernetesExecution>(k.clone()).ok())
            .collect();
        summary.fill_executions(executions);
        summary.events = record
            .events
            .iter()
            .map(|e| EventRow {
                kind: e.kind.clone(),
                reason: e.reason.clone(),
                object: e.object.clone(),
                message: e.message.clone(),
                count: e.count,
            })
            .collect();
        summary.dry_run = record
            .run
            .pointer("/spec/dryRun")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        summary.elapsed_ms = match (&record.started_at, &record.finished_at) {
            (Some(a), Some(b)) => u64::try_from(b.0.duration_since(a.0).as_millis()).unwrap_or(0),
            _ => 0,
        };
        summary
    }

    /// True when the outcome counts as success on the command line (Success or DryRun).
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome.as_deref(), Some("Success" | "DryRun"))
    }

    /// Fills the run's part of the summary from the WorkflowExecution.
    pub fn fill_run(&mut self, run: &WorkflowExecution) {
        self.run = format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any());
        self.dry_run = run.spec.dry_run;
        let Some(status) = &run.status else {
            return;
        };
        self.workflow = status
            .workflow
            .as_ref()
            .map(|w| format!("{}@{}", w.name, w.version));
        self.phase = status.phase.map(|p| name_of(&p));
        self.outcome = status.outcome.map(|o| name_of(&o));
        self.failure = status.failure.as_ref().map(|f| FailureRow {
            step: f.step.clone(),
            reason: f.reason.as_str().to_string(),
            message: f.message.clone(),
        });
        self.steps = status
            .steps
            .iter()
            .map(|s| StepRow {
                name: s.name.clone(),
                phase: name_of(&s.phase),
                attempts: s.attempts,
                duration_ms: match (&s.started_at, &s.completed_at) {
                    (Some(a), Some(b)) => {
                        let d = b.0.duration_since(a.0);
                        u64::try_from(d.as_millis()).ok()
                    }
                    _ => None,
                },
                message: s.message.clone(),
            })
            .collect();
    }

    /// Fills the rollback and resources from the run's executions.
    pub fn fill_executions(&mut self, mut executions: Vec<KubernetesExecution>) {
        executions.sort_by_key(|k| {
            (
                k.status.as_ref().and_then(|s| s.started_at.clone()),
                k.metadata
                    .resource_version
                    .as_deref()
                    .and_then(|rv| rv.parse::<u64>().ok()),
            )
        });
        for kex in &executions {
            let rollback = kex.labels().get(LABEL_KIND).map(String::as_str)
                == Some(ExecutionKind::Rollback.as_str());
            let step = if rollback {
                format!("rollback:{}", kex.spec.step)
            } else {
                kex.spec.step.clone()
            };
            let status = kex.status.clone().unwrap_or_default();
            let result = status.result.unwrap_or_default();
            if rollback {
                self.rollback.push(ExecutionRow {
                    step: kex.spec.step.clone(),
                    execution: kex.name_any(),
                    action: kex.spec.action.action_type.clone(),
                    phase: status
                        .phase
                        .map(|p| name_of(&p))
                        .unwrap_or_else(|| "Pending".into()),
                    error: result.error.clone(),
                });
            }
            for change in &result.resources_affected {
                let place = match &change.namespace {
                    Some(ns) => format!("{ns}/{}", change.name),
                    None => change.name.clone(),
                };
                self.resources.push(ResourceRow {
                    step: step.clone(),
                    resource: format!("{} {place}", change.kind),
                    change: change.change.clone(),
                });
            }
        }
    }

    /// Fills the events, oldest first.
    pub fn fill_events(&mut self, mut events: Vec<Event>) {
        events.sort_by_key(|e| {
            (
                e.last_timestamp
                    .clone()
                    .or_else(|| e.first_timestamp.clone()),
                e.metadata
                    .resource_version
                    .as_deref()
                    .and_then(|rv| rv.parse::<u64>().ok()),
            )
        });
        self.events = events
            .into_iter()
            .map(|e| EventRow {
                kind: e.type_.unwrap_or_default(),
                reason: e.reason.unwrap_or_default(),
                object: format!(
                    "{}/{}",
                    e.involved_object.kind.unwrap_or_default(),
                    e.involved_object.name.unwrap_or_default()
                ),
                message: e.message.unwrap_or_default(),
                count: e.count.unwrap_or(1),
            })
            .collect();
    }
}

/// The serialized name of an enum value (`Succeeded`, `RolledBack`).
fn name_of<T: Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{value:?}"),
    }
}
