//! The workflow controller's side of `seal`: the pinned plan is stored sealed and opened in
//! memory for the engine; the executions it creates carry sealed parameters and its digest;
//! what it writes for people is scrubbed of the run's credentials.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::api::{ANNOTATION_DIGEST, KubernetesExecution, WorkflowExecutionStatus};
use crate::engine::Program;
use crate::plan::{ExecutionPlan, PlannedAction, PlannedValue};
use crate::redact::{collect_secrets, is_credential_key, scrub};
use crate::seal::{Keys, SealError, find_sealed};

/// The analysis field that names the target: an identity, never a credential, read by the
/// per-target lock from the stored plan.
const TARGET_FIELD: &str = "targetResource";

/// A run's pinned plan opened in memory: its compiled program and the credentials it holds.
#[derive(Debug)]
pub struct OpenedRun {
    /// The program of the opened plan.
    pub program: Program,
    /// Every credential of the plan, to keep out of messages and to trace into new values.
    pub secrets: BTreeSet<String>,
}

/// Seals the sensitive values of a plan for the run `run_uid`: params and lets, the analysis
/// (its target aside) and every resolved `with` value. Refuses a plan whose inputs already
/// hold something shaped like a sealed value: only Remedy writes those.
pub fn seal_plan(keys: &Keys, run_uid: &str, plan: &mut ExecutionPlan) -> Result<(), String> {
    let forged = find_sealed(&Value::Object(plan.analysis.clone()), "the analysis")
        .or_else(|| find_sealed(&Value::Object(plan.parameters.clone()), "params"))
        .or_else(|| {
            actions(plan).find_map(|(owner, a)| {
                a.with.iter().find_map(|(k, v)| match v {
                    PlannedValue::Value(v) => find_sealed(v, &format!("`with.{k}` of {owner}")),
                    PlannedValue::Deferred(_) => None,
                })
            })
        });
    if let Some(place) = forged {
        return Err(format!(
            "{place} holds a value shaped like a sealed value (`{{\"$sealed\": …}}`), which \
             only Remedy writes; remove it from the analysis or the run's parameters"
        ));
    }
    let mut secrets = BTreeSet::new();
    collect_secrets(&Value::Object(plan.parameters.clone()), &mut secrets);
    collect_secrets(&Value::Object(plan.analysis.clone()), &mut secrets);
    for (_, action) in actions(plan) {
        for (k, v) in &action.with {
            if let PlannedValue::Value(v) = v {
                let mut one = serde_json::Map::new();
                one.insert(k.clone(), v.clone());
                collect_secrets(&Value::Object(one), &mut secrets);
            }
        }
    }
    let failed = |e: SealError| format!("could not seal the plan's credentials: {e}");
    keys.seal_map(run_uid, &mut plan.parameters, &secrets)
        .map_err(failed)?;
    for (key, value) in plan.analysis.iter_mut() {
        if key != TARGET_FIELD {
            keys.seal_value(run_uid, value, is_credential_key(key), &secrets)
                .map_err(failed)?;
        }
    }
    for step in &mut plan.steps {
        for action in std::iter::once(&mut step.action).chain(step.rollback.as_mut()) {
            for (key, value) in action.with.iter_mut() {
                if let PlannedValue::Value(v) = value {
                    keys.seal_value(run_uid, v, is_credential_key(key), &secrets)
                        .map_err(failed)?;
                }
            }
        }
    }
    Ok(())
}

/// The plan with every sealed value opened, and the credentials they held.
pub fn open_plan(
    keys: &Keys,
    run_uid: &str,
    sealed: &ExecutionPlan,
) -> Result<(ExecutionPlan, BTreeSet<String>), SealError> {
    let mut plan = sealed.clone();
    let mut secrets = BTreeSet::new();
    let open_map = |map: &mut crate::api::JsonMap, secrets: &mut BTreeSet<String>| {
        let mut value = Value::Object(std::mem::take(map));
        let result = keys.open_value(run_uid, &mut value, secrets);
        if let Value::Object(opened) = value {
            *map = opened;
        }
        result
    };
    open_map(&mut plan.parameters, &mut secrets)?;
    open_map(&mut plan.analysis, &mut secrets)?;
    for step in &mut plan.steps {
        for action in std::iter::once(&mut step.action).chain(step.rollback.as_mut()) {
            for value in action.with.values_mut() {
                if let PlannedValue::Value(v) = value {
                    keys.open_value(run_uid, v, &mut secrets)?;
                }
            }
        }
    }
    // What was sealed for its key holds credentials the opened values do not show as such.
    collect_secrets(&Value::Object(plan.parameters.clone()), &mut secrets);
    Ok((plan, secrets))
}

