//! `remedy watch RUN`: a run's progress, live, as `remedy run` shows it (the same renderer,
//! in causal order), until it ends; then the same view as `remedy get`.

use std::io::IsTerminal;
use std::process::ExitCode;

use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::{WatchStreamExt, watcher};

use super::cluster::{self, ClusterArgs, Failure};
use super::progress::Live;
use crate::api::{WorkflowExecution, WorkflowPhase};
use crate::scenario::Progress;
use crate::scenario::progress::Tracker;

/// Arguments of `remedy watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The run (a WorkflowExecution's name).
    pub run: String,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Watches one run to its end.
pub fn run(args: &WatchArgs) -> ExitCode {
    cluster::block_on(watch(args))
}

fn ended(run: &WorkflowExecution) -> bool {
    run.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(WorkflowPhase::is_terminal)
}

async fn watch(args: &WatchArgs) -> Result<(), Failure> {
    let conn = args.cluster.connect().await?;
    let first = conn.run(&args.run).await?;
    let created = first
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or_else(jiff::Timestamp::now, |t| t.0);
    let mut live = Live::new(std::io::stdout().is_terminal());
    live.show(&Progress::Started {
        run: format!(
            "{}/{}",
            first.namespace().unwrap_or_default(),
            first.name_any()
        ),
    });
    let mut tracker = Tracker::new();
    let mut show = |run: &WorkflowExecution, live: &mut Live| {
        let elapsed = jiff::Timestamp::now()
            .duration_since(created)
            .unsigned_abs();
        if let Some(status) = &run.status {
            for change in tracker.update(status, elapsed) {
                live.show(&change);
            }
        }
    };
    show(&first, &mut live);
    let mut last = first.clone();
    if !ended(&first) {
        let config = watcher::Config::default().fields(&format!("metadata.name={}", args.run));
        let mut events = watcher(conn.runs(), config).default_backoff().boxed();
        loop {
            match events.next().await {
                Some(Ok(watcher::Event::Apply(run) | watcher::Event::InitApply(run))) => {
                    show(&run, &mut live);
                    let done = ended(&run);
                    last = run;
                    if done {
                        break;
                    }
                }
                Some(Ok(watcher::Event::Delete(_))) => {
                    live.finish();
                    println!("● deleted");
                    return Ok(());
                }
                Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
                Some(Err(
                    watcher::Error::WatchFailed(kube::Error::Api(s))
                    | watcher::Error::InitialListFailed(kube::Error::Api(s))
                    | watcher::Error::WatchStartFailed(kube::Error::Api(s)),
                )) if s.code == 403 => {
                    live.finish();
                    return Err(Failure::Refused(cluster::describe_error(
                        &kube::Error::Api(s),
                    )));
                }
                // The watcher starts again by itself after other errors.
                Some(Err(e)) => tracing::debug!(error = %e, "the watch of the run broke"),
                None => break,
            }
        }
    }
    live.finish();
    let text = super::get::view(&conn, &last, false).await?;
    print!("{text}");
    Ok(())
}
