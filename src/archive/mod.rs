//! The archive: finished runs kept in a real database after the cluster's objects are gone,
//! and the history queries over them.
//!
//! | file | what |
//! |---|---|
//! | `record` | a finished run → [`RunRecord`] (run, plan, analysis, executions, events; redacted) |
//! | `query` | the filters of `remedy history` and the rows it lists |
//! | `location` | where the archive lives: a SQLite file (XDG data directory by default) or a PostgreSQL URL |
//! | `sql` | the one implementation of store, get, list and expire over both databases |
//! | `migrations` | the versioned schema of each backend, applied when the archive opens |
//! | `collect` | reading a finished run's executions and events from the cluster |
//!
//! Both backends run the same SQL (sqlx, plain runtime queries with `$n` parameters, which
//! SQLite reads too); only the schema files differ. Storing is an upsert by the run's uid that
//! keeps the first record, so archiving a run twice (after a restart, or by two replicas)
//! leaves one row, the one written before the run could be deleted.
//!
//! **Invariant:** nothing reaches the archive unredacted, and no password is taken from a URL
//! or printed: PostgreSQL's comes from the environment (`REMEDY_ARCHIVE_PASSWORD` or
//! `PGPASSWORD`).

pub mod collect;
pub mod location;
pub mod migrations;
pub mod query;
pub mod record;
mod sql;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};

pub use location::Location;
pub use query::{Query, RunKey, RunRow};
pub use record::{RunRecord, Target};