/// Seals the credentials of an execution's parameters (values the engine computed from the
/// opened plan) and writes the workflow controller's digest on it.
pub fn seal_execution(
    keys: &Keys,
    run_uid: &str,
    kex: &mut KubernetesExecution,
    secrets: &BTreeSet<String>,
) -> Result<(), SealError> {
    keys.seal_map(run_uid, &mut kex.spec.action.parameters, secrets)?;
    let digest = keys.execution_digest(kex, run_uid);
    kex.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(ANNOTATION_DIGEST.to_string(), digest);
    Ok(())
}

/// Scrubs the run's credentials from every message of a status people read.
pub fn scrub_status(status: &mut WorkflowExecutionStatus, secrets: &BTreeSet<String>) {
    if secrets.is_empty() {
        return;
    }
    for step in &mut status.steps {
        step.message = scrub(&step.message, secrets);
    }
    if let Some(f) = status.failure.as_mut() {
        f.message = scrub(&f.message, secrets);
    }
    if let Some(v) = status.validation.as_mut() {
        v.violations = v.violations.iter().map(|m| scrub(m, secrets)).collect();
    }
    for c in &mut status.conditions {
        c.message = scrub(&c.message, secrets);
    }
}

/// Every action of the plan with a name for messages.
fn actions(plan: &ExecutionPlan) -> impl Iterator<Item = (String, &PlannedAction)> {
    plan.steps.iter().flat_map(|s| {
        std::iter::once((format!("step `{}`", s.name), &s.action)).chain(
            s.rollback
                .as_ref()
                .map(|r| (format!("the rollback of step `{}`", s.name), r)),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::catalog::Effect;
    use crate::plan::{OnFailure, RollbackMode};
    use crate::plan::{PlannedStep, RetryPolicy, StepStage};

    fn plan() -> ExecutionPlan {
        let with = |pairs: Vec<(&str, PlannedValue)>| -> BTreeMap<String, PlannedValue> {
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
        };
        ExecutionPlan {
            workflow: "w".into(),
            version: "1.0.0".into(),
            digest: "sha256:0".into(),
            timeout_ms: 1000,
            max_parallel: 1,
            rollback: RollbackMode::Automatic,
            approval_required: false,
            dry_run: false,
            verify_within_ms: None,
            parameters: json!({ "db_password": "hunter2", "namespace": "shop" })
                .as_object()
                .cloned()
                .unwrap(),
            analysis: json!({
                "rootCause": "login refused: password=swordfish",
                "targetResource": { "kind": "Deployment", "name": "web", "namespace": "shop" },
                "parameters": { "api_token": "t0k3n-value" },
            })
            .as_object()
            .cloned()
            .unwrap(),
            workflow_info: Default::default(),
            modules: BTreeMap::new(),
            steps: vec![PlannedStep {
                name: "patch".into(),
                stage: StepStage::Main,
                depends_on: vec![],
                action: PlannedAction {
                    action_type: "patch_configmap".into(),
                    with: with(vec![
                        ("namespace", PlannedValue::Value(json!("shop"))),
                        ("configmap", PlannedValue::Value(json!("app"))),
                        (
                            "data",
                            PlannedValue::Value(
                                json!({ "DB_PASSWORD": "hunter2", "note": "pw hunter2" }),
                            ),
                        ),
                    ]),
                    timeout_ms: 1000,
                    retry: RetryPolicy::default(),
                },
                effect: Effect::Reversible,
                when: None,
                on_failure: OnFailure::Rollback,
                rollback: Some(PlannedAction {
                    action_type: "patch_configmap".into(),
                    with: with(vec![(
                        "data",
                        PlannedValue::Deferred("self.output.previous_data".into()),
                    )]),
                    timeout_ms: 1000,
                    retry: RetryPolicy::default(),
                }),
            }],
        }
    }

    #[test]
    fn a_sealed_plan_holds_no_credential_and_opens_back_whole() {
        let keys = Keys::from_master(&[3u8; 32]).unwrap();
        let original = plan();
        let mut sealed = original.clone();
        seal_plan(&keys, "uid", &mut sealed).unwrap();
        let text = serde_json::to_string(&sealed).unwrap();
        for clear in ["hunter2", "swordfish", "t0k3n-value"] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
        assert_eq!(sealed.parameters["namespace"], "shop");
        assert_eq!(
            sealed.analysis["targetResource"],
            original.analysis["targetResource"]
        );
        let (opened, secrets) = open_plan(&keys, "uid", &sealed).unwrap();
        assert_eq!(opened, original);
        for s in ["hunter2", "swordfish", "t0k3n-value"] {
            assert!(secrets.contains(s), "{s}: {secrets:?}");
        }
        assert!(open_plan(&keys, "another-run", &sealed).is_err());
    }

    #[test]
    fn inputs_shaped_like_sealed_values_are_refused() {
        let keys = Keys::from_master(&[3u8; 32]).unwrap();
        let mut forged = plan();
        forged
            .analysis
            .insert("metrics".into(), json!({ "x": { "$sealed": "v1.00" } }));
        let message = seal_plan(&keys, "uid", &mut forged).unwrap_err();
        assert!(message.contains("the analysis.metrics.x"), "{message}");
    }
}
