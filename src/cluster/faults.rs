//! Fault injection, in two places.
//!
//! - In the server ([`Faults`]): fail the next N matching requests, slow matching requests,
//!   cut every watch. Every client but the simulation sees them.
//! - In one client ([`FaultLayer`]): a tower layer around the service a `kube::Client` drives,
//!   asking a [`FaultPlan`] what to do to each request: pass it, answer an error without
//!   sending it (429 with `Retry-After`, 500, 503, 504, 409), send it and lose the answer,
//!   delay it, cut a watch after a while, or kill the client (its process died: neither this
//!   request nor any later one is answered, and its watches end). A [`Ledger`] records what
//!   reached the server and its answer, so checks can count effects by request. `remedy run`
//!   applies a scenario's `faults:` ([`Rules`]) this way to both controllers; the soak
//!   (`tests/soak.rs`) uses seeded plans.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use hyper::body::{Body, Frame, SizeHint};
use tower::{BoxError, Layer, Service, ServiceExt};

use super::error::ApiError;
use super::server::{Server, Target};
use crate::sync;

/// What a rule does to a matching request.
#[derive(Debug, Clone)]
enum Effect {
    /// Answer with this HTTP code, for this many more requests.
    Fail { code: u16, remaining: u32 },
    /// Delay the request.
    Delay(Duration),
}

/// One fault rule: a verb and resource to match, and its effect.
#[derive(Debug, Clone)]
pub struct FaultRule {
    verb: String,
    resource: String,
    effect: Effect,
}

impl FaultRule {
    fn matches(&self, verb: &str, t: &Target) -> bool {
        let verb_ok = self.verb == "*" || self.verb == verb;
        let res = match &t.sub {
            Some(s) => format!("{}/{s}", t.rt.plural),
            None => t.rt.plural.clone(),
        };
        let res_ok = self.resource == "*" || self.resource == res || self.resource == t.rt.plural;
        verb_ok && res_ok
    }
}

/// Applies the rules to one request: sleeps for delays, returns the error of a failing rule.
pub async fn check(server: &Arc<Server>, verb: &str, t: &Target) -> Option<ApiError> {
    let mut delay = Duration::ZERO;
    let mut failure = None;
    {
        let mut rules = sync::lock(&server.faults);
        for rule in rules.iter_mut() {
            if !rule.matches(verb, t) {
                continue;
            }
            match &mut rule.effect {
                Effect::Delay(d) => delay += *d,
                Effect::Fail { code, remaining } if failure.is_none() && *remaining > 0 => {
                    *remaining -= 1;
                    failure = Some(*code);
                }
                Effect::Fail { .. } => {}
            }
        }
        rules.retain(|r| !matches!(r.effect, Effect::Fail { remaining: 0, .. }));
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    failure.map(|code| {
        ApiError::with_code(
            code,
            format!("injected fault: {verb} {} answered {code}", t.rt.plural),
        )
    })
}

/// The fault-injection handle of an embedded cluster. Verbs are RBAC verbs (`get`, `list`,
/// `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`) or `*`; resources are
/// plurals (`pods`), `plural/subresource` (`deployments/status`) or `*`.
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) server: Arc<Server>,
}

impl Faults {
    /// Fails the next `count` requests matching `verb` and `resource` with HTTP `code`.
    pub fn fail_next(&self, verb: &str, resource: &str, count: u32, code: u16) {
        let rule = FaultRule {
            verb: verb.into(),
            resource: resource.into(),
            effect: Effect::Fail {
                code,
                remaining: count,
            },
        };
        sync::lock(&self.server.faults).push(rule);
    }

    /// Delays every request matching `verb` and `resource` by `latency` (until `clear`).
    pub fn add_latency(&self, verb: &str, resource: &str, latency: Duration) {
        let rule = FaultRule {
            verb: verb.into(),
            resource: resource.into(),
            effect: Effect::Delay(latency),
        };
        sync::lock(&self.server.faults).push(rule);
    }

    /// Ends every open watch stream now (clients see the stream close and re-watch).
    pub fn cut_watches(&self) {
        self.server.cut_watches();
    }

