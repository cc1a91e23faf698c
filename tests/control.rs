//! Run control as an SRE does it: the `remedy` live-cluster commands (list, get, watch,
//! approve, stop, retry, pause, resume) over HTTP against `remedy serve`, through a real
//! kubeconfig; stops mid-run, deletion mid-run, pause and resume with runs in flight; the
//! kubectl plugin; errors in kubectl's words and the exit codes 0, 1 and 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use remedy::api::{AIAnalysis, KubernetesExecution, WorkflowExecution, WorkflowPhase};
use serde_json::{Value, json};

const NS: &str = "shop";

/// A step that takes 3 s (`wait`) between two changes, each undone by its compensation.
const SLOW: &str = r#"workflow "slow" version "1.2.0" {
  timeout 10m
  param namespace: string = ${ analysis.target.namespace }
  param deployment: string = ${ analysis.target.name }
  step scale_out {
    action "scale_deployment"
    with { namespace, deployment, replicas: 3 }
    rollback {
      action "scale_deployment"
      with { namespace, deployment, replicas: ${ self.output.previous_replicas } }
    }
  }
  step settle {
    action "wait"
    with { duration: "3s" }
    timeout 1m
  }
  step raise_memory {
    action "increase_resources"
    with { namespace, deployment, memory: "1Gi" }
    rollback {
      action "rollback_deployment"
      with { namespace, deployment, revision: 0 }
    }
  }
  finally {
    step tell {
      action "notify_only"
      with { message: "slow ended ${workflow.phase}" }
    }
  }
}
"#;

/// The same, behind an approval gate.
fn gated() -> String {
    SLOW.replace("\"slow\"", "\"gated\"")
        .replace("timeout 10m", "timeout 10m\n  approval required")
        .replace("\"3s\"", "\"100ms\"")
}

/// A running `remedy serve` with the simulation, and its kubeconfig.
struct Served {
    child: Child,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a command did.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("slow.wf"), SLOW).unwrap();
    std::fs::write(templates.join("gated.wf"), gated()).unwrap();
    let kc = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--pod-ready-delay-ms",
            "50",
        ])
        .arg("--kubeconfig-out")
        .arg(&kc)
        .arg("--templates")
        .arg(&templates)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The kubeconfig is written before the third line.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        assert!(line.starts_with("remedy serve: "), "{line}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let served = Served { child, dir, rt };
    served.setup();
    served
}

impl Served {
    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `remedy ARGS` with KUBECONFIG set, as a user runs it.
    fn remedy(&self, args: &[&str]) -> Out {
        self.command(Command::new(env!("CARGO_BIN_EXE_remedy")).args(args))
    }

    fn command(&self, cmd: &mut Command) -> Out {
        let out = cmd
            .env("KUBECONFIG", self.kubeconfig())
            .env("USER", "oncall")
            .env_remove("REMEDY_OPERATOR_NAMESPACE")
            .output()
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// `remedy ARGS`, which must exit 0; answers stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.remedy(args);
        assert_eq!(out.code, 0, "remedy {args:?}: {out:?}");
        out.stdout
    }

    fn client(&self) -> kube::Client {
        self.rt.block_on(async {
            let kc = Kubeconfig::read_from(self.kubeconfig()).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .unwrap();
            kube::Client::try_from(config).unwrap()
        })
    }

