//! kubectl v1.32 against `remedy serve` on a random loopback port. Skipped (with a printed
//! reason) only when kubectl is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `remedy serve` and the kubeconfig that points at it.
struct Served {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kubectl_missing() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: kubectl is not installed");
    }
    !ok
}

/// `remedy serve` without the workload simulation (objects change only when kubectl changes them).
fn serve() -> Served {
    serve_with(&["--no-simulation"])
}

fn serve_with(extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_remedy"))
        // Finished runs are archived into the data directory: the temporary one.
        .env("XDG_DATA_HOME", dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig-out"])
        .arg(&kc)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with("remedy serve: listening on http://127.0.0.1:"),
        "{first}"
    );
    assert!(
        !first.trim().ends_with(":0"),
        "port 0 is replaced by the bound port: {first}"
    );
    Served { child, dir }
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Served {
    fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .as_mut()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().unwrap();
        Out {
            ok: status.success(),
            stdout: String::from_utf8_lossy(&stdout).into(),
            stderr: String::from_utf8_lossy(&stderr).into(),
        }
    }

    fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_stdin(args, None)
    }

    /// Runs kubectl and insists it succeeds; answers stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.ok, "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }

    fn apply(&self, yaml: &str) -> String {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], Some(yaml));
        assert!(out.ok, "kubectl apply failed: {}", out.stderr);
        out.stdout
    }
}

/// Lines split into whitespace-separated words.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.27
";

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: workflowexecutions.remedy.example.io
spec:
  group: remedy.example.io
  scope: Namespaced
  names: {plural: workflowexecutions, singular: workflowexecution, kind: WorkflowExecution, shortNames: [wfe]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Template, type: string, jsonPath: .spec.template}
    - {name: Phase, type: string, jsonPath: .status.phase}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [template]
            properties:
              template: {type: string}
              mode: {type: string, enum: [Auto, Manual], default: Auto}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
";

#[test]
fn api_resources_lists_kinds_with_short_names() {
    if kubectl_missing() {
        return;
    }
    let s = serve();
    let table = rows(&s.ok(&["api-resources"]));
    assert_eq!(
        table[0],
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    );
    assert!(
        table.contains(&vec![
            "deployments".into(),
            "deploy".into(),
            "apps/v1".into(),
            "true".into(),
            "Deployment".into()
        ]),
        "{table:?}"
    );
    assert!(table.contains(&vec![
        "leases".into(),
        "coordination.k8s.io/v1".into(),
        "true".into(),
        "Lease".into()
    ]));
    assert!(table.contains(&vec![
        "horizontalpodautoscalers".into(),
        "hpa".into(),
        "autoscaling/v2".into(),
        "true".into(),
        "HorizontalPodAutoscaler".into()
    ]));
    let ns = rows(&s.ok(&["get", "namespaces"]));
    let names: Vec<&str> = ns.iter().skip(1).map(|r| r[0].as_str()).collect();
    // The built-in ones, and the operator's, where it keeps its sealing key and the pause
    // switch.
    assert_eq!(
        names,
        [
            "default",
            "kube-node-lease",
            "kube-public",
            "kube-system",
            "remedy-system"
        ]
    );
    assert_eq!(ns[1][1], "Active");
}

#[test]
fn apply_get_and_yaml_round_trip_with_openapi_validation() {
    if kubectl_missing() {
        return;
    }
    let s = serve();
    assert_eq!(s.apply(DEPLOYMENT).trim(), "deployment.apps/web created");
    let table = rows(&s.ok(&["get", "deployment", "web"]));
    assert_eq!(
        table[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(&table[1][..4], ["web", "0/2", "0", "0"]);
    let yaml = s.ok(&["get", "deployment", "web", "-o", "yaml"]);
    assert!(
        yaml.contains("generation: 1")
            && yaml.contains("revisionHistoryLimit: 10")
            && yaml.contains("uid: "),
        "{yaml}"
    );
    assert_eq!(
        s.apply(&DEPLOYMENT.replace("replicas: 2", "replicas: 3"))
            .trim(),
        "deployment.apps/web configured"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}"
        ]),
        "3 2"
    );
    assert_eq!(
        s.apply(DEPLOYMENT.replace("replicas: 2", "replicas: 3").as_str())
            .trim(),
        "deployment.apps/web unchanged"
    );
    let out = s.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        Some(&DEPLOYMENT.replace("replicas: 2", "replicas: 4")),
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "4"
    );
    let index = s.ok(&["get", "--raw", "/openapi/v3"]);
    assert!(index.contains("apis/apps/v1"), "{index}");
    // With schemas served, kubectl computes its client-side apply patch from them: a second
    // container merges by name and the first keeps its fields.
    let two = DEPLOYMENT.replace(
        "        image: nginx:1.27",
        "        image: nginx:1.27\n        env: [{name: A, value: a}]\n      - name: side\n        image: busybox",
    );
    s.apply(&two);
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].env[0].value}"]),
        "app side a"
    );
    assert!(
        !s.kubectl(&["get", "--raw", "/openapi/v2"]).ok,
        "openapi v2 is not served"
    );
}

