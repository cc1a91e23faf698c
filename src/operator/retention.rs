//! Retention of finished runs: archive, then delete, never the other way round.
//!
//! Every reconcile of a finished run comes here. With an archive configured, a run not yet
//! archived is stored (an idempotent upsert by uid) and marked with condition `Archived`; a
//! run that cannot be archived (the database is down) stays, shows `Archived=False` with
//! reason `ArchiveUnavailable`, counts in `remedy_runs_unarchived`, and is tried again with
//! a backoff. A run is deleted (its executions go with it, by owner references) once it is
//! due: its retention period since it ended has passed (per run by annotation, else the
//! operator's default for its outcome), or newer finished runs on its target fill the
//! per-target bound. Before deleting, the archive is asked whether it holds the run, so a
//! stale or forged condition cannot lose a record. Without an archive, runs are deleted
//! when due all the same.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::channel::mpsc;
use jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use super::conditions;
use super::planning;
use super::target_lock::TargetKey;
use crate::api::{Outcome, WorkflowExecution};
use crate::archive::Archive;
use crate::archive::collect::{self, CollectError};
use crate::clock::Clock;
use crate::reconcile::metrics::Metrics;
use crate::redact::redact_text;
use crate::sync;

/// Annotation: how long a run that ends with Success or DryRun is kept (`30m`, `12h`, `7d`,
/// or `forever`).
pub const ANNOTATION_RETAIN_SUCCEEDED: &str = "workflowexecution.kubernaut.io/retain-succeeded";
/// Annotation: how long a run that ends any other way is kept.
pub const ANNOTATION_RETAIN_FAILED: &str = "workflowexecution.kubernaut.io/retain-failed";
/// The condition that says whether the run's record is committed to the archive.
pub const CONDITION_ARCHIVED: &str = "Archived";
/// The condition that says a retention annotation cannot be read (the run is then kept).
pub const CONDITION_RETENTION_INVALID: &str = "RetentionInvalid";

/// How long finished runs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// How long a run that ended Success or DryRun stays; `None`: for ever.
    pub succeeded: Option<Duration>,
    /// How long a run that ended any other way stays; `None`: for ever.
    pub failed: Option<Duration>,
    /// At most this many finished runs per target (the newest); `None`: no bound.
    pub per_target: Option<usize>,
    /// How long the archive keeps a record after its run ended; `None`: for ever.
    pub archive_retention: Option<Duration>,
}

/// 24 hours.
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The longest a finished run waits before it is looked at again.
const MAX_WAIT: Duration = DAY;

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            succeeded: Some(7 * DAY),
            failed: Some(30 * DAY),
            per_target: Some(50),
            archive_retention: Some(400 * DAY),
        }
    }
}

/// Reads a retention period: a duration (`90m`, `12h`, `7d`) or `forever`.
pub fn parse_period(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    crate::units::duration::parse_period_millis(text)
        .map(Duration::from_millis)
        .map(Some)
        .map_err(|_| format!("{text:?} is not a retention period (e.g. 90m, 12h, 7d, or forever)"))
}

/// What retention knows of one finished run: what it reads from the run, kept when the
/// watch cache keeps only a slim copy.
#[derive(Debug, Clone, PartialEq)]
struct Finished {
    namespace: String,
    name: String,
    target: Option<TargetKey>,
    ended: Option<Timestamp>,
}

/// The finished runs by uid, and their uids by target: ranking a run among its target's
/// costs the runs on that target, not all of them.
#[derive(Debug, Default)]
struct FinishedIndex {
    runs: HashMap<String, Finished>,
    by_target: HashMap<TargetKey, std::collections::HashSet<String>>,
}

impl FinishedIndex {
    fn get(&self, uid: &str) -> Option<&Finished> {
        self.runs.get(uid)
    }

    fn insert(&mut self, uid: String, entry: Finished) {
        if let Some(old) = self.runs.get(&uid)
            && old.target != entry.target
        {
            self.unlink(&uid, old.target.clone());
        }
        if let Some(t) = &entry.target {
            self.by_target
                .entry(t.clone())
                .or_default()
                .insert(uid.clone());
        }
        self.runs.insert(uid, entry);
    }

