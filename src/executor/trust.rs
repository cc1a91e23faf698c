//! Which executions the executor performs: only those the workflow controller created for a
//! run's pinned plan.
//!
//! An execution is performed only if all of these hold; otherwise it ends Failed with reason
//! `Untrusted` and nothing is read or written but its own status and a Warning Event:
//!
//! 1. it is controlled (controller ownerReference) by a WorkflowExecution, the one its
//!    `spec.workflowExecutionRef` names, in its own namespace;
//! 2. it carries the workflow controller's digest (`seal`), which verifies: it was created
//!    by the holder of the installation's key for that run (uid), and not changed since;
//! 3. that run exists with that uid and has not ended; while it is being deleted (a stop in
//!    rollback mode, held by its finalizer) only its compensations and `finally` steps run;
//! 4. the run's pinned plan (`status.plan`) holds the step; the step's stage matches the
//!    execution's kind (a `rollback` needs a compensation); the action type is the planned
//!    one; the attempt is within the planned retries; `dryRun` is the plan's;
//! 5. every parameter resolved at Planning has the planned value (deferred ones, which read
//!    step outputs, are vouched for by the digest), and no parameter is added (absent and
//!    null are one);
//! 6. a run that requires approval is approved;
//! 7. the run's status shows this attempt in flight as this very execution, or shows the
//!    attempt before it with the step still to run (or to be compensated): the engine records
//!    an attempt just after it creates its execution. An attempt that is over (a copy made
//!    again after the execution was deleted) or to come is refused.
//!
//! A resumed (Running) execution is checked again by its digest only (1 and 2): it passed
//! all the checks when it started, and a changed spec no longer verifies.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::api::Api;
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::controller::{Context, Error};
use super::failure::ActionError;
use crate::api::{
    ANNOTATION_DIGEST, ExecutionKind, KubernetesExecution, LABEL_KIND, StepPhase,
    WorkflowExecution, WorkflowExecutionStatus,
};
use crate::plan::{ExecutionPlan, PlannedValue, StepStage};
use crate::seal::{Keys, canonical, store};

/// An execution found trustworthy: its run's uid and the installation's keys, which open its
/// sealed parameters.
#[derive(Debug, Clone)]
pub struct Trusted {
    /// The uid of the run it belongs to (what its sealed values are bound to).
    pub run_uid: String,
    /// The installation's keys.
    pub keys: Arc<Keys>,
}

impl Trusted {
    /// The execution's parameters with every sealed value opened, and the credentials they
    /// held (to keep them out of messages).
    pub fn open_parameters(
        &self,
        kex: &KubernetesExecution,
    ) -> Result<(crate::api::JsonMap, BTreeSet<String>), ActionError> {
        let mut params = Value::Object(kex.spec.action.parameters.clone());
        let mut secrets = BTreeSet::new();
        self.keys
            .open_value(&self.run_uid, &mut params, &mut secrets)
            .map_err(|e| ActionError::untrusted(format!("a parameter is sealed wrongly: {e}")))?;
        match params {
            Value::Object(map) => Ok((map, secrets)),
            _ => Ok((crate::api::JsonMap::new(), secrets)),
        }
    }
}

/// How much to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Everything: an execution about to start.
    Full,
    /// The controlling run and the digest: an execution resumed after it started.
    Digest,
}

