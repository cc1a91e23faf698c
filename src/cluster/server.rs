//! The API server core: requests in, responses out. Routing, verbs and content negotiation;
//! the semantics live in `read`, `write`, `watch`, `subresource`, `discovery` and `table`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use http::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::faults::FaultRule;
use super::negotiate::{self, Rendering};
use super::registry::ResourceType;
use super::store::State;
use super::{discovery, kubelet, read, subresource, table, token, watch, write};
use crate::sync;

/// Settings of an embedded cluster.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many recent events a watch can resume from; older versions answer 410 Gone.
    pub event_window: usize,
    /// How many bytes of object text the event window may hold; the oldest events leave
    /// first, and versions before them answer 410 Gone.
    pub event_window_bytes: usize,
    /// How many bytes of events one watch may have sent but its client not yet read; a
    /// watch further behind is closed, as kube-apiserver closes an unresponsive watcher.
    pub watch_backlog_bytes: usize,
    /// How often a watch with `allowWatchBookmarks` receives a BOOKMARK.
    pub bookmark_interval: Duration,
    /// The `gitVersion` reported by `/version`.
    pub git_version: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            event_window: 10_000,
            event_window_bytes: 32 << 20,
            watch_backlog_bytes: 16 << 20,
            bookmark_interval: Duration::from_secs(60),
            git_version: "v1.33.0-remedy".into(),
        }
    }
}

/// The query string of a request, decoded, and the `User-Agent` it came with (Kubernetes
/// names the field manager of a write without `fieldManager` after it).
#[derive(Debug, Clone, Default)]
pub struct Query {
    params: Vec<(String, String)>,
    user_agent: String,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    /// Parses `a=b&c=d`.
    pub fn parse(q: Option<&str>) -> Self {
        Query {
            params: q
                .unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
            user_agent: String::new(),
        }
    }

    /// The same query, sent with `user_agent`.
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = user_agent.to_string();
        self
    }

    /// The field manager of a write: `fieldManager`, or else what kube-apiserver takes from
    /// the User-Agent: the part before the first `/`, printable characters only, at most 128
    /// bytes (empty when there is no User-Agent, as in Kubernetes).
    pub fn manager(&self) -> String {
        if let Some(m) = self.get("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        let prefix = self.user_agent.split('/').next().unwrap_or_default();
        let mut out = String::new();
        for c in prefix.chars().filter(|c| !c.is_control()) {
            if out.len() + c.len_utf8() > 128 {
                break;
            }
            out.push(c);
        }
        out
    }

    /// The first value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a boolean parameter is set (`true` or `1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// Whether `dryRun=All` is set.
    pub fn dry_run(&self) -> bool {
        self.params.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }
}

/// A request to the API server, already read into memory.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// URL path.
    pub path: String,
    /// Decoded query parameters.
    pub query: Query,
    /// Content-Type header.
    pub content_type: String,
    /// Accept header.
    pub accept: String,
    /// Request body.
    pub body: Bytes,
}

/// A response: a JSON document, plain text, or a stream of watch events.
pub enum ApiResponse {
    /// A JSON body with a status code.
    Json(u16, Value),
    /// A JSON body already written out (stored objects are sent as they are kept).
    Raw(u16, Bytes),
    /// A plain-text body with a status code.
    Text(u16, String),
    /// A JSON body with its own media type (aggregated discovery).
    Typed(u16, String, Value),
    /// A stream of newline-delimited watch events (200).
    Stream(BoxStream<'static, Bytes>),
}

impl From<ApiError> for ApiResponse {
    fn from(e: ApiError) -> Self {
        ApiResponse::Json(e.code, e.to_status())
    }
}

/// The addressed resource of a request.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource type.
    pub rt: ResourceType,
    /// The version in the URL.
    pub version: String,
    /// The namespace in the URL, if any.
    pub namespace: Option<String>,
    /// The object name, if the URL names one.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, `eviction`), if any.
    pub sub: Option<String>,
}

