//! The scenario file format and its loading: a YAML file, or a directory holding
//! `scenario.yaml` and the object files it names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::yaml::{Position, Positions, Segment, excerpt, segments};
use crate::api::names::{is_dns1123_label, label_problem, subdomain_problem};
use crate::api::strict;
use crate::api::{
    AIAnalysisStatus, FailureReason, JsonMap, Outcome, StepPhase, WorkflowExecutionSpec,
    WorkflowPhase,
};
use crate::catalog::actions::closest;
use crate::check::render::visible;
use crate::cluster::registry::{self, ResourceType};
use crate::operator::planning::Rejected;

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
    /// Its text and where each of its values is, to point errors at them.
    #[serde(skip)]
    source: Source,
}

/// The text of a scenario file and the positions of its values.
#[derive(Debug, Clone, Default)]
struct Source {
    text: String,
    positions: Positions,
    /// How many objects the scenario file itself lists (the rest come from `files`).
    inline_objects: usize,
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

/// Errors of reading a scenario: each names the file and, where it can, the line and column
/// and the field, and shows the line.
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
    #[error("{}{}: {message}{}", path.display(), at_text(*at), excerpt_text(excerpt))]
    Format {
        /// The file.
        path: PathBuf,
        /// Where in it, when known.
        at: Option<Position>,
        /// What is wrong.
        message: String,
        /// The line, with a caret under the place (empty when unknown).
        excerpt: String,
    },
    /// A value is well-formed YAML but not usable.
    #[error("{}{}: {field}: {message}{}", path.display(), at_text(*at), excerpt_text(excerpt))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in it, when known.
        at: Option<Position>,
        /// The field, as a path: `faults[0].verb`.
        field: String,
        /// What is wrong.
        message: String,
        /// The line, with a caret under the place (empty when unknown).
        excerpt: String,
    },
}

fn at_text(at: Option<Position>) -> String {
    at.map(|p| format!(":{}:{}", p.line, p.column))
        .unwrap_or_default()
}

fn excerpt_text(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!("\n{excerpt}")
    }
}

/// The YAML error as `file:line:col: message` with the line shown: serde-saphyr's message
/// without its own position prefix and snippet.
fn format_error(path: &Path, text: &str, e: &serde_saphyr::Error) -> ScenarioError {
    let at = e.location().and_then(|l| {
        Some(Position {
            line: usize::try_from(l.line()).ok().filter(|&n| n > 0)?,
            column: usize::try_from(l.column()).ok()?,
        })
    });
    let message = e.without_snippet().to_string();
    let message = message.trim_start_matches("error: ");
    let message = strip_position(message);
    ScenarioError::Format {
        path: path.to_path_buf(),
        at,
        message: visible(message).into_owned(),
        excerpt: at.map(|p| excerpt(text, p)).unwrap_or_default(),
    }
}

/// `message` without serde-saphyr's position: a leading `line N column M: ` or a trailing
/// ` at line N, column M` (the error shows the position its own way).
fn strip_position(message: &str) -> &str {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut message = message;
    if let Some(rest) = message.strip_prefix("line ")
        && let Some((line, rest)) = rest.split_once(" column ")
        && let Some((column, tail)) = rest.split_once(": ")
        && number(line)
        && number(column)
    {
        message = tail;
    }
    if let Some(at) = message.rfind(" at line ")
        && let Some((line, column)) = message[at + " at line ".len()..].split_once(", column ")
        && number(line)
        && number(column)
    {
        message = &message[..at];
    }
    message
}

/// The largest scenario or object file read (bytes): a scenario is written by hand.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a scenario from a YAML file, or from a directory holding `scenario.yaml`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = if path.is_dir() {
        path.join("scenario.yaml")
    } else {
        path.to_path_buf()
    };
    let text = read(&file)?;
    let mut scenario: Scenario =
        serde_saphyr::from_str(&text).map_err(|e| format_error(&file, &text, &e))?;
    scenario.path = file.clone();
    scenario.source = Source {
        positions: Positions::of(&text),
        inline_objects: scenario.objects.len(),
        text,
    };
    let base = file.parent().unwrap_or(Path::new("."));
    for rel in scenario.files.clone() {
        let object_file = base.join(&rel);
        let text = read(&object_file)?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| format_error(&object_file, &text, &e))?;
        scenario
            .objects
            .extend(docs.into_iter().filter(|d| !d.is_null()));
    }
    scenario.validate()?;
    Ok(scenario)
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    let too_big = |len: u64| ScenarioError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes; a scenario file may have at most {MAX_FILE_BYTES}"),
        ),
    };
    let io = |source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    std::fs::read_to_string(path).map_err(io)
}