/// Why the archive could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The location is not usable (a URL with a password, a bad path).
    #[error("archive {0}")]
    Location(String),
    /// The database could not be reached or refused a statement.
    #[error("archive {location}: {source}")]
    Database {
        /// Where (printable: never a password).
        location: String,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("archive {location}: migrating the schema: {source}")]
    Migrate {
        /// Where.
        location: String,
        /// Why.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A stored record could not be read back.
    #[error("archive {location}: the record of run {uid} is unreadable: {source}")]
    Corrupt {
        /// Where.
        location: String,
        /// The run.
        uid: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A record could not be encoded.
    #[error("archive: cannot encode the record of run {uid}: {source}")]
    Encode {
        /// The run.
        uid: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// An open archive: a pool of connections to one of the two databases. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Archive {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    /// Printable location (no password).
    shown: String,
    /// Set once the schema is current; until then every call tries the migrations first, so
    /// an archive opened while the database is down catches up when it comes back.
    migrated: tokio::sync::OnceCell<()>,
}

#[derive(Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How long a call waits for a connection before it reports the database unreachable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl Archive {
    /// Opens the archive at `location` and brings its schema up to date. Fails when the
    /// database cannot be reached.
    pub async fn open(location: &Location) -> Result<Archive, ArchiveError> {
        let archive = Archive::open_lazy(location)?;
        archive.ready().await?;
        Ok(archive)
    }

    /// The archive at `location` without connecting yet: the first call connects and
    /// migrates, and a call made while the database is down fails and is tried again by the
    /// next one. The operator starts this way, so a database outage never stops it.
    pub fn open_lazy(location: &Location) -> Result<Archive, ArchiveError> {
        let shown = location.to_string();
        let backend = match location {
            Location::Sqlite(path) => {
                let options = location::sqlite_options(path)?;
                Backend::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(4)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_lazy_with(options),
                )
            }
            Location::Postgres(url) => {
                let options = location::postgres_options(url)?;
                Backend::Postgres(
                    PgPoolOptions::new()
                        .max_connections(4)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_lazy_with(options),
                )
            }
        };
        Ok(Archive {
            inner: Arc::new(Inner {
                backend,
                shown,
                migrated: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Where the archive is, fit to print.
    pub fn location(&self) -> &str {
        &self.inner.shown
    }

    /// Connects and applies the migrations, once. A schema that already has every version
    /// this binary knows is taken as it is (one query, not the migrator's several round
    /// trips and lock); anything else goes through the migrator, which also refuses a schema
    /// newer than this binary or an edited migration.
    pub async fn ready(&self) -> Result<(), ArchiveError> {
        self.inner
            .migrated
            .get_or_try_init(|| async {
                let (applied, known) = match &self.inner.backend {
                    Backend::Sqlite(pool) => {
                        (sql::applied_versions(pool).await, migrations::SQLITE)
                    }
                    Backend::Postgres(pool) => {
                        (sql::applied_versions(pool).await, migrations::POSTGRES)
                    }
                };
                let applied = applied.map_err(|e| self.db_error(e))?;
                if applied.iter().copied().eq(known.iter().map(|(v, _, _)| *v)) {
                    return Ok(());
                }
                match &self.inner.backend {
                    Backend::Sqlite(pool) => migrations::apply_sqlite(pool).await,
                    Backend::Postgres(pool) => migrations::apply_postgres(pool).await,
                }
                .map_err(|e| self.migrate_error(e))
            })
            .await
            .map(|_| ())
    }

    /// Connects and runs the migrator in full (checksums included), whatever the schema
    /// shows: what the operator does at start.
    pub async fn migrate(&self) -> Result<(), ArchiveError> {
        match &self.inner.backend {
            Backend::Sqlite(pool) => migrations::apply_sqlite(pool).await,
            Backend::Postgres(pool) => migrations::apply_postgres(pool).await,
        }
        .map_err(|e| self.migrate_error(e))?;
        let _ = self.inner.migrated.set(());
        Ok(())
    }

    /// Stores `record`, an upsert by uid that keeps the first record committed: storing the
    /// same run again (after a restart, or from a second replica) changes nothing. When this
    /// returns, the run's record is committed.
    pub async fn store(&self, record: &RunRecord) -> Result<(), ArchiveError> {
        self.ready().await?;
        let row = sql::StoredRow::of(record, Timestamp::now()).map_err(|source| {
            ArchiveError::Encode {
                uid: record.uid.clone(),
                source,
            }
        })?;
        let result = match &self.inner.backend {
            Backend::Sqlite(pool) => sql::upsert(pool, &row).await,
            Backend::Postgres(pool) => sql::upsert(pool, &row).await,
        };
        result.map_err(|e| self.db_error(e))
    }

    /// The record of one run; by name, the newest run of that name.
    pub async fn get(&self, key: &RunKey) -> Result<Option<RunRecord>, ArchiveError> {
        self.ready().await?;
        let found = match &self.inner.backend {
            Backend::Sqlite(pool) => sql::get(pool, key).await,
            Backend::Postgres(pool) => sql::get(pool, key).await,
        }
        .map_err(|e| self.db_error(e))?;
        let Some((uid, text)) = found else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| ArchiveError::Corrupt {
                location: self.inner.shown.clone(),
                uid,
                source,
            })
    }

    /// The runs `query` selects, newest first.
    pub async fn list(&self, query: &Query) -> Result<Vec<RunRow>, ArchiveError> {
        self.ready().await?;
        match &self.inner.backend {
            Backend::Sqlite(pool) => sql::list(pool, query).await,
            Backend::Postgres(pool) => sql::list(pool, query).await,
        }
        .map_err(|e| self.db_error(e))
    }

    /// Whether run `uid` is in the archive.
    pub async fn contains(&self, uid: &str) -> Result<bool, ArchiveError> {
        self.ready().await?;
        match &self.inner.backend {
            Backend::Sqlite(pool) => sql::contains(pool, uid).await,
            Backend::Postgres(pool) => sql::contains(pool, uid).await,
        }
        .map_err(|e| self.db_error(e))
    }

    /// Deletes the records of runs that finished before `before` (the archive's own
    /// retention); answers how many went.
    pub async fn expire(&self, before: Timestamp) -> Result<u64, ArchiveError> {
        self.ready().await?;
        let before = before.as_millisecond();
        match &self.inner.backend {
            Backend::Sqlite(pool) => sql::expire(pool, before).await,
            Backend::Postgres(pool) => sql::expire(pool, before).await,
        }
        .map_err(|e| self.db_error(e))
    }

    /// Closes the connections (waits for calls in flight).
    pub async fn close(&self) {
        match &self.inner.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    fn db_error(&self, source: sqlx::Error) -> ArchiveError {
        ArchiveError::Database {
            location: self.inner.shown.clone(),
            source,
        }
    }

    fn migrate_error(&self, source: sqlx::migrate::MigrateError) -> ArchiveError {
        ArchiveError::Migrate {
            location: self.inner.shown.clone(),
            source,
        }
    }
}
