//! Runs a scenario in-process: the embedded cluster with its workload simulation, the CRDs,
//! the scenario's objects, both controllers (workflow and executor) on the in-process client,
//! then the analysis and the run; reports progress and returns the summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

use super::check::{self, CheckResult, ObjectKey};
use super::file::Scenario;
use super::summary::Summary;
use crate::api::{
    AIAnalysis, KubernetesExecution, StepPhase, StopStatus, WorkflowExecution, WorkflowPhase,
};
use crate::archive::Archive;
use crate::cluster::faults::{FaultLayer, Rules};
use crate::cluster::{Config, EmbeddedCluster, Simulation, SimulationConfig};
use crate::executor::ExecutorConfig;
use crate::operator::backoff::ThrottleRetryLayer;
use crate::operator::clock::{SpeedError, check_speed};
use crate::operator::finished::run_ended;
use crate::operator::metrics::Metrics;
use crate::operator::retention::{CONDITION_ARCHIVED, RetentionConfig};
use crate::operator::{Clock, OperatorConfig, ScaledClock};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The template directory.
    pub templates: PathBuf,
    /// Run with `spec.dryRun`.
    pub dry_run: bool,
    /// Set `spec.approved`.
    pub approve: bool,
    /// The simulated time factor (`None`: the scenario's, else 1).
    pub speed: Option<f64>,
    /// The real-time cap of the whole run.
    pub timeout: Duration,
    /// Where the finished run is archived; `None`: nowhere.
    pub archive: Option<Archive>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            templates: PathBuf::from("workflows"),
            dry_run: false,
            approve: false,
            speed: None,
            timeout: Duration::from_secs(120),
            archive: None,
        }
    }
}

/// Something that happened during a run, as it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The cluster is up and holds the scenario's objects; the run is created.
    Started {
        /// The WorkflowExecution as `namespace/name`.
        run: String,
    },
    /// The run entered a phase.
    Phase(WorkflowPhase),
    /// The run took up a stop request (or raised a halt to rollback).
    Stop(StopStatus),
    /// A step changed phase or attempt.
    Step(StepUpdate),
}

/// A step's new state.
#[derive(Debug, Clone, PartialEq)]
pub struct StepUpdate {
    /// The step name.
    pub name: String,
    /// Its phase.
    pub phase: StepPhase,
    /// Attempts so far.
    pub attempts: u32,
    /// Compensation attempts so far.
    pub rollback_attempts: u32,
    /// Real time since the run was created.
    pub elapsed: Duration,
    /// Its message.
    pub message: String,
}

/// What a run leaves: the summary, and the resourceVersions of the scenario's objects.
#[derive(Debug, Clone)]
pub struct Report {
    /// The summary.
    pub summary: Summary,
    /// `KIND namespace/name` → (resourceVersion before the run, after it).
    pub versions: BTreeMap<String, (String, String)>,
    /// With an archive: the run's `Archived` condition once the workflow controller has set
    /// it (`Ok`: committed; `Err`: why not), or `None` when the run was not archived.
    pub archived: Option<Result<String, String>>,
}