    /// Removes every fault rule.
    pub fn clear(&self) {
        sync::lock(&self.server.faults).clear();
    }
}

// ---- faults in a client ----------------------------------------------------------------------

/// One request as a fault plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The RBAC verb: `get list watch create update patch delete deletecollection`.
    pub verb: &'static str,
    /// The resource's plural, or `plural/subresource`.
    pub resource: String,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    /// The object's name: in the path, or for a create the body's `metadata.name` (none for
    /// other requests to collections).
    pub name: Option<String>,
}

impl RequestInfo {
    /// Reads verb, resource, namespace and name from a request's method and URI.
    pub fn of(method: &Method, uri: &Uri) -> Self {
        let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let rest: &[&str] = match segments.as_slice() {
            ["api", _version, rest @ ..] => rest,
            ["apis", _group, _version, rest @ ..] => rest,
            _ => &[],
        };
        let (namespace, plural, name, sub) = match rest {
            ["namespaces", ns, plural, tail @ ..] => {
                (Some(*ns), *plural, tail.first(), tail.get(1))
            }
            [plural, tail @ ..] => (None, *plural, tail.first(), tail.get(1)),
            [] => (None, "", None, None),
        };
        let watch = uri.query().is_some_and(|q| {
            q.split('&')
                .any(|kv| kv == "watch=true" || kv == "watch=1" || kv == "watch")
        });
        let collection = name.is_none();
        let verb = match *method {
            Method::GET if collection && watch => "watch",
            Method::GET if collection => "list",
            Method::GET => "get",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if collection => "deletecollection",
            Method::DELETE => "delete",
            _ => "unknown",
        };
        RequestInfo {
            verb,
            resource: match sub {
                Some(sub) => format!("{plural}/{sub}"),
                None => plural.to_string(),
            },
            namespace: namespace.map(str::to_string),
            name: name.map(|n| (*n).to_string()),
        }
    }

    /// Whether the request asks for a change.
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }
}

/// What a fault plan does to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Send it unchanged.
    Pass,
    /// Answer `code` without sending it (a 429 with `Retry-After: retry_after` seconds, in
    /// the header and in the Status's `details.retryAfterSeconds`).
    Fail {
        /// The HTTP code.
        code: u16,
        /// Seconds for `Retry-After`, if any.
        retry_after: Option<u32>,
    },
    /// Send it, then answer `code` instead of the server's answer: the server acted, the
    /// client does not know.
    LoseAnswer {
        /// The HTTP code the client gets.
        code: u16,
    },
    /// Send it; a watch's stream ends after this long (other answers are whole).
    CutWatch {
        /// How long the stream lasts.
        after: Duration,
    },
    /// The client's process dies: the request reaches the server (`sent`) or not, it gets no
    /// answer, and neither does any later request; the client's watches end.
    Kill {
        /// Whether the server got the request.
        sent: bool,
    },
}

/// A fault: a delay before the request goes anywhere, then what happens to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// How long the request is held first.
    pub delay: Duration,
    /// What happens to it.
    pub kind: FaultKind,
}

impl Fault {
    /// No fault.
    pub const PASS: Fault = Fault {
        delay: Duration::ZERO,
        kind: FaultKind::Pass,
    };
}

/// Decides the fault of each request a client sends.
pub trait FaultPlan: Send + Sync + std::fmt::Debug {
    /// The fault of `request`, sent by the client named `client`.
    fn decide(&self, client: &str, request: &RequestInfo) -> Fault;
}

/// One request that reached the server, and the code the server answered.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The client's name.
    pub client: String,
    /// The request.
    pub request: RequestInfo,
    /// The server's HTTP code (what the client may not have seen).
    pub code: u16,
}

/// The requests that reached the server, in order, from every client sharing the ledger.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<VecDeque<Delivered>>>);

impl Ledger {
    fn record(&self, client: &str, request: &RequestInfo, code: u16) {
        sync::lock(&self.0).push_back(Delivered {
            client: client.to_string(),
            request: request.clone(),
            code,
        });
    }

