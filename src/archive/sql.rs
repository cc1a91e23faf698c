//! The archive's statements, written once for both databases: `$n` parameters (SQLite reads
//! them too), `INSERT … ON CONFLICT (uid) DO NOTHING` (both have it), plain text and 64-bit
//! integers.

use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::query::{Query, RunKey, RunRow};
use super::record::RunRecord;

/// The columns of one run's row.
#[derive(Debug)]
pub(super) struct StoredRow {
    uid: String,
    namespace: String,
    name: String,
    workflow: Option<String>,
    workflow_version: Option<String>,
    workflow_digest: Option<String>,
    target: Option<String>,
    target_key: Option<String>,
    phase: Option<String>,
    outcome: Option<String>,
    failure_reason: Option<String>,
    created_ms: Option<i64>,
    started_ms: Option<i64>,
    finished_ms: i64,
    archived_ms: i64,
    record: String,
}

impl StoredRow {
    /// The row of `record`, archived at `now`.
    pub(super) fn of(record: &RunRecord, now: Timestamp) -> Result<StoredRow, serde_json::Error> {
        let workflow = record.workflow.as_ref();
        Ok(StoredRow {
            uid: record.uid.clone(),
            namespace: record.namespace.clone(),
            name: record.name.clone(),
            workflow: workflow.map(|w| w.name.clone()),
            workflow_version: workflow.map(|w| w.version.clone()),
            workflow_digest: workflow.map(|w| w.digest.clone()),
            target: record.target.as_ref().map(|t| t.display()),
            target_key: record.target.as_ref().map(|t| t.key()),
            phase: record.phase.clone(),
            outcome: record.outcome.clone(),
            failure_reason: record.failure_reason.clone(),
            created_ms: record.created_at.as_ref().map(|t| t.0.as_millisecond()),
            started_ms: record.started_at.as_ref().map(|t| t.0.as_millisecond()),
            finished_ms: record.finished_ms(),
            archived_ms: now.as_millisecond(),
            record: serde_json::to_string(record)?,
        })
    }
}

/// Inserts a run's row; a row of the same uid stays as it is. A finished run's record is
/// complete when it is first committed (no run is deleted before), while a replica racing
/// the deletion could read it after its executions went: the first record is the one kept.
const UPSERT: &str = "INSERT INTO remedy_runs (uid, namespace, name, workflow, workflow_version, \
     workflow_digest, target, target_key, phase, outcome, failure_reason, created_ms, started_ms, \
     finished_ms, archived_ms, record) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
     ON CONFLICT (uid) DO NOTHING";

const LIST_COLUMNS: &str = "uid, namespace, name, workflow, workflow_version, workflow_digest, \
     target, phase, outcome, failure_reason, started_ms, finished_ms";

/// A value bound to a statement.
enum Bind {
    Text(String),
    Int(i64),
}

/// Stores one row; an existing row of the same uid is kept.
pub(super) async fn upsert<DB>(pool: &Pool<DB>, row: &StoredRow) -> Result<(), sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(UPSERT)
        .bind(row.uid.clone())
        .bind(row.namespace.clone())
        .bind(row.name.clone())
        .bind(row.workflow.clone())
        .bind(row.workflow_version.clone())
        .bind(row.workflow_digest.clone())
        .bind(row.target.clone())
        .bind(row.target_key.clone())
        .bind(row.phase.clone())
        .bind(row.outcome.clone())
        .bind(row.failure_reason.clone())
        .bind(row.created_ms)
        .bind(row.started_ms)
        .bind(row.finished_ms)
        .bind(row.archived_ms)
        .bind(row.record.clone())
        .execute(pool)
        .await?;
    Ok(())
}

