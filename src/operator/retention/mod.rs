//! Retention of finished runs: archive, then delete, never the other way round.
//!
//! The workflow controller keeps no finished run: it hands every watch event of a run to
//! [`Retention::observe`], which keeps a small entry per finished run (`index`) with the
//! time it is looked at next, and the keeper (`keeper`) looks at each when that time comes,
//! reading the run from the API ([`reconcile`]). With an archive configured, a run not yet
//! archived is stored (an idempotent upsert by uid) and marked with condition `Archived`; a
//! run that cannot be archived (the database is down) stays, shows `Archived=False` with
//! reason `ArchiveUnavailable`, counts in `remedy_runs_unarchived`, and is tried again with
//! a backoff. A run is deleted (its executions go with it, by owner references) once it is
//! due: its retention period since it ended has passed (per run by annotation, else the
//! operator's default for its outcome), or newer finished runs on its target fill the
//! per-target bound. Before deleting, the archive is asked whether it holds the run, so a
//! stale or forged condition cannot lose a record. Without an archive, runs are deleted
//! when due all the same.

mod index;
mod keeper;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions, PropagationPolicy};
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
use index::{Finished, FinishedIndex, Uid};
pub use keeper::keep;

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

/// Retention's state, shared by the workflow controller (which hands it the watch events of
/// runs) and the keeper (which looks at the finished runs when they need it).
#[derive(Debug)]
pub struct Retention {
    config: RetentionConfig,
    archive: Option<Archive>,
    clock: Arc<dyn Clock>,
    /// The finished runs: a small entry each, by uid, target and wake time.
    finished: Mutex<FinishedIndex>,
    /// While the watch (re)lists: the finished runs listed so far, which replace `finished`
    /// when the list is complete (runs deleted while the watch was down leave no event).
    relisting: Mutex<Option<FinishedIndex>>,
    /// Failed archive attempts in a row, by run uid (for the backoff and the gauge).
    failures: Mutex<HashMap<String, u32>>,
    /// Failed looks (API errors) in a row, by run uid, for the keeper's backoff.
    errors: Mutex<HashMap<String, u32>>,
    /// Runs this process is finishing: their terminal status is being written and their
    /// events published. The keeper leaves them until [`Finishing`] is dropped, so that the
    /// record it archives holds those events.
    finishing: Mutex<HashSet<String>>,
    /// Wakes the keeper: a run is due now, or an earlier wake time was set.
    wake: tokio::sync::Notify,
}

/// While alive, the keeper leaves its run alone (see [`Retention::finishing`]); when dropped,
/// the run is looked at now.
#[derive(Debug)]
pub struct Finishing<'r> {
    retention: &'r Retention,
    uid: String,
}

impl Drop for Finishing<'_> {
    fn drop(&mut self) {
        sync::lock(&self.retention.finishing).remove(&self.uid);
        let now = self.retention.clock.now();
        sync::lock(&self.retention.finished).wake_by(&self.uid, Some(now));
        self.retention.wake.notify_one();
    }
}

/// Why a finished run's reconcile failed (retried by the keeper with a backoff).
pub type RetentionError = kube::Error;

/// When a finished run is looked at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Only when it changes (or is deleted).
    OnChange,
    /// After this long (clock time).
    After(Duration),
}

