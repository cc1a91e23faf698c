//! The archive and the memory of the workflow controller with many finished runs retained.
//!
//! - `archive_store/{sqlite,postgres}`: runs per second stored into each backend (one
//!   record of a five-step run with its executions and events per store, an upsert by uid).
//! - `history_target/{sqlite,postgres}`: `remedy history --target KIND/NS/NAME` as a query
//!   over 100,000 archived runs on 1,000 targets (100 rows back); the p99 of 2,000 queries
//!   is printed besides criterion's estimate, and the whole command (a process) is timed.
//! - `operator_memory`: `remedy operator` as its own process against `remedy serve`, with
//!   10,000 finished runs (50,000 executions) retained and 100 runs in flight; its resident
//!   memory (5 s and 30 s after the runs are in flight) and processor time are printed, next
//!   to the same with no finished run. `REMEDY_BENCH_FINISHED` (10,000) and
//!   `REMEDY_BENCH_PER_TARGET` (the operator's `--retain-per-target`, default 50) vary it.
//!
//! `cargo bench --bench archive -- --warm-up-time 1 --measurement-time 3 [FILTER]`; each part
//! runs only when the filter (if any) is part of its name. PostgreSQL runs as a throwaway
//! server, as in the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/archive/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remedy::api::{AIAnalysis, KubernetesExecution, WorkflowExecution, WorkflowPhase};
use remedy::archive::query::Query;
use remedy::archive::{Archive, Location, RunRecord, Target};
use serde_json::{Value, json};

/// A five-step template, as the memory bench's runs use it.
const TEMPLATE: &str = r#"workflow "tidy" version "1.0.0" {
  timeout 2h
  param namespace: string = ${ analysis.target.namespace }
  param deployment: string = ${ analysis.target.name }
  step look { action "notify_only" with { message: "looking at the deployment" } }
  step backup { action "notify_only" with { message: "backing up" } }
  step scale {
    action "scale_deployment"
    with { namespace, deployment, replicas: 3 }
    rollback { action "scale_deployment" with { namespace, deployment, replicas: ${ self.output.previous_replicas } } }
  }
  step memory {
    action "increase_resources"
    with { namespace, deployment, memory: "1Gi" }
    rollback { action "rollback_deployment" with { namespace, deployment } }
  }
  step tell { action "notify_only" with { message: "done" } }
}
"#;

/// The name filter given to the bench (criterion's options and their values skipped).
fn filter() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a.starts_with("--") {
            let takes_value = !a.contains('=')
                && matches!(
                    a.as_str(),
                    "--warm-up-time"
                        | "--measurement-time"
                        | "--sample-size"
                        | "--save-baseline"
                        | "--baseline"
                        | "--nresamples"
                        | "--noise-threshold"
                        | "--confidence-level"
                        | "--significance-level"
                        | "--color"
                        | "--output-format"
                        | "--profile-time"
                        | "--load-baseline"
                        | "--plotting-backend"
                );
            if takes_value {
                args.next();
            }
            continue;
        }
        if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

fn wanted(name: &str) -> bool {
    filter().is_none_or(|f| name.contains(&f) || f.contains(name))
}