    /// The shop namespace with Deployments `web` and `api`, and an analysis for each.
    fn setup(&self) {
        let client = self.client();
        self.rt.block_on(async {
            let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
            let ns = serde_json::from_value(json!({ "metadata": { "name": NS } })).unwrap();
            namespaces
                .create(&PostParams::default(), &ns)
                .await
                .unwrap();
            let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
            let analyses: Api<AIAnalysis> = Api::namespaced(client.clone(), NS);
            for (name, workflow) in [("web", "slow"), ("api", "slow"), ("db", "gated")] {
                let d = serde_json::from_value(json!({
                    "metadata": { "name": name },
                    "spec": {
                        "replicas": 2,
                        "selector": { "matchLabels": { "app": name } },
                        "template": {
                            "metadata": { "labels": { "app": name } },
                            "spec": { "containers": [ {
                                "name": "app", "image": "registry.example/app:1",
                                "resources": { "limits": { "memory": "512Mi" } } } ] }
                        }
                    }
                }))
                .unwrap();
                deployments
                    .create(&PostParams::default(), &d)
                    .await
                    .unwrap();
                let a: AIAnalysis = serde_json::from_value(json!({
                    "apiVersion": "aianalysis.kubernaut.io/v1alpha1", "kind": "AIAnalysis",
                    "metadata": { "name": name }, "spec": {}
                }))
                .unwrap();
                analyses.create(&PostParams::default(), &a).await.unwrap();
                let status = json!({ "status": {
                    "phase": "Completed",
                    "recommendedWorkflow": { "name": workflow },
                    "targetResource": { "kind": "Deployment", "name": name, "namespace": NS },
                    "confidence": 0.9,
                } });
                analyses
                    .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .unwrap();
            }
        });
    }

    /// Creates run `name` for analysis `analysis`.
    fn start(&self, name: &str, analysis: &str) {
        let client = self.client();
        self.rt.block_on(async {
            let runs: Api<WorkflowExecution> = Api::namespaced(client, NS);
            let run: WorkflowExecution = serde_json::from_value(json!({
                "apiVersion": "workflowexecution.kubernaut.io/v1alpha1",
                "kind": "WorkflowExecution",
                "metadata": { "name": name },
                "spec": { "aiAnalysisRef": { "name": analysis } }
            }))
            .unwrap();
            runs.create(&PostParams::default(), &run).await.unwrap();
        });
    }

    /// The run as `remedy get -o json` shows it (None when it does not exist).
    fn run_json(&self, name: &str) -> Option<Value> {
        let out = self.remedy(&["get", name, "-n", NS, "-o", "json"]);
        (out.code == 0).then(|| serde_json::from_str(&out.stdout).unwrap())
    }