#[test]
fn patch_scale_wait_and_delete() {
    if kubectl_missing() {
        return;
    }
    let s = serve();
    s.apply(DEPLOYMENT);
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]);
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:2"}]"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"
        ]),
        "4 nginx:2"
    );
    let waiting = s.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "--timeout=1s",
    ]);
    assert!(!waiting.ok, "no Available condition yet");
    let status = r#"{"status":{"replicas":4,"readyReplicas":4,"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable"}]}}"#;
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        status,
    ]);
    assert_eq!(
        s.ok(&[
            "wait",
            "--for=condition=Available",
            "deploy/web",
            "--timeout=5s"
        ])
        .trim(),
        "deployment.apps/web condition met"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}"
        ]),
        "4 3",
        "the status patch did not bump generation"
    );
    assert_eq!(
        s.ok(&["scale", "deploy", "web", "--replicas=1"]).trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "1"
    );
    assert_eq!(
        s.ok(&["delete", "deploy", "web"]).trim(),
        "deployment.apps \"web\" deleted"
    );
    let gone = s.kubectl(&["get", "deploy", "web"]);
    assert!(
        !gone.ok && gone.stderr.contains("deployments.apps \"web\" not found"),
        "{}",
        gone.stderr
    );
}

#[test]
fn get_watch_streams_events() {
    if kubectl_missing() {
        return;
    }
    let s = serve();
    let mut watch = Command::new("kubectl")
        .args([
            "get",
            "configmaps",
            "--watch",
            "--output-watch-events",
            "--request-timeout=20s",
        ])
        .env("KUBECONFIG", s.dir.path().join("kubeconfig"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = watch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut seen = String::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) && seen.matches('\n').count() < 4 {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        seen
    });
    std::thread::sleep(Duration::from_millis(500));
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: live}\ndata: {a: b}\n");
    s.ok(&["label", "configmap", "live", "step=two"]);
    s.ok(&["delete", "configmap", "live"]);
    let seen = reader.join().unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    let events: Vec<(String, String)> = rows(&seen)
        .into_iter()
        .skip(1)
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let expected: Vec<(String, String)> =
        [("ADDED", "live"), ("MODIFIED", "live"), ("DELETED", "live")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(events, expected, "{seen}");
}

#[test]
fn custom_resources_get_printer_columns_validation_and_status() {
    if kubectl_missing() {
        return;
    }
    let s = serve();
    s.apply(CRD);
    let res = rows(&s.ok(&["api-resources", "--api-group=remedy.example.io"]));
    assert_eq!(
        res[1],
        [
            "workflowexecutions",
            "wfe",
            "remedy.example.io/v1alpha1",
            "true",
            "WorkflowExecution"
        ]
    );
    s.apply("apiVersion: remedy.example.io/v1alpha1\nkind: WorkflowExecution\nmetadata: {name: wf-1}\nspec: {template: restart-pod@1}\n");
    s.ok(&[
        "patch",
        "wfe",
        "wf-1",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"phase":"Running"}}"#,
    ]);
    let table = rows(&s.ok(&["get", "wfe"]));
    assert_eq!(table[0], ["NAME", "TEMPLATE", "PHASE"]);
    assert_eq!(table[1], ["wf-1", "restart-pod@1", "Running"]);
    assert_eq!(
        s.ok(&["get", "wfe", "wf-1", "-o", "jsonpath={.spec.mode}"]),
        "Auto",
        "schema defaults apply"
    );
    let bad = s.kubectl_stdin(&["apply", "-f", "-"], Some("apiVersion: remedy.example.io/v1alpha1\nkind: WorkflowExecution\nmetadata: {name: wf-2}\nspec: {mode: Sometimes}\n"));
    assert!(!bad.ok);
    assert!(
        bad.stderr
            .contains("spec.mode: Unsupported value: \"Sometimes\""),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("spec.template: Required value"),
        "{}",
        bad.stderr
    );
    let waited = s.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Running",
        "wfe/wf-1",
        "--timeout=5s",
    ]);
    assert!(waited.contains("condition met"));
}