impl Retention {
    /// Retention with `config` and `archive`; wake times are `clock` times.
    pub fn new(config: RetentionConfig, archive: Option<Archive>, clock: Arc<dyn Clock>) -> Self {
        Retention {
            config,
            archive,
            clock,
            finished: Mutex::new(FinishedIndex::default()),
            relisting: Mutex::new(None),
            failures: Mutex::new(HashMap::new()),
            errors: Mutex::new(HashMap::new()),
            finishing: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// The archive, if one is configured.
    pub fn archive(&self) -> Option<&Archive> {
        self.archive.as_ref()
    }

    /// Says that this process is finishing run `uid` (writing its terminal status, then
    /// publishing its events): the keeper leaves it until the guard is dropped.
    pub fn finishing(&self, uid: &str) -> Finishing<'_> {
        sync::lock(&self.finishing).insert(uid.to_string());
        Finishing {
            retention: self,
            uid: uid.to_string(),
        }
    }

    /// Takes in one event of the watch of runs, whole (the controller's cache keeps no
    /// finished run): a finished run's entry is made here, with the time it is looked at
    /// next. A run that is not finished is not retention's.
    pub fn observe(&self, event: &watcher::Event<WorkflowExecution>) {
        match event {
            watcher::Event::Apply(run) => self.note(run),
            watcher::Event::Delete(run) => self.forget(&run.uid().unwrap_or_default()),
            watcher::Event::Init => {
                *sync::lock(&self.relisting) = Some(FinishedIndex::default());
            }
            watcher::Event::InitApply(run) => {
                let Some(uid) = run.metadata.uid.as_deref() else {
                    return;
                };
                let mut relisting = sync::lock(&self.relisting);
                let listed = relisting.get_or_insert_with(FinishedIndex::default);
                let known = sync::lock(&self.finished).get(uid).cloned();
                let failing = sync::lock(&self.failures).contains_key(uid);
                if let Some(entry) = self.entry_of(run, listed, known, failing) {
                    listed.insert(uid, entry);
                }
            }
            watcher::Event::InitDone => {
                let listed = sync::lock(&self.relisting).take();
                let mut finished = sync::lock(&self.finished);
                if let Some(listed) = listed {
                    *finished = listed;
                }
                sync::lock(&self.failures).retain(|uid, _| finished.contains(uid));
                sync::lock(&self.errors).retain(|uid, _| finished.contains(uid));
                // Targets over the bound: their oldest runs are due now.
                if let Some(keep) = self.config.per_target {
                    let now = self.clock.now();
                    for target in finished.crowded_targets(keep) {
                        for uid in beyond(&finished, &target, keep) {
                            finished.set_wake(&uid, Some(now));
                        }
                    }
                }
                drop(finished);
                self.wake.notify_one();
            }
        }
    }

    /// Records a finished run and when to look at it; forgets a run that is not finished
    /// (a run in flight is the controller's).
    fn note(&self, run: &WorkflowExecution) {
        let Some(uid) = run.metadata.uid.as_deref() else {
            return;
        };
        let failing = sync::lock(&self.failures).contains_key(uid);
        let mut finished = sync::lock(&self.finished);
        let known = finished.get(uid).cloned();
        let Some(entry) = self.entry_of(run, &finished, known, failing) else {
            drop(finished);
            self.forget(uid);
            return;
        };
        let target = entry.target.clone();
        finished.insert(uid, entry);
        // This run may push older ones on its target past the bound: they are due now.
        if let (Some(keep), Some(target)) = (self.config.per_target, target) {
            let now = self.clock.now();
            for over in beyond(&finished, &target, keep) {
                finished.set_wake(&over, Some(now));
            }
        }
        drop(finished);
        self.wake.notify_one();
    }

    /// The entry of `run` when it is finished, with the time to look at it next
    /// ([`first_look`]). A copy without its plan keeps the target `known`; a run whose archive
    /// attempts are failing keeps the backoff's wake (its own status writes do not cut it
    /// short).
    fn entry_of(
        &self,
        run: &WorkflowExecution,
        index: &FinishedIndex,
        known: Option<Finished>,
        failing: bool,
    ) -> Option<Finished> {
        let status = run.status.as_ref()?;
        if !status
            .phase
            .is_some_and(crate::api::WorkflowPhase::is_terminal)
        {
            return None;
        }
        let namespace = run.namespace().unwrap_or_default();
        // The target serves the per-target bound only: without one, it is not read.
        let target = match status.plan.as_deref() {
            _ if self.config.per_target.is_none() => None,
            Some(plan) => target_of_plan(plan, &namespace).map(|t| index.shared_target(t)),
            None => known.as_ref().and_then(|k| k.target.clone()),
        };
        let uid = run.metadata.uid.as_deref().unwrap_or_default();
        let wake = match known.as_ref().map(|k| k.wake) {
            // Its events are being published: looked at when they are.
            _ if sync::lock(&self.finishing).contains(uid) => None,
            Some(kept) if failing && run.metadata.deletion_timestamp.is_none() => kept,
            _ => first_look(run, &self.config, self.archive.is_some(), self.clock.now()),
        };
        Some(Finished {
            namespace: namespace.into(),
            name: run.name_any().into(),
            target,
            ended: status.completed_at.as_ref().map(|t| t.0),
            wake,
        })
    }

    fn forget(&self, uid: &str) {
        sync::lock(&self.finished).remove(uid);
        sync::lock(&self.failures).remove(uid);
        sync::lock(&self.errors).remove(uid);
    }

    /// Finished runs known, over all targets.
    pub fn finished_runs(&self) -> usize {
        sync::lock(&self.finished).len()
    }

    /// Runs whose last archive attempt failed.
    pub fn unarchived(&self) -> usize {
        sync::lock(&self.failures).len()
    }

    /// Whether run `uid` is beyond the newest `keep` finished runs on its target.
    fn past_bound(&self, uid: &str, keep: usize) -> bool {
        let finished = sync::lock(&self.finished);
        let Some(target) = finished.get(uid).and_then(|f| f.target.clone()) else {
            return false;
        };
        beyond(&finished, &target, keep).iter().any(|u| &**u == uid)
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

/// The uids of the finished runs on `target` beyond the newest `keep`. End times have whole
/// seconds: within one, the later name counts as the newer (names with a counter end in
/// order), so that every look ranks alike.
fn beyond(index: &FinishedIndex, target: &TargetKey, keep: usize) -> Vec<Uid> {
    let mut same = index.on_target(target);
    if same.len() <= keep {
        return Vec::new();
    }
    same.sort_by(|(ua, a), (ub, b)| {
        b.ended
            .cmp(&a.ended)
            .then_with(|| b.name.cmp(&a.name))
            .then_with(|| ub.cmp(ua))
    });
    same.into_iter()
        .skip(keep)
        .map(|(u, _)| u.clone())
        .collect()
}

/// When a finished run must be looked at, read from the run as the watch shows it: now when
/// something is to be done (it is being deleted, it is not archived yet, its
/// `RetentionInvalid` condition does not say what its annotations say, or it is due); else
/// when it becomes due; `None` when it never does by time.
fn first_look(
    run: &WorkflowExecution,
    config: &RetentionConfig,
    archiving: bool,
    now: Timestamp,
) -> Option<Timestamp> {
    if run.metadata.deletion_timestamp.is_some() || (archiving && !shows_archived(run)) {
        return Some(now);
    }
    let period = period(run, config);
    if !invalid_shown(run, period.as_ref().err().map(String::as_str)) {
        return Some(now);
    }
    match period.map(|p| due(run, p)) {
        Ok(Due::At(at)) => Some(at.max(now)),
        Ok(Due::Never) | Err(_) => None,
    }
}

/// The target a pinned plan acts on (a namespaced target without a namespace is in the run's
/// `namespace`), reading only that part of the plan.
fn target_of_plan(text: &str, namespace: &str) -> Option<TargetKey> {
    planning::target_key(crate::plan::pinned_target(text).as_ref(), namespace)
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

/// Reconciles a finished run, read whole from the API: archive it if it is not, delete it
/// when it is due, and otherwise say when it will be.
pub async fn reconcile(
    run: &WorkflowExecution,
    retention: &Retention,
    env: &Env<'_>,
) -> Result<Next, RetentionError> {
    let Some(uid) = run.uid() else {
        return Ok(Next::OnChange);
    };
    if run.metadata.deletion_timestamp.is_some() {
        // Being deleted already (by a person, or by an earlier reconcile). While a finalizer
        // holds it, it is still archived, so that the record outlives it.
        return Ok(archive_before_release(run, retention, env)
            .await?
            .unwrap_or(Next::OnChange));
    }
    // The run's entry is kept up to date by its watch events (`observe`), not here: noting
    // this read again would make it due now and cost a second look.
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
    // (The watch event that noted this run made the older runs past the bound due now.)
    if let Some(keep) = retention.config.per_target
        && retention.past_bound(&uid, keep)
    {
        due_now = true;
        reason = "per_target";
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
                Archived::Gone => return Ok(Next::OnChange),
                Archived::Failed(next) => return Ok(next),
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
        // Its entry goes with the watch's Delete event. A finalizer may hold the run: then
        // its Apply event (being deleted) makes it due again, to be released.
        delete(run, env, &uid, reason).await?;
        return Ok(Next::OnChange);
    }
    Ok(match wake {
        Some(d) => Next::After(d.try_into().unwrap_or(Duration::MAX)),
        None => Next::OnChange,
    })
}

/// For a finished run being deleted: `None` when its finalizer may come off (no archive is
/// configured, or the archive holds its record, committed now if it was not), otherwise when
/// to look again (the archive failed: retried with backoff; or the run is gone).
pub async fn archive_before_release(
    run: &WorkflowExecution,
    retention: &Retention,
    env: &Env<'_>,
) -> Result<Option<Next>, RetentionError> {
    let Some(uid) = run.uid() else {
        return Ok(Some(Next::OnChange));
    };
    if retention.archive.is_none() || shows_archived(run) {
        return Ok(None);
    }
    Ok(match archive_run(run, retention, env, &uid, None).await? {
        Archived::Stored => None,
        Archived::Failed(next) => Some(next),
        Archived::Gone => Some(Next::OnChange),
    })
}

/// What came of an archive attempt.
enum Archived {
    /// Committed, and the run marked Archived.
    Stored,
    /// The run is gone (or replaced by another of the same name).
    Gone,
    /// It failed: the run is marked, and this is when to try again.
    Failed(Next),
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
            let next = archive_failed(&run, retention, env, uid, &e.to_string()).await?;
            return Ok(Archived::Failed(next));
        }
    };
    if let Err(e) = archive.store(&record).await {
        let next = archive_failed(&run, retention, env, uid, &e.to_string()).await?;
        return Ok(Archived::Failed(next));
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
) -> Result<Next, RetentionError> {
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
    Ok(Next::After(delay))
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
            &invalid_message(message),
            generation,
            now,
        ),
        None => conditions::remove(conds, CONDITION_RETENTION_INVALID),
    }
}

/// The message of condition RetentionInvalid for an annotation that cannot be read.
fn invalid_message(problem: &str) -> String {
    format!("{problem}; the run is kept until the annotation is fixed")
}

/// Whether the run's condition RetentionInvalid says what `invalid` says (absent when the
/// annotations can be read).
fn invalid_shown(run: &WorkflowExecution, invalid: Option<&str>) -> bool {
    let shown = run
        .status
        .as_ref()
        .and_then(|s| conditions::get(&s.conditions, CONDITION_RETENTION_INVALID))
        .map(|c| c.message.as_str());
    shown == invalid.map(invalid_message).as_deref()
}

/// Shows (or clears) condition RetentionInvalid when it does not say so already.
async fn note_invalid(
    run: &WorkflowExecution,
    env: &Env<'_>,
    invalid: Option<&str>,
) -> Result<(), RetentionError> {
    if invalid_shown(run, invalid) {
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

    fn retention(config: RetentionConfig) -> Retention {
        let clock =
            crate::clock::ScaledClock::starting_at(Timestamp::from_second(100).unwrap(), 1.0);
        Retention::new(config, None, Arc::new(clock))
    }

    fn uids(list: Vec<Uid>) -> Vec<String> {
        list.iter().map(|u| u.to_string()).collect()
    }

    fn excess(r: &Retention, uid: &str, keep: usize) -> Vec<String> {
        let finished = sync::lock(&r.finished);
        let target = finished.get(uid).and_then(|f| f.target.clone()).unwrap();
        uids(beyond(&finished, &target, keep))
    }

    fn wake(r: &Retention, uid: &str) -> Option<i64> {
        sync::lock(&r.finished)
            .get(uid)
            .and_then(|f| f.wake)
            .map(|t| t.as_second())
    }

    #[test]
    fn the_bound_per_target_counts_the_newest_first() {
        let r = retention(RetentionConfig {
            per_target: Some(100),
            ..RetentionConfig::default()
        });
        for (name, ended) in [("old", 10), ("mid", 20), ("new", 30)] {
            r.observe(&watcher::Event::Apply(run(
                name,
                "Success",
                ended,
                json!({}),
            )));
        }
        // A copy without its plan keeps the target already known.
        let mut slim = run("mid", "Success", 20, json!({}));
        slim.status.as_mut().unwrap().plan = None;
        r.observe(&watcher::Event::Apply(slim));
        assert_eq!(excess(&r, "uid-new", 2), vec!["uid-old"]);
        assert!(r.past_bound("uid-old", 2));
        assert!(!r.past_bound("uid-mid", 2) && !r.past_bound("uid-new", 2));
        // Within one second, the later name is the newer.
        r.observe(&watcher::Event::Apply(run(
            "new-2",
            "Success",
            30,
            json!({}),
        )));
        assert_eq!(excess(&r, "uid-new-2", 2), vec!["uid-mid", "uid-old"]);
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
        assert!(excess(&r, "uid-new", 2).is_empty());
        assert_eq!(r.finished_runs(), 2);
    }

    #[test]
    fn each_finished_run_is_looked_at_when_it_needs_it() {
        let r = retention(RetentionConfig {
            succeeded: Some(Duration::from_secs(60)),
            per_target: None,
            ..RetentionConfig::default()
        });
        // Ended at 90, kept 60 s: looked at when due, at 150.
        r.observe(&watcher::Event::Apply(run("a", "Success", 90, json!({}))));
        assert_eq!(wake(&r, "uid-a"), Some(150));
        // Due already (ended at 0, now is 100): now.
        r.observe(&watcher::Event::Apply(run("b", "Success", 0, json!({}))));
        assert_eq!(wake(&r, "uid-b"), Some(100));
        // Without a per-target bound, the target is not read (nor kept).
        assert!(
            sync::lock(&r.finished)
                .get("uid-b")
                .is_some_and(|f| f.target.is_none())
        );
        // Kept for ever: only on a change.
        let forever = json!({ANNOTATION_RETAIN_SUCCEEDED: "forever"});
        r.observe(&watcher::Event::Apply(run("c", "Success", 50, forever)));
        assert_eq!(wake(&r, "uid-c"), None);
        // An unreadable annotation its condition does not show yet: now (to say so).
        let junk = json!({ANNOTATION_RETAIN_SUCCEEDED: "a week"});
        r.observe(&watcher::Event::Apply(run("d", "Success", 90, junk)));
        assert_eq!(wake(&r, "uid-d"), Some(100));
        // Being deleted: now, whatever its period.
        let mut deleting = run("e", "Success", 99, json!({}));
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
        );
        r.observe(&watcher::Event::Apply(deleting));
        assert_eq!(wake(&r, "uid-e"), Some(100));
        // What is due now is taken once: b, d and e; a waits for its time, c for a change.
        let due = sync::lock(&r.finished).take_due(Timestamp::from_second(101).unwrap());
        let mut names: Vec<&str> = due.iter().map(|(_, _, n)| &**n).collect();
        names.sort_unstable();
        assert_eq!(names, ["b", "d", "e"]);
        assert_eq!(
            sync::lock(&r.finished).next_wake(),
            Some(Timestamp::from_second(150).unwrap())
        );
        // A run that is not finished is not retention's.
        let mut rewound = run("a", "Success", 90, json!({}));
        rewound.status.as_mut().unwrap().phase = Some(crate::api::WorkflowPhase::Executing);
        r.observe(&watcher::Event::Apply(rewound));
        assert_eq!(r.finished_runs(), 4);
        assert!(!sync::lock(&r.finished).contains("uid-a"));
    }

    #[test]
    fn with_an_archive_a_run_not_archived_is_looked_at_now() {
        let config = RetentionConfig::default();
        let now = Timestamp::from_second(100).unwrap();
        let mut unarchived = run("a", "Success", 10, json!({}));
        assert_eq!(first_look(&unarchived, &config, true, now), Some(now));
        // Without an archive, it waits for its period (7 days after it ended).
        let week = Timestamp::from_second(10 + 7 * 24 * 3600).unwrap();
        assert_eq!(first_look(&unarchived, &config, false, now), Some(week));
        unarchived.status.as_mut().unwrap().conditions = vec![
            serde_json::from_value(
                json!({"type": "Archived", "status": "True", "reason": "Archived",
                "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}),
            )
            .unwrap(),
        ];
        assert_eq!(first_look(&unarchived, &config, true, now), Some(week));
    }

    #[test]
    fn a_relist_replaces_the_index_and_makes_the_excess_due() {
        let r = retention(RetentionConfig {
            per_target: Some(1),
            ..RetentionConfig::default()
        });
        r.observe(&watcher::Event::Apply(run("gone", "Success", 5, json!({}))));
        r.observe(&watcher::Event::Init);
        for (name, ended) in [("old", 10), ("new", 20)] {
            r.observe(&watcher::Event::InitApply(run(
                name,
                "Success",
                ended,
                json!({}),
            )));
        }
        // Until the list is complete, the index is the old one.
        assert_eq!(r.finished_runs(), 1);
        r.observe(&watcher::Event::InitDone);
        assert_eq!(r.finished_runs(), 2);
        assert_eq!(wake(&r, "uid-old"), Some(100));
        assert_ne!(wake(&r, "uid-new"), Some(100));
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
