//! The rules of the checker, one per file, each named after what it finds.
//!
//! A rule is a [`RuleInfo`] (code, name, severity, documentation) and a function that adds
//! diagnostics for one file. The documentation is the doc comment of the rule's `INFO`
//! constant, written with the [`rule!`] macro, so `docs/rules.md` and SARIF rule
//! descriptions come from the same text. New rules (e.g. rhai-based ones) are one more file
//! and one more line in [`RULES`].

use std::collections::HashMap;

use crate::catalog::ActionSpec;
use crate::check::context::CheckContext;
use crate::check::diagnostic::{Diagnostic, Severity};
use crate::dsl::ast::{self, ActionItem, File, Item, Param, Step, Workflow};

/// Declares a rule's `INFO` constant; its `///` lines become the rule's documentation.
macro_rules! rule {
    ($(#[doc = $doc:literal])* code: $code:literal, name: $name:literal,
     severity: $sev:ident, summary: $summary:literal $(,)?) => {
        $(#[doc = $doc])*
        pub const INFO: $crate::check::rules::RuleInfo = $crate::check::rules::RuleInfo {
            code: $code,
            name: $name,
            severity: $crate::check::diagnostic::Severity::$sev,
            summary: $summary,
            doc: concat!($($doc, "\n"),*),
        };
    };
}

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

pub use missing_import::stays_inside as import_stays_inside;

/// The rule with that code, if any.
pub fn find(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.info.code == code)
}

/// Which part of the run a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The main graph (top level or a `parallel` group).
    Main,
    /// A `verify` block.
    Verify,
    /// A `finally` block.
    Finally,
}

impl Phase {
    /// The block's keyword, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Main => "main",
            Phase::Verify => "verify",
            Phase::Finally => "finally",
        }
    }
}

/// A step with where it stands.
#[derive(Debug, Clone, Copy)]
pub struct StepRef<'a> {
    /// The step.
    pub step: &'a Step,
    /// Its phase.
    pub phase: Phase,
    /// The `parallel` group holding it, if any.
    pub group: Option<&'a ast::Parallel>,
    /// Its position among all steps, in declared order.
    pub index: usize,
}

/// An `action` with the `with` beside it: a step's own or its compensation's.
#[derive(Debug, Clone, Copy)]
pub struct ActionSite<'a> {
    /// The step it belongs to.
    pub step: &'a Step,
    /// True for the step's `rollback { … }` block.
    pub in_rollback: bool,
    /// The `action "…"` item.
    pub action: &'a ActionItem,
    /// The `with { … }` item, if written.
    pub with: Option<&'a ast::With>,
    /// The action's schema, when the catalog knows it.
    pub spec: Option<&'a ActionSpec>,
}

impl ActionSite<'_> {
    /// "step `x`" or "the rollback of step `x`", for messages.
    pub fn describe(&self) -> String {
        if self.in_rollback {
            format!("the rollback of step `{}`", self.step.name.name)
        } else {
            format!("step `{}`", self.step.name.name)
        }
    }
}

/// What every rule sees: the file, indexes over it, and the check context.
#[derive(Debug)]
pub struct RuleContext<'a> {
    /// The parsed file.
    pub file: &'a File,
    /// Its workflow.
    pub workflow: &'a Workflow,
    /// The catalog and surroundings.
    pub ctx: &'a CheckContext,
    /// Every step in declared order (main, parallel members, verify, finally).
    pub steps: Vec<StepRef<'a>>,
    /// Every action site (steps and their compensations) in declared order.
    pub actions: Vec<ActionSite<'a>>,
    params: HashMap<&'a str, &'a Param>,
    lets: HashMap<&'a str, (usize, &'a ast::Let)>,
    step_names: HashMap<&'a str, usize>,
}

impl<'a> RuleContext<'a> {
    /// Index `file` for the rules.
    pub fn new(file: &'a File, ctx: &'a CheckContext) -> Self {
        let workflow = &file.workflow;
        let mut steps = Vec::new();
        for item in &workflow.items {
            let (members, phase, group): (&[Step], _, _) = match item {
                Item::Step(s) => (std::slice::from_ref(s), Phase::Main, None),
                Item::Parallel(p) => (&p.steps, Phase::Main, Some(p)),
                Item::Verify(v) => (&v.steps, Phase::Verify, None),
                Item::Finally(f) => (&f.steps, Phase::Finally, None),
                _ => continue,
            };
            for step in members {
                let index = steps.len();
                steps.push(StepRef {
                    step,
                    phase,
                    group,
                    index,
                });
            }
        }
        let mut actions = Vec::new();
        for s in &steps {
            if let Some(action) = s.step.action() {
                actions.push(ActionSite {
                    step: s.step,
                    in_rollback: false,
                    action,
                    with: s.step.with(),
                    spec: ctx.actions.get(&action.name.value),
                });
            }
            if let Some(rb) = s.step.rollback()
                && let Some(action) = rb.action()
            {
                actions.push(ActionSite {
                    step: s.step,
                    in_rollback: true,
                    action,
                    with: rb.with(),
                    spec: ctx.actions.get(&action.name.value),
                });
            }
        }
        let mut params = HashMap::new();
        for p in workflow.params() {
            params.entry(p.name.name.as_str()).or_insert(p);
        }
        let mut lets = HashMap::new();
        for (i, l) in workflow.lets().enumerate() {
            lets.entry(l.name.name.as_str()).or_insert((i, l));
        }
        let mut step_names = HashMap::new();
        for s in &steps {
            step_names
                .entry(s.step.name.name.as_str())
                .or_insert(s.index);
        }
        RuleContext {
            file,
            workflow,
            ctx,
            steps,
            actions,
            params,
            lets,
            step_names,
        }
    }