    /// Waits (at most 30 s) until `done` holds for the run's JSON, and returns it.
    fn wait_for(&self, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let run = self.run_json(name);
            if let Some(run) = &run
                && done(run)
            {
                return run.clone();
            }
            assert!(Instant::now() < deadline, "{name}: no {what}: {run:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn finished(&self, name: &str) -> Value {
        self.wait_for(name, "end", |r| {
            r.pointer("/status/phase")
                .and_then(Value::as_str)
                .and_then(|p| serde_json::from_value::<WorkflowPhase>(json!(p)).ok())
                .is_some_and(WorkflowPhase::is_terminal)
        })
    }

    fn executions(&self, run: &str) -> Vec<String> {
        let client = self.client();
        self.rt.block_on(async {
            let api: Api<KubernetesExecution> = Api::namespaced(client, NS);
            let lp = kube::api::ListParams::default()
                .labels(&format!("workflowexecution.kubernaut.io/name={run}"));
            let mut names: Vec<String> = api
                .list(&lp)
                .await
                .unwrap()
                .items
                .into_iter()
                .filter_map(|k| k.metadata.name)
                .collect();
            names.sort();
            names
        })
    }

    fn replicas(&self, deployment: &str) -> i64 {
        let client = self.client();
        self.rt.block_on(async {
            let api: Api<Deployment> = Api::namespaced(client, NS);
            let d = api.get(deployment).await.unwrap();
            i64::from(d.spec.unwrap().replicas.unwrap_or(1))
        })
    }
}

/// The text with runs of spaces made one (the view aligns its fields).
fn squash(text: &str) -> String {
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn step_phase(run: &Value, step: &str) -> String {
    run.pointer("/status/steps")
        .and_then(Value::as_array)
        .and_then(|steps| steps.iter().find(|s| s["name"] == step))
        .and_then(|s| s["phase"].as_str())
        .unwrap_or("")
        .to_string()
}

fn phase(run: &Value) -> &str {
    run.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[test]
fn list_get_watch_approve_and_retry_over_http() {
    let s = serve();
    let out = s.remedy(&["list", "-n", NS]);
    assert_eq!(out.code, 0);
    assert!(
        out.stderr.contains("No resources found in shop namespace."),
        "{out:?}"
    );

    // A gated run waits; get shows why; approve releases it; watch follows it to its end.
    s.start("db-1", "db");
    s.wait_for("db-1", "AwaitingApproval", |r| {
        phase(r) == "AwaitingApproval"
    });
    let view = squash(&s.ok(&["get", "db-1", "-n", NS]));
    assert!(view.contains("Run shop/db-1"), "{view}");
    assert!(view.contains("Phase: AwaitingApproval"), "{view}");
    assert!(view.contains("Workflow: gated@1.2.0"), "{view}");
    let approved = s.ok(&["approve", "db-1", "-n", NS]);
    assert_eq!(
        approved.trim(),
        "workflowexecution.workflowexecution.kubernaut.io/db-1 approved"
    );
    let watched = squash(&s.ok(&["watch", "db-1", "-n", NS]));
    let at = |needle: &str| {
        watched
            .find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{watched}"))
    };
    // Causal order: each result before the phase change it caused.
    assert!(at("✓ raise_memory") < at("✓ tell"), "{watched}");
    assert!(at("✓ tell") < at("● Completed"), "{watched}");
    assert!(
        watched.contains("Phase: Completed (outcome Success)"),
        "{watched}"
    );
    assert!(watched.contains("Resources changed"), "{watched}");
    assert!(watched.contains("Deployment shop/db"), "{watched}");

    // The list, in every format.
    let table = s.ok(&["list", "-n", NS]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "PHASE", "OUTCOME", "WORKFLOW", "TARGET", "STEP", "AGE"
        ]
    );
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..6],
        [
            "db-1",
            "Completed",
            "Success",
            "gated@1.2.0",
            "Deployment/shop/db",
            "tell"
        ]
    );
    let all = s.ok(&["list", "-A", "-o", "wide"]);
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert!(all.contains("RETRY-OF"), "{all}");
    assert_eq!(
        s.ok(&["list", "-n", NS, "-o", "name"]).trim(),
        "workflowexecution.workflowexecution.kubernaut.io/db-1"
    );
    let list: Value = serde_json::from_str(&s.ok(&["list", "-n", NS, "-o", "json"])).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["status"]["outcome"], "Success");
    let yaml = s.ok(&["get", "db-1", "-n", NS, "-o", "yaml"]);
    let parsed: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(parsed["kind"], "WorkflowExecution");
    assert_eq!(parsed["status"]["phase"], "Completed");
    let wide = s.ok(&["get", "db-1", "-n", NS, "-o", "wide"]);
    assert!(
        wide.contains("db-1-raise-memory-1"),
        "execution names: {wide}"
    );

    // A finished run cannot be approved or stopped: refused, exit 1, in kubectl's words.
    for args in [["approve", "db-1"], ["stop", "db-1"]] {
        let out = s.remedy(&[args[0], args[1], "-n", NS]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.contains(
                "workflowexecutions.workflowexecution.kubernaut.io \"db-1\" is not a running run (phase Completed)"
            ),
            "{out:?}"
        );
    }

    // Retry: a new run from the same analysis and template version, linked to the old one.
    let retried = s.ok(&["retry", "db-1", "-n", NS]);
    assert_eq!(
        retried.trim(),
        "workflowexecution.workflowexecution.kubernaut.io/db-1-retry-1 created (retry of db-1)"
    );
    let retry = s.wait_for("db-1-retry-1", "AwaitingApproval", |r| {
        phase(r) == "AwaitingApproval"
    });
    assert_eq!(retry["spec"]["retryOf"]["name"], "db-1");
    assert_eq!(
        retry["spec"]["workflowRef"],
        json!({ "name": "gated", "version": "1.2.0" })
    );
    assert_eq!(retry["spec"]["aiAnalysisRef"]["name"], "db");
    assert!(
        retry["spec"].get("approved").is_none_or(|a| a == false),
        "approved anew"
    );
    let out = s.remedy(&["retry", "db-1-retry-1", "-n", NS]);
    assert_eq!(out.code, 1, "a running run is not retried: {out:?}");
    assert!(out.stderr.contains("is still running"), "{out:?}");
    // A stop at AwaitingApproval ends it at once.
    s.ok(&[
        "stop",
        "db-1-retry-1",
        "-n",
        NS,
        "--reason",
        "not needed any more",
    ]);
    let cancelled = s.finished("db-1-retry-1");
    assert_eq!(phase(&cancelled), "Cancelled");
    assert_eq!(
        cancelled["status"]["stop"]["requestedBy"], "remedy",
        "the kubeconfig's user"
    );
    assert!(s.executions("db-1-retry-1").is_empty());

    // No such run: kubectl's words, exit 1.
    for cmd in ["get", "watch", "approve", "stop", "retry"] {
        let out = s.remedy(&[cmd, "nope", "-n", NS]);
        assert_eq!(out.code, 1, "{cmd}: {out:?}");
        assert_eq!(
            out.stderr.trim(),
            "Error from server (NotFound): workflowexecutions.workflowexecution.kubernaut.io \"nope\" not found",
            "{cmd}"
        );
    }
    // Usage errors: exit 2.
    for args in [
        vec!["get"],
        vec!["list", "-o", "table"],
        vec!["stop", "db-1", "--mode", "now"],
        vec!["list", "--context", "elsewhere"],
    ] {
        let out = s.remedy(&args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
    }
    let out = s.remedy(&["list", "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(out.code, 2, "{out:?}");
    // --context and -n pick the cluster and namespace.
    let other = s.remedy(&["list", "--context", "remedy", "-n", "default"]);
    assert_eq!(other.code, 0);
    assert!(
        other
            .stderr
            .contains("No resources found in default namespace.")
    );

    // The kubectl plugin: `kubectl remedy get RUN`.
    if Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let bin = s.dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_remedy"), bin.join("kubectl-remedy"))
            .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = s.command(
            Command::new("kubectl")
                .args(["remedy", "get", "db-1", "-n", NS])
                .env("PATH", path),
        );
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("Run shop/db-1"), "{out:?}");
    } else {
        eprintln!("the kubectl plugin part is skipped: kubectl is not installed");
    }
}

