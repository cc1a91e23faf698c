//! Scenario mistakes are refused when the scenario is read, each with the file, line, column
//! and field, before any cluster starts. Every case is a typo that used to pass silently (the
//! run went on and an expectation could never hold, or a fault never fired) or that failed
//! later with a message that did not say where.

use std::path::Path;

use remedy::scenario::{self, ScenarioError};

/// A scenario that loads: every case below changes one line of it.
const GOOD: &str = "\
description: x
namespace: shop
objects:
  - apiVersion: v1
    kind: Namespace
    metadata: { name: shop }
  - apiVersion: apps/v1
    kind: Deployment
    metadata: { name: web }
    spec: { replicas: 2 }
changes:
  - { object: deployment shop/web, patch: { spec: { replicas: 3 } } }
analysis:
  status:
    recommendedWorkflow: { name: oom-recovery }
    targetResource: { kind: Deployment, name: web, namespace: shop }
workflowExecution:
  approved: true
faults:
  - { verb: update, resource: deployments, count: 1 }
expect:
  phase: Completed
  outcome: Success
  failureReason: StepFailed
  steps: { scale_out: Succeeded }
  objects:
    - { object: deployment shop/web, field: spec.replicas, equals: 3 }
";

/// (what is wrong, the line replaced, its replacement, field, line, column, words of the message)
const CASES: &[(&str, &str, &str, &str, usize, usize, &str)] = &[
    (
        "an unknown fault verb",
        "verb: update,",
        "verb: updte,",
        "faults[0].verb",
        20,
        13,
        "did you mean `update`?",
    ),
    (
        "an unknown fault resource",
        "resource: deployments,",
        "resource: deploymnets,",
        "faults[0].resource",
        20,
        31,
        "did you mean `deployments`?",
    ),
    (
        "a subresource the resource does not have",
        "resource: deployments,",
        "resource: configmaps/status,",
        "faults[0].resource",
        20,
        31,
        "configmaps has no subresource `status`",
    ),
    (
        "a fault code that is no error",
        "count: 1 }",
        "count: 1, code: 200 }",
        "faults[0].code",
        20,
        60,
        "from 400 to 599",
    ),
    (
        "an unknown phase",
        "phase: Completed",
        "phase: Bogus",
        "expect.phase",
        22,
        10,
        "they are Pending, Planning",
    ),
    (
        "a misspelt outcome",
        "outcome: Success",
        "outcome: Sucess",
        "expect.outcome",
        23,
        12,
        "did you mean `Success`?",
    ),
    (
        "an unknown failure reason",
        "failureReason: StepFailed",
        "failureReason: StepFailure",
        "expect.failureReason",
        24,
        18,
        "did you mean `StepFailed`?",
    ),
    (
        "a misspelt step phase",
        "steps: { scale_out: Succeeded }",
        "steps: { scale_out: Succeded }",
        "expect.steps.scale_out",
        25,
        23,
        "did you mean `Succeeded`?",
    ),
    (
        "an analysis without a target",
        "    targetResource: { kind: Deployment, name: web, namespace: shop }\n",
        "",
        "analysis.status.targetResource",
        14,
        3,
        "every workflow acts on the analysis's target",
    ),
    (
        "a misspelt analysis field",
        "targetResource: { kind",
        "targetResourse: { kind",
        "analysis.status.targetResourse",
        16,
        5,
        "did you mean `targetResource`?",
    ),
    (
        "an analysis naming no workflow",
        "    recommendedWorkflow: { name: oom-recovery }\n",
        "",
        "analysis.status.recommendedWorkflow",
        14,
        3,
        "name the workflow to run",
    ),
    (
        "a misspelt WorkflowExecution field",
        "approved: true",
        "aproved: true",
        "workflowExecution.aproved",
        18,
        3,
        "did you mean `approved`?",
    ),
    (
        "a namespace no cluster can have",
        "namespace: shop\nobjects",
        "namespace: Shop\nobjects",
        "namespace",
        2,
        12,
        "`Shop` is not a namespace name",
    ),
    (
        "an object of an unknown kind",
        "kind: Deployment\n",
        "kind: Deploymnet\n",
        "objects[1].kind",
        8,
        11,
        "did you mean Deployment?",
    ),
    (
        "an object name a cluster refuses",
        "metadata: { name: web }",
        "metadata: { name: Web_1 }",
        "objects[1].metadata.name",
        9,
        23,
        "`Web_1` is not a valid Deployment name",
    ),
    (
        "a change to an unknown kind",
        "object: deployment shop/web, patch",
        "object: deploymnt shop/web, patch",
        "changes[0].object",
        12,
        15,
        "did you mean `deployment`?",
    ),
];

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_base_scenario_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), GOOD);
    let loaded = scenario::load(&path).unwrap();
    loaded
        .check_templates(&crate::root().join("workflows"))
        .unwrap();
}

#[test]
fn each_mistake_is_refused_at_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut rendered = String::new();
    for (what, from, to, field, line, column, words) in CASES {
        assert!(GOOD.contains(from), "{what}: the base has no `{from}`");
        let path = write(dir.path(), &GOOD.replacen(from, to, 1));
        let e = match scenario::load(&path) {
            Ok(_) => panic!("{what}: loaded"),
            Err(e) => e,
        };
        let ScenarioError::Invalid {
            field: f,
            at,
            message,
            ..
        } = &e
        else {
            panic!("{what}: {e}");
        };
        assert_eq!(f, field, "{what}: {e}");
        let at = at.unwrap_or_else(|| panic!("{what}: no position: {e}"));
        assert_eq!((at.line, at.column), (*line, *column), "{what}: {e}");
        assert!(message.contains(words), "{what}: {e}");
        rendered.push_str(&format!("# {what}\n{}\n\n", shown(&e, dir.path())));
    }
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("scenario_errors", rendered);
    });
}

#[test]
fn an_unknown_step_is_refused_against_the_workflow_the_run_uses() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &GOOD.replace(
            "steps: { scale_out: Succeeded }",
            "steps: { scale_ot: Succeeded }",
        ),
    );
    let loaded = scenario::load(&path).unwrap();
    let e = loaded
        .check_templates(&crate::root().join("workflows"))
        .unwrap_err();
    let text = shown(&e, dir.path());
    assert!(
        text.starts_with("scenario.yaml:25:12: expect.steps.scale_ot: workflow oom-recovery@1.0.0 has no step `scale_ot`: did you mean `scale_out`?"),
        "{text}"
    );
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("scenario_error_unknown_step", text);
    });
}

#[test]
fn yaml_errors_name_the_line_once_and_show_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &GOOD.replace("faults:", "fautls:"));
    let e = scenario::load(&path).unwrap_err();
    let text = shown(&e, dir.path());
    assert!(
        text.starts_with("scenario.yaml:19:1: unknown field `fautls`, expected one of"),
        "{text}"
    );
    assert!(!text.contains("at line"), "{text}");
    assert!(text.ends_with("19 | fautls:\n   | ^"), "{text}");
}

#[test]
fn control_characters_in_a_scenario_are_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &GOOD.replace("phase: Completed", "phase: \"\\e[2J\\0Completed\""),
    );
    let e = scenario::load(&path).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("expect.phase"), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
}

/// The error as shown, with the temporary directory left out.
fn shown(e: &ScenarioError, dir: &Path) -> String {
    e.to_string().replace(&format!("{}/", dir.display()), "")
}