impl Target {
    /// The namespace to store under ("" for cluster-scoped resources).
    pub fn ns(&self) -> &str {
        if self.rt.namespaced {
            self.namespace.as_deref().unwrap_or_default()
        } else {
            ""
        }
    }

    /// The name (empty when the URL is a collection).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

/// The shared server: state, watch wake-ups, fault rules.
#[derive(Debug)]
pub struct Server {
    state: Mutex<State>,
    /// Carries the latest resourceVersion; watches wait on it.
    pub changed: tokio::sync::watch::Sender<u64>,
    /// Cancelled to cut every open watch; replaced by a fresh token.
    pub cut: Mutex<CancellationToken>,
    /// Active fault-injection rules.
    pub faults: Mutex<Vec<FaultRule>>,
    /// Settings.
    pub config: Config,
    /// The key ServiceAccount tokens are signed with.
    pub token_key: super::token::TokenKey,
}

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A new object uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Server {
    /// A server with the built-in kinds and standard namespaces.
    pub fn new(config: Config) -> Self {
        let state = State::new(config.event_window, config.event_window_bytes, &now());
        let rv = state.rv;
        Server {
            state: Mutex::new(state),
            changed: tokio::sync::watch::channel(rv).0,
            cut: Mutex::new(CancellationToken::new()),
            faults: Mutex::new(Vec::new()),
            config,
            token_key: super::token::TokenKey::default(),
        }
    }

    /// Locks the state (a poisoned lock is recovered: every write leaves the state consistent).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.state)
    }

    /// Wakes watches after a write.
    pub fn notify(&self, rv: u64) {
        self.changed.send_replace(rv);
    }

    /// The token the watches opened now will stop on.
    pub fn cut_token(&self) -> CancellationToken {
        sync::lock(&self.cut).clone()
    }

    /// Cuts every open watch stream.
    pub fn cut_watches(&self) {
        let mut t = sync::lock(&self.cut);
        t.cancel();
        *t = CancellationToken::new();
    }
}

/// Resolves an API path to a target, or None when it is not a resource path.
fn resolve(state: &State, path: &str) -> Result<Option<Target>, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Ok(None),
    };
    let find = |plural: &str| state.find_type(group, version, plural).cloned();
    let nf = || ApiError::no_route(path);
    let target =
        |rt: ResourceType, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
            rt,
            version: version.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        };
    if rest.len() >= 3 && rest[0] == "namespaces" {
        if let Some(rt) = find(rest[2]).filter(|t| t.namespaced) {
            return match rest {
                [_, ns, _] => Ok(Some(target(rt, Some(ns), None, None))),
                [_, ns, _, name] => Ok(Some(target(rt, Some(ns), Some(name), None))),
                [_, ns, _, name, sub] => Ok(Some(target(rt, Some(ns), Some(name), Some(sub)))),
                _ => Err(nf()),
            };
        }
        if group.is_empty() && rest.len() == 3 {
            let rt = find("namespaces").ok_or_else(nf)?;
            return Ok(Some(target(rt, None, Some(rest[1]), Some(rest[2]))));
        }
        return Err(nf());
    }
    let rt = find(rest[0]).ok_or_else(nf)?;
    match rest {
        [_] => Ok(Some(target(rt, None, None, None))),
        [_, name] if !rt.namespaced => Ok(Some(target(rt, None, Some(name), None))),
        [_, name, sub] if !rt.namespaced => Ok(Some(target(rt, None, Some(name), Some(sub)))),
        _ => Err(nf()),
    }
}

