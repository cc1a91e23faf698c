//! The controllers' retry, requeue and resync policies, in one place. Every delay here is
//! bounded, is a span of clock time (turned into a real wait by the controller's
//! [`Clock`](crate::clock::Clock)), and is documented in docs/operations.md ("Faults and retries").
//!
//! | what | policy |
//! |---|---|
//! | a failed reconcile (either controller) | per object: [`RETRY_BASE`] doubling up to [`MAX_BACKOFF`]; a conflict starts at [`CONFLICT_BASE`]; reset by a success |
//! | a 429 with `Retry-After` | retried by the client after that long, [`THROTTLE_RETRIES`] times, when it is at most [`MAX_RETRY_AFTER`] |
//! | a watch that failed | the controller's triggers pause [`RETRY_BASE`] doubling up to [`MAX_BACKOFF`]; reset by the next event |
//! | a transient error inside an action (429, 500, 503, 504, no answer) | the pass is redone after [`RETRY_BASE`] doubling up to [`MAX_BACKOFF`], until [`ANSWER_MARGIN`] (at most a quarter of the timeout) before the attempt's deadline; then the attempt fails with that error |
//! | a run not in a terminal phase | reconciled again at least every [`RESYNC`] |
//!
//! Waits are jittered (between half and all of the nominal delay) so that runs failing
//! together do not retry together; the jitter is a hash of the object and the failure count,
//! so a simulation replays the same delays.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use kube::client::Body;
use tower::{Layer, Service, ServiceExt};

use crate::clock::Clock;
use crate::reconcile::metrics::Metrics;
use crate::sync;

/// The first wait after a failed reconcile, watch or action request.
pub const RETRY_BASE: Duration = Duration::from_millis(100);

/// The first wait after a write lost a race (409 Conflict): the next try reads afresh.
pub const CONFLICT_BASE: Duration = Duration::from_millis(20);

/// The longest wait any backoff reaches: once faults end, every object is tried again
/// within this long (or the `Retry-After` a server asked for, up to [`MAX_RETRY_AFTER`]).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The longest `Retry-After` honoured by waiting in the client; a longer one goes back to
/// the controller, which waits at most this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// How many times the client retries a request answered 429 with a `Retry-After`.
pub const THROTTLE_RETRIES: u32 = 3;

/// How long before an attempt's deadline the executor stops redoing an action after a
/// transient API error (at most a quarter of the step's timeout): its own answer (the attempt
/// failed with that error) must reach the workflow controller before that controller's
/// timeout of the step, even when the two controllers' clocks differ by a step of each.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(15);

/// [`ANSWER_MARGIN`] for a step of `timeout`.
pub fn answer_margin(timeout: Duration) -> Duration {
    ANSWER_MARGIN.min(timeout / 4)
}

/// How often a run that is not finished is reconciled even when nothing announces a change
/// (a safety net: every change is announced by a watch or a requeue).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Why something was retried: the label of `remedy_retries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryReason {
    /// 409: a write lost a race.
    Conflict,
    /// 429: the API server asked the client to slow down.
    Throttled,
    /// 500: the API server failed.
    ServerError,
    /// 503: the API server is unavailable (an etcd leader change, a restart).
    Unavailable,
    /// 504 or a server-side timeout.
    Timeout,
    /// No answer: the connection failed.
    Transport,
    /// Anything else (a refused or unreadable object, a missing field, a panicked task).
    Other,
}

impl RetryReason {
    /// The class of a client error.
    pub fn of(error: &kube::Error) -> Self {
        match error {
            kube::Error::Api(s) => RetryReason::of_code(s.code, &s.reason),
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
                RetryReason::Transport
            }
            _ => RetryReason::Other,
        }
    }

    /// The class of an HTTP answer with this code and Status reason.
    pub fn of_code(code: u16, reason: &str) -> Self {
        match code {
            409 => RetryReason::Conflict,
            429 => RetryReason::Throttled,
            503 => RetryReason::Unavailable,
            504 | 408 => RetryReason::Timeout,
            500 if reason == "Timeout" => RetryReason::Timeout,
            500 => RetryReason::ServerError,
            _ => RetryReason::Other,
        }
    }

    /// Whether an error of this class goes away by itself: redoing the request is the cure.
    pub fn is_transient(self) -> bool {
        !matches!(self, RetryReason::Other | RetryReason::Conflict)
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::Conflict => "conflict",
            RetryReason::Throttled => "throttled",
            RetryReason::ServerError => "server_error",
            RetryReason::Unavailable => "unavailable",
            RetryReason::Timeout => "timeout",
            RetryReason::Transport => "transport",
            RetryReason::Other => "other",
        }
    }
}

