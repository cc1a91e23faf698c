//! What the archive keeps of one finished run: the run (spec and final status), its pinned
//! plan, the analysis as the plan used it, every execution's spec and status, the run's
//! events and the template's name, version and digest. Built from the cluster's objects and
//! redacted before it leaves the process.

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::workflow_execution::PinnedWorkflow;
use crate::api::{KubernetesExecution, WorkflowExecution, WorkflowPhase};
use crate::redact::{REDACTED, is_sealed, redact_value};

/// The version of the record's layout, stored with it.
pub const RECORD_VERSION: u32 = 1;

/// At most this many events are kept per run (the newest); a run's events are a handful in
/// practice, and the bound keeps one noisy run from bloating its record.
pub const MAX_EVENTS: usize = 500;

/// One archived run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The layout version ([`RECORD_VERSION`]).
    pub version: u32,
    /// The run's uid: the archive's key.
    pub uid: String,
    /// The run's namespace.
    pub namespace: String,
    /// The run's name.
    pub name: String,
    /// The template pinned at Planning: name, version and digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<PinnedWorkflow>,
    /// The resource the run acted on (the analysis's target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The final phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The failure reason, when the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// When the run was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    /// When it started executing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it reached its terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// The WorkflowExecution: metadata (labels, annotations), spec and final status, without
    /// the pinned plan's text (kept parsed in `plan`).
    pub run: Value,
    /// The pinned plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Value>,
    /// The analysis as the plan used it (the AIAnalysis status pinned at Planning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Value>,
    /// Every execution of the run (attempts and compensations): metadata, spec and status.
    #[serde(default)]
    pub executions: Vec<Value>,
    /// The events about the run and its executions, oldest first.
    #[serde(default)]
    pub events: Vec<EventRecord>,
}