/// The verb of a request, as RBAC names it.
pub fn verb(method: &Method, target: &Target, query: &Query) -> &'static str {
    let collection = target.name.is_none();
    match *method {
        Method::GET if collection && query.flag("watch") => "watch",
        Method::GET if collection => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if collection => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

/// Answers one request.
pub async fn handle(server: &Arc<Server>, req: ApiRequest, internal: bool) -> ApiResponse {
    let path = req.path.clone();
    let resolved = {
        let state = server.lock();
        resolve(&state, &path)
    };
    let target = match resolved {
        Ok(Some(t)) => t,
        Ok(None) => return discovery::answer(server, &path, &req.accept),
        Err(e) => return e.into(),
    };
    let verb = verb(&req.method, &target, &req.query);
    if !internal && let Some(e) = super::faults::check(server, verb, &target).await {
        return e.into();
    }
    let result = match negotiate::rendering(&req.accept, verb == "list") {
        Ok(rendering) => dispatch(server, &req, &target, verb, rendering).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(resp) => resp,
        Err(e) => e.into(),
    }
}

fn not_allowed() -> ApiError {
    ApiError::method_not_allowed("the server does not allow this method on the requested resource")
}

/// Renders the object a write answers with as the client asked (objects of other kinds, such
/// as a deletion's Status, are sent as they are).
fn rendered(t: &Target, rendering: Rendering, code: u16, obj: Value) -> ApiResponse {
    match rendering {
        Rendering::Metadata(v) if obj.get("kind").and_then(Value::as_str) == Some(&t.rt.kind) => {
            ApiResponse::Json(code, negotiate::partial(&obj, v))
        }
        _ => ApiResponse::Json(code, obj),
    }
}

async fn dispatch(
    server: &Arc<Server>,
    req: &ApiRequest,
    t: &Target,
    verb: &str,
    rendering: Rendering,
) -> Result<ApiResponse, ApiError> {
    let sub = t.sub.as_deref();
    if let Some(name) = sub {
        let served =
            t.rt.subresource(name)
                .ok_or_else(|| ApiError::no_route(&req.path))?;
        if matches!(name, "log" | "exec" | "attach" | "portforward") {
            return kubelet::answer(server, t, req);
        }
        if !served.verbs.contains(&verb) {
            return Err(not_allowed());
        }
    } else if !t.rt.serves(verb) {
        return Err(not_allowed());
    }
    if t.rt.namespaced && t.namespace.is_none() && !matches!(verb, "list" | "watch") {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({verb} {})",
            t.rt.plural
        )));
    }
    if matches!(verb, "create" | "update") || (verb == "delete" && !req.body.is_empty()) {
        input_media(&req.content_type)?;
    }
    let body = || parse_body(&req.body, &req.content_type);
    let respond = |code: u16, obj: Value| rendered(t, rendering, code, obj);
    if (matches!(verb, "list" | "get") || (verb == "watch" && req.query.flag("sendInitialEvents")))
        && let Err(e) = wait_fresh(server, &req.query).await
    {
        return match verb {
            "watch" => Ok(watch::error_stream(&e)),
            _ => Err(e),
        };
    }
    match (verb, sub) {
        ("watch", _) => Ok(watch::open(server, t, &req.query, rendering)?),
        ("list", _) => match rendering {
            Rendering::Object => Ok(ApiResponse::Raw(
                200,
                read::list_json(server, t, &req.query)?,
            )),
            Rendering::Table => {
                let list = read::list(server, t, &req.query)?;
                Ok(ApiResponse::Json(
                    200,
                    table::from_list(&server.lock(), t, &list, &req.query),
                ))
            }
            Rendering::Metadata(v) => {
                let list = read::list(server, t, &req.query)?;
                Ok(ApiResponse::Json(200, negotiate::partial_list(&list, v)))
            }
        },
        ("get", Some("scale")) => Ok(ApiResponse::Json(200, subresource::get_scale(server, t)?)),
        ("get", _) => match rendering {
            Rendering::Object => Ok(ApiResponse::Raw(200, read::get_json(server, t)?)),
            Rendering::Table => {
                let obj = read::get(server, t)?;
                Ok(ApiResponse::Json(
                    200,
                    table::from_object(&server.lock(), t, &obj, &req.query),
                ))
            }
            Rendering::Metadata(_) => Ok(respond(200, read::get(server, t)?)),
        },
        ("create", Some("eviction")) => Ok(ApiResponse::Json(
            201,
            subresource::evict(server, t, &body()?, &req.query)?,
        )),
        ("create", Some("token")) => Ok(ApiResponse::Json(
            201,
            token::request(server, t, &body()?, &req.query)?,
        )),
        ("create", Some(_)) => Err(not_allowed()),
        ("create", None) if t.name.is_some() => Err(not_allowed()),
        ("create", None) if t.rt.kind == "TokenReview" => {
            Ok(ApiResponse::Json(201, token::review(server, t, &body()?)?))
        }
        ("create", None) => {
            let (code, obj) = write::create(server, t, body()?, &req.query)?;
            Ok(respond(code, obj))
        }
        ("update", Some("scale")) => Ok(ApiResponse::Json(
            200,
            subresource::put_scale(server, t, &body()?, &req.query)?,
        )),
        ("update", _) => Ok(respond(200, write::update(server, t, body()?, &req.query)?)),
        ("patch", Some("scale")) => Ok(ApiResponse::Json(
            200,
            subresource::patch_scale(server, t, &req.body, &req.content_type, &req.query)?,
        )),
        ("patch", _) => {
            let (code, obj) = write::patch(server, t, &req.body, &req.content_type, &req.query)?;
            Ok(respond(code, obj))
        }
        ("delete", None) => {
            let opts = if req.body.is_empty() {
                json!({})
            } else {
                body()?
            };
            Ok(respond(200, write::delete(server, t, &opts, &req.query)?))
        }
        ("deletecollection", None) => Ok(ApiResponse::Json(
            200,
            write::delete_collection(server, t, &req.query)?,
        )),
        _ => Err(not_allowed()),
    }
}

