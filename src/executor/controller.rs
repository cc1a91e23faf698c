//! The KubernetesExecution controller: picks up an attempt, records the previous state as
//! phase Running, performs the action, and writes the result. Finished attempts are never
//! acted on again.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Client, ResourceExt};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::actions::{self, ActionContext, Progress, public_output};
use super::events::{self, ExecutionRef, Notice};
use super::failure::ActionError;
use super::params::Params;
use super::trust::{self, Depth, Trusted};
use crate::api::JsonMap;
use crate::api::kubernetes_execution::{
    ErrorReason, ExecutionPhase, ExecutionResult, KubernetesExecution, KubernetesExecutionStatus,
};
use crate::catalog::{ActionCatalog, Effect, is_protected_namespace};
use crate::clock::{Clock, SystemClock};
use crate::reconcile::backoff::{self, Backoffs, RetryReason, WatchBackoff};
use crate::reconcile::metrics::Metrics;
use crate::redact::{is_credential_key, redact_map, redact_text, redact_traced, scrub};
use crate::seal::Keys;
use crate::sync;
use crate::units::duration::{format as format_duration, parse_millis};

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Watch only this namespace (all namespaces when `None`).
    pub namespace: Option<String>,
    /// The namespace the operator runs in (protected).
    pub operator_namespace: String,
    /// Namespaces protected besides the built-in ones and the operator's.
    pub protected_namespaces: Vec<String>,
    /// The attempt timeout when `spec.timeout` is absent.
    pub default_timeout: Duration,
    /// How often to look again at something awaited (verify_deployment), in clock time.
    pub poll_interval: Duration,
    /// How many executions to work on at once.
    pub concurrency: u16,
    /// The time attempts are measured in (deadlines, waits, startedAt/completedAt); the same
    /// clock as the workflow controller's, so `remedy run --speed` scales both.
    pub clock: Arc<dyn Clock>,
    /// Where retries and unreconciled executions are counted (`remedy operator` serves the
    /// workflow controller's and the executor's together).
    pub metrics: Arc<Metrics>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            namespace: None,
            operator_namespace: crate::catalog::DEFAULT_OPERATOR_NAMESPACE.to_string(),
            protected_namespaces: Vec::new(),
            default_timeout: Duration::from_millis(crate::plan::DEFAULT_STEP_TIMEOUT_MS),
            poll_interval: Duration::from_secs(2),
            concurrency: 4,
            clock: Arc::new(SystemClock),
            metrics: Arc::new(Metrics::new()),
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    /// The client all API calls go through.
    pub client: Client,
    /// The configuration.
    pub config: ExecutorConfig,
    /// The action schemas parameters are checked against.
    pub catalog: ActionCatalog,
    /// The installation's keys, read once from the operator's namespace (`seal::store`).
    pub(crate) keys: tokio::sync::OnceCell<Arc<Keys>>,
    /// Executions (`ns/name`) whose cached copy proved stale (a status write conflicted):
    /// their next reconcile reads them from the API.
    stale: Mutex<HashSet<String>>,
    /// Consecutive failed reconciles by `ns/name`: the per-execution error backoff.
    backoffs: Backoffs,
}

impl Context {
    /// A context with the built-in action catalog.
    pub fn new(client: Client, config: ExecutorConfig) -> Self {
        Context {
            client,
            config,
            catalog: ActionCatalog::builtin(),
            keys: tokio::sync::OnceCell::new(),
            stale: Mutex::new(HashSet::new()),
            backoffs: Backoffs::default(),
        }
    }

    /// Namespace names are lower-case DNS labels; a mis-cased or padded spelling names the
    /// same namespace here.
    fn is_protected(&self, namespace: &str) -> bool {
        let namespace = namespace.trim().to_ascii_lowercase();
        is_protected_namespace(&namespace)
            || namespace.eq_ignore_ascii_case(&self.config.operator_namespace)
            || self
                .config
                .protected_namespaces
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&namespace))
    }
}

