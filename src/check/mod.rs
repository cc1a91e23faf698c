//! Syntax tree to diagnostics: one rule per file, and the renderers.

pub mod diagnostic;

pub use diagnostic::{Diagnostic, Label, Severity};