    /// Every request recorded so far.
    pub fn entries(&self) -> Vec<Delivered> {
        sync::lock(&self.0).iter().cloned().collect()
    }
}

/// Whether a client's process is alive; a kill is seen by its layer and by whoever restarts
/// the client.
#[derive(Debug)]
pub struct Lifeline {
    dead: tokio::sync::watch::Sender<bool>,
}

impl Default for Lifeline {
    fn default() -> Self {
        Lifeline {
            dead: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Lifeline {
    /// Kills the client: nothing it sends is answered from now on.
    pub fn kill(&self) {
        self.dead.send_replace(true);
    }

    /// Whether the client was killed.
    pub fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    /// Completes when the client is killed.
    pub fn died(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.dead.subscribe();
        async move {
            let _ = rx.wait_for(|dead| *dead).await;
        }
    }
}

/// The error a killed client's requests end with (a connection that went away).
#[derive(Debug, thiserror::Error)]
#[error("the client's process was killed: no answer")]
pub struct Killed;

/// A tower layer that applies a [`FaultPlan`] to every request of one client.
#[derive(Debug, Clone)]
pub struct FaultLayer {
    plan: Arc<dyn FaultPlan>,
    client: Arc<str>,
    ledger: Option<Ledger>,
    life: Arc<Lifeline>,
}

impl FaultLayer {
    /// A layer for the client named `client`, deciding by `plan`.
    pub fn new(client: &str, plan: Arc<dyn FaultPlan>) -> Self {
        FaultLayer {
            plan,
            client: Arc::from(client),
            ledger: None,
            life: Arc::new(Lifeline::default()),
        }
    }

    /// Records what reaches the server in `ledger`.
    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The client's lifeline: killed by a [`FaultKind::Kill`], or by the caller.
    pub fn lifeline(&self) -> Arc<Lifeline> {
        self.life.clone()
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`FaultLayer`].
#[derive(Debug, Clone)]
pub struct FaultService<S> {
    inner: S,
    layer: FaultLayer,
}

/// A Status answer for an injected error.
fn status_answer<B>(
    code: u16,
    retry_after: Option<u32>,
    request: &RequestInfo,
) -> Response<FaultBody<B>> {
    let mut error = ApiError::with_code(
        code,
        format!(
            "injected fault: {} {} answered {code}",
            request.verb, request.resource
        ),
    );
    error.retry_after = retry_after.map(u64::from);
    let body = serde_json::to_vec(&error.to_status()).unwrap_or_default();
    let mut response = Response::new(FaultBody::Whole(Some(Bytes::from(body))));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The `metadata.name` of the object a create sends (its name is not in the path).
async fn created_name(body: kube::client::Body) -> Option<String> {
    use http_body_util::BodyExt;
    let body = body.collect().await.ok()?.to_bytes();
    let object: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some(object.pointer("/metadata/name")?.as_str()?.to_string())
}

impl<S, B> Service<Request<kube::client::Body>> for FaultService<S>
where
    S: Service<Request<kube::client::Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<FaultBody<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<kube::client::Body>) -> Self::Future {
        let mut info = RequestInfo::of(request.method(), request.uri());
        let sent = (info.verb == "create" && info.name.is_none())
            .then(|| request.body().try_clone())
            .flatten();
        let layer = self.layer.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            if layer.life.is_dead() {
                return Err(Killed.into());
            }
            if let Some(body) = sent {
                info.name = created_name(body).await;
            }
            let fault = layer.plan.decide(&layer.client, &info);
            if !fault.delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(fault.delay) => {}
                    () = layer.life.died() => return Err(Killed.into()),
                }
            }
            let send = |request| async {
                let response = inner.oneshot(request).await.map_err(Into::into)?;
                if let Some(ledger) = &layer.ledger {
                    ledger.record(&layer.client, &info, response.status().as_u16());
                }
                Ok::<_, BoxError>(response)
            };
            match fault.kind {
                FaultKind::Pass => {
                    let response = send(request).await?;
                    Ok(cut_after(response, None, &layer.life))
                }
                FaultKind::CutWatch { after } => {
                    let response = send(request).await?;
                    Ok(cut_after(response, Some(after), &layer.life))
                }
                FaultKind::Fail { code, retry_after } => {
                    Ok(status_answer(code, retry_after, &info))
                }
                FaultKind::LoseAnswer { code } => {
                    drop(send(request).await?);
                    Ok(status_answer(code, None, &info))
                }
                FaultKind::Kill { sent } => {
                    if sent {
                        drop(send(request).await?);
                    }
                    layer.life.kill();
                    Err(Killed.into())
                }
            }
        })
    }
}