/// The wait after the `failures`-th failure in a row (1 for the first): `base` doubled for
/// each earlier failure, capped at [`MAX_BACKOFF`], then jittered down to between half and
/// all of that, by a hash of `key` and `failures`.
pub fn exponential(base: Duration, failures: u32, key: &str) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let nominal = base.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (key, failures).hash(&mut hasher);
    // A fraction in [0, 1) from the hash's top 53 bits.
    let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    nominal.mul_f64(0.5 + fraction / 2.0)
}

/// The `Retry-After` a 429 Status carries in `details.retryAfterSeconds`, bounded by
/// [`MAX_RETRY_AFTER`].
pub fn retry_after(error: &kube::Error) -> Option<Duration> {
    match error {
        kube::Error::Api(s) if s.code == 429 => s
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|secs| *secs > 0)
            .map(|secs| Duration::from_secs(secs.into()).min(MAX_RETRY_AFTER)),
        _ => None,
    }
}

/// Consecutive failures per object: the state of the per-object reconcile backoff.
#[derive(Debug, Default)]
pub struct Backoffs {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoffs {
    /// Records a failure of `key` and answers how long (clock time) to wait before the next
    /// try: exponential from [`CONFLICT_BASE`] for a conflict, [`RETRY_BASE`] otherwise, at
    /// least the `Retry-After` of a throttled request, never more than [`MAX_BACKOFF`].
    pub fn failed(&self, key: &str, error: &kube::Error) -> Duration {
        let count = {
            let mut map = sync::lock(&self.failures);
            let n = map.entry(key.to_string()).or_default();
            *n = n.saturating_add(1);
            *n
        };
        let base = match RetryReason::of(error) {
            RetryReason::Conflict => CONFLICT_BASE,
            _ => RETRY_BASE,
        };
        let wait = exponential(base, count, key);
        retry_after(error).map_or(wait, |after| wait.max(after))
    }

    /// Records a failure that is not an API error (same schedule as a server error).
    pub fn failed_otherwise(&self, key: &str) -> Duration {
        let count = {
            let mut map = sync::lock(&self.failures);
            let n = map.entry(key.to_string()).or_default();
            *n = n.saturating_add(1);
            *n
        };
        exponential(RETRY_BASE, count, key)
    }

    /// Forgets the failures of `key`: it succeeded.
    pub fn succeeded(&self, key: &str) {
        let mut map = sync::lock(&self.failures);
        if !map.is_empty() {
            map.remove(key);
        }
    }

    /// Forgets the objects `keep` says no to (gone).
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        sync::lock(&self.failures).retain(|k, _| keep(k));
    }

    /// Objects with failures recorded.
    pub fn len(&self) -> usize {
        sync::lock(&self.failures).len()
    }