/// Decides whether `kex` may be performed: `Ok(Ok(_))` yes, `Ok(Err(_))` no (reason
/// Untrusted), `Err(_)` the question could not be answered now (an API error: retried).
pub async fn verify(
    ctx: &Context,
    kex: &KubernetesExecution,
    depth: Depth,
) -> Result<Result<Trusted, ActionError>, Error> {
    let no = |message: String| Ok(Err(ActionError::untrusted(message)));
    let ns = kex.namespace().unwrap_or_default();
    let run_name = kex.spec.workflow_execution_ref.name.as_str();
    // 1. The controlling run.
    let Some(owner) = kex
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
    else {
        return no(
            "it has no controlling WorkflowExecution: executions are created by the workflow \
             controller for a run, and one made otherwise is never performed"
                .to_string(),
        );
    };
    let run_group = WorkflowExecution::group(&());
    let owner_group = owner.api_version.split('/').next().unwrap_or_default();
    if owner.kind != WorkflowExecution::kind(&()) || owner_group != run_group.as_ref() {
        return no(format!(
            "it is controlled by {} {} ({}), not by a WorkflowExecution",
            owner.kind, owner.name, owner.api_version
        ));
    }
    if owner.name != run_name {
        return no(format!(
            "it is controlled by WorkflowExecution {} but spec.workflowExecutionRef names {run_name}",
            owner.name
        ));
    }
    if let Some(other) = kex.spec.workflow_execution_ref.namespace.as_deref()
        && other != ns
    {
        return no(format!(
            "spec.workflowExecutionRef names namespace {other}; a run's executions are in its own namespace ({ns})"
        ));
    }
    // 2. The workflow controller's digest.
    let keys = match keys(ctx).await? {
        Some(keys) => keys,
        None => {
            return no(format!(
                "there is no sealing key (Secret {}/{}): the workflow controller, which creates \
                 it, has never run, so it cannot have created this execution",
                ctx.config.operator_namespace,
                store::KEY_SECRET
            ));
        }
    };
    let Some(digest) = kex.annotations().get(ANNOTATION_DIGEST) else {
        return no(format!(
            "it carries no digest of the workflow controller (annotation {ANNOTATION_DIGEST})"
        ));
    };
    if !keys.verify_execution(kex, &owner.uid, digest) {
        return no(format!(
            "its digest does not verify: it was not created by the workflow controller for \
             WorkflowExecution {ns}/{run_name}, or it was changed since"
        ));
    }
    let trusted = Trusted {
        run_uid: owner.uid.clone(),
        keys,
    };
    if depth == Depth::Digest {
        return Ok(Ok(trusted));
    }
    // 3. The run as it is now.
    let runs: Api<WorkflowExecution> = Api::namespaced(ctx.client.clone(), &ns);
    let run = runs.get_opt(run_name).await.map_err(|source| Error::Kube {
        verb: "read the run of",
        name: format!("{ns}/{}", kex.name_any()),
        source,
    })?;
    let Some(run) = run else {
        return no(format!(
            "its WorkflowExecution {ns}/{run_name} does not exist"
        ));
    };
    if run.uid().as_deref() != Some(owner.uid.as_str()) {
        return no(format!(
            "WorkflowExecution {ns}/{run_name} is not the run it was created for (uid {})",
            owner.uid
        ));
    }
    let status = run.status.clone().unwrap_or_default();
    if let Some(phase) = status.phase
        && phase.is_terminal()
    {
        return no(format!(
            "WorkflowExecution {ns}/{run_name} has ended ({phase:?}): nothing more is done for it"
        ));
    }
    let Some(plan) = status
        .plan
        .as_deref()
        .and_then(|text| serde_json::from_str::<ExecutionPlan>(text).ok())
    else {
        return no(format!(
            "WorkflowExecution {ns}/{run_name} has no readable pinned plan"
        ));
    };
    // 4 and 5. The plan holds this step, attempt, action and parameters.
    let kind = match in_plan(kex, &plan, &trusted) {
        Ok(kind) => kind,
        Err(message) => return no(format!("the pinned plan of {ns}/{run_name} {message}")),
    };
    // 3, while deleted: the stop it amounts to starts no main or verify step, but undoes
    // what was done and runs `finally` (docs/engine.md, "Stopping a run").
    if run.metadata.deletion_timestamp.is_some()
        && !matches!(kind, ExecutionKind::Rollback | ExecutionKind::Finally)
    {
        return no(format!(
            "WorkflowExecution {ns}/{run_name} is being deleted: only its compensations and \
             finally steps run"
        ));
    }
    // 7. The attempt is the one the run is starting, not one that is over or to come.
    if let Err(message) = in_status(kex, &status, kind) {
        return no(format!("the status of {ns}/{run_name} {message}"));
    }
    // 6. Approval.
    if plan.approval_required && !run.spec.approved {
        return no(format!(
            "WorkflowExecution {ns}/{run_name} requires approval and spec.approved is not true"
        ));
    }
    Ok(Ok(trusted))
}

