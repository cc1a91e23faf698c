//! Durations, Kubernetes quantities and the kinds of action parameters: one grammar and one
//! formatter for each unit, and one [`fits`] that every layer asks (lint, Validating, the
//! executor, scenarios, rehearsals and the script builtins), so that a value one of them
//! accepts is a value all of them accept.
//!
//! A leaf: it imports nothing from the rest of the crate.

pub mod duration;
mod kind;
pub mod quantity;

pub use duration::DurationError;
pub use kind::{ParamKind, fits, normalise, whole_number};
pub use quantity::{Quantity, QuantityError};