/// Wraps an answer's body so that it ends after `after` (a cut watch) or when the client dies.
fn cut_after<B: Send + 'static>(
    response: Response<B>,
    after: Option<Duration>,
    life: &Lifeline,
) -> Response<FaultBody<B>> {
    let died = life.died();
    let end: Pin<Box<dyn Future<Output = ()> + Send>> = match after {
        Some(after) => Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep(after) => {}
                () = died => {}
            }
        }),
        None => Box::pin(died),
    };
    response.map(|body| FaultBody::Streamed { body, end })
}

/// The body of an answer through a [`FaultLayer`]: the server's, ending early when cut, or
/// an injected error's.
pub enum FaultBody<B> {
    /// The server's body and what ends it early.
    Streamed {
        /// The body.
        body: B,
        /// Completes when the stream is cut.
        end: Pin<Box<dyn Future<Output = ()> + Send>>,
    },
    /// An injected answer (taken when read).
    Whole(Option<Bytes>),
}

impl<B> std::fmt::Debug for FaultBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultBody::Streamed { .. } => f.write_str("FaultBody::Streamed"),
            FaultBody::Whole(b) => f.debug_tuple("FaultBody::Whole").field(b).finish(),
        }
    }
}

impl<B> Body for FaultBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.get_mut() {
            FaultBody::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            FaultBody::Streamed { body, end } => {
                if end.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                Pin::new(body).poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            FaultBody::Whole(bytes) => bytes.is_none(),
            FaultBody::Streamed { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            FaultBody::Whole(Some(b)) => SizeHint::with_exact(b.len() as u64),
            FaultBody::Whole(None) => SizeHint::with_exact(0),
            FaultBody::Streamed { .. } => SizeHint::default(),
        }
    }
}

/// A scenario's `faults:` as a plan: fail the next N matching requests with a code, or slow
/// every matching request. The rules are shared by every client given the same `Rules`.
#[derive(Debug, Clone, Default)]
pub struct Rules(Arc<Mutex<Vec<FaultRule>>>);

impl Rules {
    /// Fails the next `count` requests matching `verb` and `resource` with HTTP `code`.
    pub fn fail_next(&self, verb: &str, resource: &str, count: u32, code: u16) {
        self.push(FaultRule {
            verb: verb.into(),
            resource: resource.into(),
            effect: Effect::Fail {
                code,
                remaining: count,
            },
        });
    }

    /// Delays every request matching `verb` and `resource` by `latency`.
    pub fn add_latency(&self, verb: &str, resource: &str, latency: Duration) {
        self.push(FaultRule {
            verb: verb.into(),
            resource: resource.into(),
            effect: Effect::Delay(latency),
        });
    }

    fn push(&self, rule: FaultRule) {
        sync::lock(&self.0).push(rule);
    }
}

impl FaultRule {
    fn matches_request(&self, request: &RequestInfo) -> bool {
        let verb_ok = self.verb == "*" || self.verb == request.verb;
        let plural = request.resource.split('/').next().unwrap_or_default();
        let res_ok =
            self.resource == "*" || self.resource == request.resource || self.resource == plural;
        verb_ok && res_ok
    }
}

