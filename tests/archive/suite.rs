//! One suite, two databases: every check runs against SQLite and against PostgreSQL.

use std::collections::BTreeSet;

use remedy::archive::migrations::{self, Embedded};
use remedy::archive::query::{Query, RunKey};
use remedy::archive::{Archive, Target};

use crate::{Db, record};

/// Runs `check` on a fresh SQLite archive and on a fresh PostgreSQL server.
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

on_both!(stored_runs_are_found_by_every_key_and_filter);
on_both!(storing_again_keeps_the_first_record);
on_both!(two_replicas_storing_the_same_run_leave_one_row);
on_both!(two_replicas_opening_at_once_migrate_once);
on_both!(an_older_schema_is_migrated_and_its_rows_found);
on_both!(the_archive_expires_records_past_its_retention);
on_both!(filters_are_values_never_sql);
on_both!(records_are_redacted_before_they_are_stored);
on_both!(a_newer_schema_than_this_binary_knows_is_refused);

fn all() -> Query {
    Query {
        limit: 100,
        ..Query::default()
    }
}

fn names(rows: &[remedy::archive::RunRow]) -> Vec<String> {
    rows.iter().map(|r| r.name.clone()).collect()
}

async fn stored_runs_are_found_by_every_key_and_filter(db: Db) {
    let archive = db.open().await;
    let t0 = 1_800_000_000;
    let runs = [
        ("shop", "oom-1", "oom-recovery", "web", "Success", t0),
        (
            "shop",
            "oom-2",
            "oom-recovery",
            "web",
            "RolledBack",
            t0 + 100,
        ),
        (
            "shop",
            "crash-1",
            "crashloop-rollback",
            "api",
            "Failed",
            t0 + 200,
        ),
        ("bank", "oom-1", "oom-recovery", "web", "Success", t0 + 300),
    ];
    for (ns, name, wf, target, outcome, ended) in runs {
        archive
            .store(&record(ns, name, wf, target, outcome, ended))
            .await
            .unwrap();
    }
    // Newest first.
    let every = archive.list(&all()).await.unwrap();
    assert_eq!(names(&every), ["oom-1", "crash-1", "oom-2", "oom-1"]);
    assert_eq!(every[0].namespace, "bank");
    let row = &every[2];
    assert_eq!(
        (
            row.workflow.as_deref(),
            row.version.as_deref(),
            row.digest.as_deref(),
            row.target.as_deref(),
            row.outcome.as_deref(),
            row.phase.as_deref(),
            row.finished_ms,
            row.started_ms
        ),
        (
            Some("oom-recovery"),
            Some("1.0.0"),
            Some("sha256:oom-recovery"),
            Some("Deployment/shop/web"),
            Some("RolledBack"),
            Some("RolledBack"),
            (t0 + 100) * 1000,
            Some((t0 + 70) * 1000)
        )
    );

    let by = |q: Query| {
        let archive = archive.clone();
        async move { names(&archive.list(&q).await.unwrap()) }
    };
    let target = Target::parse("deployment/shop/web").unwrap();
    assert_eq!(
        by(Query {
            target: Some(target),
            ..all()
        })
        .await,
        ["oom-2", "oom-1"]
    );
    assert_eq!(
        by(Query {
            workflow: Some("crashloop-rollback".into()),
            ..all()
        })
        .await,
        ["crash-1"]
    );
    assert_eq!(
        by(Query {
            outcome: Some("Success".into()),
            ..all()
        })
        .await,
        ["oom-1", "oom-1"]
    );
    assert_eq!(
        by(Query {
            namespace: Some("bank".into()),
            ..all()
        })
        .await,
        ["oom-1"]
    );
    assert_eq!(
        by(Query {
            since: Some(jiff::Timestamp::from_second(t0 + 150).unwrap()),
            ..all()
        })
        .await,
        ["oom-1", "crash-1"]
    );
    assert_eq!(
        by(Query {
            workflow: Some("oom-recovery".into()),
            outcome: Some("Success".into()),
            namespace: Some("shop".into()),
            ..all()
        })
        .await,
        ["oom-1"]
    );
    assert_eq!(by(Query { limit: 2, ..all() }).await, ["oom-1", "crash-1"]);

    // By uid, by namespace/name, by name (the newest of that name).
    let by_uid = archive
        .get(&RunKey::Uid("uid-crash-1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_uid.id(), "shop/crash-1");
    let named = archive
        .get(&RunKey::parse("shop/oom-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(named.outcome.as_deref(), Some("Success"));
    assert_eq!(named.namespace, "shop");
    let newest = archive
        .get(&RunKey::parse("oom-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.namespace, "bank");
    assert!(
        archive
            .get(&RunKey::parse("nope").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // The record comes back whole.
    assert_eq!(
        named,
        record("shop", "oom-1", "oom-recovery", "web", "Success", t0)
    );
    assert_eq!(named.executions.len(), 2);
    assert_eq!(named.events.len(), 2, "{:?}", named.events);
    assert!(archive.contains("uid-oom-2").await.unwrap());
    assert!(!archive.contains("uid-none").await.unwrap());
}

async fn storing_again_keeps_the_first_record(db: Db) {
    let archive = db.open().await;
    let first = record(
        "shop",
        "oom-1",
        "oom-recovery",
        "web",
        "Success",
        1_800_000_000,
    );
    archive.store(&first).await.unwrap();
    // A replica that read the run after its executions were deleted.
    let mut late = first.clone();
    late.executions.clear();
    late.events.clear();
    archive.store(&late).await.unwrap();
    archive.store(&late).await.unwrap();
    assert_eq!(db.scalar("SELECT count(*) FROM remedy_runs").await, 1);
    let got = archive
        .get(&RunKey::Uid(first.uid.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, first);
}

async fn two_replicas_storing_the_same_run_leave_one_row(db: Db) {
    // Two handles with pools of their own: two operator replicas.
    let (a, b) = (db.open().await, db.open().await);
    let records: Vec<_> = (0..8)
        .map(|i| {
            record(
                "shop",
                &format!("r{i}"),
                "oom-recovery",
                "web",
                "Success",
                1_800_000_000 + i,
            )
        })
        .collect();
    let store_all = |archive: Archive, records: Vec<remedy::archive::RunRecord>| async move {
        for r in &records {
            archive.store(r).await.unwrap();
        }
    };
    let mut reversed = records.clone();
    reversed.reverse();
    tokio::join!(
        store_all(a.clone(), records.clone()),
        store_all(b.clone(), reversed)
    );
    assert_eq!(db.scalar("SELECT count(*) FROM remedy_runs").await, 8);
    let rows = a.list(&all()).await.unwrap();
    let uids: BTreeSet<_> = rows.iter().map(|r| r.uid.clone()).collect();
    assert_eq!(uids.len(), 8);
}

async fn two_replicas_opening_at_once_migrate_once(db: Db) {
    let location = db.location();
    let opens = (0..4).map(|_| {
        let l = location.clone();
        tokio::spawn(async move { Archive::open(&l).await.map(|_| ()) })
    });
    for result in futures::future::join_all(opens).await {
        result.unwrap().unwrap();
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .await,
        2
    );
    // And the schema works.
    let archive = db.open().await;
    archive
        .store(&record("shop", "a", "w", "web", "Success", 1_800_000_000))
        .await
        .unwrap();
}

async fn an_older_schema_is_migrated_and_its_rows_found(db: Db) {
    // The archive as version 1 of the schema left it, with a row written then.
    match &db {
        Db::Sqlite(_) => {
            let pool = sqlx::SqlitePool::connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(match db.location() {
                        remedy::archive::Location::Sqlite(p) => p,
                        _ => unreachable!(),
                    })
                    .create_if_missing(true),
            )
            .await
            .unwrap();
            migrations::apply_sqlite_list(&pool, Embedded(&migrations::SQLITE[..1]))
                .await
                .unwrap();
            pool.close().await;
        }
        Db::Postgres(server) => {
            let pool = sqlx::PgPool::connect(&server.url()).await.unwrap();
            migrations::apply_postgres_list(&pool, Embedded(&migrations::POSTGRES[..1]))
                .await
                .unwrap();
            pool.close().await;
        }
    }
    assert_eq!(db.scalar("SELECT count(*) FROM _sqlx_migrations").await, 1);
    let old = record(
        "shop",
        "old-1",
        "oom-recovery",
        "web",
        "Success",
        1_700_000_000,
    );
    let json = serde_json::to_string(&old).unwrap().replace('\'', "''");
    db.execute(&format!(
        "INSERT INTO remedy_runs (uid, namespace, name, workflow, workflow_version, workflow_digest, \
         target, phase, outcome, finished_ms, archived_ms, record) VALUES \
         ('uid-old-1', 'shop', 'old-1', 'oom-recovery', '1.0.0', 'sha256:x', 'Deployment/shop/web', \
          'Completed', 'Success', 1700000000000, 1700000000000, '{json}')"
    ))
    .await;

    // Opening it applies version 2, which fills the new key for the row already there.
    let archive = db.open().await;
    assert_eq!(db.scalar("SELECT count(*) FROM _sqlx_migrations").await, 2);
    let found = archive
        .list(&Query {
            target: Some(Target::parse("DEPLOYMENT/shop/web").unwrap()),
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(names(&found), ["old-1"]);
    assert_eq!(
        archive
            .get(&RunKey::parse("shop/old-1").unwrap())
            .await
            .unwrap()
            .unwrap(),
        old
    );
}

async fn the_archive_expires_records_past_its_retention(db: Db) {
    let archive = db.open().await;
    for (name, ended) in [
        ("old", 1_000_000_000),
        ("mid", 1_500_000_000),
        ("new", 1_900_000_000),
    ] {
        archive
            .store(&record("shop", name, "w", "web", "Success", ended))
            .await
            .unwrap();
    }
    let gone = archive
        .expire(jiff::Timestamp::from_second(1_600_000_000).unwrap())
        .await
        .unwrap();
    assert_eq!(gone, 2);
    assert_eq!(names(&archive.list(&all()).await.unwrap()), ["new"]);
    assert_eq!(
        archive
            .expire(jiff::Timestamp::from_second(1_600_000_000).unwrap())
            .await
            .unwrap(),
        0
    );
}

async fn filters_are_values_never_sql(db: Db) {
    let archive = db.open().await;
    archive
        .store(&record("shop", "a", "w", "web", "Success", 1_800_000_000))
        .await
        .unwrap();
    for attack in ["w' OR '1'='1", "w\"; DROP TABLE remedy_runs; --", "%", "w%"] {
        let rows = archive
            .list(&Query {
                workflow: Some(attack.into()),
                ..all()
            })
            .await
            .unwrap();
        assert!(rows.is_empty(), "{attack}");
        let rows = archive
            .list(&Query {
                namespace: Some(attack.into()),
                ..all()
            })
            .await
            .unwrap();
        assert!(rows.is_empty(), "{attack}");
    }
    assert_eq!(db.scalar("SELECT count(*) FROM remedy_runs").await, 1);
}

async fn records_are_redacted_before_they_are_stored(db: Db) {
    let archive = db.open().await;
    let r = record("shop", "a", "w", "web", "Success", 1_800_000_000);
    archive.store(&r).await.unwrap();
    // Read the stored text itself, not the decoded record.
    let got = archive
        .get(&RunKey::Uid(r.uid.clone()))
        .await
        .unwrap()
        .unwrap();
    let text = serde_json::to_string(&got).unwrap();
    let raw_len = db
        .scalar("SELECT count(*) FROM remedy_runs WHERE record LIKE '%hunter2%' OR record LIKE '%tok-123%' OR record LIKE '%abc123%' OR record LIKE '%sekrit-bearer%' OR record LIKE '%ciphertext%'")
        .await;
    assert_eq!(raw_len, 0, "a credential reached the database");
    for secret in [
        "hunter2",
        "tok-123",
        "abc123",
        "sekrit-bearer",
        "sealed-plan-ciphertext",
        "sealed-execution-ciphertext",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("Bearer ***"));
    // What is not a credential is kept.
    assert!(text.contains("scaled 2→3") && text.contains("previous_replicas"));
}

async fn a_newer_schema_than_this_binary_knows_is_refused(db: Db) {
    let archive = db.open().await;
    archive
        .store(&record("shop", "a", "w", "web", "Success", 1_800_000_000))
        .await
        .unwrap();
    archive.close().await;
    // A later Remedy added a migration 3; this one must not write to that schema blindly.
    let checksum = match &db {
        Db::Sqlite(_) => "x'00'",
        Db::Postgres(_) => "'\\x00'::bytea",
    };
    db.execute(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (3, 'from the future', true, {checksum}, 1)"
    ))
    .await;
    let e = Archive::open(&db.location()).await.unwrap_err().to_string();
    assert!(e.contains("migrat"), "{e}");
    // Its data is untouched.
    assert_eq!(db.scalar("SELECT count(*) FROM remedy_runs").await, 1);
}
