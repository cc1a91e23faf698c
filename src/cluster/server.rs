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
use super::registry::ResourceType;
use super::store::State;
use super::{discovery, read, subresource, table, watch, write};

/// Settings of an embedded cluster.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many recent events a watch can resume from; older versions answer 410 Gone.
    pub event_window: usize,
    /// How many bytes of object text the event window may hold; the oldest events leave
    /// first, and versions before them answer 410 Gone.
    pub event_window_bytes: usize,
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
            bookmark_interval: Duration::from_secs(60),
            git_version: "v1.33.0-remedy".into(),
        }
    }
}

/// The query string of a request, decoded.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

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
        Query(
            q.unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    /// The first value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
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
        self.0.iter().any(|(k, v)| k == "dryRun" && v == "All")
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
        }
    }

    /// Locks the state (a poisoned lock is recovered: every write leaves the state consistent).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes watches after a write.
    pub fn notify(&self, rv: u64) {
        self.changed.send_replace(rv);
    }

    /// The token the watches opened now will stop on.
    pub fn cut_token(&self) -> CancellationToken {
        self.cut.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Cuts every open watch stream.
    pub fn cut_watches(&self) {
        let mut t = self.cut.lock().unwrap_or_else(|p| p.into_inner());
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

/// Whether the client asked for a Table rendering.
fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
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
        Ok(None) => return discovery::answer(server, &path),
        Err(e) => return e.into(),
    };
    let verb = verb(&req.method, &target, &req.query);
    if !internal && let Some(e) = super::faults::check(server, verb, &target).await {
        return e.into();
    }
    let table = wants_table(&req.accept);
    let result = dispatch(server, &req, &target, verb, table).await;
    match result {
        Ok(resp) => resp,
        Err(e) => e.into(),
    }
}

async fn dispatch(
    server: &Arc<Server>,
    req: &ApiRequest,
    t: &Target,
    verb: &str,
    table: bool,
) -> Result<ApiResponse, ApiError> {
    let sub = t.sub.as_deref();
    let known_sub = match sub {
        None => true,
        Some("status") => t.rt.status_subresource,
        Some("scale") => t.rt.scale.is_some(),
        Some("eviction") => t.rt.kind == "Pod" && !t.rt.custom,
        Some(_) => false,
    };
    if !known_sub {
        return Err(ApiError::no_route(&req.path));
    }
    if t.rt.namespaced && t.namespace.is_none() && !matches!(verb, "list" | "watch") {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({verb} {})",
            t.rt.plural
        )));
    }
    let body = || parse_body(&req.body, &req.content_type);
    match (verb, sub) {
        ("watch", _) => Ok(watch::open(server, t, &req.query, table)?),
        ("list", _) if !table => Ok(ApiResponse::Raw(
            200,
            read::list_json(server, t, &req.query)?,
        )),
        ("list", _) => {
            let list = read::list(server, t, &req.query)?;
            Ok(ApiResponse::Json(
                200,
                table::from_list(&server.lock(), t, &list, &req.query),
            ))
        }
        ("get", Some("scale")) => Ok(ApiResponse::Json(200, subresource::get_scale(server, t)?)),
        ("get", _) if !table => Ok(ApiResponse::Raw(200, read::get_json(server, t)?)),
        ("get", _) => {
            let obj = read::get(server, t)?;
            Ok(ApiResponse::Json(
                200,
                table::from_object(&server.lock(), t, &obj, &req.query),
            ))
        }
        ("create", Some("eviction")) => Ok(ApiResponse::Json(
            201,
            subresource::evict(server, t, &body()?, &req.query)?,
        )),
        ("create", Some(_)) => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
        ("create", None) if t.name.is_some() => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
        ("create", None) => {
            let (code, obj) = write::create(server, t, body()?, &req.query)?;
            Ok(ApiResponse::Json(code, obj))
        }
        ("update", Some("scale")) => Ok(ApiResponse::Json(
            200,
            subresource::put_scale(server, t, &body()?, &req.query)?,
        )),
        ("update", _) => Ok(ApiResponse::Json(
            200,
            write::update(server, t, body()?, &req.query)?,
        )),
        ("patch", Some("scale")) => Ok(ApiResponse::Json(
            200,
            subresource::patch_scale(server, t, &req.body, &req.content_type, &req.query)?,
        )),
        ("patch", _) => {
            let (code, obj) = write::patch(server, t, &req.body, &req.content_type, &req.query)?;
            Ok(ApiResponse::Json(code, obj))
        }
        ("delete", None) => {
            let opts = if req.body.is_empty() {
                json!({})
            } else {
                body()?
            };
            Ok(ApiResponse::Json(
                200,
                write::delete(server, t, &opts, &req.query)?,
            ))
        }
        ("deletecollection", None) => Ok(ApiResponse::Json(
            200,
            write::delete_collection(server, t, &req.query)?,
        )),
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// Parses a request body as JSON (or YAML, for apply patches and YAML content types).
pub fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if content_type.contains("protobuf")
        && let Some(v) = super::protobuf::decode(body)
    {
        return Ok(v);
    }
    if content_type.contains("protobuf") || content_type.contains("cbor") {
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