impl FaultPlan for Rules {
    fn decide(&self, _client: &str, request: &RequestInfo) -> Fault {
        let mut fault = Fault::PASS;
        let mut rules = sync::lock(&self.0);
        for rule in rules.iter_mut() {
            if !rule.matches_request(request) {
                continue;
            }
            match &mut rule.effect {
                Effect::Delay(d) => fault.delay += *d,
                Effect::Fail { code, remaining }
                    if fault.kind == FaultKind::Pass && *remaining > 0 =>
                {
                    *remaining -= 1;
                    fault.kind = FaultKind::Fail {
                        code: *code,
                        retry_after: (*code == 429).then_some(1),
                    };
                }
                Effect::Fail { .. } => {}
            }
        }
        rules.retain(|r| !matches!(r.effect, Effect::Fail { remaining: 0, .. }));
        fault
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::cluster::{Config, EmbeddedCluster};
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams, WatchEvent, WatchParams};

    #[test]
    fn requests_are_read_as_rbac_sees_them() {
        let info = |method: Method, uri: &str| RequestInfo::of(&method, &uri.parse().unwrap());
        let r = info(
            Method::GET,
            "/api/v1/namespaces/shop/pods?labelSelector=a%3Db",
        );
        assert_eq!(
            (r.verb, r.resource.as_str(), r.namespace.as_deref(), r.name),
            ("list", "pods", Some("shop"), None)
        );
        let r = info(
            Method::GET,
            "/apis/apps/v1/namespaces/shop/deployments?watch=true&resourceVersion=5",
        );
        assert_eq!((r.verb, r.resource.as_str()), ("watch", "deployments"));
        let r = info(
            Method::PUT,
            "/apis/kubernetesexecution.kubernaut.io/v1alpha1/namespaces/shop/kubernetesexecutions/run-a-1/status",
        );
        assert_eq!(
            (r.verb, r.resource.as_str(), r.name.as_deref()),
            ("update", "kubernetesexecutions/status", Some("run-a-1"))
        );
        assert!(r.is_write());
        let r = info(Method::PATCH, "/api/v1/nodes/node-1");
        assert_eq!(
            (r.verb, r.resource.as_str(), r.namespace, r.name.as_deref()),
            ("patch", "nodes", None, Some("node-1"))
        );
        let r = info(Method::POST, "/api/v1/namespaces/shop/pods/web-1/eviction");
        assert_eq!((r.verb, r.resource.as_str()), ("create", "pods/eviction"));
        let r = info(Method::DELETE, "/api/v1/namespaces/shop/configmaps");
        assert_eq!(r.verb, "deletecollection");
        assert_eq!(info(Method::GET, "/version").resource, "");
    }