/// The record of a finished five-step run `i` on Deployment `web-{target}`.
fn record(i: u64, target: u64, ended: i64) -> RunRecord {
    let at = |s: i64| jiff::Timestamp::from_second(s).unwrap().to_string();
    let name = format!("run-{i}");
    let uid = format!("00000000-0000-4000-8000-{i:012}");
    let steps: Vec<Value> = ["look", "backup", "scale", "memory", "tell"]
        .iter()
        .map(|s| json!({"name": s, "phase": "Succeeded", "attempts": 1, "executionRef": format!("{name}-{s}-1"),
                        "startedAt": at(ended - 50), "completedAt": at(ended - 40), "output": {"previous_replicas": 2}}))
        .collect();
    let plan = json!({"workflow": "tidy", "version": "1.0.0", "digest": "sha256:0123456789abcdef",
        "analysis": {"targetResource": {"kind": "Deployment", "namespace": "shop", "name": format!("web-{target}")},
                     "confidence": 0.9, "rootCause": "memory limit too low for the load"},
        "parameters": {"namespace": "shop", "deployment": format!("web-{target}")}, "steps": steps});
    let run: WorkflowExecution = serde_json::from_value(json!({
        "apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
        "metadata": {"name": name, "namespace": "shop", "uid": uid, "creationTimestamp": at(ended - 60)},
        "spec": {"aiAnalysisRef": {"name": format!("ai-{target}")}},
        "status": {"phase": "Completed", "outcome": if i.is_multiple_of(5) { "RolledBack" } else { "Success" },
            "workflow": {"name": "tidy", "version": "1.0.0", "digest": "sha256:0123456789abcdef"},
            "startedAt": at(ended - 55), "completedAt": at(ended), "steps": steps, "plan": plan.to_string()}
    }))
    .unwrap();
    let executions: Vec<KubernetesExecution> = ["look", "backup", "scale", "memory", "tell"]
        .iter()
        .map(|s| {
            serde_json::from_value(json!({
                "apiVersion": "kubernetesexecution.kubernaut.io/v1alpha1", "kind": "KubernetesExecution",
                "metadata": {"name": format!("{name}-{s}-1"), "namespace": "shop",
                    "labels": {"workflowexecution.kubernaut.io/name": name, "workflowexecution.kubernaut.io/kind": "step"},
                    "ownerReferences": [{"apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
                                         "name": name, "uid": uid, "controller": true}]},
                "spec": {"workflowExecutionRef": {"name": name}, "step": s, "attempt": 1,
                         "action": {"type": "scale_deployment", "parameters": {"namespace": "shop", "deployment": format!("web-{target}"), "replicas": 3}}},
                "status": {"phase": "Succeeded", "startedAt": at(ended - 50), "completedAt": at(ended - 40),
                    "result": {"success": true, "output": {"previous_replicas": 2, "replicas": 3},
                        "resourcesAffected": [{"kind": "Deployment", "namespace": "shop", "name": format!("web-{target}"), "change": "scaled 2→3"}]}}
            }))
            .unwrap()
        })
        .collect();
    let events: Vec<Event> = ["Executing", "Completed"]
        .iter()
        .map(|reason| {
            serde_json::from_value(json!({
                "metadata": {"name": format!("{name}.{reason}"), "namespace": "shop"},
                "involvedObject": {"kind": "WorkflowExecution", "name": name, "namespace": "shop", "uid": uid},
                "reason": reason, "message": format!("the run is {reason}"), "type": "Normal", "count": 1
            }))
            .unwrap()
        })
        .collect();
    RunRecord::build(&run, &executions, &events).unwrap()
}

struct Backend {
    name: &'static str,
    location: Location,
    _keep: Box<dyn std::any::Any>,
}

fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Location::Sqlite(dir.path().join("bench.sqlite"));
    let server = postgres::PgServer::start();
    let pg = Location::Postgres(server.url());
    vec![
        Backend {
            name: "sqlite",
            location: sqlite,
            _keep: Box::new(dir),
        },
        Backend {
            name: "postgres",
            location: pg,
            _keep: Box::new(server),
        },
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn archive_store(c: &mut Criterion, backends: &[Backend], rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("archive_store");
    group.throughput(Throughput::Elements(1));
    let next = AtomicU64::new(10_000_000);
    let size = serde_json::to_string(&record(0, 0, 1_800_000_000))
        .unwrap()
        .len();
    println!("archive_store: one record is {size} bytes of JSON");
    for b in backends {
        let archive = rt.block_on(Archive::open(&b.location)).unwrap();
        group.bench_function(BenchmarkId::from_parameter(b.name), |bench| {
            bench.iter_batched(
                || record(next.fetch_add(1, Ordering::Relaxed), 7, 1_800_000_000),
                |r| rt.block_on(archive.store(&r)).unwrap(),
                criterion::BatchSize::SmallInput,
            )
        });
        rt.block_on(archive.close());
    }
    group.finish();
}

const ARCHIVED: u64 = 100_000;
const TARGETS: u64 = 1_000;

fn history_target(c: &mut Criterion, backends: &[Backend], rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("history_target");
    for b in backends {
        let archive = rt.block_on(Archive::open(&b.location)).unwrap();
        let started = Instant::now();
        rt.block_on(async {
            // Eight writers: the seeding is not what is measured.
            futures::stream::iter(0..ARCHIVED)
                .map(|i| {
                    let archive = archive.clone();
                    async move {
                        archive
                            .store(&record(i, i % TARGETS, 1_700_000_000 + i as i64))
                            .await
                            .unwrap()
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<()>>()
                .await;
        });
        println!(
            "history_target/{}: {ARCHIVED} runs archived in {:.1} s",
            b.name,
            started.elapsed().as_secs_f64()
        );
        let query = |t: u64| Query {
            target: Some(Target::parse(&format!("Deployment/shop/web-{t}")).unwrap()),
            limit: 100,
            ..Query::default()
        };
        // The p99 of 2,000 queries on distinct targets.
        let mut times: Vec<Duration> = (0..2_000u64)
            .map(|i| {
                let q = query((i * 7919) % TARGETS);
                let t = Instant::now();
                let rows = rt.block_on(archive.list(&q)).unwrap();
                let took = t.elapsed();
                assert_eq!(rows.len(), 100);
                took
            })
            .collect();
        times.sort();
        let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!(
            "history_target/{}: query p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (100 rows of {ARCHIVED})",
            b.name,
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
        let n = AtomicU64::new(0);
        group.bench_function(BenchmarkId::from_parameter(b.name), |bench| {
            bench.iter(|| {
                let q = query(n.fetch_add(1, Ordering::Relaxed) % TARGETS);
                rt.block_on(archive.list(&q)).unwrap()
            })
        });
        rt.block_on(archive.close());
        // The whole command, as a person runs it: process start, open, query, print.
        let mut commands: Vec<Duration> = (0..50)
            .map(|i| {
                let t = Instant::now();
                let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
                    .args(["history", "--target", &format!("Deployment/shop/web-{i}")])
                    .args(["--archive", &b.location.to_string()])
                    .output()
                    .unwrap();
                let took = t.elapsed();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                took
            })
            .collect();
        commands.sort();
        println!(
            "history_target/{}: `remedy history --target` command p50 {:.1} ms, p99 {:.1} ms (50 runs)",
            b.name,
            commands[25].as_secs_f64() * 1e3,
            commands[49].as_secs_f64() * 1e3
        );
    }
    group.finish();
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (VmRSS, VmHWM) of a process, in MiB.
fn memory_of(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn client_of(kubeconfig: &Path) -> Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Client::try_from(config).unwrap()
}

/// The pinned plan and initial status of the template for target `web-0`.
fn planned(dir: &Path) -> (String, Value) {
    let template = remedy::template::Template::load(&dir.join("tidy.wf")).unwrap();
    let analysis: remedy::api::AIAnalysisStatus = serde_json::from_value(json!({
        "phase": "Completed", "recommendedWorkflow": {"name": "tidy"},
        "targetResource": {"kind": "Deployment", "namespace": "shop", "name": "web-0"},
        "confidence": 0.9, "rootCause": "memory limit too low for the load"
    }))
    .unwrap();
    let ctx = remedy::plan::PlanContext {
        namespace: "shop".into(),
        execution: "run".into(),
        actions: remedy::catalog::ActionCatalog::builtin(),
    };
    let plan = remedy::plan::plan(&template, &analysis, &Default::default(), &ctx).unwrap();
    let status = remedy::engine::initial_status(&plan);
    (
        serde_json::to_string(&plan).unwrap(),
        serde_json::to_value(status).unwrap(),
    )
}

/// Seeds `finished` finished runs with five executions each, concurrently.
async fn seed_finished(client: &Client, finished: u64, plan: &str, initial: &Value) {
    let now = jiff::Timestamp::now().to_string();
    let runs: Api<WorkflowExecution> = Api::namespaced(client.clone(), "shop");
    let kexs: Api<KubernetesExecution> = Api::namespaced(client.clone(), "shop");
    futures::stream::iter(0..finished)
        .map(|i| {
            let (runs, kexs, now) = (runs.clone(), kexs.clone(), now.clone());
            let plan = plan.replace("\"web-0\"", &format!("\"web-{i}\""));
            let mut status = initial.clone();
            async move {
                let name = format!("done-{i}");
                let run: WorkflowExecution = serde_json::from_value(json!({
                    "metadata": {"name": name}, "spec": {"aiAnalysisRef": {"name": "ai-0"}}
                }))
                .unwrap();
                let run = runs.create(&PostParams::default(), &run).await.unwrap();
                for step in status["steps"].as_array_mut().unwrap() {
                    step["phase"] = json!("Succeeded");
                    step["attempts"] = json!(1);
                    step["startedAt"] = json!(now);
                    step["completedAt"] = json!(now);
                    step["output"] = json!({"previous_replicas": 2});
                }
                status["phase"] = json!("Completed");
                status["outcome"] = json!("Success");
                status["plan"] = json!(plan);
                status["startedAt"] = json!(now);
                status["completedAt"] = json!(now);
                status["conditions"] = json!(["Planned", "Validated", "Approved", "Progressing", "Ready"]
                    .iter()
                    .map(|t| json!({"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": now}))
                    .collect::<Vec<_>>());
                runs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&json!({"status": status})))
                    .await
                    .unwrap();
                for step in ["look", "backup", "scale", "memory", "tell"] {
                    let kex: KubernetesExecution = serde_json::from_value(json!({
                        "metadata": {"name": format!("{name}-{step}-1"),
                            "labels": {"workflowexecution.kubernaut.io/name": name, "workflowexecution.kubernaut.io/step": step, "workflowexecution.kubernaut.io/kind": "step"},
                            "ownerReferences": [{"apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
                                                 "name": name, "uid": run.uid().unwrap(), "controller": true}]},
                        "spec": {"workflowExecutionRef": {"name": name}, "step": step, "attempt": 1,
                                 "action": {"type": "scale_deployment", "parameters": {"namespace": "shop", "deployment": format!("web-{i}"), "replicas": 3}}}
                    }))
                    .unwrap();
                    kexs.create(&PostParams::default(), &kex).await.unwrap();
                    let result = json!({"status": {"phase": "Succeeded", "startedAt": now, "completedAt": now,
                        "result": {"success": true, "output": {"previous_replicas": 2, "replicas": 3},
                            "resourcesAffected": [{"kind": "Deployment", "namespace": "shop", "name": format!("web-{i}"), "change": "scaled 2→3"}]}}});
                    kexs.patch_status(&kex.name_any(), &PatchParams::default(), &Patch::Merge(&result))
                        .await
                        .unwrap();
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// One measurement: serve, `finished` finished runs, the operator process, 100 runs in
/// flight; answers the operator's (VmRSS, VmHWM) in MiB.
fn operator_with(finished: u64, rt: &tokio::runtime::Runtime) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("tidy.wf"), TEMPLATE).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let _serve = Process(
        Command::new(env!("CARGO_BIN_EXE_remedy"))
            .args([
                "serve",
                "--no-controllers",
                "--no-simulation",
                "--kubeconfig-out",
            ])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kubeconfig.exists() {
        assert!(Instant::now() < deadline, "remedy serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let client = rt.block_on(client_of(&kubeconfig));
    let (plan, initial) = planned(&templates);
    let started = Instant::now();
    rt.block_on(async {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in remedy::api::crd::all() {
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for ns in ["shop", "remedy-system"] {
            let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &obj)
                .await
                .unwrap();
        }
        let analyses: Api<AIAnalysis> = Api::namespaced(client.clone(), "shop");
        for i in 0..100 {
            let name = format!("ai-{i}");
            let a: AIAnalysis =
                serde_json::from_value(json!({"metadata": {"name": name}, "spec": {}})).unwrap();
            analyses.create(&PostParams::default(), &a).await.unwrap();
            let status = json!({"status": {"phase": "Completed", "recommendedWorkflow": {"name": "tidy"},
                "targetResource": {"kind": "Deployment", "namespace": "shop", "name": format!("live-{i}")},
                "confidence": 0.9}});
            analyses
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap();
        }
        seed_finished(&client, finished, &plan, &initial).await;
    });
    println!(
        "operator_memory: {finished} finished runs seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let port = free_port();
    let operator = Process(
        Command::new(env!("CARGO_BIN_EXE_remedy"))
            .args([
                "operator",
                "--controllers",
                "workflow",
                "--retain-per-target",
                &per_target(),
            ])
            .arg("--templates")
            .arg(&templates)
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--probe-addr", &format!("127.0.0.1:{port}")])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = operator.0.id();
    rt.block_on(async {
        let runs: Api<WorkflowExecution> = Api::namespaced(client.clone(), "shop");
        // Ready: the runs are listed and cached.
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ok = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
                && probe(&ready).await;
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "the operator never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for i in 0..100 {
            let run: WorkflowExecution = serde_json::from_value(json!({
                "metadata": {"name": format!("live-{i}")}, "spec": {"aiAnalysisRef": {"name": format!("ai-{i}")}}
            }))
            .unwrap();
            runs.create(&PostParams::default(), &run).await.unwrap();
        }
        // In flight: planned, first execution created (no executor runs, so they stay).
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let mut executing = 0;
            for i in 0..100 {
                let phase = runs
                    .get(&format!("live-{i}"))
                    .await
                    .unwrap()
                    .status
                    .and_then(|s| s.phase);
                if phase == Some(WorkflowPhase::Executing) {
                    executing += 1;
                }
            }
            if executing == 100 {
                break;
            }
            assert!(Instant::now() < deadline, "only {executing} runs in flight");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // The allocator returns freed memory to the system after a delay (mimalloc: 1 s for its
    // pages, 10 s for its arenas) and only when the process allocates again: resident memory
    // is read 5 s and 30 s after the runs are in flight.
    let in_flight = Instant::now();
    let mut memory = (0.0, 0.0);
    for after in [5, 30] {
        std::thread::sleep(Duration::from_secs(after).saturating_sub(in_flight.elapsed()));
        memory = memory_of(pid);
        println!(
            "operator_memory: {finished} finished runs ({} executions) + 100 in flight, after {after} s: RSS {:.1} MiB, peak {:.1} MiB, {:.1} s of processor time",
            finished * 5,
            memory.0,
            memory.1,
            cpu_seconds(pid)
        );
    }
    memory
}

/// The processor time (user and system) process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (in parentheses): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

/// `--retain-per-target` of the measured operator: `REMEDY_BENCH_PER_TARGET`, else the
/// operator's default (50; the seeded runs are on 10,000 targets, so none is deleted).
fn per_target() -> String {
    std::env::var("REMEDY_BENCH_PER_TARGET").unwrap_or_else(|_| "50".to_string())
}

async fn probe(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let Some((host, path)) = rest.split_once('/') else {
        return false;
    };
    let Ok(mut stream) = tokio::net::TcpStream::connect(host).await else {
        return false;
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer.starts_with("HTTP/1.1 200")
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = runtime();
    if wanted("archive_store") || wanted("history_target") {
        let backends = backends();
        if wanted("archive_store") {
            archive_store(&mut c, &backends, &rt);
        }
        if wanted("history_target") {
            history_target(&mut c, &backends, &rt);
        }
    }
    if filter().is_some_and(|f| "operator_memory".contains(&f) && f.len() >= 8) {
        let finished: u64 = std::env::var("REMEDY_BENCH_FINISHED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        operator_with(0, &rt);
        operator_with(finished, &rt);
    }
    c.final_summary();
}
