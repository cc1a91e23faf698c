//! The archive on both real databases: SQLite (a temporary file) and PostgreSQL (a throwaway
//! server started by the test, `archive/postgres.rs`). The same suite runs on each backend;
//! then retention in the operator (archive, then delete), its faults, and `remedy history`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod archive {
    mod cli;
    pub mod cluster;
    pub mod postgres;
    mod retention;
    mod suite;
    mod views;
}

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Event;
use remedy::api::{KubernetesExecution, WorkflowExecution};
use remedy::archive::{Archive, Location, RunRecord};
use serde_json::{Value, json};

use archive::postgres::PgServer;

/// A database for one test: a SQLite file in a temporary directory, or a PostgreSQL server.
pub enum Db {
    /// The SQLite file `archive.sqlite` in this directory.
    Sqlite(tempfile::TempDir),
    /// A running server; the archive is its database `remedy`.
    Postgres(PgServer),
}

impl Db {
    /// A fresh SQLite archive.
    pub fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A fresh PostgreSQL server.
    pub fn postgres() -> Db {
        Db::Postgres(PgServer::start())
    }

    /// Where the archive is.
    pub fn location(&self) -> Location {
        match self {
            Db::Sqlite(dir) => Location::Sqlite(self.sqlite_path(dir)),
            Db::Postgres(server) => Location::Postgres(server.url()),
        }
    }

    fn sqlite_path(&self, dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("archive.sqlite")
    }

    /// The archive, opened (and migrated).
    pub async fn open(&self) -> Archive {
        Archive::open(&self.location()).await.unwrap()
    }

    /// The PostgreSQL server, for the tests that stop it.
    pub fn server(&mut self) -> &mut PgServer {
        match self {
            Db::Postgres(s) => s,
            Db::Sqlite(_) => panic!("not a PostgreSQL test"),
        }
    }

