//! End to end: many concurrent runs of a 5-step workflow through both real controllers (the
//! workflow controller and the executor) on the embedded cluster, in-process. Prints runs per
//! second, API writes and reads per step (counted by verb and resource at the client), the delay from an
//! execution's success to the creation of the next step's execution (p50, p99), and the peak
//! memory of the process. Both moments are taken at the client, as the controllers send the
//! requests: the executor's status write that makes an execution `Succeeded`, and the
//! workflow controller's create of the next one. `REMEDY_BENCH_RUNS` sets the number of runs
//! (default 1000), `REMEDY_BENCH_EXECUTOR_CONCURRENCY` the executor's concurrency (default:
//! the executor's own default, 4) and `REMEDY_BENCH_WINDOW_MIB` the cluster's event-window
//! bound in MiB (default: the cluster's, 32).
//!
//! Run with `cargo bench --bench e2e`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use remedy::api::{AIAnalysis, Outcome, WorkflowExecution, WorkflowPhase};
use remedy::cluster::{Config, EmbeddedCluster};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The allocator of the `remedy` binary (src/main.rs: mimalloc, metered for the scripts'
/// memory limit), so that memory is measured as it runs there.
#[global_allocator]
static ALLOCATOR: remedy::script::memory::Metered<mimalloc::MiMalloc> =
    remedy::script::memory::Metered(mimalloc::MiMalloc);

const NS: &str = "bench";
const STEPS: usize = 5;

const TEMPLATE: &str = r#"
workflow "five-steps" version "1.0.0" {
  description "five notices in a row"
  param namespace: string = ${ analysis.target.namespace }
  step one { action "notify_only" with { message: "one" } }
  step two { action "notify_only" with { message: "two" } }
  step three { action "notify_only" with { message: "three" } }
  step four { action "notify_only" with { message: "four" } }
  step five { action "notify_only" with { message: "five" } }
}
"#;

/// Requests counted by `VERB resource`.
type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// `VERB resource` of a request (`create events`, `update kubernetesexecutions/status`,
/// `get workflowexecutions`, `list kubernetesexecutions`); watches are not counted.
fn classify(method: &http::Method, uri: &http::Uri) -> Option<String> {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/group/version/...; then optionally namespaces/NS.
    let mut rest = match segments.first() {
        Some(&"api") => segments.get(2..)?,
        _ => segments.get(3..)?,
    };
    if rest.len() > 2 && rest[0] == "namespaces" {
        rest = &rest[2..];
    }
    let (plural, named, sub) = (rest.first()?, rest.len() > 1, rest.get(2));
    let verb = match *method {
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        http::Method::GET if uri.query().is_some_and(|q| q.contains("watch=true")) => {
            return None;
        }
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        _ => return None,
    };
    Some(match sub {
        Some(sub) => format!("{verb} {plural}/{sub}"),
        None => format!("{verb} {plural}"),
    })
}

/// What the controllers sent, with the moment they sent it: the creation of each execution,
/// the status write that made each one `Succeeded` (by execution name), and the runs whose
/// status write that ended them was accepted.
#[derive(Default)]
struct Marks {
    created: HashMap<String, Instant>,
    succeeded: HashMap<String, Instant>,
    ended: HashSet<String>,
}

/// Just enough of a request body to read its name and phase.
#[derive(serde::Deserialize)]
struct Partial {
    #[serde(default)]
    metadata: PartialMeta,
    status: Option<PartialStatus>,
}

#[derive(serde::Deserialize, Default)]
struct PartialMeta {
    name: Option<String>,
}

#[derive(serde::Deserialize)]
struct PartialStatus {
    phase: Option<String>,
}

/// A client of `cluster` that counts requests by verb and resource and marks, in `marks`,
/// the moments the bench measures; `ended` is told each time a run ends.
fn counting_client(
    inner: remedy::cluster::ApiService,
    counts: Counts,
    marks: Arc<Mutex<Marks>>,
    ended: Arc<tokio::sync::Notify>,
) -> Client {
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let (mut inner, counts, marks, ended) =
            (inner.clone(), counts.clone(), marks.clone(), ended.clone());
        async move {
            let call = classify(req.method(), req.uri());
            if let Some(call) = &call {
                *counts.lock().unwrap().entry(call.clone()).or_default() += 1;
            }
            let (parts, body) = req.into_parts();
            let bytes = http_body_util::BodyExt::collect(body).await?.to_bytes();
            let now = Instant::now();
            let path_name = parts
                .uri
                .path()
                .rsplit('/')
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let parsed = match call.as_deref() {
                Some(
                    "create kubernetesexecutions"
                    | "update kubernetesexecutions/status"
                    | "update workflowexecutions/status",
                ) => Some(serde_json::from_slice::<Partial>(&bytes)?),
                _ => None,
            };
            let phase = parsed
                .as_ref()
                .and_then(|p| p.status.as_ref()?.phase.clone());
            let name = parsed.and_then(|p| p.metadata.name);
            let run_ends = |phase: &str| {
                serde_json::from_value::<WorkflowPhase>(serde_json::Value::from(phase))
                    .is_ok_and(WorkflowPhase::is_terminal)
            };
            let mut ends = None;
            match (call.as_deref(), phase.as_deref(), name) {
                (Some("create kubernetesexecutions"), _, Some(name)) => {
                    marks.lock().unwrap().created.insert(name, now);
                }
                (Some("update kubernetesexecutions/status"), Some("Succeeded"), _) => {
                    marks.lock().unwrap().succeeded.insert(path_name, now);
                }
                (Some("update workflowexecutions/status"), Some(p), _) if run_ends(p) => {
                    ends = Some(path_name);
                }
                _ => {}
            }
            let req = http::Request::from_parts(parts, http_body_util::Full::new(bytes));
            let resp = tower::Service::call(&mut inner, req).await?;
            if let Some(run) = ends
                && resp.status().is_success()
            {
                marks.lock().unwrap().ended.insert(run);
                ended.notify_one();
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(resp)
        }
    });
    Client::new(service, "default")
}

fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let runs: usize = std::env::var("REMEDY_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // The runtime of `remedy run`, `serve` and `operator`.
    let rt = remedy::runtime::build().unwrap();
    rt.block_on(bench(runs));
}

async fn bench(runs: usize) {
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("five-steps.wf"), TEMPLATE).unwrap();
    let mut cluster_config = Config::default();
    if let Some(mib) = std::env::var("REMEDY_BENCH_WINDOW_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        cluster_config.event_window_bytes = mib << 20;
    }
    let cluster = EmbeddedCluster::new(cluster_config);
    let setup = cluster.client();
    let crds: Api<CustomResourceDefinition> = Api::all(setup.clone());
    for crd in remedy::api::crd::all() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let namespaces: Api<Namespace> = Api::all(setup.clone());
    // The runs', and the operator's (where it keeps its sealing key).
    for name in [NS, "remedy-system"] {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let analyses: Api<AIAnalysis> = Api::namespaced(setup.clone(), NS);
    for i in 0..runs {
        let name = format!("ai-{i}");
        let obj: AIAnalysis = serde_json::from_value(json!({
            "apiVersion": "aianalysis.kubernaut.io/v1alpha1", "kind": "AIAnalysis",
            "metadata": {"name": name}, "spec": {}
        }))
        .unwrap();
        analyses.create(&PostParams::default(), &obj).await.unwrap();
        let status = json!({"status": {
            "phase": "Completed", "recommendedWorkflow": {"name": "five-steps"},
            "targetResource": {"kind": "Deployment", "name": format!("web-{i}"), "namespace": NS},
            "confidence": 0.9
        }});
        analyses
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }

    let stop = CancellationToken::new();
    let counts: Counts = Arc::default();
    let marks: Arc<Mutex<Marks>> = Arc::default();
    let ended = Arc::new(tokio::sync::Notify::new());
    let client = counting_client(
        cluster.service(),
        counts.clone(),
        marks.clone(),
        ended.clone(),
    );
    let mut config = remedy::operator::OperatorConfig::new(templates.path());
    config.wait_requeue = Duration::from_millis(200);
    let operator = {
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(async move {
            remedy::operator::run(client, config, stop.cancelled_owned()).await;
        })
    };
    let executor = {
        let stop = stop.clone();
        let defaults = remedy::executor::ExecutorConfig::default();
        let config = remedy::executor::ExecutorConfig {
            concurrency: std::env::var("REMEDY_BENCH_EXECUTOR_CONCURRENCY")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(defaults.concurrency),
            ..defaults
        };
        let client = client.clone();
        tokio::spawn(async move {
            let _ = remedy::executor::run_until(client, config, stop.cancelled_owned()).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before: BTreeMap<String, u64> = counts.lock().unwrap().clone();

    let started = Instant::now();
    let wfes: Api<WorkflowExecution> = Api::namespaced(setup.clone(), NS);
    for i in 0..runs {
        let obj: WorkflowExecution = serde_json::from_value(json!({
            "apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
            "metadata": {"name": format!("run-{i}")},
            "spec": {"aiAnalysisRef": {"name": format!("ai-{i}")}}
        }))
        .unwrap();
        wfes.create(&PostParams::default(), &obj).await.unwrap();
    }
    // Every run ended (its terminal status write accepted); then their outcomes as stored.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while marks.lock().unwrap().ended.len() < runs
        && tokio::time::timeout_at(deadline, ended.notified())
            .await
            .is_ok()
    {}
    let elapsed = started.elapsed();
    // The peak of the runs themselves, before the bench's own list of every run below.
    let peak = peak_memory_kib();
    let stored = wfes.list(&Default::default()).await.unwrap().items;
    let phase_ended = |w: &&WorkflowExecution| {
        w.status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(WorkflowPhase::is_terminal)
    };
    let finished = stored.iter().filter(phase_ended).count();
    let completed = stored
        .iter()
        .filter(phase_ended)
        .filter(|w| w.status.as_ref().and_then(|s| s.outcome) == Some(Outcome::Success))
        .count();
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), operator).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), executor).await;

    let after = counts.lock().unwrap().clone();
    let (mut writes, mut reads): (BTreeMap<String, u64>, BTreeMap<String, u64>) =
        Default::default();
    for (k, v) in &after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d == 0 {
            continue;
        }
        if k.starts_with("get ") || k.starts_with("list ") {
            reads.insert(k.clone(), d);
        } else {
            writes.insert(k.clone(), d);
        }
    }
    let steps = (finished * STEPS) as f64;
    let engine_writes: u64 = writes
        .iter()
        .filter(|(k, _)| k.contains("kubernetesexecutions") || k.contains("workflowexecutions"))
        .map(|(_, v)| v)
        .sum();
    let names = ["one", "two", "three", "four", "five"];
    let marks = marks.lock().unwrap();
    let mut delays = Vec::new();
    for i in 0..runs {
        for pair in names.windows(2) {
            // Execution names are `<run>-<step>-<attempt>`; every step here succeeds at once.
            let done = marks.succeeded.get(&format!("run-{i}-{}-1", pair[0]));
            let next = marks.created.get(&format!("run-{i}-{}-1", pair[1]));
            if let (Some(done), Some(next)) = (done, next) {
                delays.push(next.saturating_duration_since(*done));
            }
        }
    }
    delays.sort();

    println!(
        "e2e: {runs} concurrent runs x {STEPS} steps (notify_only), both controllers, in-process"
    );
    println!(
        "  finished            {finished}/{runs} ({completed} Success) in {:.2}s",
        elapsed.as_secs_f64()
    );
    println!(
        "  runs per second     {:.1}",
        finished as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  API writes          {} in total",
        writes.values().sum::<u64>()
    );
    for (k, v) in &writes {
        println!("    {k:<45} {v:>7}  ({:.2} per step)", *v as f64 / steps);
    }
    println!(
        "  writes per step     {:.2} by the controllers (executions and run status), {:.2} with events",
        engine_writes as f64 / steps,
        writes.values().sum::<u64>() as f64 / steps
    );
    println!(
        "  writes per step     {:.2} by the controllers without the run's one Planning write \
         (the status write that pins the plan, once per run)",
        (engine_writes as f64 - finished as f64) / steps
    );
    println!(
        "  API reads           {} in total ({:.2} per step; watches not counted)",
        reads.values().sum::<u64>(),
        reads.values().sum::<u64>() as f64 / steps
    );
    for (k, v) in &reads {
        println!("    {k:<45} {v:>7}  ({:.2} per step)", *v as f64 / steps);
    }
    println!(
        "  step-to-step delay  p50 {:.2} ms, p99 {:.2} ms ({} transitions)",
        percentile(&delays, 0.5).as_secs_f64() * 1000.0,
        percentile(&delays, 0.99).as_secs_f64() * 1000.0,
        delays.len()
    );
    if let Some(kib) = peak {
        println!("  peak memory (VmHWM) {:.1} MiB", kib as f64 / 1024.0);
    }
}