    fn remove(&mut self, uid: &str) {
        if let Some(old) = self.runs.remove(uid) {
            self.unlink(uid, old.target);
        }
    }

    fn unlink(&mut self, uid: &str, target: Option<TargetKey>) {
        if let Some(t) = target
            && let Some(set) = self.by_target.get_mut(&t)
        {
            set.remove(uid);
            if set.is_empty() {
                self.by_target.remove(&t);
            }
        }
    }

    fn len(&self) -> usize {
        self.runs.len()
    }

    fn contains(&self, uid: &str) -> bool {
        self.runs.contains_key(uid)
    }

    /// The finished runs on `target`, as (uid, entry).
    fn on_target(&self, target: &TargetKey) -> Vec<(&String, &Finished)> {
        self.by_target
            .get(target)
            .map(|uids| {
                uids.iter()
                    .filter_map(|u| self.runs.get_key_value(u))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Retention's state, shared by the reconciles.
#[derive(Debug)]
pub struct Retention {
    config: RetentionConfig,
    archive: Option<Archive>,
    /// Finished runs by uid, for the per-target bound.
    finished: Mutex<FinishedIndex>,
    /// While the watch (re)lists: the finished runs listed so far, which replace `finished`
    /// when the list is complete (runs deleted while the watch was down leave no event).
    relisting: Mutex<Option<FinishedIndex>>,
    /// Failed archive attempts in a row, by run uid (for the backoff and the gauge).
    failures: Mutex<HashMap<String, u32>>,
    /// Runs to reconcile now: the older runs a newly finished one pushes past the bound.
    trigger: mpsc::UnboundedSender<ObjectRef<WorkflowExecution>>,
}

/// Why a finished run's reconcile failed (retried by the controller's error policy).
pub type RetentionError = kube::Error;

impl Retention {
    /// Retention with `config` and `archive`, and the stream of runs it asks to reconcile.
    pub fn new(
        config: RetentionConfig,
        archive: Option<Archive>,
    ) -> (
        Retention,
        mpsc::UnboundedReceiver<ObjectRef<WorkflowExecution>>,
    ) {
        let (trigger, triggered) = mpsc::unbounded();
        (
            Retention {
                config,
                archive,
                finished: Mutex::new(FinishedIndex::default()),
                relisting: Mutex::new(None),
                failures: Mutex::new(HashMap::new()),
                trigger,
            },
            triggered,
        )
    }

    /// The archive, if one is configured.
    pub fn archive(&self) -> Option<&Archive> {
        self.archive.as_ref()
    }

    /// Takes in one event of the watch of runs, before the cache slims it: a finished run's
    /// target is read from its pinned plan here, once.
    pub fn observe(&self, event: &watcher::Event<WorkflowExecution>) {
        match event {
            watcher::Event::Apply(run) => self.note(run),
            watcher::Event::Delete(run) => self.forget(&run.uid().unwrap_or_default()),
            watcher::Event::Init => {
                *sync::lock(&self.relisting) = Some(FinishedIndex::default());
            }
            watcher::Event::InitApply(run) => {
                let known = run
                    .metadata
                    .uid
                    .as_ref()
                    .and_then(|u| sync::lock(&self.finished).get(u).cloned());
                if let Some((uid, entry)) = finished_entry(run, known) {
                    sync::lock(&self.relisting)
                        .get_or_insert_with(FinishedIndex::default)
                        .insert(uid, entry);
                }
            }
            watcher::Event::InitDone => {
                let listed = sync::lock(&self.relisting).take();
                if let Some(listed) = listed {
                    *sync::lock(&self.finished) = listed;
                }
                let finished = sync::lock(&self.finished);
                sync::lock(&self.failures).retain(|uid, _| finished.contains(uid));
            }
        }
    }

    /// Records a finished run (a run not finished is ignored); a copy without its plan keeps
    /// the target already known.
    fn note(&self, run: &WorkflowExecution) {
        let mut finished = sync::lock(&self.finished);
        let known = run
            .metadata
            .uid
            .as_ref()
            .and_then(|u| finished.get(u).cloned());
        if let Some((uid, entry)) = finished_entry(run, known) {
            finished.insert(uid, entry);
        }
    }

    fn forget(&self, uid: &str) {
        sync::lock(&self.finished).remove(uid);
        sync::lock(&self.failures).remove(uid);
    }

    /// Finished runs known, over all targets.
    pub fn finished_runs(&self) -> usize {
        sync::lock(&self.finished).len()
    }

    /// Runs whose last archive attempt failed.
    pub fn unarchived(&self) -> usize {
        sync::lock(&self.failures).len()
    }

    /// The finished runs on the target of run `uid` beyond the newest `keep`, by
    /// (namespace, name, uid); and whether `uid` itself is among them.
    fn excess(&self, uid: &str, keep: usize) -> (Vec<(String, String, String)>, bool) {
        let finished = sync::lock(&self.finished);
        let Some(target) = finished.get(uid).and_then(|f| f.target.as_ref()) else {
            return (Vec::new(), false);
        };
        let mut same = finished.on_target(target);
        // Newest first. End times have whole seconds: within one, the later name counts as
        // the newer (names with a counter end in order), so that every reconcile ranks alike.
        same.sort_by(|(ua, a), (ub, b)| {
            b.ended
                .cmp(&a.ended)
                .then_with(|| b.name.cmp(&a.name))
                .then_with(|| ub.cmp(ua))
        });
        let beyond: Vec<(String, String, String)> = same
            .into_iter()
            .skip(keep)
            .map(|(u, f)| (f.namespace.clone(), f.name.clone(), u.clone()))
            .collect();
        let me = beyond.iter().any(|(_, _, u)| u == uid);
        (beyond, me)
    }

    fn failed_attempt(&self, uid: &str) -> u32 {
        let mut failures = sync::lock(&self.failures);
        let n = failures.entry(uid.to_string()).or_default();
        *n = n.saturating_add(1);
        *n
    }

    fn archived_ok(&self, uid: &str) {
        sync::lock(&self.failures).remove(uid);
    }
}

/// The entry of `run` when it is finished; a copy without its plan keeps the target of the
/// entry `known` before.
fn finished_entry(run: &WorkflowExecution, known: Option<Finished>) -> Option<(String, Finished)> {
    let status = run.status.as_ref()?;
    if !status
        .phase
        .is_some_and(crate::api::WorkflowPhase::is_terminal)
    {
        return None;
    }
    let uid = run.metadata.uid.clone()?;
    let namespace = run.namespace().unwrap_or_default();
    let target = match status.plan.as_deref() {
        Some(plan) => target_of_plan(plan, &namespace),
        None => known.and_then(|k| k.target),
    };
    Some((
        uid,
        Finished {
            namespace,
            name: run.name_any(),
            target,
            ended: status.completed_at.as_ref().map(|t| t.0),
        },
    ))
}

/// The target a pinned plan acts on (a namespaced target without a namespace is in the run's
/// `namespace`), reading only that part of the plan.
fn target_of_plan(text: &str, namespace: &str) -> Option<TargetKey> {
    #[derive(serde::Deserialize)]
    struct Plan {
        analysis: Analysis,
    }
    #[derive(serde::Deserialize)]
    struct Analysis {
        #[serde(rename = "targetResource")]
        target: Option<crate::api::TargetResource>,
    }
    let plan: Plan = serde_json::from_str(text).ok()?;
    planning::target_key(plan.analysis.target.as_ref(), namespace)
}

/// The backoff after `attempts` failed archive attempts: 1 s doubling, at most 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(9);
    Duration::from_secs(1u64 << exp).min(Duration::from_secs(300))
}

/// When a finished run becomes due for deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Due {
    /// Never by time (retention `forever`, or an unreadable annotation).
    Never,
    /// At this time (clock time).
    At(Timestamp),
}

/// The retention period of `run` by its outcome: its annotation, else the default; an
/// annotation that cannot be read is reported and keeps the run.
fn period(run: &WorkflowExecution, config: &RetentionConfig) -> Result<Option<Duration>, String> {
    let outcome = run.status.as_ref().and_then(|s| s.outcome);
    let succeeded = matches!(outcome, Some(Outcome::Success | Outcome::DryRun));
    let (key, default) = if succeeded {
        (ANNOTATION_RETAIN_SUCCEEDED, config.succeeded)
    } else {
        (ANNOTATION_RETAIN_FAILED, config.failed)
    };
    match run.annotations().get(key) {
        Some(text) => parse_period(text).map_err(|e| format!("annotation {key}: {e}")),
        None => Ok(default),
    }
}

fn due(run: &WorkflowExecution, period: Option<Duration>) -> Due {
    let Some(period) = period else {
        return Due::Never;
    };
    let ended = run
        .status
        .as_ref()
        .and_then(|s| s.completed_at.as_ref())
        .map(|t| t.0)
        .or_else(|| run.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let period = jiff::SignedDuration::try_from(period).unwrap_or(jiff::SignedDuration::MAX);
    Due::At(ended.checked_add(period).unwrap_or(Timestamp::MAX))
}

/// Whether `run` shows condition Archived=True.
pub fn shows_archived(run: &WorkflowExecution) -> bool {
    run.status
        .as_ref()
        .and_then(|s| conditions::get(&s.conditions, CONDITION_ARCHIVED))
        .is_some_and(|c| c.status == "True")
}

/// What a finished run's reconcile needs besides retention's own state.
pub struct Env<'a> {
    /// The API client.
    pub client: &'a Client,
    /// The clock (status times are clock times).
    pub clock: &'a dyn Clock,
    /// Where archive and deletion counts go.
    pub metrics: &'a Metrics,
}

/// Reconciles a finished run: archive it if it is not, delete it when it is due, and
/// otherwise come back when it will be.
pub async fn reconcile(
    run: &WorkflowExecution,
    retention: &Retention,
    env: &Env<'_>,
) -> Result<Action, RetentionError> {
    let Some(uid) = run.uid() else {
        return Ok(Action::await_change());
    };
    if run.metadata.deletion_timestamp.is_some() {
        // Being deleted already (by a person, or by an earlier reconcile). While a finalizer
        // holds it, it is still archived, so that the record outlives it.
        return Ok(archive_before_release(run, retention, env)
            .await?
            .unwrap_or_else(Action::await_change));
    }
    retention.note(run);
    let now = env.clock.now();
    let period = period(run, &retention.config);
    let mut due_now = false;
    let mut reason = "ttl";
    let mut wake = None;
    if let Ok(p) = &period {
        match due(run, *p) {
            Due::At(at) if at <= now => due_now = true,
            Due::At(at) => wake = Some(at.duration_since(now)),
            Due::Never => {}
        }
    }
    if let Some(keep) = retention.config.per_target {
        let (excess, me) = retention.excess(&uid, keep);
        if me {
            due_now = true;
            reason = "per_target";
        } else {
            // This run is among the newest: the older ones past the bound are due now.
            for (ns, name, _) in excess {
                let _ = retention
                    .trigger
                    .unbounded_send(ObjectRef::new(&name).within(&ns));
            }
        }
    }
    let invalid = period.as_ref().err().cloned();
    let archive = retention.archive.as_ref();
    let mut archived_now = false;
    if let Some(archive) = archive {
        let verified = if due_now && shows_archived(run) {
            // About to delete: the archive itself must hold the record.
            match archive.contains(&uid).await {
                Ok(held) => held,
                Err(e) => {
                    return archive_failed(run, retention, env, &uid, &e.to_string()).await;
                }
            }
        } else {
            shows_archived(run)
        };
        if !verified {
            match archive_run(run, retention, env, &uid, invalid.as_deref()).await? {
                Archived::Stored => archived_now = true,
                Archived::Gone => return Ok(Action::await_change()),
                Archived::Failed(action) => return Ok(action),
            }
        }
    }
    if !archived_now {
        note_invalid(run, env, invalid.as_deref()).await?;
    }
    if invalid.is_some() && reason == "ttl" {
        // An unreadable period keeps the run (only the per-target bound may still end it).
        due_now = false;
    }
    if due_now {
        delete(run, env, &uid, reason).await?;
        retention.forget(&uid);
        return Ok(Action::await_change());
    }
    Ok(match wake {
        // Looked at again at least daily: a timer for weeks ahead buys nothing, and the
        // runtime's timers do not reach years.
        Some(d) => Action::requeue(
            env.clock
                .real_delay(d.try_into().unwrap_or(MAX_WAIT))
                .min(MAX_WAIT),
        ),
        None => Action::await_change(),
    })
}

/// For a finished run being deleted: `None` when its finalizer may come off (no archive is
/// configured, or the archive holds its record, committed now if it was not), otherwise when
/// to look again (the archive failed: retried with backoff; or the run is gone).
pub async fn archive_before_release(
    run: &WorkflowExecution,
    retention: &Retention,
    env: &Env<'_>,
) -> Result<Option<Action>, RetentionError> {
    let Some(uid) = run.uid() else {
        return Ok(Some(Action::await_change()));
    };
    if retention.archive.is_none() || shows_archived(run) {
        return Ok(None);
    }
    Ok(match archive_run(run, retention, env, &uid, None).await? {
        Archived::Stored => None,
        Archived::Failed(action) => Some(action),
        Archived::Gone => Some(Action::await_change()),
    })
}

/// What came of an archive attempt.
enum Archived {
    /// Committed, and the run marked Archived.
    Stored,
    /// The run is gone (or replaced by another of the same name).
    Gone,
    /// It failed: the run is marked, and this is when to try again.
    Failed(Action),
}

/// Stores the run's record, then marks the run `Archived`.
async fn archive_run(
    cached: &WorkflowExecution,
    retention: &Retention,
    env: &Env<'_>,
    uid: &str,
    invalid: Option<&str>,
) -> Result<Archived, RetentionError> {
    let Some(archive) = retention.archive.as_ref() else {
        return Ok(Archived::Stored);
    };
    let runs: Api<WorkflowExecution> =
        Api::namespaced(env.client.clone(), &cached.namespace().unwrap_or_default());
    // The cache may hold a slim copy: the record is built from the run as stored.
    let Some(run) = runs.get_opt(&cached.name_any()).await? else {
        return Ok(Archived::Gone);
    };
    if run.uid().as_deref() != Some(uid) {
        return Ok(Archived::Gone);
    }
    let record = match collect::record_of(env.client, &run).await {
        Ok(r) => r,
        Err(CollectError::Kube(e)) => return Err(e),
        Err(CollectError::Record(e)) => {
            let action = archive_failed(&run, retention, env, uid, &e.to_string()).await?;
            return Ok(Archived::Failed(action));
        }
    };
    if let Err(e) = archive.store(&record).await {
        let action = archive_failed(&run, retention, env, uid, &e.to_string()).await?;
        return Ok(Archived::Failed(action));
    }
    retention.archived_ok(uid);
    env.metrics.run_archived();
    env.metrics.set_unarchived_runs(retention.unarchived());
    tracing::info!(run = %record.id(), archive = archive.location(), "archived");
    let mut marked = run.clone();
    let status = marked.status.get_or_insert_with(Default::default);
    let now = env.clock.now();
    conditions::set(
        &mut status.conditions,
        CONDITION_ARCHIVED,
        true,
        "Archived",
        &format!(
            "the run's record is committed to the archive ({})",
            archive.location()
        ),
        run.metadata.generation,
        now,
    );
    set_invalid(
        &mut status.conditions,
        invalid,
        run.metadata.generation,
        now,
    );
    runs.replace_status(&run.name_any(), &PostParams::default(), &marked)
        .await?;
    Ok(Archived::Stored)
}

/// Records a failed archive attempt: counted, shown on the run (once per change), retried.
async fn archive_failed(
    run: &WorkflowExecution,
    retention: &Retention,
    env: &Env<'_>,
    uid: &str,
    error: &str,
) -> Result<Action, RetentionError> {
    let attempts = retention.failed_attempt(uid);
    env.metrics.archive_failed();
    env.metrics.set_unarchived_runs(retention.unarchived());
    let error = redact_text(error);
    let delay = backoff(attempts);
    tracing::warn!(
        run = %format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any()),
        attempts, retry_in = ?delay, error = %error,
        "cannot archive the run; it is kept"
    );
    let message =
        format!("the run is kept until it is archived; attempt {attempts} failed: {error}");
    let shown = run
        .status
        .as_ref()
        .and_then(|s| conditions::get(&s.conditions, CONDITION_ARCHIVED))
        .is_some_and(|c| c.status == "False" && c.reason == "ArchiveUnavailable");
    // The first failure (and one after a success) is written; later ones only count, so a
    // long outage does not rewrite every run at every retry.
    if !shown {
        let runs: Api<WorkflowExecution> =
            Api::namespaced(env.client.clone(), &run.namespace().unwrap_or_default());
        if let Some(mut current) = runs.get_opt(&run.name_any()).await?
            && current.uid().as_deref() == Some(uid)
        {
            let generation = current.metadata.generation;
            let status = current.status.get_or_insert_with(Default::default);
            conditions::set(
                &mut status.conditions,
                CONDITION_ARCHIVED,
                false,
                "ArchiveUnavailable",
                &message,
                generation,
                env.clock.now(),
            );
            runs.replace_status(&current.name_any(), &PostParams::default(), &current)
                .await?;
        }
    }
    Ok(Action::requeue(delay))
}

fn set_invalid(
    conds: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    invalid: Option<&str>,
    generation: Option<i64>,
    now: Timestamp,
) {
    match invalid {
        Some(message) => conditions::set(
            conds,
            CONDITION_RETENTION_INVALID,
            true,
            "InvalidAnnotation",
            &format!("{message}; the run is kept until the annotation is fixed"),
            generation,
            now,
        ),
        None => conditions::remove(conds, CONDITION_RETENTION_INVALID),
    }
}

/// Shows (or clears) condition RetentionInvalid when it does not say so already.
async fn note_invalid(
    run: &WorkflowExecution,
    env: &Env<'_>,
    invalid: Option<&str>,
) -> Result<(), RetentionError> {
    let shown = run
        .status
        .as_ref()
        .and_then(|s| conditions::get(&s.conditions, CONDITION_RETENTION_INVALID))
        .map(|c| c.message.clone());
    let wanted = invalid.map(|m| format!("{m}; the run is kept until the annotation is fixed"));
    if shown == wanted {
        return Ok(());
    }
    let runs: Api<WorkflowExecution> =
        Api::namespaced(env.client.clone(), &run.namespace().unwrap_or_default());
    let Some(mut current) = runs.get_opt(&run.name_any()).await? else {
        return Ok(());
    };
    if current.uid() != run.uid() {
        return Ok(());
    }
    let generation = current.metadata.generation;
    let status = current.status.get_or_insert_with(Default::default);
    set_invalid(&mut status.conditions, invalid, generation, env.clock.now());
    runs.replace_status(&current.name_any(), &PostParams::default(), &current)
        .await?;
    Ok(())
}

/// Deletes the run (only this uid); its executions follow by owner references.
async fn delete(
    run: &WorkflowExecution,
    env: &Env<'_>,
    uid: &str,
    reason: &'static str,
) -> Result<(), RetentionError> {
    let runs: Api<WorkflowExecution> =
        Api::namespaced(env.client.clone(), &run.namespace().unwrap_or_default());
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match runs.delete(&run.name_any(), &params).await {
        Ok(_) => {
            env.metrics.run_deleted(reason);
            tracing::info!(
                run = %format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any()),
                reason, "deleted a finished run"
            );
            Ok(())
        }
        // Gone already, or replaced by a new run of the same name: nothing to do.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Every hour until `stop`: deletes archive records older than the archive's retention.
pub async fn expire_archive(
    archive: Archive,
    keep: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let cutoff = jiff::SignedDuration::try_from(keep)
            .ok()
            .and_then(|k| Timestamp::now().checked_sub(k).ok());
        if let Some(cutoff) = cutoff {
            match archive.expire(cutoff).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(records = n, "expired archive records past their retention")
                }
                Err(e) => {
                    tracing::warn!(error = %redact_text(&e.to_string()), "cannot expire archive records")
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(
        name: &str,
        outcome: &str,
        ended: i64,
        annotations: serde_json::Value,
    ) -> WorkflowExecution {
        serde_json::from_value(json!({
            "apiVersion": "workflowexecution.kubernaut.io/v1alpha1",
            "kind": "WorkflowExecution",
            "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                         "annotations": annotations},
            "spec": {"aiAnalysisRef": {"name": "a"}},
            "status": {
                "phase": if outcome == "Success" { "Completed" } else { "Failed" },
                "outcome": outcome,
                "completedAt": Timestamp::from_second(ended).unwrap().to_string(),
                "plan": json!({"analysis": {"targetResource": {"kind": "Deployment", "namespace": "shop", "name": "web"}}}).to_string(),
            }
        }))
        .unwrap()
    }

    #[test]
    fn periods_come_from_the_annotation_else_the_default_by_outcome() {
        let config = RetentionConfig::default();
        let ok = run("a", "Success", 0, json!({}));
        assert_eq!(period(&ok, &config), Ok(Some(7 * DAY)));
        let bad = run("b", "RolledBack", 0, json!({}));
        assert_eq!(period(&bad, &config), Ok(Some(30 * DAY)));
        let pinned = run(
            "c",
            "Failed",
            0,
            json!({ANNOTATION_RETAIN_FAILED: "forever"}),
        );
        assert_eq!(period(&pinned, &config), Ok(None));
        let short = run(
            "d",
            "Success",
            0,
            json!({ANNOTATION_RETAIN_SUCCEEDED: "90m", ANNOTATION_RETAIN_FAILED: "junk"}),
        );
        assert_eq!(period(&short, &config), Ok(Some(Duration::from_secs(5400))));
        let junk = run(
            "e",
            "Failed",
            0,
            json!({ANNOTATION_RETAIN_FAILED: "a week"}),
        );
        let e = period(&junk, &config).unwrap_err();
        assert!(e.contains("retain-failed") && e.contains("a week"), "{e}");
        assert_eq!(
            due(&short, Some(Duration::from_secs(60))),
            Due::At(Timestamp::from_second(60).unwrap())
        );
        assert_eq!(due(&short, None), Due::Never);
    }

    #[test]
    fn the_bound_per_target_counts_the_newest_first() {
        let (r, _rx) = Retention::new(RetentionConfig::default(), None);
        for (name, ended) in [("old", 10), ("mid", 20), ("new", 30)] {
            r.observe(&watcher::Event::Apply(run(
                name,
                "Success",
                ended,
                json!({}),
            )));
        }
        // A slim copy (no plan) keeps the target already known.
        let mut slim = run("mid", "Success", 20, json!({}));
        slim.status.as_mut().unwrap().plan = None;
        r.observe(&watcher::Event::Apply(slim));
        let (excess, me) = r.excess("uid-new", 2);
        assert_eq!(
            excess,
            vec![("shop".into(), "old".into(), "uid-old".into())]
        );
        assert!(!me);
        assert!(r.excess("uid-old", 2).1);
        assert!(!r.excess("uid-mid", 2).1);
        // Within one second, the later name is the newer.
        r.observe(&watcher::Event::Apply(run(
            "new-2",
            "Success",
            30,
            json!({}),
        )));
        assert_eq!(
            r.excess("uid-new-2", 2).0,
            vec![
                ("shop".into(), "mid".into(), "uid-mid".into()),
                ("shop".into(), "old".into(), "uid-old".into())
            ]
        );
        r.observe(&watcher::Event::Delete(run(
            "new-2",
            "Success",
            30,
            json!({}),
        )));
        r.observe(&watcher::Event::Delete(run(
            "old",
            "Success",
            10,
            json!({}),
        )));
        assert!(r.excess("uid-new", 2).0.is_empty());
        assert_eq!(r.finished_runs(), 2);
    }

    #[test]
    fn the_backoff_doubles_to_five_minutes() {
        let secs: Vec<u64> = [1, 2, 3, 9, 10, 40]
            .iter()
            .map(|a| backoff(*a).as_secs())
            .collect();
        assert_eq!(secs, vec![1, 2, 4, 256, 300, 300]);
    }

    #[test]
    fn periods_are_read_or_refused() {
        assert_eq!(parse_period("7d"), Ok(Some(7 * DAY)));
        assert_eq!(parse_period("FOREVER"), Ok(None));
        assert_eq!(parse_period("0s"), Ok(Some(Duration::ZERO)));
        assert!(parse_period("-1d").is_err());
        assert!(parse_period("").is_err());
    }
}
