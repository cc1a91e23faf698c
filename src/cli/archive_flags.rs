//! The archive and retention flags that `remedy run`, `remedy serve` and `remedy operator`
//! share.

use std::str::FromStr;
use std::time::Duration;

use crate::archive::{Archive, ArchiveError, Location};
use crate::operator::retention::{self, RetentionConfig};

/// A retention period: a duration, or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period(pub Option<Duration>);

impl FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        retention::parse_period(s).map(Period)
    }
}

/// Where finished runs are archived.
#[derive(Debug, Clone, clap::Args)]
pub struct ArchiveFlags {
    /// Archive finished runs here: a SQLite file, or a postgres:// URL without a password
    /// (the password comes from REMEDY_ARCHIVE_PASSWORD or PGPASSWORD).
    #[arg(long, env = "REMEDY_ARCHIVE", value_name = "PATH|URL")]
    pub archive: Option<String>,
    /// Do not archive finished runs.
    #[arg(long, conflicts_with = "archive")]
    pub no_archive: bool,
    /// How long the archive keeps a run's record after the run ended (e.g. 400d, or forever).
    #[arg(long, default_value = "400d", value_name = "PERIOD")]
    pub archive_retention: Period,
}

impl ArchiveFlags {
    /// The archive's location: `--archive`, else the embedded file when `embedded_default`,
    /// else none (and none with `--no-archive`).
    pub fn location(&self, embedded_default: bool) -> Result<Option<Location>, ArchiveError> {
        if self.no_archive {
            return Ok(None);
        }
        match (&self.archive, embedded_default) {
            (Some(text), _) => Location::parse(text).map(Some),
            (None, true) => Location::default_file().map(Some),
            (None, false) => Ok(None),
        }
    }

    /// The archive, not yet connected (so a database that is down does not stop the
    /// controllers: runs wait for it).
    pub fn open(&self, embedded_default: bool) -> Result<Option<Archive>, ArchiveError> {
        self.location(embedded_default)?
            .map(|l| Archive::open_lazy(&l))
            .transpose()
    }
}

/// How long finished runs stay in the cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct RetentionFlags {
    /// How long a run that ended Success or DryRun stays (a run's annotation
    /// workflowexecution.kubernaut.io/retain-succeeded overrides it; `forever` keeps it).
    #[arg(long, default_value = "7d", value_name = "PERIOD")]
    pub retain_succeeded: Period,
    /// How long a run that ended any other way stays (annotation
    /// workflowexecution.kubernaut.io/retain-failed).
    #[arg(long, default_value = "30d", value_name = "PERIOD")]
    pub retain_failed: Period,
    /// Keep at most this many finished runs per target, the newest (0: no bound).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub retain_per_target: usize,
}

impl RetentionFlags {
    /// The retention configuration, with the archive's own retention.
    pub fn config(&self, archive: &ArchiveFlags) -> RetentionConfig {
        RetentionConfig {
            succeeded: self.retain_succeeded.0,
            failed: self.retain_failed.0,
            per_target: (self.retain_per_target > 0).then_some(self.retain_per_target),
            archive_retention: archive.archive_retention.0,
        }
    }
}