/// Errors of setting up a run (the run's own failures end up in the summary).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A scenario value is not usable.
    #[error(transparent)]
    Scenario(#[from] super::file::ScenarioError),
    /// An object of the scenario could not be created.
    #[error("{path}: objects: cannot create {object}: {message}")]
    Object {
        /// The scenario file.
        path: String,
        /// The object, as `Kind name`.
        object: String,
        /// Why.
        message: String,
    },
    /// The embedded cluster refused a setup request.
    #[error("setting up the embedded cluster: {0}")]
    Setup(String),
    /// The time factor is out of range.
    #[error(transparent)]
    Speed(#[from] SpeedError),
}

/// What an API error says, for a person: the code, the reason and the server's message,
/// with the fields it names (never the client's debug form of the error).
pub fn api_message(error: &kube::Error) -> String {
    let kube::Error::Api(status) = error else {
        return error.to_string();
    };
    let mut out = format!("the API server answered {}", status.code);
    if !status.reason.is_empty() {
        out.push_str(&format!(" {}", status.reason));
    }
    if !status.message.is_empty() {
        out.push_str(&format!(": {}", status.message));
    }
    let causes: Vec<String> = status
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .filter(|c| !c.message.is_empty() && !status.message.contains(&c.message))
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .collect();
    if !causes.is_empty() {
        out.push_str(&format!(" ({})", causes.join("; ")));
    }
    crate::check::render::visible(&out).into_owned()
}

/// The scenario's cluster, set up and settled: the embedded cluster with its workload
/// simulation, the CRDs and the scenario's objects (and `changes`). `client` is the
/// observer's: it is not subject to the scenario's faults.
pub struct Stage {
    /// The embedded cluster.
    pub cluster: EmbeddedCluster,
    /// A client without faults, for setting up and observing.
    pub client: Client,
    kinds: Kinds,
    created: Vec<Created>,
    before: BTreeMap<String, String>,
    _simulation: Simulation,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Stage {
    /// Sets up `scenario`'s cluster: pods become ready after the scenario's `podReadyDelay`
    /// divided by `speed`; the simulation looks at the cluster every `tick` (default 100 ms).
    pub async fn new(
        scenario: &Scenario,
        speed: f64,
        tick: Option<Duration>,
    ) -> Result<Stage, RunError> {
        let cluster = EmbeddedCluster::new(Config::default());
        let client = cluster.client();
        install_crds(&client).await?;
        let kinds = Kinds::discover(&client).await?;
        let mut created = Vec::new();
        for object in ordered(&scenario.objects) {
            created.push(create_object(scenario, &client, &kinds, object).await?);
        }
        let never = Duration::from_secs(365 * 24 * 3600);
        let ready = scenario
            .pod_ready_delay()?
            .map_or(never, |d| d.div_f64(speed));
        let defaults = SimulationConfig::default();
        let tick = tick.unwrap_or(defaults.tick);
        let simulation = cluster.start_simulation(SimulationConfig {
            pod_ready_delay: ready,
            nodes: scenario.simulation.nodes.unwrap_or(3),
            speed,
            tick,
            ..defaults
        });
        settle(&cluster, tick).await;
        if !scenario.changes.is_empty() {
            for (i, change) in scenario.changes.iter().enumerate() {
                apply_change(scenario, &client, &kinds, i, change).await?;
            }
            settle(&cluster, tick).await;
        }
        let before = versions(&client, &created).await;
        Ok(Stage {
            cluster,
            client,
            kinds,
            created,
            before,
            _simulation: simulation,
        })
    }

    /// Creates the scenario's AIAnalysis and its WorkflowExecution; answers the run's name.
    pub async fn start_run(
        &self,
        scenario: &Scenario,
        options: &RunOptions,
    ) -> Result<String, RunError> {
        create_analysis(scenario, &self.client).await?;
        let runs: Api<WorkflowExecution> =
            Api::namespaced(self.client.clone(), &scenario.namespace);
        let name = scenario.run_name();
        create_run(scenario, options, &runs, &name).await?;
        Ok(name)
    }

    /// The report of the run `final_run` as the cluster holds it now: the summary (the run,
    /// its executions, Events, the scenario's checks) and the objects' versions.
    pub async fn report(
        &self,
        scenario: &Scenario,
        final_run: Option<&WorkflowExecution>,
        mut summary: Summary,
    ) -> Report {
        if let Some(run) = final_run {
            summary.fill_run(run);
        }
        let name = scenario.run_name();
        let executions: Api<KubernetesExecution> =
            Api::namespaced(self.client.clone(), &scenario.namespace);
        let lp = ListParams::default().labels(&crate::api::executions_of(&name));
        if let Ok(list) = executions.list(&lp).await {
            summary.fill_executions(list.items);
        }
        let events: Api<Event> = Api::all(self.client.clone());
        if let Ok(list) = events.list(&ListParams::default()).await {
            summary.fill_events(list.items);
        }
        summary.checks = checks(scenario, &self.client, &self.kinds, final_run).await;
        let after = versions(&self.client, &self.created).await;
        let versions = self
            .before
            .iter()
            .map(|(key, rv)| {
                let later = after.get(key).cloned().unwrap_or_default();
                (key.clone(), (rv.clone(), later))
            })
            .collect();
        Report {
            summary,
            versions,
            archived: None,
        }
    }
}

/// The scenario's `faults:` as the rules of a client fault plan.
pub fn fault_rules(scenario: &Scenario) -> Result<Rules, RunError> {
    let rules = Rules::default();
    for (i, fault) in scenario.faults.iter().enumerate() {
        match (fault.count, &fault.latency) {
            (Some(count), _) => rules.fail_next(&fault.verb, &fault.resource, count, fault.code),
            (None, Some(text)) => {
                let latency = scenario.duration(&format!("faults[{i}].latency"), text)?;
                rules.add_latency(&fault.verb, &fault.resource, latency);
            }
            (None, None) => {}
        }
    }
    Ok(rules)
}

/// A controller's client on the embedded cluster, as on a real cluster: a request answered
/// 429 with a `Retry-After` is retried by the client (`operator::backoff`); `faults` applies
/// to every request it sends.
pub fn controller_client(
    cluster: &EmbeddedCluster,
    faults: FaultLayer,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    controller: &'static str,
) -> Client {
    let service = ServiceBuilder::new()
        .layer(ThrottleRetryLayer::new(clock, metrics, controller))
        .layer(faults)
        .service(cluster.service());
    Client::new(service, "default")
}

/// Runs `scenario` to its end and returns its report. `options.timeout` is a hard cap on the
/// real time of the whole call: set-up, run, shutdown of the controllers and report.
pub async fn run(
    scenario: &Scenario,
    options: &RunOptions,
    on_progress: impl FnMut(Progress),
) -> Result<Report, RunError> {
    scenario.check_templates(&options.templates)?;
    let started = Instant::now();
    let deadline = started + options.timeout;
    let speed = check_speed(options.speed.or(scenario.speed).unwrap_or(1.0))?;
    let stage = match tokio::time::timeout_at(deadline, Stage::new(scenario, speed, None)).await {
        Ok(stage) => stage?,
        Err(_) => {
            let summary = Summary {
                scenario: scenario.title(),
                run: format!("{}/{}", scenario.namespace, scenario.run_name()),
                speed,
                unfinished: Some(over_time(options, "while setting up the cluster")),
                elapsed_ms: millis(started.elapsed()),
                ..Summary::default()
            };
            return Ok(Report {
                summary,
                versions: BTreeMap::new(),
                archived: None,
            });
        }
    };
    let rules = Arc::new(fault_rules(scenario)?);
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(speed));
    let metrics = Arc::new(Metrics::new());
    let client = |controller| {
        let faults = FaultLayer::new(controller, rules.clone());
        controller_client(
            &stage.cluster,
            faults,
            clock.clone(),
            metrics.clone(),
            controller,
        )
    };
    let (mut operator_config, executor_config) =
        controller_configs(&options.templates, clock.clone(), metrics.clone());
    operator_config.archive = options.archive.clone();
    let stop = CancellationToken::new();
    let controllers = vec![
        spawn_workflow(client("workflow"), operator_config, &stop),
        spawn_executor(client("executor"), executor_config, &stop),
    ];
    let mut timing = Timing::new();
    let mut last_seen = None;
    let watched = tokio::time::timeout_at(
        deadline,
        watch_run(
            &stage,
            scenario,
            options,
            &mut timing,
            &mut last_seen,
            on_progress,
        ),
    )
    .await;
    let unfinished = match watched {
        Ok(watched) => watched?,
        Err(_) => Some(over_time(options, "")),
    };
    // With an archive, the finished run is archived by the workflow controller before it stops.
    let archived = match (&options.archive, &last_seen) {
        (Some(_), Some(run)) if run_ended(run) => {
            let runs: Api<WorkflowExecution> =
                Api::namespaced(stage.client.clone(), &scenario.namespace);
            let waited =
                tokio::time::timeout_at(deadline, archived(&runs, &scenario.run_name())).await;
            Some(waited.unwrap_or_else(|_| Err(over_time(options, "while archiving"))))
        }
        _ => None,
    };
    // The controllers finish what they are doing, within the cap and at most 5 s; what is
    // left is stopped.
    stop.cancel();
    let grace = deadline.min(Instant::now() + Duration::from_secs(5));
    let mut controllers = controllers;
    for handle in &mut controllers {
        if tokio::time::timeout_at(grace, &mut *handle).await.is_err() {
            break;
        }
    }
    for handle in &controllers {
        handle.abort();
    }
    // Stopped at the cap: the run as it is now (the observer sees no faults).
    if last_seen
        .as_ref()
        .is_none_or(|run| !run_ended(run) && unfinished.is_some())
    {
        let runs: Api<WorkflowExecution> =
            Api::namespaced(stage.client.clone(), &scenario.namespace);
        if let Ok(Some(run)) = runs.get_opt(&scenario.run_name()).await {
            last_seen = Some(run);
        }
    }
    let final_run = last_seen;
    let summary = Summary {
        scenario: scenario.title(),
        speed,
        unfinished,
        ..Summary::default()
    };
    let mut report = stage.report(scenario, final_run.as_ref(), summary).await;
    for row in &mut report.summary.steps {
        row.duration_ms = match timing.get(&row.name) {
            Some((Some(start), Some(end))) => Some(millis(end.saturating_sub(*start))),
            _ => None,
        };
    }
    report.summary.elapsed_ms = millis(started.elapsed());
    report.archived = archived;
    Ok(report)
}

/// Waits (at most 10 s) for the workflow controller to mark the finished run `Archived`, and
/// answers the condition's message: `Ok` when committed, `Err` when it could not be.
async fn archived(runs: &Api<WorkflowExecution>, name: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let condition = runs.get_opt(name).await.ok().flatten().and_then(|run| {
            run.status.and_then(|s| {
                crate::operator::conditions::get(&s.conditions, CONDITION_ARCHIVED).cloned()
            })
        });
        match condition {
            Some(c) if c.status == "True" => return Ok(c.message),
            Some(c) => return Err(c.message),
            None if Instant::now() >= deadline => {
                return Err("the run was not archived within 10 s".to_string());
            }
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn over_time(options: &RunOptions, when: &str) -> String {
    let when = if when.is_empty() {
        String::new()
    } else {
        format!(" ({when})")
    };
    format!(
        "the run did not end within {}s of real time (--timeout){when}",
        options.timeout.as_secs_f64()
    )
}

/// When each step was first seen started and first seen ended, from the run's start.
type Timing = BTreeMap<String, (Option<Duration>, Option<Duration>)>;

/// Creates the run and follows it until it ends (or waits for an approval it will not get),
/// reporting each change; answers why it stopped before the end, if it did. `last_seen` is
/// the run as last read, `timing` when each step started and ended.
async fn watch_run(
    stage: &Stage,
    scenario: &Scenario,
    options: &RunOptions,
    timing: &mut Timing,
    last_seen: &mut Option<WorkflowExecution>,
    mut on_progress: impl FnMut(Progress),
) -> Result<Option<String>, RunError> {
    let name = stage.start_run(scenario, options).await?;
    let runs: Api<WorkflowExecution> = Api::namespaced(stage.client.clone(), &scenario.namespace);
    on_progress(Progress::Started {
        run: format!("{}/{name}", scenario.namespace),
    });
    let run_started = Instant::now();
    let mut tracker = super::progress::Tracker::new();
    loop {
        let current = runs.get_opt(&name).await.ok().flatten();
        if current.is_some() {
            last_seen.clone_from(&current);
        }
        if let Some(run) = &current
            && let Some(status) = &run.status
        {
            for change in tracker.update(status, run_started.elapsed()) {
                if let Progress::Step(step) = &change {
                    observe(timing, &step.name, step.phase, step.elapsed);
                }
                on_progress(change);
            }
            if status.phase.is_some_and(WorkflowPhase::is_terminal) {
                return Ok(None);
            }
            if status.phase == Some(WorkflowPhase::AwaitingApproval) && !run.spec.approved {
                let why = "the run waits for approval: run again with --approve to release it";
                return Ok(Some(why.into()));
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Records when a step was first seen started and when it was first seen in a final phase.
fn observe(
    timing: &mut BTreeMap<String, (Option<Duration>, Option<Duration>)>,
    step: &str,
    phase: StepPhase,
    at: Duration,
) {
    let entry = timing.entry(step.to_string()).or_default();
    match phase {
        StepPhase::Pending | StepPhase::Waiting => {}
        StepPhase::Succeeded | StepPhase::Failed | StepPhase::Skipped | StepPhase::TimedOut => {
            entry.0.get_or_insert(at);
            entry.1.get_or_insert(at);
        }
        // A compensation reopens the step: its end is the compensation's end.
        StepPhase::Compensating => entry.1 = None,
        StepPhase::Compensated | StepPhase::CompensationFailed => entry.1 = Some(at),
        StepPhase::Running | StepPhase::Retrying => {
            entry.0.get_or_insert(at);
        }
    }
}

async fn install_crds(client: &Client) -> Result<(), RunError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::api::crd::all() {
        crds.create(&PostParams::default(), &crd)
            .await
            .map_err(|e| {
                RunError::Setup(format!("cannot register the CRDs: {}", api_message(&e)))
            })?;
    }
    // The operator's namespace, as `deploy/namespace.yaml` makes it: the workflow controller
    // keeps its sealing key there, and reads the pause switch (`remedy pause`) there.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = k8s_openapi::api::core::v1::Namespace {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(crate::catalog::DEFAULT_OPERATOR_NAMESPACE.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(RunError::Setup(format!(
            "cannot create the operator's namespace: {e}"
        ))),
    }
}

/// Namespaces first, then the rest in the order written.
fn ordered(objects: &[Value]) -> Vec<&Value> {
    let (namespaces, rest): (Vec<&Value>, Vec<&Value>) = objects
        .iter()
        .partition(|o| o.get("kind").and_then(Value::as_str) == Some("Namespace"));
    namespaces.into_iter().chain(rest).collect()
}

/// The kinds the cluster serves, found by kind, plural or short name.
struct Kinds {
    discovery: Discovery,
}

impl Kinds {
    async fn discover(client: &Client) -> Result<Kinds, RunError> {
        let discovery = Discovery::new(client.clone())
            .run()
            .await
            .map_err(|e| RunError::Setup(format!("discovery failed: {}", api_message(&e))))?;
        Ok(Kinds { discovery })
    }

    /// The resource of `apiVersion` + `kind`.
    fn exact(&self, api_version: &str, kind: &str) -> Option<(ApiResource, ApiCapabilities)> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        self.discovery.resolve_gvk(&gvk)
    }

    /// The resource a check names: kind, plural or short name, any case, preferred version.
    fn named(&self, word: &str) -> Option<(ApiResource, ApiCapabilities)> {
        let word = word.to_lowercase();
        for group in self.discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if ar.kind.to_lowercase() == word
                    || ar.plural == word
                    || check::short_name(&ar.kind) == word
                {
                    return Some((ar, caps));
                }
            }
        }
        None
    }
}

