//! Pending and Planning: waits for the run's analysis, then plans the run and pins the plan.

use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;

use super::{Context, Error, Step};
use crate::api::{
    AIAnalysis, AnalysisPhase, FailureReason, WorkflowExecution, WorkflowExecutionStatus,
    WorkflowPhase,
};
use crate::engine;
use crate::operator::planning::{self, PlanFailure};
use crate::operator::{conditions, run_state, sealing};

/// Pending and Planning: wait for the analysis, then plan and pin.
pub(super) async fn plan_step(
    wfe: &WorkflowExecution,
    ctx: &Context,
    status: &mut WorkflowExecutionStatus,
    now: Timestamp,
) -> Result<Step, Error> {
    let generation = wfe.metadata.generation;
    let ns = wfe.namespace().unwrap_or_default();
    let ana_ref = &wfe.spec.ai_analysis_ref;
    if let Some(message) = foreign_analysis(ana_ref.namespace.as_deref(), &ns) {
        conditions::remove(&mut status.conditions, "AnalysisPending");
        let reason = FailureReason::InvalidParameters;
        not_planned(status, reason, &message, generation, now);
        return Ok(Step::Continue);
    }
    let ana_ns = ana_ref.namespace.clone().unwrap_or(ns);
    let analyses: Api<AIAnalysis> = Api::namespaced(ctx.client.clone(), &ana_ns);
    let analysis = analyses.get_opt(&ana_ref.name).await?;
    let analysis_status = analysis.as_ref().and_then(|a| a.status.clone());
    let ana_phase = analysis_status.as_ref().and_then(|s| s.phase);
    match ana_phase {
        Some(AnalysisPhase::Completed) => {}
        Some(AnalysisPhase::Failed) => {
            conditions::remove(&mut status.conditions, "AnalysisPending");
            let message = format!("AIAnalysis {ana_ns}/{} failed", ana_ref.name);
            run_state::fail(
                status,
                FailureReason::AnalysisFailed,
                None,
                &message,
                generation,
                now,
            );
            return Ok(Step::Continue);
        }
        _ => {
            let message = match &analysis {
                None => format!("waiting for AIAnalysis {ana_ns}/{} to exist", ana_ref.name),
                Some(_) => format!(
                    "waiting for AIAnalysis {ana_ns}/{} to complete (phase {})",
                    ana_ref.name,
                    ana_phase.map_or("unset".to_string(), |p| format!("{p:?}"))
                ),
            };
            status.phase = Some(WorkflowPhase::Pending);
            conditions::set(
                &mut status.conditions,
                "AnalysisPending",
                true,
                "AnalysisNotCompleted",
                &message,
                generation,
                now,
            );
            return Ok(Step::Wait(ctx.config.wait_requeue));
        }
    }
    conditions::remove(&mut status.conditions, "AnalysisPending");
    let Some(analysis_status) = analysis_status else {
        return Ok(Step::Wait(ctx.config.wait_requeue));
    };
    // Planning runs the template's scripts: off the runtime's workers, so that a slow one
    // delays only this run.
    let planned = {
        let (templates, wfe) = (ctx.templates.clone(), wfe.clone());
        tokio::task::spawn_blocking(move || planning::plan_run(&templates, &wfe, &analysis_status))
            .await
            .map_err(Error::Aborted)?
    };
    match planned {
        Err(PlanFailure { reason, message }) => {
            not_planned(status, reason, &message, generation, now);
        }
        Ok(mut plan) => {
            let keys = ctx.keys().await?;
            let uid = wfe.uid().unwrap_or_default();
            if let Err(message) = sealing::seal_plan(&keys, &uid, &mut plan) {
                let reason = FailureReason::InvalidParameters;
                not_planned(status, reason, &message, generation, now);
                return Ok(Step::Continue);
            }
            let conds = std::mem::take(&mut status.conditions);
            *status = engine::initial_status(&plan);
            status.conditions = conds;
            status.validation = None;
            status.plan = serde_json::to_string(&plan).ok();
            status.spec_digest = Some(run_state::spec_digest(&wfe.spec));
            let message = format!(
                "pinned {}@{} ({})",
                plan.workflow, plan.version, plan.digest
            );
            conditions::set(
                &mut status.conditions,
                "Planned",
                true,
                "Planned",
                &message,
                generation,
                now,
            );
        }
    }
    Ok(Step::Continue)
}

/// Why a run may not use the analysis its spec names: one in another namespace.
fn foreign_analysis(named: Option<&str>, run_namespace: &str) -> Option<String> {
    let named = named?;
    (named != run_namespace).then(|| {
        format!(
            "spec.aiAnalysisRef names namespace `{named}`: a run may only use an AIAnalysis in \
             its own namespace (`{run_namespace}`); create the run in the analysis's namespace"
        )
    })
}

/// The run fails at Planning: condition `Planned` false with the reason, and the failure.
fn not_planned(
    status: &mut WorkflowExecutionStatus,
    reason: FailureReason,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    conditions::set(
        &mut status.conditions,
        "Planned",
        false,
        reason.as_str(),
        message,
        generation,
        now,
    );
    run_state::fail(status, reason, None, message, generation, now);
}
