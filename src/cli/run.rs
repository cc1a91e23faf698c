//! `remedy run SCENARIO`: run a scenario end to end on the embedded cluster with both
//! controllers, show live progress, and print a summary. Exit 0 for Success or DryRun, 1 for
//! any other outcome, 2 for usage and scenario errors.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::progress::{Live, first_line};
use super::table::{self, Layout};
use crate::check::render::visible;
use crate::scenario::{self, RunOptions, Summary};

/// Arguments of `remedy run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario: a YAML file, or a directory holding `scenario.yaml`.
    pub scenario: PathBuf,
    /// The template directory.
    #[arg(long, default_value = "workflows")]
    pub templates: PathBuf,
    /// Plan, validate and dry-run every step; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Approve the run (sets spec.approved) for templates that ask for approval.
    #[arg(long)]
    pub approve: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Simulated time factor for long waits (timeouts, backoffs, pod readiness): 60 makes a
    /// minute pass in a second.
    #[arg(long)]
    pub speed: Option<f64>,
    /// Real-time cap of the whole run, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Where the finished run is archived (default: archive.sqlite in the XDG data
    /// directory; `remedy history` reads it).
    #[command(flatten)]
    pub archive: super::archive_flags::ArchiveFlags,
}

/// How the summary is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Progress lines and a readable summary.
    Text,
    /// One JSON document: the summary.
    Json,
}