/// A target resource: kind, namespace (empty when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The namespace; empty for a cluster-scoped resource.
    #[serde(default)]
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl Target {
    /// `KIND/NAMESPACE/NAME`, or `KIND/NAME` when cluster-scoped: how `--target` spells it.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// The key the archive indexes: the display form with the kind in lower case, so that
    /// `deployment/shop/web` finds `Deployment/shop/web`.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.kind.to_lowercase(),
            self.namespace,
            self.name
        )
    }

    /// Parses `KIND/NAMESPACE/NAME` or `KIND/NAME` (cluster-scoped).
    pub fn parse(text: &str) -> Result<Target, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let bad = |why: &str| {
            format!(
                "--target {text:?}: {why} (expected KIND/NAMESPACE/NAME, or KIND/NAME for a cluster-scoped resource, e.g. Deployment/shop/web)"
            )
        };
        let (kind, namespace, name) = match parts.as_slice() {
            [kind, name] => (*kind, "", *name),
            [kind, namespace, name] => (*kind, *namespace, *name),
            _ => return Err(bad("wrong number of parts")),
        };
        if kind.is_empty() || name.is_empty() || (parts.len() == 3 && namespace.is_empty()) {
            return Err(bad("an empty part"));
        }
        let printable = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
        };
        if !(printable(kind) && printable(namespace) && printable(name)) || text.len() > 400 {
            return Err(bad("not a Kubernetes kind and name"));
        }
        Ok(Target {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

/// One event about the run or one of its executions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
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
    /// When it last happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Time>,
}

/// Why a run cannot be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The run has not finished: only finished runs are archived.
    #[error("the run {0} has not finished")]
    NotFinished(String),
    /// The run lacks a uid (it was never stored by an API server).
    #[error("the run {0} has no uid")]
    NoUid(String),
    /// Part of the run could not be turned into JSON.
    #[error("cannot encode the run {run}: {source}")]
    Encode {
        /// The run.
        run: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl RunRecord {
    /// The record of a finished `run` with its executions and events (events about other
    /// objects are left out), redacted.
    pub fn build(
        run: &WorkflowExecution,
        executions: &[KubernetesExecution],
        events: &[Event],
    ) -> Result<RunRecord, RecordError> {
        let id = format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any());
        let status = run.status.clone().unwrap_or_default();
        let phase = status.phase;
        if !phase.is_some_and(WorkflowPhase::is_terminal) {
            return Err(RecordError::NotFinished(id));
        }
        let uid = run.uid().ok_or_else(|| RecordError::NoUid(id.clone()))?;
        let encode = |source| RecordError::Encode {
            run: id.clone(),
            source,
        };
        let plan: Option<Value> = status
            .plan
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(encode)?;
        let analysis = plan
            .as_ref()
            .and_then(|p| p.get("analysis"))
            .cloned()
            .filter(|a| !a.is_null());
        let target = analysis
            .as_ref()
            .and_then(|a| a.get("targetResource"))
            .and_then(target_of);
        let mut stored_run = run.clone();
        slim_metadata(&mut stored_run.metadata);
        if let Some(s) = stored_run.status.as_mut() {
            s.plan = None;
        }
        let mut owned: Vec<&KubernetesExecution> = executions
            .iter()
            .filter(|k| {
                k.owner_references().iter().any(|o| o.uid == uid)
                    || k.spec.workflow_execution_ref.name == run.name_any()
            })
            .collect();
        owned.sort_by_key(|k| {
            (
                k.status.as_ref().and_then(|s| s.started_at.clone()),
                k.metadata.creation_timestamp.clone(),
                k.name_any(),
            )
        });
        let names: Vec<String> = owned.iter().map(|k| k.name_any()).collect();
        let executions = owned
            .into_iter()
            .map(|k| {
                let mut k = k.clone();
                slim_metadata(&mut k.metadata);
                serde_json::to_value(k)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(encode)?;
        let mut record = RunRecord {
            version: RECORD_VERSION,
            uid: uid.clone(),
            namespace: run.namespace().unwrap_or_default(),
            name: run.name_any(),
            workflow: status.workflow.clone(),
            target,
            phase: phase.map(|p| name_of(&p)),
            outcome: status.outcome.map(|o| name_of(&o)),
            failure_reason: status
                .failure
                .as_ref()
                .map(|f| f.reason.as_str().to_string()),
            created_at: run.metadata.creation_timestamp.clone(),
            started_at: status.started_at.clone(),
            finished_at: status.completed_at.clone(),
            run: serde_json::to_value(&stored_run).map_err(encode)?,
            plan,
            analysis,
            executions,
            events: events_of(&uid, &run.name_any(), &names, events),
        };
        record.redact();
        Ok(record)
    }

    /// Replaces everything that looks like a credential with `***`, in every part, sealed
    /// values included.
    pub fn redact(&mut self) {
        redact_for_archive(&mut self.run);
        if let Some(plan) = self.plan.as_mut() {
            redact_for_archive(plan);
        }
        if let Some(analysis) = self.analysis.as_mut() {
            redact_for_archive(analysis);
        }
        self.executions.iter_mut().for_each(redact_for_archive);
        for event in &mut self.events {
            event.message = crate::redact::redact_text(&event.message);
        }
    }

    /// When the run ended (else when it was created), as milliseconds since the epoch: the
    /// archive's time axis.
    pub fn finished_ms(&self) -> i64 {
        self.finished_at
            .as_ref()
            .or(self.created_at.as_ref())
            .map_or(0, |t| t.0.as_millisecond())
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Drops what a record does not need of an object's metadata: field ownership and the
/// client-side apply copy (a second copy of the spec).
fn slim_metadata(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

fn target_of(value: &Value) -> Option<Target> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    Some(Target {
        kind: text("kind")?,
        namespace: text("namespace").unwrap_or_default(),
        name: text("name")?,
    })
}

/// The events about the run (by uid or name) or one of `executions`, oldest first, at most
/// [`MAX_EVENTS`] (the newest).
fn events_of(uid: &str, run: &str, executions: &[String], events: &[Event]) -> Vec<EventRecord> {
    let mut mine: Vec<&Event> = events
        .iter()
        .filter(|e| {
            let o = &e.involved_object;
            match o.kind.as_deref() {
                Some("WorkflowExecution") => {
                    o.uid.as_deref() == Some(uid)
                        || (o.uid.is_none() && o.name.as_deref() == Some(run))
                }
                Some("KubernetesExecution") => {
                    o.name.as_ref().is_some_and(|n| executions.contains(n))
                }
                _ => false,
            }
        })
        .collect();
    mine.sort_by_key(|e| {
        (
            e.last_timestamp
                .clone()
                .or_else(|| e.first_timestamp.clone())
                .or_else(|| e.event_time.as_ref().map(|t| Time(t.0))),
            e.metadata
                .resource_version
                .as_deref()
                .and_then(|rv| rv.parse::<u64>().ok()),
        )
    });
    let skip = mine.len().saturating_sub(MAX_EVENTS);
    mine.into_iter()
        .skip(skip)
        .map(|e| EventRecord {
            kind: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            object: format!(
                "{}/{}",
                e.involved_object.kind.clone().unwrap_or_default(),
                e.involved_object.name.clone().unwrap_or_default()
            ),
            message: e.message.clone().unwrap_or_default(),
            count: e.count.unwrap_or(1),
            last_seen: e
                .last_timestamp
                .clone()
                .or_else(|| e.event_time.as_ref().map(|t| Time(t.0))),
        })
        .collect()
}

/// The serialized name of an enum value (`Completed`, `RolledBack`).
fn name_of<T: Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => format!("{value:?}"),
    }
}

/// Redacts `value` as the cluster's objects are, and replaces every sealed value with `***`:
/// a sealed credential opens with a key that stays in the cluster, while the record outlives
/// the cluster and may be read where the key is not (or after it leaked), so the archive keeps
/// no credential in any form.
fn redact_for_archive(value: &mut Value) {
    if is_sealed(value) {
        *value = Value::String(REDACTED.to_string());
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(redact_for_archive),
        Value::Object(map) => map.values_mut().for_each(redact_for_archive),
        _ => {}
    }
    redact_value(value);
}
