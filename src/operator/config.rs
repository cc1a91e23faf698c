//! What the operator is told at start: where templates live, what to watch, which controllers
//! to run, the safety settings, and retention and the archive.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::http::Readiness;
use super::retention::RetentionConfig;
use crate::archive::Archive;
use crate::clock::{Clock, SystemClock};
use crate::reconcile::metrics::Metrics;

/// The controllers `remedy operator` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ControllerKind {
    /// The WorkflowExecution controller (this module).
    Workflow,
    /// The KubernetesExecution controller (the executor).
    Executor,
}

impl ControllerKind {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerKind::Workflow => "workflow",
            ControllerKind::Executor => "executor",
        }
    }
}

/// The operator's configuration.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// The template directory (`--templates`).
    pub templates: PathBuf,
    /// The namespace to watch; `None` watches all.
    pub namespace: Option<String>,
    /// The namespace the operator runs in; protected like the built-in ones.
    pub operator_namespace: String,
    /// Namespaces no run may touch, besides the built-in ones and the operator's own.
    pub protected_namespaces: BTreeSet<String>,
    /// How often the template directory is checked for changes.
    pub template_poll: Duration,
    /// How long a run waiting for its analysis or its target waits before it looks again.
    pub wait_requeue: Duration,
    /// The clock the engine is given; tests and `remedy run --speed` use a faster one.
    pub clock: Arc<dyn Clock>,
    /// The name events are reported under.
    pub reporter: String,
    /// This instance's name in events (usually the pod name).
    pub instance: Option<String>,
    /// The metrics the controller records (served by `http`).
    pub metrics: Arc<Metrics>,
    /// Set once the controller's watches are synced (served at `/readyz`).
    pub ready: Arc<Readiness>,
    /// How long finished runs are kept.
    pub retention: RetentionConfig,
    /// Where finished runs are archived before they are deleted; `None`: not archived.
    pub archive: Option<Archive>,
}

impl OperatorConfig {
    /// A configuration with defaults for everything but the template directory.
    pub fn new(templates: impl Into<PathBuf>) -> Self {
        OperatorConfig {
            templates: templates.into(),
            namespace: None,
            operator_namespace: crate::catalog::DEFAULT_OPERATOR_NAMESPACE.to_string(),
            protected_namespaces: BTreeSet::new(),
            template_poll: Duration::from_secs(5),
            wait_requeue: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
            reporter: "remedy-workflow-controller".to_string(),
            instance: None,
            metrics: Arc::new(Metrics::new()),
            ready: Arc::new(Readiness::default()),
            retention: RetentionConfig::default(),
            archive: None,
        }
    }
}