    /// Whether no object has a failure recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The backoff of a controller's watches (kube-runtime's trigger backoff): exponential from
/// [`RETRY_BASE`] to [`MAX_BACKOFF`] in clock time, reset by the next event.
#[derive(Debug)]
pub struct WatchBackoff {
    clock: Arc<dyn Clock>,
    failures: u32,
    key: &'static str,
}

impl WatchBackoff {
    /// A fresh backoff for the watches of `controller`.
    pub fn new(clock: Arc<dyn Clock>, controller: &'static str) -> Self {
        WatchBackoff {
            clock,
            failures: 0,
            key: controller,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        let wait = exponential(RETRY_BASE, self.failures, self.key);
        Some(self.clock.real_delay(wait))
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The client layer that honours `Retry-After`: a request answered 429 with a `Retry-After`
/// of at most [`MAX_RETRY_AFTER`] is sent again after that long (clock time), up to
/// [`THROTTLE_RETRIES`] times. A 429 is safe to resend: the server did not act on it. Other
/// errors are the controllers' to retry: only they know whether a request may be redone.
#[derive(Clone)]
pub struct ThrottleRetryLayer {
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    controller: &'static str,
}

impl std::fmt::Debug for ThrottleRetryLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrottleRetryLayer")
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

impl ThrottleRetryLayer {
    /// A layer for the client of `controller`, waiting in `clock` time and counting its
    /// retries in `metrics`.
    pub fn new(clock: Arc<dyn Clock>, metrics: Arc<Metrics>, controller: &'static str) -> Self {
        ThrottleRetryLayer {
            clock,
            metrics,
            controller,
        }
    }
}

impl<S> Layer<S> for ThrottleRetryLayer {
    type Service = ThrottleRetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ThrottleRetry {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`ThrottleRetryLayer`].
#[derive(Clone, Debug)]
pub struct ThrottleRetry<S> {
    inner: S,
    layer: ThrottleRetryLayer,
}

/// The `Retry-After` header of a 429 answer, in whole seconds (the form API servers send).
fn retry_after_header<B>(response: &Response<B>) -> Option<Duration> {
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let secs: u64 = response
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// A copy of a request whose body is in memory (every request kube-rs sends).
fn copy_request(request: &Request<Body>) -> Option<Request<Body>> {
    let body = request.body().try_clone()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

impl<S, B> Service<Request<Body>> for ThrottleRetry<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<B>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // `call` goes to the service made ready; retries go to clones made ready in turn.
        let ready = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, ready);
        let layer = self.layer.clone();
        Box::pin(async move {
            let mut request = request;
            let mut service = ready;
            let mut retries = 0;
            loop {
                let copy = (retries < THROTTLE_RETRIES)
                    .then(|| copy_request(&request))
                    .flatten();
                let response = service.call(request).await?;
                let wait = retry_after_header(&response).filter(|w| *w <= MAX_RETRY_AFTER);
                let (Some(wait), Some(copy)) = (wait, copy) else {
                    return Ok(response);
                };
                drop(response);
                retries += 1;
                layer
                    .metrics
                    .retried(layer.controller, RetryReason::Throttled);
                tracing::debug!(wait = ?wait, retries, "throttled: retrying after Retry-After");
                tokio::time::sleep(layer.clock.real_delay(wait)).await;
                request = copy;
                service = layer_ready(service.clone()).await?;
            }
        })
    }
}

async fn layer_ready<S, R>(service: S) -> Result<S, S::Error>
where
    S: Service<R>,
{
    service.ready_oneshot().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_margin_outlasts_two_clock_steps_and_leaves_short_steps_time() {
        // Two controllers stepped 5 s apart each way (the soak's largest steps).
        assert!(answer_margin(Duration::from_secs(180)) > Duration::from_secs(10));
        assert_eq!(answer_margin(Duration::from_secs(180)), ANSWER_MARGIN);
        assert_eq!(
            answer_margin(Duration::from_secs(20)),
            Duration::from_secs(5)
        );
        assert_eq!(answer_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn backoffs_double_up_to_the_cap_with_bounded_jitter() {
        for failures in 1..40 {
            let nominal = RETRY_BASE
                .saturating_mul(1 << (failures - 1).min(30))
                .min(MAX_BACKOFF);
            let wait = exponential(RETRY_BASE, failures, "shop/run");
            assert!(
                wait >= nominal / 2 && wait <= nominal,
                "{failures}: {wait:?}"
            );
            assert!(wait <= MAX_BACKOFF);
        }
        // The same object and count: the same wait (a simulation replays it).
        assert_eq!(
            exponential(RETRY_BASE, 3, "a"),
            exponential(RETRY_BASE, 3, "a")
        );
    }

    fn api_error(code: u16, retry_after: u32) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: String::new(),
            details: Some(kube::core::response::StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: Vec::new(),
                retry_after_seconds: retry_after,
            }),
            ..Default::default()
        }))
    }

    #[test]
    fn per_object_backoff_resets_on_success_and_honours_retry_after() {
        let b = Backoffs::default();
        let first = b.failed("a", &api_error(500, 0));
        assert!(first <= RETRY_BASE, "{first:?}");
        let _ = b.failed("a", &api_error(500, 0));
        let third = b.failed("a", &api_error(500, 0));
        assert!(third >= RETRY_BASE * 2, "{third:?}");
        // Another object starts from the beginning.
        assert!(b.failed("b", &api_error(409, 0)) <= CONFLICT_BASE);
        b.succeeded("a");
        assert!(b.failed("a", &api_error(500, 0)) <= RETRY_BASE);
        // A throttled request waits at least what the server asked, at most the cap.
        assert!(b.failed("c", &api_error(429, 3)) >= Duration::from_secs(3));
        assert!(b.failed("d", &api_error(429, 3600)) <= MAX_RETRY_AFTER);
    }