/// Failures of the controller itself (not of an action: those end up in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a KubernetesExecution failed.
    #[error("could not {verb} KubernetesExecution {name}: {source}")]
    Kube {
        /// What the executor was doing.
        verb: &'static str,
        /// The execution, as namespace/name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The installation's sealing key could not be read.
    #[error("{0}")]
    Keys(#[from] crate::seal::store::StoreError),
    /// The KubernetesExecution kind is not served: the CRD is not installed.
    #[error("the KubernetesExecution CRD is not installed (apply deploy/crds): {0}")]
    CrdMissing(#[source] kube::Error),
    /// A KubernetesExecution without a namespace.
    #[error("KubernetesExecution {0} has no namespace")]
    NoNamespace(String),
    /// The reconcile's task panicked or was cancelled.
    #[error("the reconcile stopped before it finished: {0}")]
    Aborted(#[source] tokio::task::JoinError),
}

/// Runs the executor until the process ends.
pub async fn run(client: Client, config: ExecutorConfig) -> Result<(), Error> {
    run_until(client, config, std::future::pending()).await
}

/// Runs the executor until `shutdown` completes, then lets running reconciles finish.
pub async fn run_until(
    client: Client,
    config: ExecutorConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let api: Api<KubernetesExecution> = match &config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let shutdown = shutdown.shared();
    tokio::select! {
        checked = crd_served(&api, &config) => checked?,
        () = shutdown.clone() => return Ok(()),
    }
    let concurrency = config.concurrency;
    let clock = config.clock.clone();
    let context = Arc::new(Context::new(client, config));
    info!("executor started");
    // An execution is reconciled when it is first seen and when its spec changes; its own
    // status writes do not bring it back (a waiting action requeues itself).
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default()).modify(slim);
    let executions = reflector(writer, stream)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let tending = tokio::spawn(tend_executions(reader.clone(), context.clone()));
    Controller::for_stream(executions, reader)
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .trigger_backoff(WatchBackoff::new(clock, "executor"))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(execution = %obj.name, "reconciled"),
                Err(e) => warn!(error = %redact_text(&e.to_string()), "reconcile failed"),
            }
        })
        .await;
    tending.abort();
    info!("executor stopped");
    Ok(())
}

/// Waits until KubernetesExecutions can be listed. A 404 means the CRD is not installed (an
/// error: nothing will fix itself); any other failure is retried with the backoff of
/// `backoff.rs`, so that one failed request at startup does not stop the executor.
async fn crd_served(api: &Api<KubernetesExecution>, config: &ExecutorConfig) -> Result<(), Error> {
    let mut failures = 0;
    loop {
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(Error::CrdMissing(kube::Error::Api(s)));
            }
            Err(e) => {
                failures += 1;
                let wait = backoff::exponential(backoff::RETRY_BASE, failures, "executor-start");
                let wait = backoff::retry_after(&e).map_or(wait, |after| wait.max(after));
                config.metrics.retried("executor", RetryReason::of(&e));
                warn!(error = %e, wait = ?wait, "cannot list KubernetesExecutions yet; retrying");
                tokio::time::sleep(config.clock.real_delay(wait)).await;
            }
        }
    }
}