/// An object the scenario created: how to read it again.
struct Created {
    key: String,
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
}

fn api_for(
    client: &Client,
    ar: &ApiResource,
    caps: &ApiCapabilities,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    match (caps.scope.clone(), ns) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    }
}

async fn create_object(
    scenario: &Scenario,
    client: &Client,
    kinds: &Kinds,
    object: &Value,
) -> Result<Created, RunError> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let fail = |message: String| RunError::Object {
        path: scenario.path.display().to_string(),
        object: format!("{kind} {name}"),
        message,
    };
    let (ar, caps) = kinds.exact(api_version, kind).ok_or_else(|| {
        fail(format!(
            "the cluster serves no kind {kind} in {api_version}"
        ))
    })?;
    let namespace = match caps.scope {
        Scope::Namespaced => Some(
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(&scenario.namespace)
                .to_string(),
        ),
        Scope::Cluster => None,
    };
    let api = api_for(client, &ar, &caps, namespace.as_deref());
    let obj: DynamicObject =
        serde_json::from_value(object.clone()).map_err(|e| fail(e.to_string()))?;
    let created = Created {
        key: format!(
            "{kind} {}",
            match &namespace {
                Some(ns) => format!("{ns}/{name}"),
                None => name.clone(),
            }
        ),
        resource: ar.clone(),
        namespace: namespace.clone(),
        name: name.clone(),
    };
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        // The built-in namespaces exist already.
        Err(kube::Error::Api(e)) if e.code == 409 && kind == "Namespace" => return Ok(created),
        Err(e) => return Err(fail(api_message(&e))),
    }
    if let Some(status) = object.get("status") {
        // The API server ignores status on create: write it through the status subresource.
        let patch = json!({ "status": status });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(fail(format!("status: {}", api_message(&e)))),
        }
    }
    Ok(created)
}