    /// A plan answering the same fault to every request of a given verb.
    #[derive(Debug)]
    struct Every(&'static str, Fault);

    impl FaultPlan for Every {
        fn decide(&self, _client: &str, request: &RequestInfo) -> Fault {
            if request.verb == self.0 {
                self.1.clone()
            } else {
                Fault::PASS
            }
        }
    }

    fn client(cluster: &EmbeddedCluster, layer: &FaultLayer) -> kube::Client {
        kube::Client::new(layer.layer(cluster.service()), "default")
    }

    fn config_map(name: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap()
    }

    #[tokio::test]
    async fn an_injected_error_never_reaches_the_server_and_a_lost_answer_does() {
        let cluster = EmbeddedCluster::new(Config::default());
        let observer: Api<ConfigMap> = Api::default_namespaced(cluster.client());
        let ledger = Ledger::default();
        let fail = Fault {
            delay: Duration::ZERO,
            kind: FaultKind::Fail {
                code: 429,
                retry_after: Some(3),
            },
        };
        let layer =
            FaultLayer::new("a", Arc::new(Every("create", fail))).with_ledger(ledger.clone());
        let api: Api<ConfigMap> = Api::default_namespaced(client(&cluster, &layer));
        match api.create(&PostParams::default(), &config_map("one")).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 429);
                assert_eq!(s.details.map(|d| d.retry_after_seconds), Some(3));
            }
            other => panic!("{other:?}"),
        }
        assert!(observer.get_opt("one").await.unwrap().is_none());
        assert!(ledger.entries().is_empty());

        let lose = Fault {
            delay: Duration::ZERO,
            kind: FaultKind::LoseAnswer { code: 504 },
        };
        let layer =
            FaultLayer::new("b", Arc::new(Every("create", lose))).with_ledger(ledger.clone());
        let api: Api<ConfigMap> = Api::default_namespaced(client(&cluster, &layer));
        match api.create(&PostParams::default(), &config_map("two")).await {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 504),
            other => panic!("{other:?}"),
        }
        // The server acted; the ledger says so, with the server's own answer.
        assert!(observer.get_opt("two").await.unwrap().is_some());
        let entries = ledger.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].client.as_str(), entries[0].code), ("b", 201));
        assert_eq!(entries[0].request.name.as_deref(), Some("two"));
    }

    #[tokio::test]
    async fn a_killed_client_gets_no_more_answers_and_its_watches_end() {
        let cluster = EmbeddedCluster::new(Config::default());
        let observer: Api<ConfigMap> = Api::default_namespaced(cluster.client());
        let kill = Fault {
            delay: Duration::ZERO,
            kind: FaultKind::Kill { sent: true },
        };
        let layer = FaultLayer::new("a", Arc::new(Every("create", kill)));
        let api: Api<ConfigMap> = Api::default_namespaced(client(&cluster, &layer));
        let mut watch = api
            .watch(&WatchParams::default(), "0")
            .await
            .unwrap()
            .boxed();
        assert!(
            api.create(&PostParams::default(), &config_map("one"))
                .await
                .is_err()
        );
        assert!(layer.lifeline().is_dead());
        // Sent before the client died: the server has it.
        assert!(observer.get_opt("one").await.unwrap().is_some());
        assert!(api.get_opt("one").await.is_err());
        // The watch ends (after whatever it had already received).
        let rest = tokio::time::timeout(Duration::from_secs(5), async {
            let mut events = 0;
            while let Some(event) = watch.next().await {
                assert!(matches!(
                    event,
                    Ok(WatchEvent::Added(_) | WatchEvent::Bookmark(_))
                ));
                events += 1;
            }
            events
        })
        .await
        .unwrap();
        assert!(rest <= 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_watch_ends_after_its_time_and_delays_hold_requests() {
        let cluster = EmbeddedCluster::new(Config::default());
        let cut = Fault {
            delay: Duration::from_secs(2),
            kind: FaultKind::CutWatch {
                after: Duration::from_secs(30),
            },
        };
        let layer = FaultLayer::new("a", Arc::new(Every("watch", cut)));
        let api: Api<ConfigMap> = Api::default_namespaced(client(&cluster, &layer));
        let started = tokio::time::Instant::now();
        let mut watch = api
            .watch(&WatchParams::default(), "0")
            .await
            .unwrap()
            .boxed();
        assert!(started.elapsed() >= Duration::from_secs(2));
        while watch.next().await.is_some() {}
        let lasted = started.elapsed();
        assert!(
            lasted >= Duration::from_secs(32) && lasted < Duration::from_secs(33),
            "{lasted:?}"
        );
    }

    #[test]
    fn scenario_rules_count_down_and_add_latency() {
        let rules = Rules::default();
        rules.fail_next("list", "kubernetesexecutions", 2, 429);
        rules.add_latency("*", "pods", Duration::from_millis(200));
        let list = RequestInfo {
            verb: "list",
            resource: "kubernetesexecutions".into(),
            namespace: Some("shop".into()),
            name: None,
        };
        let status = RequestInfo {
            verb: "list",
            resource: "kubernetesexecutions/status".into(),
            ..list.clone()
        };
        let throttled = FaultKind::Fail {
            code: 429,
            retry_after: Some(1),
        };
        assert_eq!(rules.decide("w", &list).kind, throttled);
        // `plural` matches its subresources too, as in the server's rules.
        assert_eq!(rules.decide("e", &status).kind, throttled);
        assert_eq!(rules.decide("w", &list), Fault::PASS);
        let pods = RequestInfo {
            verb: "get",
            resource: "pods".into(),
            ..list
        };
        assert_eq!(rules.decide("w", &pods).delay, Duration::from_millis(200));
    }
}
