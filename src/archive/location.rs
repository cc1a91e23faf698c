//! Where the archive lives: a SQLite file, or a PostgreSQL database named by a URL without a
//! password.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use super::ArchiveError;

/// The environment variable that carries the PostgreSQL password (from a Secret);
/// `PGPASSWORD` is read when it is unset.
pub const PASSWORD_ENV: &str = "REMEDY_ARCHIVE_PASSWORD";

/// The file name of the embedded archive in its data directory.
pub const DEFAULT_FILE: &str = "archive.sqlite";

/// Where an archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://user@host:port/db?sslmode=…`, without a password.
    Postgres(String),
}

impl Location {
    /// Reads `--archive`: a `postgres://` (or `postgresql://`) URL, else a file path
    /// (`sqlite://PATH` is accepted too).
    pub fn parse(text: &str) -> Result<Location, ArchiveError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ArchiveError::Location(
                "location is empty: give a file path or a postgres:// URL".into(),
            ));
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            // Checked here, so that a bad URL fails at start rather than at the first run.
            postgres_options(text)?;
            return Ok(Location::Postgres(text.to_string()));
        }
        if lower.contains("://") && !lower.starts_with("sqlite://") {
            return Err(ArchiveError::Location(format!(
                "{:?}: unknown scheme (a file path, sqlite://PATH or postgres://…)",
                crate::redact::redact_text(text)
            )));
        }
        let path = text.strip_prefix("sqlite://").unwrap_or(text);
        if path.is_empty() {
            return Err(ArchiveError::Location("sqlite:// names no file".into()));
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }

    /// The embedded default: `archive.sqlite` in Remedy's XDG data directory
    /// (`$XDG_DATA_HOME/remedy`, else `~/.local/share/remedy`).
    pub fn default_file() -> Result<Location, ArchiveError> {
        data_dir()
            .map(|dir| Location::Sqlite(dir.join(DEFAULT_FILE)))
            .ok_or_else(|| {
                ArchiveError::Location(
                    "has no default place: neither XDG_DATA_HOME nor HOME is set; give --archive PATH"
                        .into(),
                )
            })
    }

    /// `--archive` if given, else the embedded default.
    pub fn or_default(given: Option<&str>) -> Result<Location, ArchiveError> {
        match given {
            Some(text) => Location::parse(text),
            None => Location::default_file(),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            // A password cannot be in the URL (parse refuses one), but a printed location is
            // redacted all the same.
            Location::Postgres(url) => write!(f, "{}", crate::redact::redact_text(url)),
        }
    }
}

/// Remedy's XDG data directory.
fn data_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| {
        let p = PathBuf::from(v);
        p.is_absolute().then_some(p)
    };
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").and_then(absolute) {
        return Some(dir.join("remedy"));
    }
    let home = std::env::var_os("HOME").and_then(absolute)?;
    Some(home.join(".local").join("share").join("remedy"))
}

/// Connection options of a SQLite file: created when missing (with its directory), WAL so
/// that `remedy history` can read while a run writes, and a busy timeout so two processes
/// wait for each other instead of failing.
pub(super) fn sqlite_options(path: &Path) -> Result<SqliteConnectOptions, ArchiveError> {
    if path.is_dir() {
        return Err(ArchiveError::Location(format!(
            "{}: is a directory, not a database file",
            path.display()
        )));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            ArchiveError::Location(format!("{}: cannot create {e}", parent.display()))
        })?;
    }
    Ok(SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10)))
}

/// Connection options of a PostgreSQL URL, with the password from the environment. A URL
/// that carries a password is refused: it would end up in process listings and logs.
pub(super) fn postgres_options(url: &str) -> Result<PgConnectOptions, ArchiveError> {
    let parsed = url::Url::parse(url).map_err(|e| {
        ArchiveError::Location(format!(
            "{:?}: not a URL: {e}",
            crate::redact::redact_text(url)
        ))
    })?;
    let password_in_query = parsed
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"));
    if parsed.password().is_some() || password_in_query {
        return Err(ArchiveError::Location(format!(
            "{}: the URL carries a password; remove it and set {PASSWORD_ENV} (or PGPASSWORD) from a Secret instead",
            crate::redact::redact_text(url)
        )));
    }
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| ArchiveError::Location(format!("{}: {e}", crate::redact::redact_text(url))))?;
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        options = options.password(&password);
    }
    Ok(options.application_name("remedy"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            Location::parse("postgres://remedy@db:5432/remedy?sslmode=require").unwrap(),
            Location::Postgres("postgres://remedy@db:5432/remedy?sslmode=require".into())
        );
        assert_eq!(
            Location::parse("/var/lib/remedy/a.sqlite").unwrap(),
            Location::Sqlite("/var/lib/remedy/a.sqlite".into())
        );
        assert_eq!(
            Location::parse("sqlite://rel/a.db").unwrap(),
            Location::Sqlite("rel/a.db".into())
        );
        for bad in ["", "mysql://db/x", "sqlite://", "postgres://[::1"] {
            assert!(Location::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_repeated() {
        for url in [
            "postgres://remedy:hunter2@db/remedy",
            "postgresql://db/remedy?user=remedy&password=hunter2",
        ] {
            let e = Location::parse(url).unwrap_err().to_string();
            assert!(e.contains("carries a password"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
