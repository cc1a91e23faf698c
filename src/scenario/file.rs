//! The scenario file format and its loading: a YAML file, or a directory holding
//! `scenario.yaml` and the object files it names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::api::JsonMap;

/// A scenario: a cluster, an incident's analysis, and what the run should end with.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows, in a sentence or a paragraph.
    pub description: String,
    /// The namespace of the analysis and the run, and of objects that name none.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The WorkflowExecution's name (default: the scenario's file or directory name).
    #[serde(default)]
    pub name: Option<String>,
    /// Cluster objects, as ordinary Kubernetes objects.
    #[serde(default)]
    pub objects: Vec<Value>,
    /// YAML files of more objects (several documents each), relative to the scenario.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Changes made once the cluster has settled, before the incident is analysed (a rollout,
    /// a bad edit): merge patches, applied in order.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// The AIAnalysis that recommends the workflow.
    pub analysis: AnalysisSpec,
    /// The WorkflowExecution's spec; by default one referring to the analysis.
    #[serde(default)]
    pub workflow_execution: Option<JsonMap>,
    /// Faults injected into the API server once the objects exist.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// The workload simulation's timings.
    #[serde(default)]
    pub simulation: SimulationSpec,
    /// The simulated time factor when `--speed` is not given.
    #[serde(default)]
    pub speed: Option<f64>,
    /// What the run should end with (checked by the end-to-end tests and shown in the summary).
    #[serde(default)]
    pub expect: Expect,
    /// Where the scenario was read from (set by [`load`]).
    #[serde(skip)]
    pub path: PathBuf,
}

fn default_namespace() -> String {
    "default".to_string()
}

/// The AIAnalysis of a scenario: a name and the status its controller would have written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisSpec {
    /// The AIAnalysis name.
    #[serde(default = "default_analysis_name")]
    pub name: String,
    /// Its status (phase defaults to Completed).
    pub status: JsonMap,
}

fn default_analysis_name() -> String {
    "analysis".to_string()
}

/// A merge patch of one object: `{ object: deployment shop/web, patch: { spec: … } }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Change {
    /// `KIND NAMESPACE/NAME`, or `KIND NAME` for cluster-scoped kinds.
    pub object: String,
    /// The JSON merge patch.
    pub patch: Value,
}

/// One injected fault: fail the next `count` matching requests, or slow them all.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// The verb (`get`, `create`, `update`, `patch`, `delete`, … or `*`).
    pub verb: String,
    /// The resource plural, `plural/subresource`, or `*`.
    pub resource: String,
    /// How many requests fail (with `code`).
    #[serde(default)]
    pub count: Option<u32>,
    /// The HTTP code of the failures.
    #[serde(default = "default_code")]
    pub code: u16,
    /// Delay every matching request by this much instead (e.g. `200ms`).
    #[serde(default)]
    pub latency: Option<String>,
}

fn default_code() -> u16 {
    500
}

/// The workload simulation's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulationSpec {
    /// How long after scheduling a pod becomes Ready (e.g. `300ms`; `never`).
    #[serde(default)]
    pub pod_ready_delay: Option<String>,
    /// Nodes created when the scenario defines none.
    #[serde(default)]
    pub nodes: Option<usize>,
}

/// What a run should end with.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// The final phase of the WorkflowExecution.
    #[serde(default)]
    pub phase: Option<String>,
    /// Its outcome.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Its failure reason.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Step name → phase, for the steps listed.
    #[serde(default)]
    pub steps: std::collections::BTreeMap<String, String>,
    /// Fields of cluster objects after the run.
    #[serde(default)]
    pub objects: Vec<ObjectCheck>,
}

/// A check of one field of one object: `{ object: deployment shop/web, field: spec.replicas, equals: 4 }`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectCheck {
    /// `KIND NAMESPACE/NAME`, or `KIND NAME` for cluster-scoped kinds.
    pub object: String,
    /// A dotted path, with `[N]` for list items: `spec.template.spec.containers[0].image`.
    pub field: String,
    /// The value the field must have (`null`: the field is absent).
    pub equals: Value,
}