#[test]
fn stop_halt_and_rollback_mid_run() {
    let s = serve();
    // halt while `settle` runs: it finishes, raise_memory never starts, nothing is undone.
    s.start("web-1", "web");
    s.wait_for("web-1", "settle running", |r| {
        step_phase(r, "settle") == "Running"
    });
    let out = s.ok(&["stop", "web-1", "-n", NS, "--reason", "latency got worse"]);
    assert_eq!(
        out.trim(),
        "workflowexecution.workflowexecution.kubernaut.io/web-1 stop requested (halt)"
    );
    let again = s.ok(&["stop", "web-1", "-n", NS]);
    assert!(again.contains("already stopping (halt)"), "{again}");
    let stopping = s.wait_for("web-1", "the stop taken up", |r| {
        r.pointer("/status/stop").is_some()
    });
    assert_eq!(
        step_phase(&stopping, "settle"),
        "Running",
        "not interrupted"
    );
    let run = s.finished("web-1");
    assert_eq!(phase(&run), "Cancelled");
    assert_eq!(run["status"]["outcome"], "Cancelled");
    assert_eq!(run["status"]["stop"]["reason"], "latency got worse");
    assert_eq!(step_phase(&run, "settle"), "Succeeded");
    assert_eq!(step_phase(&run, "raise_memory"), "Skipped");
    assert_eq!(
        s.executions("web-1"),
        ["web-1-scale-out-1", "web-1-settle-1", "web-1-tell-1"]
    );
    assert_eq!(s.replicas("web"), 3, "halt undoes nothing");
    let view = squash(&s.ok(&["get", "web-1", "-n", NS]));
    assert!(
        view.contains("Stop: stop (halt) requested by remedy: latency got worse"),
        "{view}"
    );
    assert!(view.contains("StopRequested"), "the event: {view}");

    // rollback: the scale-out is undone, then finally runs.
    s.start("api-1", "api");
    s.wait_for("api-1", "settle running", |r| {
        step_phase(r, "settle") == "Running"
    });
    // Someone watches it meanwhile.
    let watcher = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["watch", "api-1", "-n", NS])
        .env("KUBECONFIG", s.kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    s.ok(&[
        "stop",
        "api-1",
        "-n",
        NS,
        "--rollback",
        "--reason",
        "wrong target",
    ]);
    let run = s.finished("api-1");
    let watched = watcher.wait_with_output().unwrap();
    assert_eq!(watched.status.code(), Some(0), "{watched:?}");
    let watched = squash(&String::from_utf8_lossy(&watched.stdout));
    let at = |needle: &str| {
        watched
            .find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{watched}"))
    };
    // In causal order: the run executing, the stop, the steps it skipped, the rollback it
    // caused and the compensation in it, finally, the end.
    assert!(at("● Executing") < at("■ stop (rollback) requested by remedy: wrong target"));
    assert!(at("■ stop") < at("– raise_memory Skipped"), "{watched}");
    assert!(
        at("– raise_memory Skipped") < at("● RollingBack"),
        "{watched}"
    );
    assert!(
        at("● RollingBack") < at("↺ scale_out Compensated"),
        "{watched}"
    );
    assert!(at("↺ scale_out Compensated") < at("✓ tell"), "{watched}");
    assert!(at("✓ tell") < at("● Cancelled"), "{watched}");
    assert_eq!(phase(&run), "Cancelled");
    assert_eq!(step_phase(&run, "scale_out"), "Compensated");
    assert_eq!(
        s.executions("api-1"),
        [
            "api-1-scale-out-1",
            "api-1-scale-out-rb-1",
            "api-1-settle-1",
            "api-1-tell-1"
        ]
    );
    assert_eq!(s.replicas("api"), 2, "scaled back");
}