/// Every 2 s: the executions not finished count as seen in the unreconciled-age metric, and
/// those gone or finished are forgotten.
async fn tend_executions(store: reflector::Store<KubernetesExecution>, ctx: Arc<Context>) {
    loop {
        let open: HashSet<String> = store
            .state()
            .iter()
            .filter(|k| !k.is_finished())
            .map(|k| format!("{}/{}", k.namespace().unwrap_or_default(), k.name_any()))
            .collect();
        let unreconciled = &ctx.config.metrics.unreconciled_executions;
        unreconciled.retain(|key| open.contains(key));
        for key in &open {
            unreconciled.seen(key);
        }
        ctx.backoffs.retain(|key| open.contains(key));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// What the watch cache keeps of an execution. Never managedFields: nothing here reads them
/// (a status write without them leaves the server's as they are). Of a finished execution,
/// only what tells that it is finished: it is never acted on again, and most executions in a
/// long-lived cache are finished.
fn slim(kex: &mut KubernetesExecution) {
    kex.metadata.managed_fields = None;
    if kex.is_finished() {
        kex.metadata.labels = None;
        kex.metadata.annotations = None;
        kex.metadata.owner_references = None;
        kex.spec.action.parameters = JsonMap::new();
        if let Some(status) = kex.status.as_mut() {
            status.result = None;
        }
    }
}

/// Retries a failed reconcile after the execution's backoff (`reconcile::backoff`):
/// exponential per execution, from 20 ms after a conflict and 100 ms after other errors, up
/// to 10 s of clock time.
pub fn error_policy(kex: Arc<KubernetesExecution>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", kex.namespace().unwrap_or_default(), kex.name_any());
    let (wait, reason) = match error {
        Error::Kube { source, .. } | Error::CrdMissing(source) => {
            (ctx.backoffs.failed(&key, source), RetryReason::of(source))
        }
        _ => (ctx.backoffs.failed_otherwise(&key), RetryReason::Other),
    };
    ctx.config.metrics.retried("executor", reason);
    warn!(error = %redact_text(&error.to_string()), wait = ?wait, "executor error; retrying");
    Action::requeue(ctx.config.clock.real_delay(wait))
}

/// Brings one KubernetesExecution forward: start it, resume it, or leave it finished.
///
/// Each reconcile runs as a task of its own: kube-runtime polls its reconciles inside the
/// controller's one task, where a reconcile's request to the API waited for the other
/// reconciles' polls before it was sent (measured in `benches/e2e.rs`). The controller still
/// runs one reconcile per execution at a time, and waits for it on shutdown.
pub async fn reconcile(kex: Arc<KubernetesExecution>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = format!("{}/{}", kex.namespace().unwrap_or_default(), kex.name_any());
    let result = tokio::spawn(reconcile_execution(kex, ctx.clone()))
        .await
        .unwrap_or_else(|e| Err(Error::Aborted(e)));
    let unreconciled = &ctx.config.metrics.unreconciled_executions;
    match &result {
        Ok(_) => {
            ctx.backoffs.succeeded(&key);
            unreconciled.succeeded(&key);
        }
        Err(_) => unreconciled.failed(&key),
    }
    result
}

async fn reconcile_execution(
    kex: Arc<KubernetesExecution>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let name = kex.name_any();
    let ns = kex
        .namespace()
        .ok_or_else(|| Error::NoNamespace(name.clone()))?;
    let api: Api<KubernetesExecution> = Api::namespaced(ctx.client.clone(), &ns);
    let key = format!("{ns}/{name}");
    let cached_phase = kex.status.as_ref().and_then(|s| s.phase);
    let known_stale = sync::lock(&ctx.stale).contains(&key);
    let kex = match cached_phase {
        // A finished attempt stays finished.
        Some(ExecutionPhase::Succeeded | ExecutionPhase::Failed) => {
            return Ok(Action::await_change());
        }
        // A new attempt as cached: if the cache lags, the Running write that comes before
        // the action conflicts, so nothing is done twice.
        None | Some(ExecutionPhase::Pending) if !known_stale => (*kex).clone(),
        // Running (or known stale): decide on what the API server holds now.
        _ => {
            let read = api.get_opt(&name).await.map_err(|source| Error::Kube {
                verb: "read",
                name: key.clone(),
                source,
            })?;
            sync::lock(&ctx.stale).remove(&key);
            let Some(kex) = read else {
                return Ok(Action::await_change());
            };
            kex
        }
    };
    let attempt = Attempt {
        api,
        ctx: ctx.as_ref(),
        key,
    };
    let status = kex.status.clone().unwrap_or_default();
    match status.phase {
        Some(ExecutionPhase::Succeeded | ExecutionPhase::Failed) => Ok(Action::await_change()),
        Some(ExecutionPhase::Running) => attempt.resume(kex, status).await,
        Some(ExecutionPhase::Pending) | None => attempt.start(kex).await,
    }
}

/// One reconcile of one execution.
struct Attempt<'a> {
    api: Api<KubernetesExecution>,
    ctx: &'a Context,
    key: String,
}

/// The checked call: action parameters (opened), timeout, and what seals its records.
struct Call {
    params: Params,
    timeout: Duration,
    effect: Effect,
    trusted: Trusted,
    /// The credentials its parameters held, kept out of messages and traced in outputs.
    secrets: BTreeSet<String>,
}

impl Call {
    /// Seals the credentials of an output (recorded previous state, result) for the run.
    fn seal(&self, output: &mut JsonMap) {
        let run = &self.trusted.run_uid;
        if self
            .trusted
            .keys
            .seal_map(run, output, &self.secrets)
            .is_err()
        {
            // The random source failed: better lose the values than store them in clear.
            redact_map(output);
        }
    }

    /// `recorded` with its sealed values opened (the state `prepare` recorded).
    fn open(&self, recorded: &JsonMap) -> Result<JsonMap, ActionError> {
        let mut value = serde_json::Value::Object(recorded.clone());
        let mut ignored = BTreeSet::new();
        self.trusted
            .keys
            .open_value(&self.trusted.run_uid, &mut value, &mut ignored)
            .map_err(|e| ActionError::invalid(format!("the recorded previous state: {e}")))?;
        match value {
            serde_json::Value::Object(map) => Ok(map),
            _ => Ok(JsonMap::new()),
        }
    }
}

impl Attempt<'_> {
    /// Checks the execution and the call, records the previous state as Running, then acts.
    async fn start(&self, kex: KubernetesExecution) -> Result<Action, Error> {
        let now = self.ctx.config.clock.now();
        let trusted = match trust::verify(self.ctx, &kex, Depth::Full).await? {
            Ok(trusted) => trusted,
            Err(e) => return self.finish_failed(kex, now, e, None).await,
        };
        let call = match self.check(&kex, trusted) {
            Ok(call) => call,
            Err(e) => return self.finish_failed(kex, now, e, None).await,
        };
        let action_ctx = self.action_context(&kex, &call, now, now, true);
        let deadline = Instant::now() + self.real(call.timeout);
        let prepared = tokio::time::timeout_at(
            deadline,
            self.prepare_retrying(
                &action_ctx,
                &call.params,
                self.retry_until(deadline, call.timeout),
            ),
        )
        .await;
        let recorded = match prepared {
            Ok(Ok(recorded)) => recorded,
            Ok(Err(e)) => return self.finish_failed(kex, now, e, Some(&call)).await,
            Err(_) => {
                let e = timed_out(&call);
                return self.finish_failed(kex, now, e, Some(&call)).await;
            }
        };
        let mut output = recorded;
        call.seal(&mut output);
        let running = KubernetesExecutionStatus {
            phase: Some(ExecutionPhase::Running),
            started_at: Some(Time(now)),
            completed_at: None,
            result: Some(ExecutionResult {
                success: false,
                output,
                ..ExecutionResult::default()
            }),
        };
        let Some(kex) = self.write_status(kex, running).await? else {
            // Someone else moved it first: look again.
            return Ok(Action::requeue(Duration::from_millis(200)));
        };
        info!(execution = %self.key, action = %call.params.action(), "started");
        self.act(kex, call, now, true).await
    }

    /// Continues a Running execution: the recorded state stands; the action is applied only
    /// where the target does not show it yet.
    async fn resume(
        &self,
        kex: KubernetesExecution,
        status: KubernetesExecutionStatus,
    ) -> Result<Action, Error> {
        let started = status
            .started_at
            .map_or_else(|| self.ctx.config.clock.now(), |t| t.0);
        // A changed spec no longer verifies; the rest was checked when it started.
        let trusted = match trust::verify(self.ctx, &kex, Depth::Digest).await? {
            Ok(trusted) => trusted,
            Err(e) => return self.finish_failed(kex, started, e, None).await,
        };
        let call = match self.check(&kex, trusted) {
            Ok(call) => call,
            Err(e) => return self.finish_failed(kex, started, e, None).await,
        };
        self.act(kex, call, started, false).await
    }

    /// Applies the action within the attempt's deadline and records what came of it.
    async fn act(
        &self,
        kex: KubernetesExecution,
        call: Call,
        started: Timestamp,
        fresh: bool,
    ) -> Result<Action, Error> {
        let now = self.ctx.config.clock.now();
        let elapsed: Duration = now
            .duration_since(started)
            .try_into()
            .unwrap_or(Duration::ZERO);
        let past_deadline = elapsed >= call.timeout;
        if past_deadline && call.effect != Effect::ReadOnly {
            let e = timed_out(&call);
            return self.finish_failed(kex, started, e, Some(&call)).await;
        }
        // A read-only action gets one last look at its deadline, to report what it saw.
        let budget = if past_deadline {
            Duration::from_secs(10)
        } else {
            self.real(call.timeout - elapsed)
        };
        let recorded = kex
            .status
            .as_ref()
            .and_then(|s| s.result.as_ref())
            .map(|r| r.output.clone())
            .unwrap_or_default();
        let recorded = match call.open(&recorded) {
            Ok(recorded) => recorded,
            Err(e) => return self.finish_failed(kex, started, e, Some(&call)).await,
        };
        let action_ctx = self.action_context(&kex, &call, started, now, fresh);
        let deadline = Instant::now() + budget;
        let retry_until = if past_deadline {
            deadline
        } else {
            self.retry_until(deadline, call.timeout)
        };
        let applied = tokio::time::timeout_at(
            deadline,
            self.apply_retrying(action_ctx, &call.params, &recorded, retry_until),
        )
        .await;
        match applied {
            Err(_) => {
                let e = timed_out(&call);
                self.finish_failed(kex, started, e, Some(&call)).await
            }
            Ok(Err(e)) => self.finish_failed(kex, started, e, Some(&call)).await,
            Ok(Ok(Progress::Done(outcome))) => {
                let result = ExecutionResult {
                    success: true,
                    output: public_output(&outcome.output),
                    error: String::new(),
                    reason: None,
                    resources_affected: outcome.changes,
                };
                self.finish(kex, started, ExecutionPhase::Succeeded, result, Some(&call))
                    .await
            }
            Ok(Ok(Progress::Waiting {
                retry_after,
                status,
            })) => {
                if past_deadline {
                    let e = ActionError::timeout(format!(
                        "{status} after {}; the step's timeout is over",
                        format_duration(call.timeout)
                    ));
                    return self.finish_failed(kex, started, e, Some(&call)).await;
                }
                debug!(execution = %self.key, status = %scrub(&status, &call.secrets), "waiting");
                let remaining = call.timeout - elapsed;
                Ok(Action::requeue(
                    self.real(retry_after.min(remaining))
                        .max(Duration::from_millis(50)),
                ))
            }
        }
    }

    /// Reads the state a compensation needs; after a transient API error the reads are
    /// redone (`prepare` only reads), until `deadline` (see [`Attempt::after_transient`]).
    async fn prepare_retrying(
        &self,
        action_ctx: &ActionContext,
        params: &Params,
        deadline: Instant,
    ) -> Result<JsonMap, ActionError> {
        let mut failures = 0;
        loop {
            match actions::prepare(action_ctx, params).await {
                Err(e) if e.transient.is_some() => {
                    failures += 1;
                    self.after_transient(e, failures, deadline).await?;
                }
                other => return other,
            }
        }
    }

    /// Applies the action; after a transient API error the pass is redone until `deadline`.
    /// `apply` is idempotent, and a redone pass is told that an earlier one may have acted
    /// (`fresh` false): a request whose answer was lost may have been carried out.
    async fn apply_retrying(
        &self,
        mut action_ctx: ActionContext,
        params: &Params,
        recorded: &JsonMap,
        deadline: Instant,
    ) -> Result<Progress, ActionError> {
        let mut failures = 0;
        loop {
            match actions::apply(&action_ctx, params, recorded).await {
                Err(e) if e.transient.is_some() => {
                    failures += 1;
                    action_ctx.fresh = false;
                    self.after_transient(e, failures, deadline).await?;
                }
                other => return other,
            }
        }
    }

    /// Waits out a transient API error before the next pass: the backoff of
    /// `reconcile::backoff` (from 100 ms, doubling, at most 10 s of clock time). An API server
    /// that recovers before the attempt's deadline changes nothing; when the next pass could
    /// not start before `deadline` (the attempt's, less [`backoff::ANSWER_MARGIN`]), the
    /// attempt fails with this error, ahead of the engine's own timeout.
    async fn after_transient(
        &self,
        error: ActionError,
        failures: u32,
        deadline: Instant,
    ) -> Result<(), ActionError> {
        let wait = self.real(backoff::exponential(
            backoff::RETRY_BASE,
            failures,
            &self.key,
        ));
        if Instant::now() + wait >= deadline {
            let message = format!(
                "{} (retried {failures} times until the step's timeout)",
                error.message
            );
            return Err(ActionError { message, ..error });
        }
        let reason = error.transient.unwrap_or(RetryReason::Other);
        self.ctx.config.metrics.retried("executor", reason);
        debug!(execution = %self.key, error = %redact_text(&error.message), wait = ?wait, "transient API error; redoing the step");
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Until when a transient error is retried in an attempt that ends at `deadline`:
    /// [`backoff::answer_margin`] earlier, so that the attempt's failure reaches the workflow
    /// controller before its own timeout of the step, whatever the clocks say.
    fn retry_until(&self, deadline: Instant, timeout: Duration) -> Instant {
        let margin = self.real(backoff::answer_margin(timeout));
        deadline.checked_sub(margin).unwrap_or(deadline)
    }

    /// How long to really wait for `span` of clock time.
    fn real(&self, span: Duration) -> Duration {
        self.ctx.config.clock.real_delay(span)
    }

    /// Checks the timeout, the action type, its parameters (opened) and the target namespace.
    fn check(&self, kex: &KubernetesExecution, trusted: Trusted) -> Result<Call, ActionError> {
        let timeout = match kex.spec.timeout.as_deref() {
            None => self.ctx.config.default_timeout,
            Some(text) => parse_millis(text)
                .map(Duration::from_millis)
                .map_err(|e| ActionError::invalid(format!("spec.timeout: {e}")))?,
        };
        let action = kex.spec.action.action_type.as_str();
        let Some(spec) = self.ctx.catalog.get(action) else {
            let hint = self
                .ctx
                .catalog
                .suggest(action)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(ActionError::invalid(format!(
                "unknown action `{action}`{hint}"
            )));
        };
        let (opened, secrets) = trusted.open_parameters(kex)?;
        let params = Params::validate(spec, &opened)
            .map_err(|e| ActionError::new(e.reason, scrub(&e.message, &secrets)))?;
        if let Some(ns) = params.namespace()
            && self.ctx.is_protected(ns)
        {
            return Err(ActionError::protected(ns));
        }
        if action == "wait" {
            let duration = params.duration("duration")?;
            if duration >= timeout {
                return Err(ActionError::invalid(format!(
                    "wait {} is not shorter than the step's timeout {}; raise the timeout",
                    format_duration(duration),
                    format_duration(timeout)
                )));
            }
        }
        Ok(Call {
            params,
            timeout,
            effect: spec.effect,
            trusted,
            secrets,
        })
    }

    fn action_context(
        &self,
        kex: &KubernetesExecution,
        call: &Call,
        started: Timestamp,
        now: Timestamp,
        fresh: bool,
    ) -> ActionContext {
        ActionContext {
            secrets: Arc::new(call.secrets.clone()),
            client: self.ctx.client.clone(),
            dry_run: kex.spec.dry_run,
            execution_name: kex.name_any(),
            execution_namespace: kex.namespace().unwrap_or_default(),
            execution_uid: kex.uid(),
            started_at: started,
            now,
            poll_interval: self.ctx.config.poll_interval,
            fresh,
        }
    }

    /// Ends the attempt Failed; the previous state this executor recorded (phase Running)
    /// stays in the output. `call` is `None` when the execution failed its checks.
    async fn finish_failed(
        &self,
        kex: KubernetesExecution,
        started: Timestamp,
        error: ActionError,
        call: Option<&Call>,
    ) -> Result<Action, Error> {
        let status = kex.status.as_ref();
        let output: JsonMap = match status.and_then(|s| s.phase) {
            Some(ExecutionPhase::Running) => status
                .and_then(|s| s.result.as_ref())
                .map(|r| public_output(&r.output))
                .unwrap_or_default(),
            _ => JsonMap::new(),
        };
        let result = ExecutionResult {
            success: false,
            output,
            error: error.message,
            reason: Some(error.reason),
            resources_affected: Vec::new(),
        };
        self.finish(kex, started, ExecutionPhase::Failed, result, call)
            .await
    }

    /// Writes the final status: credentials of the output sealed (or, without a checked
    /// call, redacted), messages scrubbed of the credentials the call held.
    async fn finish(
        &self,
        kex: KubernetesExecution,
        started: Timestamp,
        phase: ExecutionPhase,
        mut result: ExecutionResult,
        call: Option<&Call>,
    ) -> Result<Action, Error> {
        let none = BTreeSet::new();
        let secrets = call.map_or(&none, |c| &c.secrets);
        match call {
            // The recorded previous state is what a compensation restores: sealed, so that
            // it is restored exactly; what the action reported besides is only redacted.
            Some(call) => {
                let recorded: BTreeSet<String> = kex
                    .status
                    .as_ref()
                    .and_then(|s| s.result.as_ref())
                    .map(|r| r.output.keys().cloned().collect())
                    .unwrap_or_default();
                let (mut kept, mut reported): (JsonMap, JsonMap) =
                    std::mem::take(&mut result.output)
                        .into_iter()
                        .partition(|(k, _)| recorded.contains(k));
                call.seal(&mut kept);
                for (key, value) in reported.iter_mut() {
                    redact_traced(value, is_credential_key(key), secrets);
                }
                kept.extend(reported);
                result.output = kept;
            }
            None => redact_map(&mut result.output),
        }
        result.error = scrub(&result.error, secrets);
        for change in &mut result.resources_affected {
            change.change = scrub(&change.change, secrets);
        }
        match phase {
            ExecutionPhase::Failed => {
                warn!(
                    execution = %self.key,
                    reason = ?result.reason.unwrap_or(ErrorReason::Unknown),
                    error = %result.error,
                    "failed"
                );
                self.publish_failure(&kex, &result).await;
            }
            _ => info!(execution = %self.key, "succeeded"),
        }
        let status = KubernetesExecutionStatus {
            phase: Some(phase),
            started_at: Some(Time(started)),
            completed_at: Some(Time(self.ctx.config.clock.now())),
            result: Some(result),
        };
        match self.write_status(kex, status).await? {
            Some(_) => Ok(Action::await_change()),
            None => Ok(Action::requeue(Duration::from_millis(200))),
        }
    }

    /// A Warning Event on the execution saying why it failed (best effort: the status is
    /// what counts).
    async fn publish_failure(&self, kex: &KubernetesExecution, result: &ExecutionResult) {
        let reason = result.reason.unwrap_or(ErrorReason::Unknown);
        let execution = ExecutionRef {
            name: kex.name_any(),
            namespace: kex.namespace().unwrap_or_default(),
            uid: kex.uid(),
        };
        let notice = Notice {
            suffix: "failed",
            reason: &format!("Action{reason:?}"),
            message: &format!("{}: {}", kex.spec.action.action_type, result.error),
            warning: true,
        };
        if let Err(e) = events::publish(&self.ctx.client, &execution, &notice, false, true).await {
            debug!(execution = %self.key, error = %e, "could not publish the failure event");
        }
    }

    /// Replaces the status, guarded by the resourceVersion read; `None` on a conflict.
    async fn write_status(
        &self,
        mut kex: KubernetesExecution,
        status: KubernetesExecutionStatus,
    ) -> Result<Option<KubernetesExecution>, Error> {
        kex.status = Some(status);
        let name = kex.name_any();
        match self
            .api
            .replace_status(&name, &PostParams::default(), &kex)
            .await
        {
            Ok(written) => Ok(Some(written)),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                debug!(execution = %self.key, "status changed meanwhile");
                sync::lock(&self.ctx.stale).insert(self.key.clone());
                Ok(None)
            }
            Err(source) => Err(Error::Kube {
                verb: "write the status of",
                name: self.key.clone(),
                source,
            }),
        }
    }
}

