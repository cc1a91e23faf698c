//! Validating: the safety checks on the opened plan, then the per-target lock, claimed from
//! the watch cache and this process's own claims.

use std::collections::HashMap;

use jiff::Timestamp;
use kube::ResourceExt;

use super::execute::program_for;
use super::{Context, Error, Step};
use crate::api::{FailureReason, WorkflowExecution, WorkflowExecutionStatus, WorkflowPhase};
use crate::operator::target_lock::{self, Claim, LockState, TargetKey};
use crate::operator::{conditions, planning, run_state, safety};
use crate::plan::ExecutionPlan;
use crate::sync::lock;

/// Validating: the safety checks (on the opened plan), then the per-target lock.
pub(super) async fn validate_step<'c>(
    wfe: &WorkflowExecution,
    ctx: &'c Context,
    status: &mut WorkflowExecutionStatus,
    now: Timestamp,
) -> Result<(Step, Option<LockGuard<'c>>), Error> {
    let generation = wfe.metadata.generation;
    let uid = wfe.uid().unwrap_or_default();
    let run_ns = wfe.namespace().unwrap_or_default();
    let opened = program_for(ctx, &uid, status).await?;
    let plan = opened.program.plan();
    let target = planning::target_of(plan);
    let key = target.as_ref().map(|t| target_lock::canonical(t, &run_ns));
    let mut violations = safety::violations(plan, target.as_ref(), &ctx.protected, &ctx.actions);
    if let Some(Err(problem)) = &key {
        violations.insert(0, problem.clone());
    }
    if !violations.is_empty() {
        let violations: Vec<String> = violations
            .iter()
            .map(|v| crate::redact::scrub(v, &opened.secrets))
            .collect();
        let message = violations.join("; ");
        status.validation = Some(crate::api::workflow_execution::Validation {
            passed: false,
            violations,
            dry_run: None,
        });
        conditions::set(
            &mut status.conditions,
            "Validated",
            false,
            "SafetyViolation",
            &message,
            generation,
            now,
        );
        run_state::fail(
            status,
            FailureReason::SafetyViolation,
            None,
            &message,
            generation,
            now,
        );
        return Ok((Step::Continue, None));
    }
    status.validation = Some(crate::api::workflow_execution::Validation {
        passed: true,
        violations: Vec::new(),
        dry_run: None,
    });
    conditions::set(
        &mut status.conditions,
        "Validated",
        true,
        "SafetyChecksPassed",
        "",
        generation,
        now,
    );
    let Some(Ok(key)) = key else {
        conditions::remove(&mut status.conditions, "TargetBusy");
        return Ok((Step::Continue, None));
    };
    // Decide the lock one decision at a time, so two runs on one target never both pass.
    let gate = ctx.lock_gate.lock().await;
    let claims = claims_on(ctx, &key);
    let me = Claim {
        target: Some(key.clone()),
        ..claim_without_target(wfe)
    };
    match target_lock::state(&me, &claims) {
        LockState::Free => {
            conditions::remove(&mut status.conditions, "TargetBusy");
            Ok((Step::Continue, Some((gate, key))))
        }
        LockState::Busy { holder } => {
            let message =
                format!("{key} is being remediated by {holder}; this run starts when it ends");
            conditions::set(
                &mut status.conditions,
                "TargetBusy",
                true,
                "TargetLocked",
                &message,
                generation,
                now,
            );
            Ok((Step::Wait(ctx.config.wait_requeue), None))
        }
    }
}

/// The lock gate, held from the lock decision until the claim is written, and the target.
pub(super) type LockGuard<'c> = (tokio::sync::MutexGuard<'c, ()>, TargetKey);

/// `ns/name` of a run.
fn run_id(wfe: &WorkflowExecution) -> String {
    format!("{}/{}", wfe.namespace().unwrap_or_default(), wfe.name_any())
}

/// The claims on `key` of every run, read from the watch cache, with the claims this
/// process wrote and the cache does not show yet. Only runs that may hold `key` are
/// returned (finished runs and other targets never matter), so only their plans are parsed.
/// Every validation reads every cached run: the loop allocates only for the runs it returns.
fn claims_on(ctx: &Context, key: &TargetKey) -> Vec<Claim> {
    let (mut claimed, mut targets) = (lock(&ctx.claimed), lock(&ctx.targets));
    let mut unseen = std::collections::HashSet::new();
    let mut claims = Vec::new();
    let runs = ctx.runs.state();
    for wfe in &runs {
        let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
        let status = wfe.status.as_ref();
        let phase = status
            .and_then(|s| s.phase)
            .unwrap_or(WorkflowPhase::Pending);
        let recorded = if claimed.is_empty() {
            None
        } else {
            claimed.get(uid)
        };
        if recorded.is_none() && phase.is_terminal() {
            continue;
        }
        let holds = match recorded {
            Some(target)
                if matches!(
                    phase,
                    WorkflowPhase::Pending | WorkflowPhase::Planning | WorkflowPhase::Validating
                ) =>
            {
                // The cache lags this process's own claim: the run holds its target.
                if target == key {
                    let mut claim = claim_without_target(wfe);
                    claim.phase = WorkflowPhase::Executing;
                    claim.target = Some(target.clone());
                    claims.push(claim);
                }
                unseen.insert(uid);
                continue;
            }
            _ => !phase.is_terminal() && target_of_run(&mut targets, wfe) == Some(key),
        };
        if holds {
            claims.push(Claim {
                target: Some(key.clone()),
                ..claim_without_target(wfe)
            });
        }
    }
    claimed.retain(|uid, _| unseen.contains(uid.as_str()));
    claims
}

/// The target a run's pinned plan acts on, read from the plan once per run and plan (a pinned
/// plan never changes); `targets` caches it by run uid, with the plan's digest.
fn target_of_run<'a>(
    targets: &'a mut HashMap<String, (String, Option<TargetKey>)>,
    wfe: &WorkflowExecution,
) -> Option<&'a TargetKey> {
    let status = wfe.status.as_ref()?;
    let text = status.plan.as_deref()?;
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    let digest = status
        .workflow
        .as_ref()
        .map(|w| w.digest.as_str())
        .unwrap_or_default();
    let cached = targets.get(uid).is_some_and(|(d, _)| d == digest);
    if !cached {
        let run_ns = wfe.metadata.namespace.as_deref().unwrap_or_default();
        let target = serde_json::from_str::<ExecutionPlan>(text)
            .ok()
            .and_then(|p| planning::target_key(planning::target_of(&p).as_ref(), run_ns));
        if targets.len() > 4096 {
            targets.clear();
        }
        targets.insert(uid.to_string(), (digest.to_string(), target));
    }
    targets.get(uid).and_then(|(_, t)| t.as_ref())
}

fn claim_without_target(wfe: &WorkflowExecution) -> Claim {
    let status = wfe.status.as_ref();
    Claim {
        run: run_id(wfe),
        phase: status
            .and_then(|s| s.phase)
            .unwrap_or(WorkflowPhase::Pending),
        created: wfe.metadata.creation_timestamp.as_ref().map(|t| t.0),
        target: None,
    }
}