#[test]
fn deleting_a_run_mid_run_rolls_it_back_and_keeps_the_evidence() {
    let s = serve();
    s.start("web-1", "web");
    s.wait_for("web-1", "settle running", |r| {
        step_phase(r, "settle") == "Running"
    });
    let client = s.client();
    s.rt.block_on(async {
        let runs: Api<WorkflowExecution> = Api::namespaced(client, NS);
        runs.delete("web-1", &Default::default()).await.unwrap();
    });
    // Still there, being deleted, with its executions readable, while it stops.
    let held = s.wait_for("web-1", "the deletion taken up", |r| {
        r.pointer("/status/stop/mode") == Some(&json!("rollback"))
    });
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        held["metadata"]["finalizers"],
        json!(["workflowexecution.kubernaut.io/finalizer"])
    );
    let view = s.ok(&["get", "web-1", "-n", NS, "-o", "wide"]);
    assert!(view.contains("Deleting:"), "{view}");
    assert!(view.contains("web-1-settle-1"), "{view}");
    assert!(
        s.executions("web-1")
            .contains(&"web-1-scale-out-1".to_string())
    );
    // Then it is compensated and released, and its executions go with it.
    let client = s.client();
    let (phases, last_seen) = s.rt.block_on(async {
        let runs: Api<WorkflowExecution> = Api::namespaced(client.clone(), NS);
        let kexes: Api<KubernetesExecution> = Api::namespaced(client, NS);
        let lp =
            kube::api::ListParams::default().labels("workflowexecution.kubernaut.io/name=web-1");
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut phases, mut seen) = (Vec::new(), Vec::new());
        while let Some(run) = runs.get_opt("web-1").await.unwrap() {
            for k in kexes.list(&lp).await.unwrap().items {
                let name = k.metadata.name.unwrap_or_default();
                if !seen.contains(&name) {
                    seen.push(name);
                }
            }
            if let Some(p) = run.status.and_then(|s| s.phase)
                && phases.last() != Some(&p)
            {
                phases.push(p);
            }
            assert!(Instant::now() < deadline, "never released");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (phases, seen)
    });
    assert!(
        phases.contains(&WorkflowPhase::RollingBack),
        "compensated while held: {phases:?}"
    );
    assert!(
        last_seen.contains(&"web-1-scale-out-rb-1".to_string()),
        "its executions readable while it was held: {last_seen:?}"
    );
    assert_eq!(s.replicas("web"), 2, "scaled back before it went");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.executions("web-1").is_empty() {
        assert!(Instant::now() < deadline, "executions never collected");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pause_and_resume_with_runs_in_flight() {
    let s = serve();
    s.start("web-1", "web");
    s.wait_for("web-1", "settle running", |r| {
        step_phase(r, "settle") == "Running"
    });
    let out = s.ok(&["pause", "--reason", "change freeze"]);
    assert!(out.starts_with("Remedy paused"), "{out}");
    assert!(s.ok(&["pause"]).contains("already paused"));
    s.start("api-1", "api");
    let waiting = s.wait_for("api-1", "Paused", |r| {
        r.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Paused"))
    });
    assert_eq!(phase(&waiting), "Validating");
    let view = squash(&s.ok(&["get", "api-1", "-n", NS]));
    assert!(
        view.contains("Waiting: RemedyPaused: Remedy is paused by remedy (change freeze)"),
        "{view}"
    );
    let listed = s.remedy(&["list", "-n", NS]);
    assert!(listed.stderr.contains("Remedy is paused"), "{listed:?}");
    // The attempt in flight settles; nothing new starts.
    s.wait_for("web-1", "settle done", |r| {
        step_phase(r, "settle") == "Succeeded"
    });
    std::thread::sleep(Duration::from_millis(700));
    let held = s.run_json("web-1").unwrap();
    assert_eq!(phase(&held), "Executing");
    assert_eq!(
        s.executions("web-1"),
        ["web-1-scale-out-1", "web-1-settle-1"],
        "raise_memory did not start"
    );
    assert!(s.executions("api-1").is_empty());
    let out = s.ok(&["resume"]);
    assert!(out.starts_with("Remedy resumed"), "{out}");
    assert_eq!(s.ok(&["resume"]).trim(), "Remedy is not paused");
    for run in ["web-1", "api-1"] {
        let done = s.finished(run);
        assert_eq!(done["status"]["outcome"], "Success", "{run}: {done:#}");
    }
}

/// A server that forbids everything, as an API server does for a user without RBAC rights;
/// its messages carry a terminal escape, as a hostile server's could.
fn forbidding_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        // Bounded: enough requests for every command, then the server goes away.
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = request.lines().next().unwrap_or("");
            let mut parts = line.split(' ');
            let method = parts.next().unwrap_or("");
            let path = parts.next().unwrap_or("");
            let path = path.split('?').next().unwrap_or("");
            // .../namespaces/NS/RESOURCE[/NAME]
            let segments: Vec<&str> = path.split('/').collect();
            let at = segments.iter().rposition(|s| *s == "namespaces");
            let (resource, name) = match at {
                Some(i) if segments.len() > i + 3 => (segments[i + 2], segments[i + 3]),
                Some(i) if segments.len() > i + 2 => (segments[i + 2], ""),
                _ => (segments.last().copied().unwrap_or(""), ""),
            };
            let verb = match (method, name.is_empty(), path.contains("watch")) {
                ("PATCH", ..) => "patch",
                ("POST", ..) => "create",
                (_, _, true) => "watch",
                (_, true, _) => "list",
                _ => "get",
            };
            let body = json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("{resource} \"{name}\" is forbidden: User \"oncall\" cannot {verb} resource \"{resource}\" in the namespace \"shop\"\u{1b}]0;pwned\u{7}"),
                "reason": "Forbidden", "code": 403
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, handle)
}

#[test]
fn forbidden_is_refused_in_kubectls_words() {
    let (addr, _server) = forbidding_server();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, remedy::cluster::kubeconfig(addr)).unwrap();
    for (args, verb) in [
        (vec!["list", "-n", NS], "list"),
        (vec!["get", "db-1", "-n", NS], "get"),
        (vec!["watch", "db-1", "-n", NS], "get"),
        (vec!["approve", "db-1", "-n", NS], "get"),
        (vec!["stop", "db-1", "-n", NS], "get"),
        (vec!["retry", "db-1", "-n", NS], "get"),
        (vec!["pause"], "get"),
        (vec!["resume"], "get"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
            .args(&args)
            .env("KUBECONFIG", &kc)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            stderr.starts_with("Error from server (Forbidden): "),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "is forbidden: User \"oncall\" cannot {verb} resource"
            )),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
            "the server's escapes reached the terminal: {args:?}: {stderr:?}"
        );
        assert!(stderr.contains("␛]0;pwned␇"), "{args:?}: {stderr}");
    }
}