#[test]
fn simulated_rollout_undo_and_drain() {
    if kubectl_missing() {
        return;
    }
    let s = serve_with(&["--pod-ready-delay-ms", "100"]);
    s.apply(&DEPLOYMENT.replace("replicas: 2", "replicas: 3"));
    let status = s.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
    assert!(
        status.contains("deployment \"web\" successfully rolled out"),
        "{status}"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.status.readyReplicas}/{.status.availableReplicas}"
        ]),
        "3/3"
    );
    s.ok(&["set", "image", "deploy/web", "app=nginx:2"]);
    s.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
    s.ok(&["rollout", "undo", "deploy/web"]);
    s.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
    let history = rows(&s.ok(&["rollout", "history", "deploy/web"]));
    let revisions: Vec<&str> = history
        .iter()
        .skip(2)
        .filter(|r| !r.is_empty())
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(
        revisions,
        ["2", "3"],
        "the undo reused revision 1's ReplicaSet as revision 3"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "nginx:1.27"
    );
    let sets = rows(&s.ok(&["get", "rs", "--no-headers"]));
    assert_eq!(sets.len(), 2, "{sets:?}");
    let on_nodes = |s: &Served| -> Vec<String> {
        let out = s.ok(&[
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName}{\"\\n\"}{end}",
        ]);
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    s.ok(&["cordon", "node-1"]);
    let before: Vec<String> = on_nodes(&s)
        .into_iter()
        .filter(|p| p.ends_with("=node-1"))
        .collect();
    let drained = s.kubectl(&["drain", "node-2", "--ignore-daemonsets", "--timeout=20s"]);
    assert!(drained.ok, "{}", drained.stderr);
    s.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
    let after = on_nodes(&s);
    assert_eq!(after.len(), 3);
    assert!(
        !after.iter().any(|p| p.ends_with("=node-2")),
        "node-2 was drained: {after:?}"
    );
    let on_node_1: Vec<String> = after
        .iter()
        .filter(|p| p.ends_with("=node-1"))
        .cloned()
        .collect();
    assert_eq!(on_node_1, before, "the cordoned node-1 got no new pods");
    let node_rows = rows(&s.ok(&["get", "nodes"]));
    assert_eq!(node_rows[1][1], "Ready,SchedulingDisabled");
}

#[test]
fn imperative_create_of_namespaces_configmaps_and_secrets() {
    if kubectl_missing() {
        return;
    }
    let s = serve();
    assert_eq!(
        s.ok(&["create", "namespace", "team-a"]).trim(),
        "namespace/team-a created"
    );
    s.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "team-a",
        "--from-literal=mode=fast",
        "--from-literal=level=3",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "team-a",
        "--from-literal=password=s3cret",
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.mode},{.data.level}"
        ]),
        "fast,3"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "secret",
            "creds",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.type} {.data.password}"
        ]),
        "Opaque czNjcmV0"
    );
    s.ok(&["delete", "namespace", "team-a"]);
    assert!(!s.kubectl(&["get", "namespace", "team-a"]).ok);
}

/// Whether every field of `want` is in `got` with the same value (lists element by element).
fn contains(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (got, want) {
        (_, Value::Null) => true,
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| v.is_null() || g.get(k).is_some_and(|x| contains(x, v))),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(x, y)| contains(x, y))
        }
        _ => got == want,
    }
}

