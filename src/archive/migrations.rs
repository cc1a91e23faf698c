//! The archive's schema, versioned: one list of migrations per database, compiled into the
//! binary and applied in order when an archive opens (sqlx's migrator records each in
//! `_sqlx_migrations` with a checksum, so an edited migration is refused when the operator
//! starts; a schema that has every version is otherwise taken as it is, in one query).
//!
//! Two processes may open the same archive at once (two operator replicas, two `remedy run`s
//! on a fresh machine). On PostgreSQL the migrator holds an advisory lock while it works, so
//! the second waits and then finds nothing to do. SQLite has no such lock: the second
//! process's transaction waits for the first's, then fails on a table that now exists; it
//! looks again and finds the work done.

use std::borrow::Cow;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

/// The SQLite schema, oldest first: (version, description, SQL).
pub const SQLITE: &[(i64, &str, &str)] = &[
    (1, "runs", include_str!("migrations/sqlite/0001_runs.sql")),
    (
        2,
        "target key",
        include_str!("migrations/sqlite/0002_target_key.sql"),
    ),
];

/// The PostgreSQL schema, oldest first: (version, description, SQL).
pub const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "runs", include_str!("migrations/postgres/0001_runs.sql")),
    (
        2,
        "target key",
        include_str!("migrations/postgres/0002_target_key.sql"),
    ),
];

/// A list of migrations compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Embedded(pub &'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> BoxFuture<'static, Result<Vec<Migration>, Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Brings a SQLite archive up to date with `migrations` (normally [`SQLITE`]).
pub async fn apply_sqlite_list(
    pool: &SqlitePool,
    migrations: Embedded,
) -> Result<(), MigrateError> {
    let migrator = Migrator::new(migrations).await?;
    let mut tries = 0;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            // Another process migrated the same file at the same moment: look again.
            Err(MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)) if tries < 3 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Brings a SQLite archive up to date.
pub async fn apply_sqlite(pool: &SqlitePool) -> Result<(), MigrateError> {
    apply_sqlite_list(pool, Embedded(SQLITE)).await
}

/// Brings a PostgreSQL archive up to date with `migrations` (normally [`POSTGRES`]), under
/// the migrator's advisory lock.
pub async fn apply_postgres_list(pool: &PgPool, migrations: Embedded) -> Result<(), MigrateError> {
    Migrator::new(migrations).await?.run(pool).await
}

/// Brings a PostgreSQL archive up to date.
pub async fn apply_postgres(pool: &PgPool) -> Result<(), MigrateError> {
    apply_postgres_list(pool, Embedded(POSTGRES)).await
}
