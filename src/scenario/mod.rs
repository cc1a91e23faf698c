//! Scenarios for `remedy run`: a cluster (ordinary Kubernetes objects), an AIAnalysis, faults
//! and timings, run in-process through both real controllers on the embedded cluster.
//!
//! | file | what |
//! |---|---|
//! | `file` | the scenario format and its loading (a YAML file or a directory) |
//! | `stage` | set-up: the embedded cluster, its simulation, the CRDs, the objects and `changes` |
//! | `controllers` | both controllers on the embedded cluster: clients, configurations, tasks |
//! | `runner` | the run: the analysis and the run created, followed to its end, reported |
//! | `progress` | what changed between two looks at a run, in causal order (run and watch) |
//! | `summary` | outcome, steps, rollback, resources changed, events |
//! | `check` | the `expect` object checks: `KIND NS/NAME`, a field path, a value |
//! | `soak` | a scenario under a seeded fault schedule, checked against the same run without faults |
//! | `yaml` | where each value of a scenario file is, for errors that point at it |
//!
//! Printing belongs to `cli::run`; this module only returns values.

pub mod check;
pub mod controllers;
pub mod file;
pub mod progress;
pub mod runner;
pub mod soak;
pub mod stage;
pub mod summary;
pub mod yaml;

pub use file::{Scenario, ScenarioError, load};
pub use runner::{Progress, Report, RunError, RunOptions, StepUpdate, run};
pub use summary::Summary;
