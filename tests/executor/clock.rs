//! The executor measures attempts in its clock's time: a `wait` ends and a deadline passes
//! when the clock says so, and requeues are the clock's real delays.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kube::runtime::controller::Action;
use remedy::api::kubernetes_execution::{ErrorReason, ExecutionPhase, KubernetesExecution};
use remedy::clock::Clock;
use remedy::executor::{Context, ExecutorConfig, reconcile};
use serde_json::json;

use crate::{NS, env, failed, phase, result, succeeded};

/// A clock that moves only when told to; its time runs 1000 times faster than real time.
#[derive(Debug)]
struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    fn advance(&self, span: SignedDuration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(span).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }

    fn real_delay(&self, span: Duration) -> Duration {
        span / 1000
    }
}

/// The environment's executor, but on a manual clock starting at `start`.
fn on_clock(env: &crate::Env, start: Timestamp) -> (Arc<ManualClock>, Arc<Context>) {
    let clock = Arc::new(ManualClock(Mutex::new(start)));
    let config = ExecutorConfig {
        poll_interval: Duration::from_secs(60),
        clock: clock.clone(),
        ..ExecutorConfig::default()
    };
    (clock, Arc::new(Context::new(env.client.clone(), config)))
}

async fn pass(env: &crate::Env, ctx: &Arc<Context>, name: &str) -> (Action, KubernetesExecution) {
    let api = env.api::<KubernetesExecution>();
    let kex = api.get(name).await.unwrap();
    let action = reconcile(Arc::new(kex), ctx.clone()).await.unwrap();
    (action, api.get(name).await.unwrap())
}

fn times(kex: &KubernetesExecution) -> (Option<Timestamp>, Option<Timestamp>) {
    let s = kex.status.as_ref().unwrap();
    (
        s.started_at.as_ref().map(|t| t.0),
        s.completed_at.as_ref().map(|t| t.0),
    )
}

#[tokio::test]
async fn a_wait_completes_when_clock_time_has_passed() {
    let env = env().await;
    let start: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    let (clock, ctx) = on_clock(&env, start);
    env.execution_with("pause", "wait", json!({ "duration": "10m" }), |s| {
        s.timeout = Some("15m".into())
    })
    .await;

    let (action, kex) = pass(&env, &ctx, "pause").await;
    assert_eq!(phase(&kex), Some(ExecutionPhase::Running));
    assert_eq!(times(&kex), (Some(start), None), "startedAt is clock time");
    // Ten clock minutes are 600ms of real time on this clock.
    assert_eq!(action, Action::requeue(Duration::from_millis(600)));

    clock.advance(SignedDuration::from_mins(4));
    let (action, kex) = pass(&env, &ctx, "pause").await;
    assert_eq!(phase(&kex), Some(ExecutionPhase::Running));
    assert_eq!(action, Action::requeue(Duration::from_millis(360)));

    clock.advance(SignedDuration::from_mins(6));
    let (_, kex) = pass(&env, &ctx, "pause").await;
    succeeded(result(&kex));
    let end = start.checked_add(SignedDuration::from_mins(10)).unwrap();
    assert_eq!(
        times(&kex),
        (Some(start), Some(end)),
        "completedAt is clock time"
    );
}

#[tokio::test]
async fn the_attempt_deadline_is_clock_time_from_started_at() {
    let env = env().await;
    env.deployment("web", 1).await;
    let start: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    let (clock, ctx) = on_clock(&env, start);
    // Never satisfied: far more available replicas than the deployment has.
    env.execution_with(
        "verify",
        "verify_deployment",
        json!({ "namespace": NS, "deployment": "web", "min_available": 50 }),
        |s| s.timeout = Some("5m".into()),
    )
    .await;

    let (action, kex) = pass(&env, &ctx, "verify").await;
    assert_eq!(phase(&kex), Some(ExecutionPhase::Running));
    // The poll interval is a clock minute: 60ms of real time.
    assert_eq!(action, Action::requeue(Duration::from_millis(60)));

    clock.advance(SignedDuration::from_secs(4 * 60 + 30));
    let (action, kex) = pass(&env, &ctx, "verify").await;
    assert_eq!(phase(&kex), Some(ExecutionPhase::Running), "not yet due");
    // Only 30 clock seconds are left of the deadline.
    assert_eq!(action, Action::requeue(Duration::from_millis(50)));

    clock.advance(SignedDuration::from_mins(1));
    let (_, kex) = pass(&env, &ctx, "verify").await;
    let msg = failed(result(&kex), ErrorReason::Timeout);
    assert!(msg.contains("the step's timeout is over"), "{msg}");
    let end = start
        .checked_add(SignedDuration::from_secs(5 * 60 + 30))
        .unwrap();
    assert_eq!(times(&kex), (Some(start), Some(end)));
}