    #[test]
    fn errors_are_classed_for_the_metrics() {
        assert_eq!(RetryReason::of(&api_error(429, 1)), RetryReason::Throttled);
        assert_eq!(
            RetryReason::of(&api_error(503, 0)),
            RetryReason::Unavailable
        );
        assert_eq!(RetryReason::of(&api_error(504, 0)), RetryReason::Timeout);
        assert_eq!(
            RetryReason::of(&api_error(500, 0)),
            RetryReason::ServerError
        );
        assert_eq!(RetryReason::of(&api_error(409, 0)), RetryReason::Conflict);
        assert_eq!(RetryReason::of(&api_error(404, 0)), RetryReason::Other);
        assert!(RetryReason::Unavailable.is_transient());
        assert!(!RetryReason::Conflict.is_transient());
        assert!(!RetryReason::Other.is_transient());
    }

    /// When each request came to a scripted service.
    type Arrivals = Arc<Mutex<Vec<tokio::time::Instant>>>;

    /// A service answering `answers` in turn, and when each request came.
    fn scripted(
        answers: Vec<(u16, Option<&'static str>)>,
    ) -> (
        impl Service<
            Request<Body>,
            Response = Response<String>,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone
        + Send
        + 'static,
        Arrivals,
    ) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
        let log = seen.clone();
        let service = tower::service_fn(move |_req: Request<Body>| {
            let answers = answers.clone();
            let log = log.clone();
            async move {
                log.lock().unwrap().push(tokio::time::Instant::now());
                let (code, after) = answers.lock().unwrap().pop_front().unwrap_or((200, None));
                let mut response = Response::new(String::new());
                *response.status_mut() = StatusCode::from_u16(code).unwrap();
                if let Some(after) = after {
                    response
                        .headers_mut()
                        .insert(http::header::RETRY_AFTER, after.parse().unwrap());
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        (service, seen)
    }

    fn layer(speed: f64) -> ThrottleRetryLayer {
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::ScaledClock::new(speed));
        ThrottleRetryLayer::new(clock, Arc::new(Metrics::new()), "workflow")
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_request_is_sent_again_after_retry_after() {
        let (service, seen) = scripted(vec![(429, Some("2")), (429, Some("1")), (200, None)]);
        let layer = layer(1.0);
        let metrics = layer.metrics.clone();
        let response = layer
            .layer(service)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert!(seen[1] - seen[0] >= Duration::from_secs(2), "{seen:?}");
        assert!(seen[2] - seen[1] >= Duration::from_secs(1), "{seen:?}");
        assert_eq!(metrics.retries("workflow", RetryReason::Throttled), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_clock_time_and_bounded() {
        // At speed 100 the second Retry-After of 100 s is one real second... but 100 s is over
        // the cap, so it is not waited for here: the controller's backoff takes over.
        let (service, seen) = scripted(vec![(429, Some("10")), (429, Some("100"))]);
        let response = layer(100.0)
            .layer(service)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        let waited = seen[1] - seen[0];
        assert!(
            waited >= Duration::from_millis(100) && waited < Duration::from_millis(200),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_throttling_with_retry_after_is_retried_and_only_a_few_times() {
        // A 500, or a 429 without Retry-After (a disruption budget refusing an eviction), is
        // the caller's to handle: the request may have been carried out, or may not be redone.
        for first in [(500, None), (503, Some("1")), (429, None)] {
            let (service, seen) = scripted(vec![first]);
            let response = layer(1.0)
                .layer(service)
                .oneshot(Request::new(Body::empty()))
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), first.0);
            assert_eq!(seen.lock().unwrap().len(), 1);
        }
        let (service, seen) = scripted(vec![(429, Some("1")); 10]);
        let response = layer(1.0)
            .layer(service)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(seen.lock().unwrap().len() as u32, THROTTLE_RETRIES + 1);
    }
}
