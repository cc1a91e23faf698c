//! The interpreter: one test per rule of the language's run-time semantics, property tests over
//! random graphs and outcomes, and the contract details of the decisions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "engine/support.rs"]
mod support;

#[path = "engine/rules.rs"]
mod rules;

#[path = "engine/failure.rs"]
mod failure;

#[path = "engine/props.rs"]
mod props;

#[path = "engine/stop.rs"]
mod stop;
