//! The WorkflowExecution controller: reads a run, its executions and its analysis, asks the
//! engine what to do, creates executions and writes status. Glue only: every rule of the run
//! lives in the engine.
//!
//! Files: `config` (what it is told), `clock` (injectable time), `safety` and `target_lock`
//! (the checks at Validating), `conditions`, `metrics`, `http` (metrics and probes),
//! `leader` (Lease-based election).

pub mod clock;
pub mod conditions;
pub mod config;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod safety;
pub mod target_lock;

pub use clock::{Clock, ScaledClock, SystemClock};
pub use config::{ControllerKind, OperatorConfig};