async fn apply_change(
    scenario: &Scenario,
    client: &Client,
    kinds: &Kinds,
    index: usize,
    change: &super::file::Change,
) -> Result<(), RunError> {
    let fail = |message: String| RunError::Object {
        path: scenario.path.display().to_string(),
        object: format!("changes[{index}] ({})", change.object),
        message,
    };
    let key = ObjectKey::parse(&change.object).ok_or_else(|| fail("not KIND NS/NAME".into()))?;
    let (ar, caps) = kinds
        .named(&key.kind)
        .ok_or_else(|| fail(format!("the cluster serves no kind {}", key.kind)))?;
    let api = api_for(client, &ar, &caps, key.namespace.as_deref());
    let mut patch = change.patch.clone();
    // Status goes through the status subresource (the main resource ignores it).
    let status = patch.as_object_mut().and_then(|p| p.remove("status"));
    if patch.as_object().is_some_and(|p| !p.is_empty()) {
        api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| fail(api_message(&e)))?;
    }
    if let Some(status) = status {
        let patch = json!({ "status": status });
        api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| fail(format!("status: {}", api_message(&e))))?;
    }
    Ok(())
}

/// Waits until the simulation stops writing for three of its ticks (300 ms at the default
/// tick; at most 5 s or 20 ticks): the cluster is in its steady state.
async fn settle(cluster: &EmbeddedCluster, tick: Duration) {
    let quiet = tick * 3;
    let deadline = Instant::now() + Duration::from_secs(5).max(tick * 20);
    let mut last = cluster.resource_version();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = cluster.resource_version();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= quiet {
            return;
        }
    }
}

