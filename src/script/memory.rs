//! What a script evaluation allocates, read from the metered global allocator of
//! `crates/remedy-alloc` (the workspace's only `unsafe` code; this crate forbids it).
//!
//! The count is read between two operations ([`super::Limits::apply`]): a script goes at most
//! one operation past the budget, and one operation can at most copy what already exists.
//! The `remedy` binary installs [`Metered`] around mimalloc; a program that does not gets the
//! other budgets but no memory budget ([`is_metered`] tells).

pub use remedy_alloc::{MeterGuard, Metered, is_metered, start, used};