/// Runs the scenario; see the module doc for the exit codes.
pub fn run(args: &RunArgs) -> ExitCode {
    let scenario = match scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match scenario.check_templates(&args.templates) {
        Ok(notes) => {
            for note in notes {
                eprintln!("warning: {}", visible(&note));
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(speed) = args.speed
        && let Err(e) = crate::clock::check_speed(speed)
    {
        eprintln!("error: --{e}");
        return ExitCode::from(2);
    }
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    // The archive's connection pool lives on the runtime.
    let archive = match runtime.block_on(async { args.archive.open(true) }) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let options = RunOptions {
        templates: args.templates.clone(),
        dry_run: args.dry_run,
        approve: args.approve,
        speed: args.speed,
        timeout: Duration::from_secs(args.timeout),
        archive: archive.clone(),
    };
    let text = args.output == OutputFormat::Text;
    let mut live = Live::new(text && std::io::stdout().is_terminal());
    if text {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "Scenario {}", scenario.title());
        for line in scenario.description.trim().lines() {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out);
    }
    let result = runtime.block_on(scenario::run(&scenario, &options, |p| {
        if text {
            live.show(&p);
        }
    }));
    live.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout();
    match args.output {
        OutputFormat::Json => match serde_json::to_string_pretty(&report.summary) {
            Ok(json) => {
                let _ = writeln!(out, "{json}");
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        OutputFormat::Text => {
            let _ = write!(out, "{}", render(&report.summary));
            match &report.archived {
                Some(Ok(_)) => {
                    let _ = writeln!(
                        out,
                        "\nArchived: remedy history show {}{}",
                        report.summary.run,
                        match &args.archive.archive {
                            Some(a) => format!(" --archive {a}"),
                            None => String::new(),
                        }
                    );
                }
                Some(Err(why)) => {
                    let _ = writeln!(out, "\nNot archived: {why}");
                }
                None => {}
            }
        }
    }
    if let Some(archive) = &archive {
        runtime.block_on(archive.close());
    }
    let _ = out.flush();
    if report.summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The text summary of a finished run.
pub fn render(s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut o = outcome_line(s);
    let _ = writeln!(
        o,
        "  run {}, {:.1}s real time at speed {}×{}",
        s.run,
        s.elapsed_ms as f64 / 1000.0,
        s.speed,
        if s.dry_run { ", dry run" } else { "" }
    );
    o.push_str(&details(s));
    o
}

/// The summary without the line about this process's run (real time, speed): what
/// `remedy history show` prints of an archived run.
pub fn render_outcome(s: &Summary) -> String {
    let mut o = outcome_line(s);
    if s.dry_run {
        o.push_str("  dry run\n");
    }
    o.push_str(&details(s));
    o
}

fn outcome_line(s: &Summary) -> String {
    let outcome = s.outcome.as_deref().unwrap_or("none");
    let phase = s.phase.as_deref().unwrap_or("unknown");
    format!(
        "\nOutcome: {outcome} (phase {phase}){}\n",
        s.workflow
            .as_ref()
            .map(|w| format!(", workflow {w}"))
            .unwrap_or_default()
    )
}

/// Failure, steps, rollback, resources changed, events and expectations.
fn details(s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    if let Some(why) = &s.unfinished {
        let _ = writeln!(o, "  unfinished: {why}");
    }
    if let Some(f) = &s.failure {
        let step = f
            .step
            .as_ref()
            .map(|st| format!(" at step {st}"))
            .unwrap_or_default();
        let _ = writeln!(o, "  failure: {}{step}: {}", f.reason, visible(&f.message));
    }
    let _ = writeln!(o, "\nSteps");
    let rows: Vec<Vec<String>> = s
        .steps
        .iter()
        .map(|st| {
            vec![
                st.name.clone(),
                st.phase.clone(),
                st.attempts.to_string(),
                st.duration_ms
                    .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
                    .unwrap_or_else(|| "-".into()),
                first_line(&st.message, 90),
            ]
        })
        .collect();
    table::write(
        &mut o,
        Layout::SECTION,
        &["STEP", "PHASE", "ATTEMPTS", "DURATION", "MESSAGE"],
        &rows,
    );
    render_sections(&mut o, s);
    if !s.checks.is_empty() {
        let held = s.checks.iter().filter(|c| c.passed).count();
        let _ = writeln!(o, "\nExpectations: {held} of {} hold", s.checks.len());
        for c in &s.checks {
            let mark = if c.passed { "✓" } else { "✗" };
            let _ = write!(o, "  {mark} {} = {}", c.what, c.expected);
            if !c.passed {
                let _ = write!(o, " (found {})", c.actual);
            }
            let _ = writeln!(o);
        }
    }
    o
}

/// The rollback, resources-changed and events sections of a summary (`remedy run` and
/// `remedy get`).
pub(crate) fn render_sections(o: &mut String, s: &Summary) {
    use std::fmt::Write as _;
    let _ = writeln!(o, "\nRollback");
    if s.rollback.is_empty() {
        let _ = writeln!(o, "  none");
    } else {
        let rows: Vec<Vec<String>> = s
            .rollback
            .iter()
            .map(|r| {
                vec![
                    r.step.clone(),
                    r.action.clone(),
                    r.phase.clone(),
                    first_line(&r.error, 90),
                ]
            })
            .collect();
        table::write(
            o,
            Layout::SECTION,
            &["STEP", "ACTION", "PHASE", "ERROR"],
            &rows,
        );
    }
    let _ = writeln!(o, "\nResources changed");
    if s.resources.is_empty() {
        let _ = writeln!(o, "  none");
    } else {
        let rows: Vec<Vec<String>> = s
            .resources
            .iter()
            .map(|r| vec![r.step.clone(), r.resource.clone(), r.change.clone()])
            .collect();
        table::write(o, Layout::SECTION, &["BY", "RESOURCE", "CHANGE"], &rows);
    }
    let _ = writeln!(o, "\nEvents");
    if s.events.is_empty() {
        let _ = writeln!(o, "  none");
    } else {
        let rows: Vec<Vec<String>> = s
            .events
            .iter()
            .map(|e| {
                vec![
                    e.kind.clone(),
                    e.reason.clone(),
                    e.object.clone(),
                    first_line(&e.message, 100),
                ]
            })
            .collect();
        table::write(
            o,
            Layout::SECTION,
            &["TYPE", "REASON", "OBJECT", "MESSAGE"],
            &rows,
        );
    }
}