async fn versions(client: &Client, created: &[Created]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in created {
        let api: Api<DynamicObject> = match &c.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &c.resource),
            None => Api::all_with(client.clone(), &c.resource),
        };
        let rv = match api.get_opt(&c.name).await {
            Ok(Some(obj)) => obj.resource_version().unwrap_or_default(),
            _ => String::new(),
        };
        out.insert(c.key.clone(), rv);
    }
    out
}

/// Registers the CRDs and starts both controllers on `client` until `stop` is cancelled (for
/// `remedy serve`).
pub async fn start_in_cluster(
    client: &Client,
    templates: &std::path::Path,
    speed: f64,
    stop: &CancellationToken,
    archive: Option<Archive>,
    retention: RetentionConfig,
) -> Result<Vec<tokio::task::JoinHandle<()>>, RunError> {
    install_crds(client).await?;
    Ok(start_controllers(
        client, templates, speed, stop, archive, retention,
    ))
}

/// Starts the workflow controller (archiving finished runs to `archive`, and keeping them
/// as `retention` says) and the executor on `client` until `stop` is cancelled.
pub fn start_controllers(
    client: &Client,
    templates: &std::path::Path,
    speed: f64,
    stop: &CancellationToken,
    archive: Option<Archive>,
    retention: RetentionConfig,
) -> Vec<tokio::task::JoinHandle<()>> {
    // One clock for both controllers: the engine's waits and the executor's deadlines agree.
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(speed));
    let (mut operator_config, executor_config) =
        controller_configs(templates, clock, Arc::new(Metrics::new()));
    operator_config.archive = archive;
    operator_config.retention = retention;
    vec![
        spawn_workflow(client.clone(), operator_config, stop),
        spawn_executor(client.clone(), executor_config, stop),
    ]
}