/// How long a read waits for a resourceVersion the server has not reached yet
/// (kube-apiserver's watch cache waits 3 s).
const FRESH_WAIT: Duration = Duration::from_secs(3);

/// Waits until the server has reached the `resourceVersion` a read asks for; 504 when it has
/// not within [`FRESH_WAIT`]. (A plain watch from a future version is accepted and waits for
/// its events, as in Kubernetes.)
async fn wait_fresh(server: &Arc<Server>, q: &Query) -> Result<(), ApiError> {
    let Some(want) = q.get("resourceVersion").and_then(|v| v.parse::<u64>().ok()) else {
        return Ok(());
    };
    let mut changed = server.changed.subscribe();
    let deadline = tokio::time::Instant::now() + FRESH_WAIT;
    loop {
        changed.borrow_and_update();
        if server.lock().rv >= want {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, changed.changed()).await {
            Ok(Ok(())) => {}
            _ => {
                let current = server.lock().rv;
                return Err(ApiError::too_large_resource_version(want, current));
            }
        }
    }
}

/// Refuses a body whose media type kube-apiserver cannot decode (415). As there, a request
/// without a Content-Type is read as JSON.
fn input_media(content_type: &str) -> Result<(), ApiError> {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "" | "application/json" | "application/yaml" | "application/vnd.kubernetes.protobuf" => {
            Ok(())
        }
        _ => Err(ApiError::unsupported_media(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )),
    }
}

/// Parses a request body as JSON (or YAML, for apply patches and YAML content types).
pub fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if content_type.contains("protobuf") {
        return super::protobuf::decode(body).map_err(|e| match e {
            super::protobuf::DecodeError::Unsupported(what) => ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (no protobuf schema for {what})"
            )),
            super::protobuf::DecodeError::Malformed(why) => {
                ApiError::bad_request(format!("the object provided is unrecognized: {why}"))
            }
        });
    }
    if content_type.contains("cbor") {
        return Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type})"
        )));
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(e) if content_type.contains("yaml") => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request(format!("the body is not valid UTF-8: {e}")))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "the object provided is unrecognized: {e}"
        ))),
    }
}
