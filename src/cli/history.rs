//! `remedy history`: the archived runs, newest first, filtered by target, workflow, outcome,
//! namespace and time; `remedy history show RUN`: one run, as `remedy run` summarises it.
//! Exit 0 on success, 1 when the run is not in the archive or the archive cannot be read,
//! 2 for usage errors.

use std::io::Write;
use std::process::ExitCode;

use jiff::Timestamp;

use crate::archive::query::{self, Query, RunKey};
use crate::archive::{Archive, Location, RunRecord, RunRow, Target};

/// Arguments of `remedy history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Show one run.
    #[command(subcommand)]
    pub command: Option<HistoryCommand>,
    /// The archive: a SQLite file or a postgres:// URL (password from REMEDY_ARCHIVE_PASSWORD
    /// or PGPASSWORD). Default: archive.sqlite in the XDG data directory.
    #[arg(long, env = "REMEDY_ARCHIVE", global = true)]
    pub archive: Option<String>,
    /// Runs on this target: KIND/NAMESPACE/NAME, or KIND/NAME when cluster-scoped.
    #[arg(long)]
    pub target: Option<String>,
    /// Runs of this workflow (template name).
    #[arg(long)]
    pub workflow: Option<String>,
    /// Runs that ended with this outcome: Success, Ineffective, Failed, RolledBack, DryRun.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Runs in this namespace.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Runs that ended within this long (e.g. 12h, 7d), or since this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table", global = true)]
    pub output: HistoryFormat,
}

/// `remedy history` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum HistoryCommand {
    /// One archived run: outcome, steps, rollback, resources changed and events.
    Show {
        /// The run: NAME (the newest of that name), NAMESPACE/NAME, or its uid.
        run: String,
    },
}

/// How history is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    /// A table.
    Table,
    /// A table with the uid, phase, failure reason and template digest.
    Wide,
    /// JSON: the rows, or for `show` the whole (redacted) record.
    Json,
}

