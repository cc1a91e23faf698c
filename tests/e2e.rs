//! End to end: every example scenario through `remedy::scenario::run` (both real controllers
//! on the embedded cluster) reaches its expected outcome and leaves the workload objects as
//! expected; dry runs change nothing; the `remedy run` exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e {
    mod cli;
    mod examples;
    mod scenarios;
    mod secrets;
}

use std::path::{Path, PathBuf};
use std::time::Duration;

use remedy::scenario::{self, Report, RunOptions};

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every scenario under `examples/`.
pub fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") || p.join("scenario.yaml").exists())
        .collect();
    out.sort();
    out
}

/// Runs one scenario with the repository's templates.
pub async fn run(path: &Path, dry_run: bool) -> Report {
    let scenario = scenario::load(path).unwrap();
    let options = RunOptions {
        templates: root().join("workflows"),
        dry_run,
        timeout: Duration::from_secs(60),
        ..RunOptions::default()
    };
    scenario::run(&scenario, &options, |_| {}).await.unwrap()
}