/// The controllers' configurations for an in-process run: `clock` for both (the engine's
/// waits and the executor's deadlines agree), quick template polls, short waits for a busy
/// target, and quick polls of awaited conditions.
pub fn controller_configs(
    templates: &std::path::Path,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> (OperatorConfig, ExecutorConfig) {
    let mut config = OperatorConfig::new(templates);
    config.clock = clock.clone();
    config.template_poll = Duration::from_secs(1);
    config.wait_requeue = Duration::from_millis(200);
    config.metrics = metrics.clone();
    let executor_config = ExecutorConfig {
        poll_interval: Duration::from_millis(100),
        concurrency: 16,
        clock,
        metrics,
        ..ExecutorConfig::default()
    };
    (config, executor_config)
}

/// Runs the workflow controller on `client` until `stop` is cancelled.
pub fn spawn_workflow(
    client: Client,
    config: OperatorConfig,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let stop = stop.clone();
    tokio::spawn(async move {
        crate::operator::run(client, config, stop.cancelled_owned()).await;
    })
}

/// Runs the executor on `client` until `stop` is cancelled.
pub fn spawn_executor(
    client: Client,
    config: ExecutorConfig,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let stop = stop.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::executor::run_until(client, config, stop.cancelled_owned()).await {
            tracing::error!(error = %e, "the executor stopped");
        }
    })
}