/// Runs `remedy history`; see the module doc for the exit codes.
pub fn run(args: &HistoryArgs) -> ExitCode {
    let location = match Location::or_default(args.archive.as_deref()) {
        Ok(l) => l,
        Err(e) => return usage(&e.to_string()),
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match &args.command {
        Some(HistoryCommand::Show { run }) => {
            let filters = [
                &args.target,
                &args.workflow,
                &args.outcome,
                &args.namespace,
                &args.since,
            ];
            if filters.iter().any(|f| f.is_some()) {
                return usage(
                    "`history show RUN` takes no filters (--target, --workflow, --outcome, --namespace, --since)",
                );
            }
            let key = match RunKey::parse(run) {
                Ok(k) => k,
                Err(e) => return usage(&e),
            };
            runtime.block_on(show(&location, &key, args.output, run))
        }
        None => {
            let query = match query_of(args, Timestamp::now()) {
                Ok(q) => q,
                Err(e) => return usage(&e),
            };
            runtime.block_on(list(&location, &query, args.output))
        }
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn failed(message: &str) -> ExitCode {
    eprintln!("error: {}", crate::redact::redact_text(message));
    ExitCode::from(1)
}

/// The query the flags ask for, with `--since` counted back from `now`.
pub fn query_of(args: &HistoryArgs, now: Timestamp) -> Result<Query, String> {
    let target = args.target.as_deref().map(Target::parse).transpose()?;
    let outcome = args.outcome.as_deref().map(query::outcome).transpose()?;
    let since = args.since.as_deref().map(|s| since(s, now)).transpose()?;
    if args.limit == 0 || args.limit > query::MAX_LIMIT {
        return Err(format!(
            "--limit {}: give 1 to {}",
            args.limit,
            query::MAX_LIMIT
        ));
    }
    let name = |flag: &str, v: &Option<String>| -> Result<Option<String>, String> {
        match v {
            Some(s) if s.is_empty() || s.len() > 253 || s.chars().any(char::is_control) => {
                Err(format!("--{flag} {s:?}: not a name"))
            }
            other => Ok(other.clone()),
        }
    };
    Ok(Query {
        target,
        workflow: name("workflow", &args.workflow)?,
        outcome,
        namespace: name("namespace", &args.namespace)?,
        since,
        limit: args.limit,
    })
}

/// `--since`: a duration back from `now` (`12h`, `7d`) or a time (`2026-12-01T00:00:00Z`).
fn since(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let span = crate::units::duration::parse_period_millis(text)
        .map(std::time::Duration::from_millis)
        .map_err(|_| {
            format!("--since {text:?}: give a duration (12h, 7d) or a time (2026-12-01T00:00:00Z)")
        })?;
    jiff::SignedDuration::try_from(span)
        .ok()
        .and_then(|d| now.checked_sub(d).ok())
        .ok_or_else(|| format!("--since {text:?}: too far back"))
}

async fn open(location: &Location) -> Result<Archive, ExitCode> {
    // Reading never creates: a missing embedded file means nothing was archived yet.
    if let Location::Sqlite(path) = location
        && !path.exists()
    {
        return Err(failed(&format!(
            "no archive at {} (runs are archived there by `remedy run` and `remedy serve`; another one is given with --archive)",
            path.display()
        )));
    }
    Archive::open(location)
        .await
        .map_err(|e| failed(&e.to_string()))
}

async fn list(location: &Location, query: &Query, format: HistoryFormat) -> ExitCode {
    let archive = match open(location).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    let rows = match archive.list(query).await {
        Ok(r) => r,
        Err(e) => return failed(&e.to_string()),
    };
    archive.close().await;
    let mut out = std::io::stdout();
    let text = match format {
        HistoryFormat::Json => match serde_json::to_string_pretty(&rows) {
            Ok(j) => format!("{j}\n"),
            Err(e) => return failed(&e.to_string()),
        },
        HistoryFormat::Table | HistoryFormat::Wide => {
            render_rows(&rows, format == HistoryFormat::Wide)
        }
    };
    let _ = write!(out, "{text}");
    let _ = out.flush();
    ExitCode::SUCCESS
}

async fn show(location: &Location, key: &RunKey, format: HistoryFormat, asked: &str) -> ExitCode {
    let archive = match open(location).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    let record = match archive.get(key).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return failed(&format!(
                "no run {asked:?} in the archive {}",
                archive.location()
            ));
        }
        Err(e) => return failed(&e.to_string()),
    };
    archive.close().await;
    let mut out = std::io::stdout();
    let text = match format {
        HistoryFormat::Json => match serde_json::to_string_pretty(&record) {
            Ok(j) => format!("{j}\n"),
            Err(e) => return failed(&e.to_string()),
        },
        HistoryFormat::Table | HistoryFormat::Wide => render_record(&record),
    };
    let _ = write!(out, "{text}");
    let _ = out.flush();
    ExitCode::SUCCESS
}

/// The list of runs as a table.
pub fn render_rows(rows: &[RunRow], wide: bool) -> String {
    if rows.is_empty() {
        return "no archived runs match\n".to_string();
    }
    let mut header = vec![
        "FINISHED", "RUN", "WORKFLOW", "TARGET", "OUTCOME", "DURATION",
    ];
    if wide {
        header.extend(["PHASE", "REASON", "UID", "DIGEST"]);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                time(r.finished_ms),
                format!("{}/{}", r.namespace, r.name),
                match (&r.workflow, &r.version) {
                    (Some(w), Some(v)) => format!("{w}@{v}"),
                    (Some(w), None) => w.clone(),
                    _ => "-".into(),
                },
                r.target.clone().unwrap_or_else(|| "-".into()),
                r.outcome.clone().unwrap_or_else(|| "-".into()),
                r.started_ms
                    .map(|s| seconds(r.finished_ms.saturating_sub(s)))
                    .unwrap_or_else(|| "-".into()),
            ];
            if wide {
                row.extend([
                    r.phase.clone().unwrap_or_else(|| "-".into()),
                    r.failure_reason.clone().unwrap_or_else(|| "-".into()),
                    r.uid.clone(),
                    r.digest.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            row
        })
        .collect();
    let mut o = String::new();
    super::table::write(&mut o, super::table::Layout::SECTION, &header, &body);
    o
}

/// One archived run: when and where it ran, then the summary `remedy run` prints.
pub fn render_record(record: &RunRecord) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "Run {} (uid {})", record.id(), record.uid);
    if let Some(w) = &record.workflow {
        let _ = writeln!(o, "  workflow {}@{} {}", w.name, w.version, w.digest);
    }
    if let Some(t) = &record.target {
        let _ = writeln!(o, "  target   {}", t.display());
    }
    let at = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.as_ref()
            .map(|t| time(t.0.as_millisecond()))
            .unwrap_or_else(|| "-".into())
    };
    let _ = writeln!(
        o,
        "  created  {}, started {}, finished {}",
        at(&record.created_at),
        at(&record.started_at),
        at(&record.finished_at)
    );
    o.push_str(&super::run::render_outcome(
        &crate::scenario::Summary::from_record(record),
    ));
    o
}

/// A time as `2026-12-04 23:40:01Z` (UTC).
fn time(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "-".into())
}

fn seconds(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: HistoryArgs,
    }

    fn query(flags: &[&str]) -> Result<Query, String> {
        let mut argv = vec!["history"];
        argv.extend(flags);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        query_of(&cli.args, Timestamp::from_second(1_000_000).unwrap())
    }

    #[test]
    fn flags_become_a_query() {
        let q = query(&[
            "--target",
            "deployment/shop/web",
            "--outcome",
            "rolledback",
            "--since",
            "1d",
            "-n",
            "shop",
            "--workflow",
            "oom-recovery",
            "--limit",
            "5",
        ])
        .unwrap();
        assert_eq!(q.target.unwrap().key(), "deployment/shop/web");
        assert_eq!(q.outcome.as_deref(), Some("RolledBack"));
        assert_eq!(
            q.since,
            Some(Timestamp::from_second(1_000_000 - 86_400).unwrap())
        );
        assert_eq!(
            (q.namespace.as_deref(), q.workflow.as_deref(), q.limit),
            (Some("shop"), Some("oom-recovery"), 5)
        );
        let at = query(&["--since", "2026-12-01T00:00:00Z"]).unwrap();
        assert_eq!(at.since.unwrap().to_string(), "2026-12-01T00:00:00Z");
    }

    #[test]
    fn bad_flags_are_refused_with_the_flag_named() {
        for (flags, word) in [
            (vec!["--target", "web"], "--target"),
            (vec!["--outcome", "maybe"], "--outcome"),
            (vec!["--since", "last week"], "--since"),
            (vec!["--since", "99999999999d"], "--since"),
            (vec!["--limit", "0"], "--limit"),
            (vec!["--workflow", ""], "--workflow"),
        ] {
            let e = query(&flags).unwrap_err();
            assert!(e.contains(word), "{flags:?}: {e}");
        }
    }
}
