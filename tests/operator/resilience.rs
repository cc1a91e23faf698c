//! Runs survive what happens to the operator and the API: lost executions, restarts at any
//! point, API faults and cut watches, template edits; plus metrics and leader election.

use std::time::Duration;

use serde_json::json;

use crate::{Harness, NS, Outcome, three};
use remedy::api::{WorkflowExecutionStatus, WorkflowPhase};

/// The rollback scenario: c fails three times, b and a are compensated in reverse.
const ROLLBACK_NAMES: [&str; 8] = [
    "run-1-a-1",
    "run-1-a-rb-1",
    "run-1-b-1",
    "run-1-b-rb-1",
    "run-1-c-1",
    "run-1-c-2",
    "run-1-c-3",
    "run-1-tell-1",
];

fn rollback_template() -> String {
    three("", "", "retry 2 backoff 20ms")
}

fn script_rollback(h: &Harness) {
    h.script
        .set("run-1-a-1", Outcome::Ok(json!({ "previous_replicas": 2 })));
    for attempt in 1..=3 {
        h.script.set(
            &format!("run-1-c-{attempt}"),
            Outcome::Fail("rollout stuck"),
        );
    }
}

async fn assert_rolled_back_once(h: &Harness, status: &WorkflowExecutionStatus) {
    assert_eq!(status.phase, Some(WorkflowPhase::RolledBack), "{status:#?}");
    assert_eq!(h.execution_names("run-1").await, ROLLBACK_NAMES);
    let c = status.steps.iter().find(|s| s.name == "c").unwrap();
    assert_eq!(c.attempts, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_execution_is_lost_and_retried() {
    let mut h = Harness::new().await;
    h.template("t.wf", &three("", "retry 1 backoff 20ms", ""));
    h.start();
    h.script.set("run-1-b-1", Outcome::Hang);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-1").await;
    h.executions()
        .delete("run-1-b-1", &Default::default())
        .await
        .unwrap();
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    assert_eq!(
        status
            .steps
            .iter()
            .find(|s| s.name == "b")
            .unwrap()
            .attempts,
        2
    );
    assert!(
        h.execution_names("run-1")
            .await
            .contains(&"run-1-b-2".to_string())
    );
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(h.client.clone(), NS);
    let notes: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.note)
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("ExecutionLost")),
        "{notes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_an_attempt_runs_or_finishes_creates_nothing_twice() {
    let mut h = Harness::new().await;
    h.template("t.wf", &rollback_template());
    script_rollback(&h);
    h.script.set("run-1-b-1", Outcome::Hang);
    h.script.set("run-1-b-rb-1", Outcome::Hang);
    h.start();
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    // Point 1: stopped while b runs; b finishes while no operator runs.
    h.wait_execution("run-1-b-1").await;
    h.stop().await;
    h.complete("run-1-b-1", Outcome::Ok(json!({}))).await;
    h.start();
    // Point 2: stopped in the middle of the rollback.
    h.wait_execution("run-1-b-rb-1").await;
    h.stop().await;
    h.start();
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop().await;
    h.complete("run-1-b-rb-1", Outcome::Ok(json!({}))).await;
    h.start();
    let status = h.finished("run-1").await;
    assert_rolled_back_once(&h, &status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_every_few_milliseconds_still_create_each_attempt_exactly_once() {
    let mut h = Harness::new().await;
    h.template("t.wf", &rollback_template());
    script_rollback(&h);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    let mut pause = 5;
    let status = loop {
        h.start();
        tokio::time::sleep(Duration::from_millis(pause)).await;
        h.stop().await;
        pause = pause % 40 + 7;
        let status = h.status("run-1").await;
        if status.phase.is_some_and(WorkflowPhase::is_terminal) {
            break status;
        }
    };
    assert_rolled_back_once(&h, &status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_faults_and_cut_watches_do_not_change_the_outcome() {
    let mut h = Harness::new().await;
    h.template("t.wf", &rollback_template());
    script_rollback(&h);
    h.start();
    let faults = h.cluster.faults();
    faults.fail_next("update", "workflowexecutions/status", 3, 500);
    faults.fail_next("update", "workflowexecutions/status", 2, 409);
    faults.fail_next("create", "kubernetesexecutions", 2, 500);
    faults.fail_next("list", "kubernetesexecutions", 2, 503);
    faults.fail_next("get", "aianalyses", 1, 500);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    let cutter = {
        let faults = faults.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                faults.cut_watches();
            }
        })
    };
    let status = h.finished("run-1").await;
    cutter.abort();
    assert_rolled_back_once(&h, &status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_edited_mid_run_does_not_change_the_run() {
    let mut h = Harness::new().await;
    h.template("t.wf", &three("", "", ""));
    h.script.set("run-1-b-1", Outcome::Hang);
    h.start();
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.wait_execution("run-1-b-1").await;
    let pinned = h.status("run-1").await.workflow.unwrap();
    // Same name and version, one step more: a new run would pick it up, this one must not.
    let edited = three("", "", "").replace(
        "  finally {",
        "  step d {\n    action \"notify_only\"\n    with { message: \"new\" }\n  }\n  finally {",
    );
    h.template("t.wf", &edited);
    // The directory is polled every 50 ms in the tests.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.run("run-2", "ai-1", json!({})).await;
    h.complete("run-1-b-1", Outcome::Ok(json!({}))).await;
    let status = h.finished("run-1").await;
    assert_eq!(status.phase, Some(WorkflowPhase::Completed), "{status:#?}");
    assert_eq!(status.workflow.unwrap(), pinned);
    assert_eq!(
        h.execution_names("run-1").await,
        ["run-1-a-1", "run-1-b-1", "run-1-c-1", "run-1-tell-1"]
    );
    // The second run was planned after the edit, and waited for the first (same target).
    let second = h.finished("run-2").await;
    assert_ne!(second.workflow.unwrap().digest, pinned.digest);
    assert!(
        h.execution_names("run-2")
            .await
            .contains(&"run-2-d-1".to_string())
    );
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let code = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_serves_the_named_series_and_the_probes() {
    let mut h = Harness::new().await;
    h.template("t.wf", &rollback_template());
    script_rollback(&h);
    let config = h.config();
    let (metrics, ready) = (config.metrics.clone(), config.ready.clone());
    let listener = remedy::operator::http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(remedy::operator::http::serve(
        listener,
        metrics,
        ready,
        std::future::pending(),
    ));
    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    assert_eq!(http_get(addr, "/readyz").await.0, 503);
    h.start_with(config);
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    h.finished("run-1").await;
    assert_eq!(http_get(addr, "/readyz").await.0, 200);
    // The run's end is counted just after its status is written: wait for it (at most 10 s).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let (code, body) = loop {
        let (code, body) = http_get(addr, "/metrics").await;
        if body.contains("remedy_runs_total{outcome=\"RolledBack\"} 1")
            || tokio::time::Instant::now() > deadline
        {
            break (code, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(code, 200);
    for series in [
        "remedy_reconciles_total{outcome=\"ok\"}",
        "remedy_reconcile_duration_seconds_bucket{",
        "remedy_runs_total{outcome=\"RolledBack\"} 1",
        "remedy_step_executions_total{action=\"restart_deployment\"} 3",
        "remedy_step_executions_total{action=\"scale_deployment\"} 2",
        "remedy_step_duration_seconds_count{action=\"increase_resources\"} 1",
        "remedy_step_duration_seconds_count{action=\"restart_deployment\"} 3",
        "remedy_step_duration_seconds_count{action=\"rollback_deployment\"} 1",
        "remedy_active_runs ",
    ] {
        assert!(body.contains(series), "missing {series} in\n{body}");
    }
    assert_eq!(http_get(addr, "/nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_works_and_a_released_lease_passes_to_the_other_replica() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use remedy::operator::leader::{LeaderConfig, run_as_leader};

    let h = Harness::new().await;
    let working = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for identity in ["one", "two"] {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        let config = LeaderConfig {
            lease_name: "remedy-operator".into(),
            namespace: "remedy-system".into(),
            identity: identity.into(),
            duration_secs: 2,
            grace_secs: 1,
        };
        let (working, most, started) = (working.clone(), most.clone(), started.clone());
        let client = h.client.clone();
        tasks.push(tokio::spawn(async move {
            run_as_leader(
                client,
                config,
                async move {
                    let _ = rx.await;
                },
                move |stop| {
                    let (working, most, started) = (working.clone(), most.clone(), started.clone());
                    async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        let now = working.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        stop.await;
                        working.fetch_sub(1, Ordering::SeqCst);
                    }
                },
            )
            .await
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while started.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nobody acquired the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(working.load(Ordering::SeqCst), 1);
    // Stop whichever holds it: its work stops and it releases the Lease.
    let holder = lease_holder(&h).await;
    assert!(holder == "one" || holder == "two", "{holder}");
    let index = if holder == "one" { 0 } else { 1 };
    let stop = stops.remove(index);
    stop.send(()).unwrap();
    tasks.remove(index).await.unwrap().unwrap();
    assert_eq!(
        lease_holder(&h).await,
        "",
        "the lease is released on shutdown"
    );
    assert_eq!(most.load(Ordering::SeqCst), 1, "two holders worked at once");
    // The other replica takes the released Lease over (its apply of the cleared fields does
    // not conflict with the first holder's ownership), and the work moves with it.
    let other = if holder == "one" { "two" } else { "one" };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while started.load(Ordering::SeqCst) < 2 || lease_holder(&h).await != other {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{other} did not take the released lease over (holder {:?}, started {})",
            lease_holder(&h).await,
            started.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(working.load(Ordering::SeqCst), 1, "the new holder works");
    assert_eq!(most.load(Ordering::SeqCst), 1, "two holders worked at once");
    assert_eq!(
        lease_holder(&h).await,
        other,
        "the new holder keeps the lease"
    );
    for s in stops {
        let _ = s.send(());
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
}

async fn lease_holder(h: &Harness) -> String {
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(h.client.clone(), "remedy-system");
    let lease = leases.get("remedy-operator").await.unwrap();
    lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default()
}

/// kube-runtime holds its runner until the watches sync; a shutdown requested before that
/// must still end promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_right_after_a_start_never_hangs() {
    let mut h = Harness::new().await;
    h.template("t.wf", &rollback_template());
    h.analysis("ai-1", "three").await;
    h.run("run-1", "ai-1", json!({})).await;
    for pause in [0u64, 1, 3, 5, 8, 13] {
        h.start();
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let started = tokio::time::Instant::now();
        h.stop().await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "stop took {:?}",
            started.elapsed()
        );
    }
}