async fn create_analysis(scenario: &Scenario, client: &Client) -> Result<(), RunError> {
    let api: Api<AIAnalysis> = Api::namespaced(client.clone(), &scenario.namespace);
    let obj: AIAnalysis = serde_json::from_value(json!({
        "apiVersion": "aianalysis.kubernaut.io/v1alpha1", "kind": "AIAnalysis",
        "metadata": { "name": scenario.analysis.name }, "spec": {}
    }))
    .map_err(|e| RunError::Setup(e.to_string()))?;
    let fail = |e: kube::Error| RunError::Object {
        path: scenario.path.display().to_string(),
        object: format!("AIAnalysis {}", scenario.analysis.name),
        message: api_message(&e),
    };
    api.create(&PostParams::default(), &obj)
        .await
        .map_err(fail)?;
    let mut status = scenario.analysis.status.clone();
    status
        .entry("phase")
        .or_insert_with(|| Value::String("Completed".into()));
    let patch = json!({ "status": status });
    api.patch_status(
        &scenario.analysis.name,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(fail)?;
    Ok(())
}

async fn create_run(
    scenario: &Scenario,
    options: &RunOptions,
    runs: &Api<WorkflowExecution>,
    name: &str,
) -> Result<(), RunError> {
    let mut spec = scenario.workflow_execution.clone().unwrap_or_default();
    spec.entry("aiAnalysisRef")
        .or_insert_with(|| json!({ "name": scenario.analysis.name }));
    if options.dry_run {
        spec.insert("dryRun".into(), Value::Bool(true));
    }
    if options.approve {
        spec.insert("approved".into(), Value::Bool(true));
    }
    let fail = |message: String| RunError::Object {
        path: scenario.path.display().to_string(),
        object: format!("WorkflowExecution {name}"),
        message,
    };
    let obj: WorkflowExecution = serde_json::from_value(json!({
        "apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
        "metadata": { "name": name }, "spec": spec
    }))
    .map_err(|e| fail(format!("workflowExecution: {e}")))?;
    runs.create(&PostParams::default(), &obj)
        .await
        .map_err(|e| fail(api_message(&e)))?;
    Ok(())
}

async fn checks(
    scenario: &Scenario,
    client: &Client,
    kinds: &Kinds,
    run: Option<&WorkflowExecution>,
) -> Vec<CheckResult> {
    let status = run.and_then(|r| serde_json::to_value(&r.status).ok());
    let status = status.unwrap_or(Value::Null);
    let mut out = Vec::new();
    let expect = &scenario.expect;
    let mut top = |what: &str, expected: &Option<String>, actual: Option<&Value>| {
        if let Some(e) = expected {
            let e = Value::String(e.clone());
            out.push(CheckResult {
                what: what.to_string(),
                passed: check::matches(&e, actual),
                expected: e,
                actual: actual.cloned().unwrap_or(Value::Null),
            });
        }
    };
    top("phase", &expect.phase, status.get("phase"));
    top("outcome", &expect.outcome, status.get("outcome"));
    top(
        "failure reason",
        &expect.failure_reason,
        status.pointer("/failure/reason"),
    );
    for (step, phase) in &expect.steps {
        let actual = status
            .get("steps")
            .and_then(Value::as_array)
            .and_then(|steps| {
                steps
                    .iter()
                    .find(|s| s.get("name").and_then(Value::as_str) == Some(step))
            })
            .and_then(|s| s.get("phase"));
        top(&format!("step {step}"), &Some(phase.clone()), actual);
    }
    for c in &expect.objects {
        let what = format!("{} {}", c.object, c.field);
        let object = match ObjectKey::parse(&c.object) {
            Some(key) => read_object(client, kinds, &key).await,
            None => None,
        };
        let actual = object.as_ref().and_then(|o| check::field(o, &c.field));
        out.push(CheckResult {
            what,
            passed: check::matches(&c.equals, actual),
            expected: c.equals.clone(),
            actual: actual.cloned().unwrap_or(Value::Null),
        });
    }
    out
}

async fn read_object(client: &Client, kinds: &Kinds, key: &ObjectKey) -> Option<Value> {
    let (ar, caps) = kinds.named(&key.kind)?;
    let api = api_for(client, &ar, &caps, key.namespace.as_deref());
    let obj = api.get_opt(&key.name).await.ok()??;
    serde_json::to_value(obj).ok()
}