/// The uid and record text of the run `key` names (the newest, by name).
pub(super) async fn get<DB>(
    pool: &Pool<DB>,
    key: &RunKey,
) -> Result<Option<(String, String)>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let query = match key {
        RunKey::Uid(uid) => {
            sqlx::query("SELECT uid, record FROM remedy_runs WHERE uid = $1").bind(uid.clone())
        }
        RunKey::Named {
            namespace: Some(ns),
            name,
        } => sqlx::query(
            "SELECT uid, record FROM remedy_runs WHERE name = $1 AND namespace = $2 \
             ORDER BY finished_ms DESC LIMIT 1",
        )
        .bind(name.clone())
        .bind(ns.clone()),
        RunKey::Named {
            namespace: None,
            name,
        } => sqlx::query(
            "SELECT uid, record FROM remedy_runs WHERE name = $1 ORDER BY finished_ms DESC LIMIT 1",
        )
        .bind(name.clone()),
    };
    let Some(row) = query.fetch_optional(pool).await? else {
        return Ok(None);
    };
    Ok(Some((row.try_get("uid")?, row.try_get("record")?)))
}

/// Whether a run of this uid is stored.
pub(super) async fn contains<DB>(pool: &Pool<DB>, uid: &str) -> Result<bool, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    let row = sqlx::query("SELECT 1 FROM remedy_runs WHERE uid = $1")
        .bind(uid.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// The rows `query` selects, newest first. The order is the time alone, which every index
/// holds second: a tie-breaker outside the index would make the database sort every row the
/// filter selects before it could stop at the limit.
pub(super) async fn list<DB>(pool: &Pool<DB>, query: &Query) -> Result<Vec<RunRow>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> Option<String>: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> Option<i64>: Decode<'r, DB>,
    i64: Type<DB>,
    String: Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let mut filter = |column: &str, value: Bind, op: &str| {
        binds.push(value);
        clauses.push(format!("{column} {op} ${}", binds.len()));
    };
    if let Some(t) = &query.target {
        filter("target_key", Bind::Text(t.key()), "=");
    }
    if let Some(w) = &query.workflow {
        filter("workflow", Bind::Text(w.clone()), "=");
    }
    if let Some(o) = &query.outcome {
        filter("outcome", Bind::Text(o.clone()), "=");
    }
    if let Some(ns) = &query.namespace {
        filter("namespace", Bind::Text(ns.clone()), "=");
    }
    if let Some(since) = query.since {
        filter("finished_ms", Bind::Int(since.as_millisecond()), ">=");
    }
    let limit = i64::from(query.limit.clamp(1, super::query::MAX_LIMIT));
    let where_clause = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    binds.push(Bind::Int(limit));
    let limit_clause = format!("LIMIT ${}", binds.len());
    let text = format!(
        "SELECT {LIST_COLUMNS} FROM remedy_runs {where_clause} \
         ORDER BY finished_ms DESC {limit_clause}"
    );
    let mut statement = sqlx::query(&text);
    for b in binds {
        statement = match b {
            Bind::Text(s) => statement.bind(s),
            Bind::Int(i) => statement.bind(i),
        };
    }
    let rows = statement.fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            Ok(RunRow {
                uid: row.try_get("uid")?,
                namespace: row.try_get("namespace")?,
                name: row.try_get("name")?,
                workflow: row.try_get("workflow")?,
                version: row.try_get("workflow_version")?,
                digest: row.try_get("workflow_digest")?,
                target: row.try_get("target")?,
                phase: row.try_get("phase")?,
                outcome: row.try_get("outcome")?,
                failure_reason: row.try_get("failure_reason")?,
                started_ms: row.try_get("started_ms")?,
                finished_ms: row.try_get("finished_ms")?,
            })
        })
        .collect()
}

/// Deletes the rows of runs that finished before `before_ms`; answers how many.
pub(super) async fn expire<DB>(pool: &Pool<DB>, before_ms: i64) -> Result<u64, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    // RETURNING (both databases have it) counts the rows without a driver-specific result.
    let gone = sqlx::query("DELETE FROM remedy_runs WHERE finished_ms < $1 RETURNING uid")
        .bind(before_ms)
        .fetch_all(pool)
        .await?;
    Ok(u64::try_from(gone.len()).unwrap_or(u64::MAX))
}

/// The versions of the migrations applied successfully, in order; empty when there is no
/// migration table yet.
pub(super) async fn applied_versions<DB>(pool: &Pool<DB>) -> Result<Vec<i64>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> i64: Decode<'r, DB>,
    i64: Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let rows = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await;
    match rows {
        Ok(rows) => rows.iter().map(|r| r.try_get(0)).collect(),
        // No table yet: nothing applied.
        Err(sqlx::Error::Database(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