/// Errors of reading a scenario: each names the file and, where the YAML is wrong, the field.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not match the scenario format.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the field and position.
        message: String,
    },
    /// A value is well-formed YAML but not usable.
    #[error("{}: {field}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads a scenario from a YAML file, or from a directory holding `scenario.yaml`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = if path.is_dir() {
        path.join("scenario.yaml")
    } else {
        path.to_path_buf()
    };
    let text = read(&file)?;
    let mut scenario: Scenario =
        serde_saphyr::from_str(&text).map_err(|e| ScenarioError::Format {
            path: file.clone(),
            message: e.to_string().trim_start_matches("error: ").to_string(),
        })?;
    scenario.path = file.clone();
    let base = file.parent().unwrap_or(Path::new("."));
    for rel in scenario.files.clone() {
        let object_file = base.join(&rel);
        let text = read(&object_file)?;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| ScenarioError::Format {
                path: object_file.clone(),
                message: e.to_string().trim_start_matches("error: ").to_string(),
            })?;
        scenario
            .objects
            .extend(docs.into_iter().filter(|d| !d.is_null()));
    }
    scenario.validate()?;
    Ok(scenario)
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Scenario {
    /// The scenario's name: its directory's name for `scenario.yaml`, else its file stem.
    pub fn title(&self) -> String {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem == "scenario" {
            self.path
                .parent()
                .and_then(Path::file_name)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(stem)
        } else {
            stem
        }
    }

    /// The WorkflowExecution's name.
    pub fn run_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let mut name: String = self
            .title()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        name.truncate(40);
        let name = name.trim_matches('-').to_string();
        if name.is_empty() {
            "run".to_string()
        } else {
            name
        }
    }

    /// How long after scheduling a pod becomes Ready; `None` for never.
    pub fn pod_ready_delay(&self) -> Result<Option<Duration>, ScenarioError> {
        match self.simulation.pod_ready_delay.as_deref() {
            None => Ok(Some(Duration::from_millis(300))),
            Some("never") => Ok(None),
            Some(text) => self.duration("simulation.podReadyDelay", text).map(Some),
        }
    }

    /// Parses a duration field of this scenario.
    pub fn duration(&self, field: &str, text: &str) -> Result<Duration, ScenarioError> {
        crate::executor::params::parse_duration(text).map_err(|e| ScenarioError::Invalid {
            path: self.path.clone(),
            field: field.to_string(),
            message: e.to_string().trim_start_matches("error: ").to_string(),
        })
    }

    fn invalid(&self, field: String, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.path.clone(),
            field,
            message: message.into(),
        }
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        self.pod_ready_delay()?;
        for (i, object) in self.objects.iter().enumerate() {
            let field = format!("objects[{i}]");
            let Some(map) = object.as_object() else {
                return Err(self.invalid(field, "an object must be a map with apiVersion and kind"));
            };
            for key in ["apiVersion", "kind"] {
                if !map.get(key).is_some_and(Value::is_string) {
                    return Err(
                        self.invalid(format!("{field}.{key}"), "missing (a string is needed)")
                    );
                }
            }
            if !object
                .pointer("/metadata/name")
                .is_some_and(Value::is_string)
            {
                return Err(self.invalid(format!("{field}.metadata.name"), "missing"));
            }
        }
        for (i, fault) in self.faults.iter().enumerate() {
            match (&fault.count, &fault.latency) {
                (Some(_), None) => {}
                (None, Some(text)) => {
                    self.duration(&format!("faults[{i}].latency"), text)?;
                }
                _ => {
                    return Err(self.invalid(
                        format!("faults[{i}]"),
                        "give either count (fail that many requests) or latency (slow every request)",
                    ));
                }
            }
        }
        if let Some(speed) = self.speed
            && !(speed.is_finite() && speed >= 1.0)
        {
            return Err(self.invalid("speed".into(), "must be a number of at least 1"));
        }
        for (i, change) in self.changes.iter().enumerate() {
            if crate::scenario::check::ObjectKey::parse(&change.object).is_none() {
                return Err(self.invalid(
                    format!("changes[{i}].object"),
                    "write KIND NAMESPACE/NAME (or KIND NAME for cluster-scoped kinds), e.g. deployment shop/web",
                ));
            }
        }
        for (i, check) in self.expect.objects.iter().enumerate() {
            if crate::scenario::check::ObjectKey::parse(&check.object).is_none() {
                return Err(self.invalid(
                    format!("expect.objects[{i}].object"),
                    "write KIND NAMESPACE/NAME (or KIND NAME for cluster-scoped kinds), e.g. deployment shop/web",
                ));
            }
        }
        Ok(())
    }
}
