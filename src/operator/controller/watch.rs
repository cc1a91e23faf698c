//! The watch wiring: the watches that wake a run, the controller they drive, readiness and
//! the housekeeping of the controller's memory, until shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use kube::api::{Api, ListParams};
use kube::runtime::controller::Controller;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Client, Resource, ResourceExt};

use super::{Context, error_policy, reconcile};
use crate::api::{AIAnalysis, KubernetesExecution, WorkflowExecution};
use crate::catalog::ActionCatalog;
use crate::operator::config::OperatorConfig;
use crate::operator::events::Recorder;
use crate::operator::finished::{self, FinishedExecutions};
use crate::operator::pause::{self, PauseSwitch};
use crate::operator::planning::TemplateSource;
use crate::operator::retention::{self, Retention};
use crate::operator::safety::ProtectedNamespaces;
use crate::reconcile::backoff::{Backoffs, WatchBackoff};
use crate::sync::lock;

/// Objects per page when the watches of runs and executions list (client-go's default is 500):
/// a page is held whole while it is read, and smaller pages keep the start's peak, and what the
/// allocator keeps of it, low when many finished runs and executions are retained.
const LIST_PAGE: u32 = 100;

/// The executions whose run has something to decide: those that finished, went away, or
/// were (re)listed. An execution picked up by the executor (Pending → Running) changes no
/// decision (the engine treats both alike; deadlines come back as requeues), so it does not
/// cost its run a reconcile. Every event first goes to `finished`, so the reconcile it
/// causes finds the execution there.
fn ended_executions(
    executions: Api<KubernetesExecution>,
    finished: Arc<FinishedExecutions>,
    runs: Store<WorkflowExecution>,
) -> impl futures::Stream<Item = Result<KubernetesExecution, watcher::Error>> + Send + 'static {
    watcher(
        executions,
        watcher::Config::default()
            .any_semantic()
            .page_size(LIST_PAGE),
    )
    .filter_map(move |event| {
        if let Ok(event) = &event {
            finished.observe(event, |ns, name, uid| {
                runs.get(&ObjectRef::new(name).within(ns)).is_some_and(|w| {
                    w.metadata.uid.as_deref() == Some(uid) && !finished::run_ended(&w)
                })
            });
        }
        async move {
            match event {
                Ok(watcher::Event::Apply(kex)) => kex.is_finished().then_some(Ok(kex)),
                Ok(watcher::Event::InitApply(kex) | watcher::Event::Delete(kex)) => Some(Ok(kex)),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(e) => Some(Err(e)),
            }
        }
    })
}

