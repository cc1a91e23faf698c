//! The keeper: looks at each finished run when it needs it, from one timer.
//!
//! The workflow controller's cache and queue hold no finished run (its watch hands every
//! event to [`Retention::observe`] first, then drops the finished runs). Retention's index
//! says when each finished run is looked at next: now (it is being deleted, is not archived,
//! its annotations and conditions disagree, or it is due), when its period ends, or after the
//! backoff of a failed attempt. The keeper sleeps until the earliest of those (or until an
//! event makes one due now), reads each due run from the API, whole, and archives it,
//! deletes it or releases its finalizer. Memory per finished run is its index entry only.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kube::Client;
use kube::api::Api;

use super::{Env, Next, Retention, Uid, archive_before_release, backoff, reconcile};
use crate::api::WorkflowExecution;
use crate::operator::{finalizer, finished};
use crate::reconcile::metrics::Metrics;
use crate::redact::redact_text;
use crate::sync;

/// At most this many finished runs are looked at at once.
pub const AT_ONCE: usize = 16;

/// The keeper reads its index at least this often (real time): a clock that jumps (tests,
/// `remedy run --speed`) is followed within this.
const RECHECK: Duration = Duration::from_secs(60);

/// Looks after the finished runs until `stop` turns true (or its sender goes).
pub async fn keep(
    retention: Arc<Retention>,
    client: Client,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let env = Env {
        client: &client,
        clock: retention.clock.as_ref(),
        metrics: &metrics,
    };
    loop {
        if *stop.borrow() {
            return;
        }
        // Listening before the index is read: a wake given meanwhile is not lost.
        let notified = retention.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = retention.clock.now();
        let (due, next) = {
            let mut index = sync::lock(&retention.finished);
            (index.take_due(now), index.next_wake())
        };
        if due.is_empty() {
            let wait = next.map_or(RECHECK, |at| {
                let ahead = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO);
                retention.clock.real_delay(ahead).min(RECHECK)
            });
            tokio::select! {
                _ = stop.changed() => {}
                () = &mut notified => {}
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        let looks = futures::stream::iter(due)
            .map(|(uid, ns, name)| look_after(&retention, &env, uid, ns, name))
            .buffer_unordered(AT_ONCE)
            .collect::<Vec<()>>();
        tokio::select! {
            _ = stop.changed() => {}
            _ = looks => {}
        }
    }
}

/// Looks at one due run and sets when it is looked at next: the earlier of what the look
/// says and what an event said meanwhile.
async fn look_after(
    retention: &Retention,
    env: &Env<'_>,
    uid: Uid,
    namespace: Box<str>,
    name: Box<str>,
) {
    let next = match look(retention, env, &uid, &namespace, &name).await {
        Ok(next) => {
            sync::lock(&retention.errors).remove(&*uid);
            next
        }
        Err(e) => {
            let attempts = {
                let mut errors = sync::lock(&retention.errors);
                let n = errors.entry(uid.to_string()).or_default();
                *n = n.saturating_add(1);
                *n
            };
            let wait = backoff(attempts);
            tracing::warn!(
                run = %format!("{namespace}/{name}"), attempts, retry_in = ?wait,
                error = %redact_text(&e.to_string()),
                "cannot look after a finished run; trying again"
            );
            Next::After(wait)
        }
    };
    let wake = match next {
        Next::OnChange => None,
        Next::After(d) => Some(later(retention.clock.now(), d)),
    };
    sync::lock(&retention.finished).wake_by(&uid, wake);
}

/// `now` plus `d`, or the end of time.
fn later(now: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Reads the run and does what is due: releases the finalizer of a run being deleted once
/// the archive holds it, or archives and deletes it as its retention says.
async fn look(
    retention: &Retention,
    env: &Env<'_>,
    uid: &str,
    namespace: &str,
    name: &str,
) -> Result<Next, kube::Error> {
    let runs: Api<WorkflowExecution> = Api::namespaced(env.client.clone(), namespace);
    let run = runs.get_opt(name).await?;
    let Some(run) = run.filter(|r| r.metadata.uid.as_deref() == Some(uid)) else {
        // Gone, or replaced by a new run of the same name (whose own events bring it).
        retention.forget(uid);
        return Ok(Next::OnChange);
    };
    if !finished::run_ended(&run) {
        // Not finished after all (its status was rewound): the controller's.
        retention.forget(uid);
        return Ok(Next::OnChange);
    }
    if finalizer::deleting(&run) {
        if let Some(next) = archive_before_release(&run, retention, env).await? {
            return Ok(next);
        }
        finalizer::release(&runs, &run).await?;
        return Ok(Next::OnChange);
    }
    reconcile(&run, retention, env).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_past_the_end_of_time_is_the_end_of_time() {
        let now = Timestamp::UNIX_EPOCH;
        assert_eq!(
            later(now, Duration::from_secs(90)),
            Timestamp::from_second(90).unwrap_or(now)
        );
        assert_eq!(later(now, Duration::MAX), Timestamp::MAX);
    }
}
