//! Runs a scenario in-process: the embedded cluster with its workload simulation, the CRDs,
//! the scenario's objects, both controllers (workflow and executor) on the in-process client,
//! then the analysis and the run; reports progress and returns the summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::check::{self, CheckResult, ObjectKey};
use super::controllers::{controller_client, controller_configs, spawn_executor, spawn_workflow};
use super::file::Scenario;
use super::stage::{Kinds, Stage, api_for, fault_rules, versions};
use super::summary::Summary;
use crate::api::{
    AIAnalysis, KubernetesExecution, StepPhase, StopStatus, WorkflowExecution, WorkflowPhase,
};
use crate::archive::Archive;
use crate::clock::{Clock, ScaledClock};
use crate::clock::{SpeedError, check_speed};
use crate::cluster::faults::FaultLayer;
use crate::operator::finished::run_ended;
use crate::operator::retention::CONDITION_ARCHIVED;
use crate::reconcile::metrics::Metrics;

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

impl Stage {
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