    /// The `let` of that name, if any (the first, if declared twice).
    pub fn let_(&self, name: &str) -> Option<&'a ast::Let> {
        self.lets.get(name).map(|(_, l)| *l)
    }

    /// The position of the `let` of that name among the lets, in declared order.
    pub fn let_index(&self, name: &str) -> Option<usize> {
        self.lets.get(name).map(|(i, _)| *i)
    }

    /// The first step of that name.
    pub fn step(&self, name: &str) -> Option<&StepRef<'a>> {
        self.step_names.get(name).and_then(|&i| self.steps.get(i))
    }

    /// The param of that name (the first, if declared twice).
    pub fn param(&self, name: &str) -> Option<&'a Param> {
        self.params.get(name).copied()
    }

    /// The workflow's `timeout` item, if written.
    pub fn workflow_timeout(&self) -> Option<&'a ast::TimeoutItem> {
        self.workflow.items.iter().find_map(|i| match i {
            Item::Timeout(t) => Some(t),
            _ => None,
        })
    }

    /// The workflow's `approval` item, if written.
    pub fn approval(&self) -> Option<&'a ast::Approval> {
        self.workflow.items.iter().find_map(|i| match i {
            Item::Approval(a) => Some(a),
            _ => None,
        })
    }
}

/// The workflow's timeout when none is written: 30 minutes.
pub const DEFAULT_WORKFLOW_TIMEOUT_MS: u64 = 30 * 60 * 1000;

/// ` (did you mean `x`?)`-style help, or the fallback.
pub fn did_you_mean(suggestion: Option<&str>, fallback: impl Into<String>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => fallback.into(),
    }
}

/// The rule reference, `docs/rules.md`, generated from the rules' documentation.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "# Lint rules\n\n\
         <!-- Generated from the rule files in src/check/rules/ by \
         `UPDATE_RULES_DOC=1 cargo test --test lint rules_doc`; do not edit by hand. -->\n\n\
         `remedy lint PATH…` checks `.wf` files (directories are searched recursively) and \
         reports these findings. Errors make the template unusable; warnings fail lint only \
         with `--deny-warnings`. Codes are stable.\n\n\
         - `--format human` (default): `path:line:col: error[CODE]: message`, the source \
         line with the span underlined, related places, `= help: …`, and a closing \
         `checked N files: E errors, W warnings` line.\n\
         - `--format json`: an array of objects with file, code, severity, message, line, \
         column, end_line, end_column (exclusive), labels and help.\n\
         - `--format sarif`: SARIF 2.1.0 for GitHub code scanning.\n\
         - `--protect-namespace NS` (repeatable) protects a namespace on top of kube-system, \
         kube-public, kube-node-lease and remedy-system.\n\n\
         Exit codes: 0 clean (warnings allowed), 1 errors (or warnings with \
         `--deny-warnings`), 2 usage or I/O error (missing path, unreadable file).\n\n\
         Values written as expressions (`${ … }`) and params without a literal default are \
         checked again at Validating, with the resolved values.\n\n\
         | code | name | severity | finds |\n|---|---|---|---|\n",
    );
    for (code, name, summary) in crate::check::render::SYNTAX_CODES {
        out.push_str(&format!("| {code} | {name} | error | {summary} |\n"));
    }
    for rule in RULES {
        let i = &rule.info;
        out.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} |\n",
            i.code,
            i.code.to_lowercase(),
            i.name,
            i.severity.as_str(),
            i.summary
        ));
    }
    out.push_str(
        "\nSyntax errors (`E00xx`) come from the parser: the message says what was expected \
         where.\n",
    );
    for rule in RULES {
        let i = &rule.info;
        out.push_str(&format!(
            "\n## {}\n\n`{}` · {}\n\n{}\n",
            i.code,
            i.name,
            i.severity.as_str(),
            i.doc_text()
        ));
    }
    out
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