/// Runs the controller until `shutdown` completes.
pub async fn run(
    client: Client,
    config: OperatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let ns = config.namespace.clone();
    let runs: Api<WorkflowExecution> = namespaced_or_all(&client, ns.as_deref());
    let executions: Api<KubernetesExecution> = namespaced_or_all(&client, ns.as_deref());
    let analyses: Api<AIAnalysis> = namespaced_or_all(&client, ns.as_deref());
    // Loading builds every template (their modules' scripts run): off the runtime's workers.
    let dir = config.templates.clone();
    let templates = match tokio::task::spawn_blocking(move || TemplateSource::load(&dir)).await {
        Ok(t) => Arc::new(t),
        Err(e) => {
            tracing::error!(error = %e, "loading the templates stopped");
            return;
        }
    };
    let reporter = Reporter {
        controller: config.reporter.clone(),
        instance: config.instance.clone(),
    };
    // A run is reconciled when it is first seen and when its spec changes (`approved`), not
    // on its own status writes: each decision is complete, and what comes next is announced
    // by its executions, its analysis, or a requeue.
    let finished = Arc::new(FinishedExecutions::default());
    let retention = Arc::new(Retention::new(
        config.retention.clone(),
        config.archive.clone(),
        config.clock.clone(),
    ));
    let pause_switch = Arc::new(PauseSwitch::default());
    pause::read_once(client.clone(), &config.operator_namespace, &pause_switch).await;
    let pause_changes = pause::changes(
        client.clone(),
        &config.operator_namespace,
        pause_switch.clone(),
    );
    let (reader, writer) = reflector::store();
    // The cache keeps the runs in flight only, without managedFields (nothing here reads
    // them, and they are a large part of every object): retention takes every event first
    // and keeps a small entry of each finished run, which its keeper looks after
    // (`retention::keeper`). The controller's memory follows the runs in flight, not those
    // retained.
    let noted = retention.clone();
    let run_events = reflector(
        writer,
        watcher(
            runs,
            watcher::Config::default()
                .any_semantic()
                .page_size(LIST_PAGE),
        )
        .inspect_ok(move |event| noted.observe(event))
        .try_filter_map(|event| std::future::ready(Ok(finished::in_flight_only(event))))
        .modify(|wfe| wfe.metadata.managed_fields = None),
    )
    .applied_objects()
    .predicate_filter(spec_or_deletion, Default::default());
    let controller = Controller::for_stream(run_events, reader);
    let store = controller.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        protected: ProtectedNamespaces::new(
            &config.operator_namespace,
            config.protected_namespaces.iter().cloned(),
        ),
        actions: ActionCatalog::builtin(),
        templates: templates.clone(),
        programs: Mutex::new(HashMap::new()),
        keys: tokio::sync::OnceCell::new(),
        lock_gate: tokio::sync::Mutex::new(()),
        runs: store.clone(),
        claimed: Mutex::new(HashMap::new()),
        targets: Mutex::new(HashMap::new()),
        written: Mutex::new(HashMap::new()),
        finished: finished.clone(),
        retention: retention.clone(),
        pause: pause_switch,
        backoffs: Backoffs::default(),
        config,
    });
    // One signal, fanned out: the controller's graceful shutdown and the background tasks.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (controller_stop, controller_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = controller_stop.send(());
    });
    let by_analysis = store.clone();
    let reload = templates.changes(ctx.config.template_poll, stop_rx.clone());
    let active = tokio::spawn(track_active(store.clone(), ctx.clone(), stop_rx.clone()));
    let keeper = tokio::spawn(retention::keep(
        retention.clone(),
        client.clone(),
        ctx.config.metrics.clone(),
        stop_rx.clone(),
    ));
    let expiry = match (&ctx.config.archive, ctx.config.retention.archive_retention) {
        (Some(archive), Some(keep)) => Some(tokio::spawn(retention::expire_archive(
            archive.clone(),
            keep,
            stop_rx.clone(),
        ))),
        _ => None,
    };
    // Ready once the API answers and the CRD is served: listing runs works.
    let ready = ctx.config.ready.clone();
    let probe: Api<WorkflowExecution> = namespaced_or_all(&client, ns.as_deref());
    let readiness = tokio::spawn(async move {
        loop {
            match probe.list(&ListParams::default().limit(1)).await {
                Ok(_) => {
                    ready.set(true);
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "cannot list WorkflowExecutions yet"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    tracing::info!(
        namespace = ns.as_deref().unwrap_or("(all)"),
        "workflow controller started"
    );
    // kube-runtime holds its runner until the store is ready, and a graceful shutdown
    // requested before that would wait for it forever: shut down only once ready.
    let store_ready = store.clone();
    let driving = controller
        .owns_stream(ended_executions(executions, finished, store.clone()))
        .watches(
            analyses,
            watcher::Config::default().any_semantic(),
            move |ana: AIAnalysis| runs_of_analysis(&by_analysis, &ana),
        )
        .reconcile_all_on(reload)
        .reconcile_all_on(pause_changes)
        .trigger_backoff(WatchBackoff::new(ctx.config.clock.clone(), "workflow"))
        .graceful_shutdown_on(async move {
            let _ = controller_stopped.await;
            let _ = store_ready.wait_until_ready().await;
        })
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        });
    let mut stopping = stop_rx.clone();
    let never_synced = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        if store.wait_until_ready().now_or_never().is_some() {
            // Synced: the graceful shutdown is under way; let it finish.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = driving => {}
        // No reconcile ever ran, so there is nothing to finish: just stop.
        () = never_synced => tracing::warn!("stopping before the watches synced"),
    }
    active.abort();
    keeper.abort();
    readiness.abort();
    if let Some(expiry) = expiry {
        expiry.abort();
    }
    tracing::info!("workflow controller stopped");
}

/// Wakes a run when its spec changes (generation) and when its deletion starts: the embedded
/// cluster, unlike Kubernetes, does not bump the generation on deletion.
fn spec_or_deletion(wfe: &WorkflowExecution) -> Option<u64> {
    let generation = predicates::generation(wfe)?;
    let deleting = u64::from(wfe.metadata.deletion_timestamp.is_some());
    Some(generation.wrapping_mul(2).wrapping_add(deleting))
}

fn namespaced_or_all<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The runs that reference an analysis.
fn runs_of_analysis(
    store: &Store<WorkflowExecution>,
    ana: &AIAnalysis,
) -> Vec<ObjectRef<WorkflowExecution>> {
    let ana_ns = ana.namespace().unwrap_or_default();
    let ana_name = ana.name_any();
    // A finished run reads its analysis no more.
    store
        .state()
        .iter()
        .filter(|w| {
            let r = &w.spec.ai_analysis_ref;
            let ns = r
                .namespace
                .as_deref()
                .or(w.metadata.namespace.as_deref())
                .unwrap_or_default();
            r.name == ana_name && ns == ana_ns && !finished::run_ended(w)
        })
        .map(|w| ObjectRef::from_obj(w.as_ref()))
        .collect()
}

/// Every 2 s: [`tend_runs`].
async fn track_active(
    store: Store<WorkflowExecution>,
    ctx: Arc<Context>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tend_runs(&store, &ctx);
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Sets the active-runs gauge, and forgets the versions, programs, targets and finished
/// executions of runs no longer in the cache (finished, or deleted).
fn tend_runs(store: &Store<WorkflowExecution>, ctx: &Context) {
    // The cache holds only runs in flight (`finished::in_flight_only`).
    let runs = store.state();
    ctx.metrics().set_active_runs(runs.len());
    let uids: std::collections::HashSet<&str> = runs
        .iter()
        .filter_map(|w| w.metadata.uid.as_deref())
        .collect();
    lock(&ctx.written).retain(|uid, _| uids.contains(uid.as_str()));
    lock(&ctx.programs).retain(|(uid, _), _| uids.contains(uid.as_str()));
    lock(&ctx.targets).retain(|uid, _| uids.contains(uid.as_str()));
    ctx.backoffs.retain(|uid| uids.contains(uid));
    ctx.finished.retain_runs(|uid| uids.contains(uid));
    ctx.metrics()
        .set_unarchived_runs(ctx.retention.unarchived());
    let unreconciled = &ctx.metrics().unreconciled_runs;
    unreconciled.retain(|uid| uids.contains(uid));
    for uid in &uids {
        unreconciled.seen(uid);
    }
}
