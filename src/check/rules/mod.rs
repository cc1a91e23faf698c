//! The rules of the checker, one per file, each named after what it finds.
//!
//! A rule is a [`RuleInfo`] (code, name, severity, documentation) and a function that adds
//! diagnostics for one file. The documentation is the doc comment of the rule's `INFO`
//! constant, written with the [`rule!`] macro, so `docs/rules.md` and SARIF rule
//! descriptions come from the same text. New rules (e.g. rhai-based ones) are one more file
//! and one more line in [`RULES`].

use crate::diagnostic::{Diagnostic, Severity};

/// Declares a rule's `INFO` constant; its `///` lines become the rule's documentation.
macro_rules! rule {
    ($(#[doc = $doc:literal])* code: $code:literal, name: $name:literal,
     severity: $sev:ident, summary: $summary:literal $(,)?) => {
        $(#[doc = $doc])*
        pub const INFO: $crate::check::rules::RuleInfo = $crate::check::rules::RuleInfo {
            code: $code,
            name: $name,
            severity: $crate::diagnostic::Severity::$sev,
            summary: $summary,
            doc: concat!($($doc, "\n"),*),
        };
    };
}

mod context;
mod docs;

pub use context::{ActionSite, Phase, RuleContext, StepRef};
pub use docs::{LOADER_CODES, rules_markdown};

mod after_in_parallel;
mod duplicate_map_key;
mod duplicate_name;
mod invalid_constraint;
mod invalid_semver;
mod invalid_workflow_name;
mod irreversible_without_approval;
mod missing_action;
mod missing_action_param;
mod missing_import;
mod mistyped_action_param;
mod on_failure_in_finally;
mod param_default_mistyped;
mod param_default_violates_constraint;
mod protected_namespace;
mod repeated_item;
mod reserved_name;
mod retry_backoff_exceeds_max;
mod reversible_without_rollback;
mod rhai_constant_when;
mod rhai_param_default_invalid;
mod rhai_run_state_outside_finally;
mod rhai_self_outside_rollback;
pub mod rhai_sites;
mod rhai_step_not_done;
mod rhai_syntax_error;
mod rhai_unknown_variable;
mod rollback_block_items;
mod rollback_never_runs;
mod step_timeout_exceeds_workflow;
mod too_many_steps;
mod unknown_action;
mod unknown_action_param;
mod unknown_after_target;
mod unknown_identifier;
mod unreachable_when;
mod value_not_allowed;
mod verify_step_timeout_exceeds_within;
mod verify_within_exceeds_workflow;
mod zero_duration;
mod zero_max_parallel;

/// What a rule is: its stable code, its name, how bad its findings are, and its documentation.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// Stable code such as `E0101`.
    pub code: &'static str,
    /// The rule's name, which is also its file name.
    pub name: &'static str,
    /// The severity of its findings.
    pub severity: Severity,
    /// One line saying what it finds.
    pub summary: &'static str,
    /// The full documentation: what, why, an example, how to fix it (Markdown).
    pub doc: &'static str,
}

impl RuleInfo {
    /// The documentation with rustdoc's leading space removed from every line.
    pub fn doc_text(&self) -> String {
        let mut out = String::new();
        for line in self.doc.lines() {
            out.push_str(line.strip_prefix(' ').unwrap_or(line));
            out.push('\n');
        }
        out.trim().to_string()
    }
}

/// A rule: its description and the function that checks one file.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// What the rule is.
    pub info: RuleInfo,
    /// Adds the rule's findings for one file.
    pub run: fn(&RuleContext<'_>, &mut Vec<Diagnostic>),
}

macro_rules! rules {
    ($($module:ident),* $(,)?) => {
        /// Every rule, in code order.
        pub const RULES: &[Rule] = &[$(Rule { info: $module::INFO, run: $module::run }),*];
    };
}

rules![
    unknown_action,
    missing_action,
    missing_action_param,
    unknown_action_param,
    mistyped_action_param,
    value_not_allowed,
    duplicate_map_key,
    duplicate_name,
    reserved_name,
    repeated_item,
    rollback_block_items,
    unknown_after_target,
    after_in_parallel,
    invalid_workflow_name,
    invalid_semver,
    missing_import,
    step_timeout_exceeds_workflow,
    zero_duration,
    zero_max_parallel,
    invalid_constraint,
    param_default_mistyped,
    param_default_violates_constraint,
    irreversible_without_approval,
    protected_namespace,
    unknown_identifier,
    verify_step_timeout_exceeds_within,
    verify_within_exceeds_workflow,
    too_many_steps,
    reversible_without_rollback,
    unreachable_when,
    rollback_never_runs,
    retry_backoff_exceeds_max,
    on_failure_in_finally,
    rhai_syntax_error,
    rhai_unknown_variable,
    rhai_step_not_done,
    rhai_self_outside_rollback,
    rhai_run_state_outside_finally,
    rhai_param_default_invalid,
    rhai_constant_when,
];

pub use crate::script::modules::stays_inside as import_stays_inside;
pub use reserved_name::reserved_because;
pub use too_many_steps::MAX_STEPS;

/// The rule with that code, if any.
pub fn find(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.info.code == code)
}

/// ` (did you mean `x`?)`-style help, or the fallback.
pub fn did_you_mean(suggestion: Option<&str>, fallback: impl Into<String>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => fallback.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            let i = &rule.info;
            assert!(seen.insert(i.code), "duplicate code {}", i.code);
            // E01xx/W01xx: structure and catalog rules; E02xx/W02xx: rhai rules.
            let prefix = match i.severity {
                Severity::Error => "E0",
                Severity::Warning => "W0",
            };
            assert!(
                i.code.starts_with(prefix) && i.code.len() == 5,
                "{} vs severity",
                i.code
            );
            for section in ["## What it finds", "## Why", "## Example", "## How to fix"] {
                assert!(
                    i.doc_text().contains(section.trim_start_matches("## ")),
                    "{} lacks {section}",
                    i.name
                );
            }
        }
    }
}
