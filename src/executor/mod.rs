//! The executor: the KubernetesExecution controller and the catalog's actions.
//!
//! An execution is one attempt of one step. The executor performs only executions the
//! workflow controller created for a run's pinned plan (`trust.rs`; reason Untrusted), opens
//! their sealed parameters in memory, checks the call against the action
//! catalog (reason Invalid), refuses protected namespaces (Protected), reads the target and
//! records the previous state as phase Running (a write guarded by the resourceVersion, so
//! two executors cannot both start), performs the action with `kube::Api` (dry runs use the
//! API server's own dry run), and writes the result: output, resources affected with
//! before → after, or a reason and a message a person can act on. Nothing written to status,
//! events or logs carries a credential: recorded credentials are sealed, messages scrubbed.
//!
//! **Invariant:** a finished execution is never acted on again, and a resumed one applies
//! only what the target does not show yet.
//!
//! | file | what it holds |
//! |---|---|
//! | `controller.rs` | `reconcile`, `run`, `run_until`, `ExecutorConfig`: phases, deadline, status writes |
//! | `actions/` | one file per family: `prepare` (record the previous state) and `apply` (idempotent change) |
//! | `params.rs` | parameters checked against the action catalog, typed access, durations |
//! | `trust.rs` | whether an execution is one the workflow controller created for a run's pinned plan |
//! | `failure.rs` | `ActionError` (contract reason + message) and the classification of API errors |
//! | `events.rs` | core/v1 Events about an execution (notify_only, failures) |

pub mod actions;
pub mod controller;
pub mod events;
pub mod failure;
pub mod params;
pub mod trust;

pub use controller::{Context, Error, ExecutorConfig, error_policy, reconcile, run, run_until};
pub use failure::{ActionError, Target};