fn timed_out(call: &Call) -> ActionError {
    ActionError::timeout(format!(
        "{} did not complete within the step's timeout of {}; raise the timeout or check the target",
        call.params.action(),
        format_duration(call.timeout)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_of_a_finished_execution_only_that_it_is_finished() {
        let mut kex: KubernetesExecution = serde_json::from_value(serde_json::json!({
            "apiVersion": "kubernetesexecution.kubernaut.io/v1alpha1",
            "kind": "KubernetesExecution",
            "metadata": {"name": "x", "namespace": "shop", "generation": 1,
                         "labels": {"a": "b"},
                         "managedFields": [{"manager": "m", "operation": "Update"}]},
            "spec": {"workflowExecutionRef": {"name": "run"}, "step": "s", "attempt": 1,
                     "action": {"type": "scale_deployment", "parameters": {"replicas": 3}}},
            "status": {"phase": "Running", "result": {"success": false, "output": {"previous_replicas": 2}}}
        }))
        .unwrap();
        slim(&mut kex);
        assert_eq!(kex.metadata.managed_fields, None);
        assert!(
            kex.metadata.labels.is_some(),
            "a running execution is kept whole"
        );
        assert_eq!(kex.spec.action.parameters["replicas"], 3);
        assert!(kex.status.as_ref().unwrap().result.is_some());

        kex.status.as_mut().unwrap().phase = Some(ExecutionPhase::Succeeded);
        slim(&mut kex);
        assert_eq!(kex.metadata.labels, None);
        assert!(kex.spec.action.parameters.is_empty());
        let status = kex.status.as_ref().unwrap();
        assert_eq!(status.phase, Some(ExecutionPhase::Succeeded));
        assert!(status.result.is_none());
        assert_eq!(
            kex.metadata.generation,
            Some(1),
            "the generation predicate still reads it"
        );
    }
}