    /// Runs one query that answers one integer, on a connection of its own.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self {
            Db::Sqlite(dir) => {
                let pool = sqlx::SqlitePool::connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new().filename(self.sqlite_path(dir)),
                )
                .await
                .unwrap();
                let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
            Db::Postgres(server) => {
                let pool = sqlx::PgPool::connect(&server.url()).await.unwrap();
                let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
        }
    }

    /// Runs statements on a connection of its own.
    pub async fn execute(&self, sql: &str) {
        match self {
            Db::Sqlite(dir) => {
                let pool = sqlx::SqlitePool::connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(self.sqlite_path(dir))
                        .create_if_missing(true),
                )
                .await
                .unwrap();
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Db::Postgres(server) => {
                let pool = sqlx::PgPool::connect(&server.url()).await.unwrap();
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }
}

/// A finished run as the cluster would hold it: `name` in `ns`, uid `uid-NAME`, pinned to
/// `workflow`@1.0.0, on Deployment `target` in `ns`, ended `outcome` at `ended` (seconds
/// since the epoch), with two executions and an event each for the run and one execution.
/// Its parameters, an output and an event carry credentials.
pub fn finished_run(
    ns: &str,
    name: &str,
    workflow: &str,
    target: &str,
    outcome: &str,
    ended: i64,
) -> (WorkflowExecution, Vec<KubernetesExecution>, Vec<Event>) {
    let at = |s: i64| jiff::Timestamp::from_second(s).unwrap().to_string();
    let phase = match outcome {
        "Success" | "DryRun" | "Ineffective" => "Completed",
        "RolledBack" => "RolledBack",
        _ => "Failed",
    };
    let plan = json!({
        "workflow": workflow, "version": "1.0.0", "digest": format!("sha256:{workflow}"),
        "analysis": {
            "targetResource": {"kind": "Deployment", "namespace": ns, "name": target},
            "confidence": 0.9, "parameters": {"db_password": "hunter2"}
        },
        // As the workflow controller stores it: credentials sealed (src/seal/).
        "parameters": {"namespace": ns, "deployment": target,
                       "webhook": {"$sealed": "v1.sealed-plan-ciphertext"}},
        "steps": []
    });
    let uid = if ns == "shop" {
        format!("uid-{name}")
    } else {
        format!("uid-{ns}-{name}")
    };
    let run: WorkflowExecution = serde_json::from_value(json!({
        "apiVersion": "workflowexecution.kubernaut.io/v1alpha1", "kind": "WorkflowExecution",
        "metadata": {"name": name, "namespace": ns, "uid": uid,
                     "creationTimestamp": at(ended - 60),
                     "managedFields": [{"manager": "kubectl"}]},
        "spec": {"aiAnalysisRef": {"name": "a"}, "parameters": {"api_token": "tok-123"}},
        "status": {
            "phase": phase, "outcome": outcome,
            "workflow": {"name": workflow, "version": "1.0.0", "digest": format!("sha256:{workflow}")},
            "parameters": {"namespace": ns, "deployment": target},
            "startedAt": at(ended - 30), "completedAt": at(ended),
            "steps": [
                {"name": "look", "phase": "Succeeded", "attempts": 1, "executionRef": format!("{name}-look-1"),
                 "startedAt": at(ended - 30), "completedAt": at(ended - 20)},
                {"name": "scale", "phase": if outcome == "Success" { "Succeeded" } else { "Failed" },
                 "attempts": 1, "executionRef": format!("{name}-scale-1"),
                 "startedAt": at(ended - 20), "completedAt": at(ended), "message": "scaled"}
            ],
            "plan": plan.to_string(),
            "failure": (outcome != "Success").then(|| json!({"step": "scale", "reason": "StepFailed",
                "message": "deployment shop/web did not scale: exceeded quota compute-resources"}))
        }
    }))
    .unwrap();
    let execution = |step: &str, output: Value| -> KubernetesExecution {
        serde_json::from_value(json!({
            "apiVersion": "kubernetesexecution.kubernaut.io/v1alpha1", "kind": "KubernetesExecution",
            "metadata": {"name": format!("{name}-{step}-1"), "namespace": ns,
                "labels": {"workflowexecution.kubernaut.io/name": name, "workflowexecution.kubernaut.io/kind": "step"},
                "ownerReferences": [{"apiVersion": "workflowexecution.kubernaut.io/v1alpha1",
                    "kind": "WorkflowExecution", "name": name, "uid": uid, "controller": true}]},
            "spec": {"workflowExecutionRef": {"name": name}, "step": step, "attempt": 1,
                     "action": {"type": "notify_only", "parameters": {"message": "hi",
                         "webhook": {"$sealed": "v1.sealed-execution-ciphertext"}}}},
            "status": {"phase": "Succeeded", "startedAt": at(ended - 30), "completedAt": at(ended - 20),
                       "result": {"success": true, "output": output,
                                  "resourcesAffected": [{"kind": "Deployment", "namespace": ns, "name": target, "change": "scaled 2→3"}]}}
        }))
        .unwrap()
    };
    let executions = vec![
        execution("look", json!({"seen": 2})),
        execution("scale", json!({"previous_replicas": 2, "token": "abc123"})),
    ];
    let event = |kind: &str,
                 object: &str,
                 object_uid: Option<&str>,
                 reason: &str,
                 message: &str|
     -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{object}.{reason}"), "namespace": ns},
            "involvedObject": {"kind": kind, "name": object, "namespace": ns, "uid": object_uid},
            "reason": reason, "message": message, "type": "Normal", "count": 1,
            "lastTimestamp": at(ended)
        }))
        .unwrap()
    };
    let events = vec![
        event(
            "WorkflowExecution",
            name,
            Some(&uid),
            "Completed",
            "the run ended",
        ),
        event(
            "KubernetesExecution",
            &format!("{name}-look-1"),
            None,
            "RemediationNotice",
            "Authorization: Bearer sekrit-bearer",
        ),
        event(
            "WorkflowExecution",
            "someone-else",
            Some("uid-other"),
            "Completed",
            "not this run",
        ),
    ];
    (run, executions, events)
}

/// The record of [`finished_run`].
pub fn record(
    ns: &str,
    name: &str,
    workflow: &str,
    target: &str,
    outcome: &str,
    ended: i64,
) -> RunRecord {
    let (run, executions, events) = finished_run(ns, name, workflow, target, outcome, ended);
    RunRecord::build(&run, &executions, &events).unwrap()
}