#[test]
fn typed_creates_send_protobuf_and_arrive_whole() {
    if kubectl_missing() {
        return;
    }
    let s = serve();
    let cases: [&[&str]; 6] = [
        &[
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=0",
            "--port=8080",
        ],
        &["service", "clusterip", "web", "--tcp=80:8080", "--tcp=443"],
        &[
            "service",
            "nodeport",
            "np",
            "--tcp=81:8081",
            "--node-port=30123",
        ],
        &["job", "once", "--image=busybox", "--", "echo", "hi"],
        &["serviceaccount", "bot"],
        &["role", "reader", "--verb=get,list", "--resource=pods"],
    ];
    for args in cases {
        let mut create = vec!["create"];
        create.extend_from_slice(args);
        // Flags before any `--` (a job's command follows it).
        let mut dry = create.clone();
        dry.splice(2..2, ["--dry-run=client", "-o", "json"]);
        let local: serde_json::Value = serde_json::from_str(&s.ok(&dry)).unwrap();
        let out = s.kubectl(&create);
        assert!(out.ok, "kubectl {create:?}: {}", out.stderr);
        let kind = local["kind"].as_str().unwrap().to_lowercase();
        let name = local["metadata"]["name"].as_str().unwrap();
        let stored: serde_json::Value =
            serde_json::from_str(&s.ok(&["get", &kind, name, "-o", "json"])).unwrap();
        let mut want = local.clone();
        // What the server sets or fills anew (status, and a Job's generated labels).
        want.as_object_mut().unwrap().remove("status");
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("creationTimestamp");
        if kind == "job" {
            want["spec"]["template"]["metadata"] = serde_json::Value::Null;
        }
        assert!(
            contains(&stored, &want),
            "{kind} {name}: sent {want:#}\nstored {stored:#}"
        );
    }
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort}"
        ]),
        "0 8080",
        "a pointer's zero survives the protobuf round"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "svc",
            "np",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}"
        ]),
        "30123"
    );
    // kubectl create token: a TokenRequest in protobuf, its token a JWT.
    let token = s.ok(&["create", "token", "bot", "--audience=api"]);
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
}

#[test]
fn explain_reads_schemas_of_built_in_and_custom_kinds() {
    if kubectl_missing() {
        return;
    }
    let s = serve();
    let deployment = s.ok(&["explain", "deployment.spec"]);
    assert!(
        deployment.contains("KIND:       Deployment")
            && deployment.contains("replicas\t<integer>")
            && deployment.contains("template\t<PodTemplateSpec> -required-"),
        "{deployment}"
    );
    let ports = s.ok(&["explain", "pods.spec.containers.ports"]);
    assert!(
        ports.contains("containerPort\t<integer> -required-"),
        "{ports}"
    );
    let run = s.ok(&["explain", "workflowexecution.spec"]);
    assert!(
        run.contains("KIND:       WorkflowExecution") && run.contains("approved\t<boolean>"),
        "{run}"
    );
    let recursive = s.ok(&["explain", "svc", "--recursive"]);
    assert!(recursive.contains("clusterIP\t<string>"), "{recursive}");
}

#[test]
fn serve_refuses_non_loopback_addresses() {
    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve on 0.0.0.0:0") && err.contains("loopback"),
        "{err}"
    );
}

#[test]
fn serve_names_the_templates_it_leaves_out_with_their_errors() {
    // Runs asking for a template that does not pass lint fail with TemplateNotFound: serve
    // says which templates those are, and why, when it starts.
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("broken.wf"),
        "workflow \"broken\" version \"1.0.0\" {\n  step a {\n    action \"scale_deploymnt\"\n    with { namespace: \"shop\", deployment: \"web\", replicas: 3 }\n  }\n}\n",
    )
    .unwrap();
    let mut served = serve_with(&[
        "--no-simulation",
        "--templates",
        templates.path().to_str().unwrap(),
    ]);
    let stderr = served.child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let warning = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("warning: template left out:") => break line,
            Ok(_) => continue,
            Err(e) => panic!("no warning from remedy serve: {e}"),
        }
    };
    assert!(
        warning.contains("broken@1.0.0: ")
            && warning.contains("broken.wf has 1 lint error: 3:12: [E0101]")
            && warning.contains("scale_deploymnt"),
        "{warning}"
    );
}
