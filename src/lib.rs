//! Remedy runs Kubernetes remediation workflows: a template language, a pure interpreter,
//! an operator, an executor of real actions, and an embedded API server to run them on.
//!
//! See `ARCHITECTURE.md` for the code map.
#![warn(missing_docs)]

pub mod api;
pub mod archive;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod diagnostic;
pub mod dsl;
pub mod engine;
pub mod executor;
pub mod files;
pub mod graph;
pub mod lsp;
pub mod operator;
pub mod param;
pub mod plan;
pub mod pod_template;
pub mod reconcile;
pub mod redact;
pub mod rehearse;
pub mod runtime;
pub mod scenario;
pub mod script;
pub mod seal;
pub mod serve_http;
pub mod sync;
pub mod template;
pub mod units;
