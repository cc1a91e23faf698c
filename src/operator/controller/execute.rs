//! The engine's phases: opens the pinned plan once, asks the engine to decide, and creates
//! the executions it decides.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, ListParams, PostParams};
use kube::{Resource, ResourceExt};

use super::{Context, Error};
use crate::api::{KubernetesExecution, WorkflowExecution, WorkflowExecutionStatus};
use crate::engine::{self, Observation, Observations, Program};
use crate::operator::finished;
use crate::operator::run_state;
use crate::operator::sealing::{self, OpenedRun};
use crate::plan::ExecutionPlan;
use crate::sync::lock;

/// Whether an observed execution has finished while the status still shows its step in flight.
pub(super) fn finished_but_in_flight(
    status: &WorkflowExecutionStatus,
    observed: &[KubernetesExecution],
) -> bool {
    observed.iter().any(|kex| {
        kex.is_finished()
            && status.steps.iter().any(|step| {
                engine::in_flight(step)
                    && step.execution_ref.as_deref() == kex.metadata.name.as_deref()
            })
    })
}

/// The engine's phases: observe, decide, create what it asks for.
pub(super) async fn engine_step(
    wfe: &WorkflowExecution,
    ctx: &Context,
    status: &WorkflowExecutionStatus,
    now: Timestamp,
    stop: Option<&crate::api::StopRequest>,
    paused: bool,
) -> Result<
    (
        WorkflowExecutionStatus,
        Option<Duration>,
        Vec<KubernetesExecution>,
        bool,
    ),
    Error,
> {
    let ns = wfe.namespace().unwrap_or_default();
    let name = wfe.name_any();
    let uid = wfe.metadata.uid.clone().unwrap_or_default();
    let opened = program_for(ctx, &uid, status).await?;
    let executions: Api<KubernetesExecution> = Api::namespaced(ctx.client.clone(), &ns);
    // The engine reads only the executions in flight: when the watch has shown each of
    // them finished (or none is in flight), those copies are what a list would return.
    let flying = finished::in_flight_names(status);
    // A stopping run reads every execution: one created by a decision whose status write
    // the stop made conflict is not in flight in the status, and the engine must adopt it.
    let seen = match stop {
        None => ctx.finished.all_of(&uid, &flying),
        Some(_) => None,
    };
    let observed = match seen {
        Some(seen) => seen,
        None => {
            let selector = crate::api::executions_of(&name);
            let owned = executions
                .list(&ListParams::default().labels(&selector))
                .await?;
            owned
                .items
                .into_iter()
                .filter(|k| k.owner_references().iter().any(|o| o.uid == uid))
                .collect()
        }
    };
    let observations = Observations {
        executions: observed.iter().map(Observation::from).collect(),
        approved: wfe.spec.approved,
        stop: stop.cloned(),
        paused,
    };
    // Deciding runs `when` and deferred `with` scripts: off the runtime's workers, like
    // planning. A plan without them is decided in place (no scripts, no thread hand-off).
    let decision = if opened.program.runs_scripts() {
        let (opened, status) = (opened.clone(), status.clone());
        tokio::task::spawn_blocking(move || opened.program.decide(&status, &observations, now))
            .await
            .map_err(Error::Aborted)?
    } else {
        opened.program.decide(status, &observations, now)
    };
    let owner = owner_reference(wfe)?;
    let keys = ctx.keys().await?;
    let mut existed = false;
    for new in &decision.create {
        let mut kex = KubernetesExecution {
            metadata: ObjectMeta {
                name: Some(new.name.clone()),
                namespace: Some(ns.clone()),
                labels: Some(new.labels.clone()),
                owner_references: Some(vec![owner.clone()]),
                ..ObjectMeta::default()
            },
            spec: new.spec.clone(),
            status: None,
        };
        sealing::seal_execution(&keys, &uid, &mut kex, &opened.secrets)?;
        match executions.create(&PostParams::default(), &kex).await {
            Ok(_) => ctx
                .metrics()
                .execution_created(&new.spec.action.action_type),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Created by an earlier decision whose status write failed: it may have
                // finished already, and no event will tell. Decide again soon.
                tracing::debug!(execution = %new.name, "already exists; created before");
                existed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut next = decision.status;
    run_state::keep_conditions(status, &mut next);
    sealing::scrub_status(&mut next, &opened.secrets);
    Ok((next, decision.requeue_after, observed, existed))
}

/// The run's pinned plan, opened, and its compiled program; read, opened and compiled once per
/// run (off the runtime's workers: loading the plan's modules runs their scripts).
pub(super) async fn program_for(
    ctx: &Context,
    uid: &str,
    status: &WorkflowExecutionStatus,
) -> Result<Arc<OpenedRun>, Error> {
    let digest = status
        .workflow
        .as_ref()
        .map(|w| w.digest.as_str())
        .unwrap_or_default();
    let key = (uid.to_string(), digest.to_string());
    if let Some(p) = lock(&ctx.programs).get(&key) {
        return Ok(p.clone());
    }
    let keys = ctx.keys().await?;
    let text = status.plan.clone();
    let uid_owned = uid.to_string();
    let opened = tokio::task::spawn_blocking(move || -> Result<OpenedRun, Error> {
        let pinned = parse_plan(text.as_deref())?;
        let (plan, secrets) = sealing::open_plan(&keys, &uid_owned, &pinned)?;
        Ok(OpenedRun {
            program: Program::new(&plan)?,
            secrets,
        })
    })
    .await
    .map_err(Error::Aborted)??;
    let program = Arc::new(opened);
    {
        let mut cache = lock(&ctx.programs);
        // Compiled programs are small; a bound keeps a long-lived operator's memory flat.
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(key, program.clone());
    }
    Ok(program)
}

fn parse_plan(text: Option<&str>) -> Result<ExecutionPlan, Error> {
    serde_json::from_str(text.unwrap_or("null")).map_err(Error::PinnedPlan)
}

fn owner_reference(wfe: &WorkflowExecution) -> Result<OwnerReference, Error> {
    wfe.controller_owner_ref(&())
        .ok_or(Error::MissingField("uid"))
}