/// The installation's keys, read once; `None` while the Secret does not exist.
async fn keys(ctx: &Context) -> Result<Option<Arc<Keys>>, Error> {
    if let Some(keys) = ctx.keys.get() {
        return Ok(Some(keys.clone()));
    }
    let ns = &ctx.config.operator_namespace;
    match store::load(&ctx.client, ns).await {
        Ok(Some(keys)) => {
            let keys = Arc::new(keys);
            Ok(Some(ctx.keys.get_or_init(|| async { keys }).await.clone()))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(Error::Keys(e)),
    }
}

/// Whether the plan holds this execution (of which kind); the message says what it does not
/// hold.
fn in_plan(
    kex: &KubernetesExecution,
    plan: &ExecutionPlan,
    trusted: &Trusted,
) -> Result<ExecutionKind, String> {
    let spec = &kex.spec;
    let Some(step) = plan.steps.iter().find(|s| s.name == spec.step) else {
        return Err(format!("has no step `{}`", spec.step));
    };
    let kind = kex
        .labels()
        .get(LABEL_KIND)
        .map(String::as_str)
        .unwrap_or_default();
    let (planned, kind) = match (kind, step.stage) {
        ("step", StepStage::Main) => (&step.action, ExecutionKind::Step),
        ("verify", StepStage::Verify) => (&step.action, ExecutionKind::Verify),
        ("finally", StepStage::Finally) => (&step.action, ExecutionKind::Finally),
        ("rollback", _) => match &step.rollback {
            Some(rollback) => (rollback, ExecutionKind::Rollback),
            None => return Err(format!("has no compensation for step `{}`", spec.step)),
        },
        (other, stage) => {
            return Err(format!(
                "has step `{}` in stage {stage:?}, not an execution of kind `{other}`",
                spec.step
            ));
        }
    };
    if planned.action_type != spec.action.action_type {
        return Err(format!(
            "runs `{}` at step `{}`, not `{}`",
            planned.action_type, spec.step, spec.action.action_type
        ));
    }
    let attempts = planned.retry.retries.saturating_add(1);
    if spec.attempt == 0 || spec.attempt > attempts {
        return Err(format!(
            "allows {attempts} attempt(s) of step `{}`{}, not attempt {}",
            spec.step,
            if kind == ExecutionKind::Rollback {
                "'s compensation"
            } else {
                ""
            },
            spec.attempt
        ));
    }
    let dry_run = plan.dry_run && kind != ExecutionKind::Rollback;
    if spec.dry_run != dry_run {
        return Err(format!(
            "says dryRun {dry_run} for step `{}`, the execution says {}",
            spec.step, spec.dry_run
        ));
    }
    let given = &spec.action.parameters;
    let extra = given
        .iter()
        .find(|(k, v)| !v.is_null() && !planned.with.contains_key(k.as_str()));
    if let Some((extra, _)) = extra {
        return Err(format!("gives step `{}` no parameter `{extra}`", spec.step));
    }
    for (name, value) in &planned.with {
        // Null and absent are one to the actions (a server may drop a null field).
        let actual = given.get(name).unwrap_or(&Value::Null);
        let PlannedValue::Value(expected) = value else {
            continue;
        };
        if !same(trusted, expected, actual) {
            return Err(format!(
                "gives step `{}` another value of parameter `{name}`",
                spec.step
            ));
        }
    }
    Ok(kind)
}

/// Whether the run's status leaves room for this attempt: the status shows it in flight as
/// this very execution, or the engine is about to record it (the status shows the attempt
/// before it, and the step is still to run or to be compensated). Any other attempt is over
/// or was never started: a copy made again after the execution was deleted, or one made
/// ahead of its time.
fn in_status(
    kex: &KubernetesExecution,
    status: &WorkflowExecutionStatus,
    kind: ExecutionKind,
) -> Result<(), String> {
    let spec = &kex.spec;
    let Some(step) = status.steps.iter().find(|s| s.name == spec.step) else {
        return Err(format!("shows no step `{}`", spec.step));
    };
    let compensation = kind == ExecutionKind::Rollback;
    let (recorded, in_flight, may_start) = if compensation {
        (
            step.rollback_attempts,
            step.phase == StepPhase::Compensating,
            matches!(step.phase, StepPhase::Succeeded | StepPhase::Compensating),
        )
    } else {
        (
            step.attempts,
            step.phase == StepPhase::Running,
            matches!(
                step.phase,
                StepPhase::Pending | StepPhase::Waiting | StepPhase::Retrying
            ),
        )
    };
    let this = kex.metadata.name.as_deref();
    let started = recorded == spec.attempt && in_flight && step.execution_ref.as_deref() == this;
    let starting = recorded.checked_add(1) == Some(spec.attempt) && may_start;
    if started || starting {
        return Ok(());
    }
    let what = if compensation {
        "compensation attempt"
    } else {
        "attempt"
    };
    Err(format!(
        "shows step `{}` {:?} after {what} {recorded}: {what} {} is over or was never started",
        spec.step, step.phase, spec.attempt
    ))
}

/// Whether two values are equal once their sealed parts are opened (sealing twice gives two
/// ciphertexts) and their numbers read as a server gives them back.
fn same(trusted: &Trusted, expected: &Value, actual: &Value) -> bool {
    let open = |v: &Value| {
        let mut v = v.clone();
        let mut ignored = BTreeSet::new();
        trusted
            .keys
            .open_value(&trusted.run_uid, &mut v, &mut ignored)
            .ok()
            .map(|()| {
                let mut text = String::new();
                canonical(&v, &mut text);
                text
            })
    };
    match (open(expected), open(actual)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}
