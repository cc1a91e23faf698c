//! The CEL validation rules (`x-kubernetes-validations`) the CRDs carry for the contract's
//! invariants (`shared/spec/crds.md`), so that any API server refuses what the contract
//! forbids: a WorkflowExecution's spec is frozen once Planning has started (but for the fields
//! meant to change), a run that has ended keeps its phase, outcomes and completion times only
//! on ended runs and executions, attempts count from 1.

use kube::core::{Message, Reason, Rule};

use super::workflow_execution::{WorkflowExecutionSpec, WorkflowPhase};

/// The WorkflowExecution spec fields that may still change once Planning has started. Every
/// other spec field (present or added later) is frozen: allowing a new one is one line here.
/// `stop` and `retryOf` belong to run control (stopping and retrying a run): named here so
/// that they stay free to change once the spec has them.
pub const MUTABLE_AFTER_PLANNING: &[&str] = &["approved", "stop", "retryOf"];

/// The phases a run ends in, as a CEL list: every phase of the schema's enum that
/// `WorkflowPhase::is_terminal` says ends a run (so a phase added later is not forgotten).
fn ended_phases() -> String {
    let schema = schemars::schema_for!(WorkflowPhase);
    let mut names = Vec::new();
    enum_values(schema.as_value(), &mut names);
    let ended: Vec<String> = names
        .into_iter()
        .filter(|p| {
            serde_json::from_value::<WorkflowPhase>(serde_json::Value::String(p.clone()))
                .is_ok_and(WorkflowPhase::is_terminal)
        })
        .map(|p| format!("'{p}'"))
        .collect();
    format!("[{}]", ended.join(", "))
}

/// Every string a schema allows by `enum` or `const` (variants with docs are a `oneOf` of
/// `const`s), in order.
fn enum_values(schema: &serde_json::Value, out: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("const", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("enum", serde_json::Value::Array(items)) => {
                        out.extend(items.iter().filter_map(|v| v.as_str().map(String::from)));
                    }
                    _ => enum_values(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| enum_values(v, out)),
        _ => {}
    }
}

/// The phases an execution ends in.
const EXECUTION_ENDED: &str = "['Succeeded', 'Failed']";

/// The spec fields of a WorkflowExecution, as its schema names them.
fn spec_fields() -> Vec<String> {
    let schema = schemars::schema_for!(WorkflowExecutionSpec);
    schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// `self.spec.F` equals `oldSelf.spec.F`, both absent counting as equal.
fn unchanged(field: &str) -> String {
    format!(
        "(has(self.spec.{field}) ? has(oldSelf.spec.{field}) && self.spec.{field} == oldSelf.spec.{field} : !has(oldSelf.spec.{field}))"
    )
}

/// A WorkflowExecution's spec cannot change once Planning has started (its phase is past
/// Pending), except [`MUTABLE_AFTER_PLANNING`].
pub fn spec_frozen_after_planning() -> Rule {
    let frozen: Vec<String> = spec_fields()
        .iter()
        .filter(|f| !MUTABLE_AFTER_PLANNING.contains(&f.as_str()))
        .map(|f| unchanged(f))
        .collect();
    let rule = format!(
        "!has(oldSelf.status) || !has(oldSelf.status.phase) || oldSelf.status.phase == 'Pending' || ({})",
        frozen.join(" && ")
    );
    Rule::new(rule)
        .message(Message::Message(format!(
            "spec is immutable once Planning has started, except {}",
            MUTABLE_AFTER_PLANNING.join(", ")
        )))
        .field_path(".spec")
        .reason(Reason::FieldValueForbidden)
}

/// A run that has ended keeps its phase.
pub fn run_end_is_final() -> Rule {
    let ended = ended_phases();
    Rule::new(format!(
        "!has(oldSelf.status) || !has(oldSelf.status.phase) || !(oldSelf.status.phase in {ended}) || (has(self.status) && has(self.status.phase) && self.status.phase == oldSelf.status.phase)"
    ))
    .message("a run that has ended keeps its phase")
    .field_path(".status.phase")
}

/// A run has an outcome only once it has ended.
pub fn run_outcome_when_ended() -> Rule {
    let ended = ended_phases();
    Rule::new(format!(
        "!has(self.status) || !has(self.status.outcome) || (has(self.status.phase) && self.status.phase in {ended})"
    ))
    .message("status.outcome is set only once the run has ended")
    .field_path(".status.outcome")
}

/// A run has a completion time only once it has ended.
pub fn run_completed_when_ended() -> Rule {
    let ended = ended_phases();
    Rule::new(format!(
        "!has(self.status) || !has(self.status.completedAt) || (has(self.status.phase) && self.status.phase in {ended})"
    ))
    .message("status.completedAt is set only once the run has ended")
    .field_path(".status.completedAt")
}

/// Attempts count from 1.
pub fn attempt_from_one() -> Rule {
    Rule::new("self.spec.attempt >= 1")
        .message("spec.attempt counts from 1")
        .field_path(".spec.attempt")
}

/// An execution has a completion time only once it has finished.
pub fn execution_completed_when_finished() -> Rule {
    Rule::new(format!(
        "!has(self.status) || !has(self.status.completedAt) || (has(self.status.phase) && self.status.phase in {EXECUTION_ENDED})"
    ))
    .message("status.completedAt is set only once the execution has finished")
    .field_path(".status.completedAt")
}

/// The spec fields [`spec_frozen_after_planning`] freezes (for tests and docs).
pub fn frozen_spec_fields() -> Vec<String> {
    spec_fields()
        .into_iter()
        .filter(|f| !MUTABLE_AFTER_PLANNING.contains(&f.as_str()))
        .collect()
}