/// The RBAC verbs the embedded cluster's faults match.
const FAULT_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "*",
];

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
        crate::units::duration::parse_millis(text)
            .map(Duration::from_millis)
            .map_err(|e| {
                self.invalid(
                    field.to_string(),
                    e.to_string().trim_start_matches("error: ").to_string(),
                )
            })
    }

    /// The workflow the run will ask for: `workflowExecution.workflowRef`, else the analysis's
    /// `recommendedWorkflow`, as (name, version).
    pub fn workflow(&self) -> Option<(String, Option<String>)> {
        let from = |v: Option<&Value>| {
            let v = v?;
            let name = v.get("name")?.as_str()?.to_string();
            let version = v.get("version").and_then(Value::as_str).map(str::to_string);
            Some((name, version))
        };
        from(
            self.workflow_execution
                .as_ref()
                .and_then(|w| w.get("workflowRef")),
        )
        .or_else(|| from(self.analysis.status.get("recommendedWorkflow")))
    }

    /// Checks the names `expect.steps` gives against the steps of the workflow the run will
    /// use, from the template directory `templates`; returns notes on the templates left out
    /// of that directory (a run asking for one of them fails with TemplateNotFound).
    pub fn check_templates(&self, templates: &Path) -> Result<Vec<String>, ScenarioError> {
        let (catalog, rejected) = crate::template::TemplateCatalog::load_dir_lenient(templates);
        let notes = rejected
            .iter()
            .map(|e| format!("template left out: {}", Rejected::from_error(e)))
            .collect();
        let Some((name, version)) = self.workflow() else {
            return Ok(notes);
        };
        let Ok(template) = catalog.get(&name, version.as_deref()) else {
            return Ok(notes);
        };
        let steps: Vec<&str> = template
            .file
            .workflow
            .all_steps()
            .map(|s| s.name.name.as_str())
            .collect();
        for step in self.expect.steps.keys() {
            if steps.contains(&step.as_str()) {
                continue;
            }
            let hint = closest(step, steps.iter().copied())
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            return Err(self.invalid_key(
                format!("expect.steps.{step}"),
                format!(
                    "workflow {} has no step `{step}`: {hint}its steps are {}",
                    template.key(),
                    steps.join(", ")
                ),
            ));
        }
        Ok(notes)
    }

    fn place(&self, field: &str, key: bool) -> (Option<Position>, String) {
        let mut path = segments(field);
        // Objects read from `files` are not in the scenario file: point at `files`.
        if let [Segment::Key(k), Segment::Index(i), ..] = path.as_slice()
            && k == "objects"
            && *i >= self.source.inline_objects
        {
            path = vec![Segment::Key("files".into())];
        }
        let at = if key {
            self.source.positions.key(&path)
        } else {
            self.source.positions.value(&path)
        };
        let shown = at
            .map(|p| excerpt(&self.source.text, p))
            .unwrap_or_default();
        (at, shown)
    }

    fn invalid(&self, field: String, message: impl Into<String>) -> ScenarioError {
        self.error_at(field, message.into(), false)
    }

    /// An error about a map key (a step name in `expect.steps`, an unknown field): points at
    /// the key.
    fn invalid_key(&self, field: String, message: impl Into<String>) -> ScenarioError {
        self.error_at(field, message.into(), true)
    }

    fn error_at(&self, field: String, message: String, key: bool) -> ScenarioError {
        let (at, excerpt) = self.place(&field, key);
        // Field names and messages quote the file: shown, never sent to the terminal.
        ScenarioError::Invalid {
            path: self.path.clone(),
            at,
            field: visible(&field).into_owned(),
            message: visible(&message).into_owned(),
            excerpt,
        }
    }

    /// A problem found by reading a part of the scenario strictly, under `prefix`.
    fn field_problem(&self, prefix: &str, p: strict::FieldProblem) -> ScenarioError {
        let field = if p.path.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", p.path)
        };
        let key = p.message.starts_with("unknown field");
        self.error_at(field, p.message, key)
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        self.pod_ready_delay()?;
        if let Some(problem) = label_problem(&self.namespace) {
            return Err(self.invalid(
                "namespace".into(),
                format!("`{}` is not a namespace name: it {problem}", self.namespace),
            ));
        }
        if let Some(name) = &self.name
            && let Some(problem) = subdomain_problem(name)
        {
            return Err(self.invalid(
                "name".into(),
                format!("`{name}` is not an object name: it {problem}"),
            ));
        }
        let kinds = self.kinds();
        for (i, object) in self.objects.iter().enumerate() {
            self.validate_object(i, object, &kinds)?;
        }
        for (i, fault) in self.faults.iter().enumerate() {
            self.validate_fault(i, fault, &kinds)?;
        }
        if let Some(speed) = self.speed
            && let Err(e) = crate::clock::check_speed(speed)
        {
            return Err(self.invalid("speed".into(), e.to_string()));
        }
        for (i, change) in self.changes.iter().enumerate() {
            self.validate_object_key(&format!("changes[{i}].object"), &change.object, &kinds)?;
        }
        for (i, check) in self.expect.objects.iter().enumerate() {
            self.validate_object_key(
                &format!("expect.objects[{i}].object"),
                &check.object,
                &kinds,
            )?;
        }
        self.validate_expect()?;
        self.validate_analysis()?;
        self.validate_run_spec()
    }

    /// The kinds the embedded cluster will serve: the built-in ones, Remedy's CRDs and the
    /// CRDs among the scenario's objects.
    fn kinds(&self) -> Vec<ResourceType> {
        let mut kinds = registry::builtins();
        let ours = crate::api::crd::all()
            .into_iter()
            .filter_map(|crd| serde_json::to_value(crd).ok());
        let theirs = self
            .objects
            .iter()
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
            .cloned();
        kinds.extend(
            ours.chain(theirs)
                .filter_map(|crd| registry::from_crd(&crd).ok()),
        );
        kinds
    }

    fn validate_object(
        &self,
        i: usize,
        object: &Value,
        kinds: &[ResourceType],
    ) -> Result<(), ScenarioError> {
        let field = format!("objects[{i}]");
        let Some(map) = object.as_object() else {
            return Err(self.invalid(field, "an object must be a map with apiVersion and kind"));
        };
        for key in ["apiVersion", "kind"] {
            if !map.get(key).is_some_and(Value::is_string) {
                return Err(self.invalid(format!("{field}.{key}"), "missing (a string is needed)"));
            }
        }
        let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
            return Err(self.invalid(format!("{field}.metadata.name"), "missing"));
        };
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let Some(rt) = kinds.iter().find(|rt| rt.kind == kind && rt.group == group) else {
            let known: Vec<&str> = kinds.iter().map(|rt| rt.kind.as_str()).collect();
            let hint = closest(kind, known.iter().copied())
                .map(|c| format!(" (did you mean {c}?)"))
                .unwrap_or_default();
            return Err(self.invalid(
                format!("{field}.kind"),
                format!("the cluster serves no kind {kind} in {api_version}{hint}"),
            ));
        };
        if !rt.versions.iter().any(|v| v == version) {
            return Err(self.invalid(
                format!("{field}.apiVersion"),
                format!(
                    "{kind} is served as {}, not {api_version}",
                    rt.api_version(rt.preferred_version())
                ),
            ));
        }
        let problem = if kind == "Namespace" {
            label_problem(name)
        } else {
            subdomain_problem(name)
        };
        if let Some(problem) = problem {
            return Err(self.invalid(
                format!("{field}.metadata.name"),
                format!("`{name}` is not a valid {kind} name: it {problem}"),
            ));
        }
        if let Some(ns) = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            && !is_dns1123_label(ns)
        {
            return Err(self.invalid(
                format!("{field}.metadata.namespace"),
                format!(
                    "`{ns}` is not a namespace name: it {}",
                    label_problem(ns).unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    fn validate_fault(
        &self,
        i: usize,
        fault: &FaultSpec,
        kinds: &[ResourceType],
    ) -> Result<(), ScenarioError> {
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
        if !FAULT_VERBS.contains(&fault.verb.as_str()) {
            let hint = closest(&fault.verb, FAULT_VERBS.iter().copied())
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            return Err(self.invalid(
                format!("faults[{i}].verb"),
                format!(
                    "unknown verb `{}`: {hint}the verbs are {}",
                    fault.verb,
                    FAULT_VERBS.join(", ")
                ),
            ));
        }
        if !(400..=599).contains(&fault.code) {
            return Err(self.invalid(
                format!("faults[{i}].code"),
                format!(
                    "{} is not an error: give an HTTP error code from 400 to 599",
                    fault.code
                ),
            ));
        }
        if fault.resource != "*" {
            let (plural, sub) = match fault.resource.split_once('/') {
                Some((p, s)) => (p, Some(s)),
                None => (fault.resource.as_str(), None),
            };
            let field = format!("faults[{i}].resource");
            let Some(rt) = kinds.iter().find(|rt| rt.plural == plural) else {
                let plurals: Vec<&str> = kinds.iter().map(|rt| rt.plural.as_str()).collect();
                let hint = closest(plural, plurals.iter().copied())
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                return Err(self.invalid(
                    field,
                    format!(
                        "the cluster serves no resource `{plural}`: {hint}write a plural such as \
                         deployments or pods, PLURAL/SUBRESOURCE such as deployments/status, or *"
                    ),
                ));
            };
            let served = match sub {
                None => true,
                Some("status") => rt.status_subresource,
                Some("scale") => rt.scale.is_some(),
                Some("eviction") => rt.kind == "Pod" && !rt.custom,
                Some(_) => false,
            };
            if !served {
                return Err(self.invalid(
                    field,
                    format!("{plural} has no subresource `{}`", sub.unwrap_or_default()),
                ));
            }
        }
        Ok(())
    }

    fn validate_object_key(
        &self,
        field: &str,
        text: &str,
        kinds: &[ResourceType],
    ) -> Result<(), ScenarioError> {
        let Some(key) = crate::scenario::check::ObjectKey::parse(text) else {
            return Err(self.invalid(
                field.to_string(),
                "write KIND NAMESPACE/NAME (or KIND NAME for cluster-scoped kinds), e.g. deployment shop/web",
            ));
        };
        let word = key.kind.to_lowercase();
        let known = kinds.iter().any(|rt| {
            rt.kind.to_lowercase() == word
                || rt.plural == word
                || crate::scenario::check::short_name(&rt.kind) == word
        });
        if !known {
            let words: Vec<String> = kinds.iter().map(|rt| rt.kind.to_lowercase()).collect();
            let hint = closest(&word, words.iter().map(String::as_str))
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            return Err(self.invalid(
                field.to_string(),
                format!(
                    "the cluster serves no kind `{}`: {hint}write a kind, plural or short name \
                     (deployment, pvc, hpa, cm…)",
                    key.kind
                ),
            ));
        }
        Ok(())
    }

    fn validate_expect(&self) -> Result<(), ScenarioError> {
        let e = &self.expect;
        self.one_of::<WorkflowPhase>("expect.phase", e.phase.as_deref())?;
        self.one_of::<Outcome>("expect.outcome", e.outcome.as_deref())?;
        self.one_of::<FailureReason>("expect.failureReason", e.failure_reason.as_deref())?;
        for (step, phase) in &e.steps {
            self.one_of::<StepPhase>(&format!("expect.steps.{step}"), Some(phase))?;
        }
        Ok(())
    }

    /// `value`, when given, must be one of `T`'s values.
    fn one_of<T: schemars::JsonSchema>(
        &self,
        field: &str,
        value: Option<&str>,
    ) -> Result<(), ScenarioError> {
        let Some(value) = value else { return Ok(()) };
        let allowed = strict::enum_values::<T>();
        if allowed.iter().any(|a| a == value) {
            return Ok(());
        }
        let hint = closest(value, allowed.iter().map(String::as_str))
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        Err(self.invalid(
            field.to_string(),
            format!(
                "`{value}` is not one of the values: {hint}they are {}",
                allowed.join(", ")
            ),
        ))
    }

    /// The analysis status must be one the contract describes, with the target a run acts on
    /// and a workflow to run.
    fn validate_analysis(&self) -> Result<(), ScenarioError> {
        let value = Value::Object(self.analysis.status.clone());
        let status: AIAnalysisStatus =
            strict::read(&value).map_err(|p| self.field_problem("analysis.status", p))?;
        if let Some(problem) = subdomain_problem(&self.analysis.name) {
            return Err(self.invalid(
                "analysis.name".into(),
                format!(
                    "`{}` is not an object name: it {problem}",
                    self.analysis.name
                ),
            ));
        }
        let Some(target) = status.target_resource else {
            return Err(self.invalid(
                "analysis.status.targetResource".into(),
                "missing: every workflow acts on the analysis's target; give \
                 `targetResource: { kind: Deployment, name: web, namespace: shop }`",
            ));
        };
        if target.kind.is_empty() || target.name.is_empty() {
            return Err(self.invalid(
                "analysis.status.targetResource".into(),
                "give the target's kind and name (and namespace for namespaced kinds)",
            ));
        }
        if self.workflow().is_none() {
            return Err(self.invalid(
                "analysis.status.recommendedWorkflow".into(),
                "missing: name the workflow to run here (`recommendedWorkflow: { name: \
                 oom-recovery }`) or in `workflowExecution.workflowRef`",
            ));
        }
        Ok(())
    }

    /// The WorkflowExecution spec, when given, must be one (the analysis reference is filled in).
    fn validate_run_spec(&self) -> Result<(), ScenarioError> {
        let Some(spec) = &self.workflow_execution else {
            return Ok(());
        };
        let mut spec = spec.clone();
        spec.entry("aiAnalysisRef")
            .or_insert_with(|| serde_json::json!({ "name": self.analysis.name }));
        strict::read::<WorkflowExecutionSpec>(&Value::Object(spec))
            .map(|_| ())
            .map_err(|p| self.field_problem("workflowExecution", p))
    }
}
