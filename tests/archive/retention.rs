//! Retention in the workflow controller: archive, then delete, never the other way round;
//! and its faults (the database down at finish, a restart between archive and delete, two
//! replicas, a forged condition).

use std::time::Duration;

use remedy::archive::query::{Query, RunKey};
use remedy::archive::{Archive, RunRecord};
use remedy::operator::retention::{
    ANNOTATION_RETAIN_FAILED, ANNOTATION_RETAIN_SUCCEEDED, RetentionConfig,
};
use serde_json::json;

use super::cluster::{Cluster, NS, condition};
use crate::Db;

/// Runs kept for ever (unless a test says otherwise), no bound per target.
fn keep() -> RetentionConfig {
    RetentionConfig {
        succeeded: None,
        failed: None,
        per_target: None,
        archive_retention: None,
    }
}

/// Runs deleted as soon as they may be.
fn at_once() -> RetentionConfig {
    RetentionConfig {
        succeeded: Some(Duration::ZERO),
        failed: Some(Duration::ZERO),
        ..keep()
    }
}

/// Whether the metrics show `line` within 5 s (a count follows the request it counts).
async fn metric(config: &remedy::operator::OperatorConfig, line: &str) -> bool {
    for _ in 0..200 {
        if config.metrics.encode().unwrap().lines().any(|l| l == line) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_archive_a_run_and_its_executions_go_when_its_period_passes() {
    let mut c = Cluster::new().await;
    let config = c.config(None, keep());
    let metrics = config.clone();
    c.start(config);
    c.analysis("a", "web").await;
    // The run's own annotation overrides the default (keep for ever).
    c.run("short", "a", json!({ANNOTATION_RETAIN_SUCCEEDED: "3s"}))
        .await;
    let run = c.finished("short").await;
    assert_eq!(c.executions_of("short").await.len(), 2);
    assert!(
        condition(&run, "Archived").is_none(),
        "no archive, no condition"
    );
    c.gone("short").await;
    assert!(metric(&metrics, "remedy_runs_deleted_total{reason=\"ttl\"} 1").await);

    // Without an annotation, the default keeps it.
    c.analysis("b", "api").await;
    c.run("kept", "b", json!({})).await;
    c.finished("kept").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(c.get("kept").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_n_finished_runs_stay_per_target() {
    let mut c = Cluster::new().await;
    let config = c.config(
        None,
        RetentionConfig {
            per_target: Some(2),
            ..keep()
        },
    );
    let metrics = config.clone();
    c.start(config);
    c.analysis("web", "web").await;
    c.analysis("api", "api").await;
    c.run("other", "api", json!({})).await;
    c.finished("other").await;
    for name in ["w1", "w2", "w3"] {
        c.run(name, "web", json!({})).await;
        c.finished(name).await;
        // Distinct end times (status times have whole seconds), in order.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    c.gone("w1").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for kept in ["w2", "w3", "other"] {
        assert!(c.get(kept).await.is_some(), "{kept} was deleted");
    }
    assert!(
        metric(
            &metrics,
            "remedy_runs_deleted_total{reason=\"per_target\"} 1"
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_retention_annotation_keeps_the_run_and_says_why() {
    let mut c = Cluster::new().await;
    c.start(c.config(None, at_once()));
    c.analysis("a", "web").await;
    c.run(
        "odd",
        "a",
        json!({ANNOTATION_RETAIN_SUCCEEDED: "a fortnight", ANNOTATION_RETAIN_FAILED: "1s"}),
    )
    .await;
    let run = c
        .wait_for("odd", "RetentionInvalid", |r| {
            condition(r, "RetentionInvalid").is_some()
        })
        .await;
    let message = condition(&run, "RetentionInvalid").unwrap().message;
    assert!(
        message.contains("retain-succeeded") && message.contains("a fortnight"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(c.get("odd").await.is_some());
}

/// Runs `check` with a SQLite archive and with a PostgreSQL one.
macro_rules! on_both {
    ($check:ident) => {
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$check(crate::Db::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$check(crate::Db::postgres()).await;
            }
        }
    };
}

on_both!(a_finished_run_is_archived_then_deleted);
on_both!(a_kept_run_is_archived_at_once_and_stays);
on_both!(a_forged_archived_condition_does_not_skip_the_archive);
on_both!(a_restart_between_archive_and_delete_archives_once_and_deletes);
on_both!(two_replicas_archive_each_run_once);

async fn a_finished_run_is_archived_then_deleted(db: Db) {
    let archive = db.open().await;
    let mut c = Cluster::new().await;
    let config = c.config(Some(archive.clone()), at_once());
    let metrics = config.clone();
    c.start(config);
    c.analysis("a", "web").await;
    let uid = c.run("fix-1", "a", json!({})).await;
    c.gone("fix-1").await;
    let record = archive
        .get(&RunKey::Uid(uid.clone()))
        .await
        .unwrap()
        .unwrap();
    check_record(&record);
    assert!(metric(&metrics, "remedy_runs_archived_total 1").await);
    assert!(metric(&metrics, "remedy_runs_deleted_total{reason=\"ttl\"} 1").await);
    assert_eq!(db.scalar("SELECT count(*) FROM remedy_runs").await, 1);
}

/// What a record of a `tidy` run holds.
fn check_record(record: &RunRecord) {
    assert_eq!(record.id(), format!("{NS}/fix-1"));
    let workflow = record.workflow.clone().unwrap();
    assert_eq!(
        (workflow.name.as_str(), workflow.version.as_str()),
        ("tidy", "1.0.0")
    );
    assert!(
        workflow.digest.starts_with("sha256:"),
        "{}",
        workflow.digest
    );
    assert_eq!(
        record.target.as_ref().unwrap().display(),
        "Deployment/shop/web"
    );
    assert_eq!(record.outcome.as_deref(), Some("Success"));
    assert_eq!(record.phase.as_deref(), Some("Completed"));
    assert!(record.finished_at.is_some() && record.started_at.is_some());
    // The spec, the pinned plan, the analysis as used, the final status.
    assert_eq!(record.run["spec"]["aiAnalysisRef"]["name"], "a");
    assert_eq!(record.plan.as_ref().unwrap()["workflow"], "tidy");
    assert_eq!(record.analysis.as_ref().unwrap()["confidence"], 0.9);
    assert!(
        record.run["status"].get("plan").is_none(),
        "the plan is kept once, parsed"
    );
    assert_eq!(record.run["status"]["steps"].as_array().unwrap().len(), 2);
    // Every execution's spec and status.
    let steps: Vec<&str> = record
        .executions
        .iter()
        .map(|k| k["spec"]["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["look", "scale"]);
    assert!(
        record
            .executions
            .iter()
            .all(|k| k["status"]["phase"] == "Succeeded")
    );
    // The run's events.
    let reasons: Vec<&str> = record.events.iter().map(|e| e.reason.as_str()).collect();
    assert!(reasons.contains(&"Completed"), "{reasons:?}");
    // Redacted: the analysis's password, the execution's token.
    let text = serde_json::to_string(record).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("abc123"),
        "{text}"
    );
    // The summary `remedy run` would print.
    let summary = remedy::scenario::Summary::from_record(record);
    assert_eq!(summary.outcome.as_deref(), Some("Success"));
    assert_eq!(summary.steps.len(), 2);
    assert_eq!(summary.resources.len(), 2);
}

async fn a_kept_run_is_archived_at_once_and_stays(db: Db) {
    let archive = db.open().await;
    let mut c = Cluster::new().await;
    c.start(c.config(Some(archive.clone()), keep()));
    c.analysis("a", "web").await;
    let uid = c.run("fix-1", "a", json!({})).await;
    let run = c.archived("fix-1", "True").await;
    assert!(
        condition(&run, "Archived")
            .unwrap()
            .message
            .contains("committed")
    );
    check_record(&archive.get(&RunKey::Uid(uid)).await.unwrap().unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(c.get("fix-1").await.is_some());
    assert_eq!(c.executions_of("fix-1").await.len(), 2);
}

async fn a_forged_archived_condition_does_not_skip_the_archive(db: Db) {
    // The attack: a finished run whose status claims it is archived, to have it deleted
    // without a record. The operator asks the archive before it deletes.
    let archive = db.open().await;
    let mut c = Cluster::new().await;
    let uid = c.run("forged", "missing", json!({})).await;
    let now = jiff::Timestamp::now().to_string();
    c.finish_by_hand(
        "forged",
        json!([{"type": "Archived", "status": "True", "reason": "Archived",
                "message": "trust me", "lastTransitionTime": now}]),
    )
    .await;
    c.start(c.config(Some(archive.clone()), at_once()));
    c.gone("forged").await;
    let record = archive.get(&RunKey::Uid(uid)).await.unwrap();
    assert!(record.is_some(), "deleted without a record");
}

async fn a_restart_between_archive_and_delete_archives_once_and_deletes(db: Db) {
    let archive = db.open().await;
    let mut c = Cluster::new().await;
    let retention = RetentionConfig {
        succeeded: Some(Duration::from_secs(2)),
        ..keep()
    };
    let first = c.start(c.config(Some(archive.clone()), retention.clone()));
    c.analysis("a", "web").await;
    let uid = c.run("fix-1", "a", json!({})).await;
    c.archived("fix-1", "True").await;
    // The operator stops after the archive and before the delete falls due.
    c.stop(first).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        c.get("fix-1").await.is_some(),
        "deleted with no operator running"
    );

    // A second run was committed to the archive by an operator that stopped before it could
    // mark the run (the crash between the two writes).
    c.analysis("b", "api").await;
    let quiet = c.start(c.config(None, keep()));
    let uid2 = c.run("fix-2", "b", json!({})).await;
    let run2 = c.finished("fix-2").await;
    c.stop(quiet).await;
    let record2 = remedy::archive::collect::record_of(&c.client, &run2)
        .await
        .unwrap();
    archive.store(&record2).await.unwrap();
    assert!(condition(&c.get("fix-2").await.unwrap(), "Archived").is_none());

    // After the restart both are deleted, each stored once.
    let fresh = Archive::open(&db.location()).await.unwrap();
    c.start(c.config(Some(fresh), retention));
    c.gone("fix-1").await;
    c.gone("fix-2").await;
    assert_eq!(db.scalar("SELECT count(*) FROM remedy_runs").await, 2);
    for uid in [uid, uid2] {
        assert!(archive.contains(&uid).await.unwrap());
    }
}

async fn two_replicas_archive_each_run_once(db: Db) {
    let mut c = Cluster::new().await;
    // Two replicas without leader election, each with its own connections.
    for _ in 0..2 {
        let archive = db.open().await;
        c.start(c.config(Some(archive), at_once()));
    }
    let mut uids = Vec::new();
    for (i, target) in ["web", "api", "db"].iter().enumerate() {
        c.analysis(&format!("a{i}"), target).await;
        uids.push(c.run(&format!("r{i}"), &format!("a{i}"), json!({})).await);
    }
    for i in 0..3 {
        c.gone(&format!("r{i}")).await;
    }
    let archive = db.open().await;
    assert_eq!(db.scalar("SELECT count(*) FROM remedy_runs").await, 3);
    for uid in uids {
        let r = archive.get(&RunKey::Uid(uid)).await.unwrap().unwrap();
        assert_eq!(r.executions.len(), 2);
    }
    let rows = archive
        .list(&Query {
            limit: 10,
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_be_archived_stays_until_the_database_is_back() {
    let mut db = Db::postgres();
    let archive = db.open().await;
    let mut c = Cluster::new().await;
    let config = c.config(Some(archive.clone()), at_once());
    let metrics = config.clone();
    c.start(config);
    // The database goes down before the run ends.
    db.server().halt();
    c.analysis("a", "web").await;
    let uid = c.run("fix-1", "a", json!({})).await;
    let run = c.archived("fix-1", "False").await;
    let cond = condition(&run, "Archived").unwrap();
    assert_eq!(cond.reason, "ArchiveUnavailable");
    assert!(
        cond.message.contains("kept until it is archived"),
        "{}",
        cond.message
    );
    assert!(metric(&metrics, "remedy_runs_unarchived 1").await);
    // It stays while the database is down, though it is due, and is tried again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        c.get("fix-1").await.is_some(),
        "deleted before it was archived"
    );
    assert_eq!(c.executions_of("fix-1").await.len(), 2);
    let failures = metrics
        .metrics
        .encode()
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("remedy_archive_failures_total ")
                .map(str::to_string)
        })
        .unwrap();
    assert!(failures.parse::<u64>().unwrap() >= 2, "retried: {failures}");

    // Back: archived, then deleted.
    db.server().resume();
    c.gone("fix-1").await;
    assert!(archive.contains(&uid).await.unwrap());
    assert!(metric(&metrics, "remedy_runs_unarchived 0").await);
}
