//! Watches: a stream of ADDED/MODIFIED/DELETED events from a resourceVersion, BOOKMARKs when
//! asked for, 410 Gone (as an ERROR event) past the retained window, ended by timeoutSeconds
//! or when the faults API cuts all streams.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::negotiate::{self, Rendering};
use super::read::{Selectors, present, presents_as_is};
use super::server::{ApiResponse, Query, Server, Target};
use super::store::{Event, EventType, Stored};
use super::table;
use crate::sync;

/// Everything a running watch needs to filter and render events.
struct Watch {
    server: Arc<Server>,
    /// The storage key of the watched resource, computed once.
    key: super::registry::ResourceKey,
    target: Target,
    selectors: Selectors,
    rendering: Rendering,
    query: Query,
    headers_sent: bool,
}

fn line(kind: &str, object: Value) -> Bytes {
    line_ref(kind, &object)
}

/// The wire line of an event, serialising the object in place (no copy of it).
fn line_ref(kind: &str, object: &Value) -> Bytes {
    // Writing JSON into a Vec cannot fail.
    line_json(kind, &super::store::object_text(object))
}

/// The wire line of an event whose object is already JSON text.
fn line_json(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    // As kube-apiserver writes a watch event: "type", then "object".
    out.extend_from_slice(b"{\"type\":");
    out.extend_from_slice(Value::from(kind).to_string().as_bytes());
    out.extend_from_slice(b",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

impl Watch {
    /// The wire line of a stored object: its text as it is when the watch needs no copy.
    fn line_of(&mut self, kind: &str, obj: &Stored) -> Line {
        if self.rendering == Rendering::Object && presents_as_is(obj, &self.target) {
            // The object's text is shared with the store and with every other watch that
            // sends it, not copied per watch.
            let mut head = Vec::with_capacity(32);
            head.extend_from_slice(b"{\"type\":");
            head.extend_from_slice(Value::from(kind).to_string().as_bytes());
            head.extend_from_slice(b",\"object\":");
            return Line(vec![
                Bytes::from(head),
                obj.json.clone(),
                Bytes::from_static(b"}\n"),
            ]);
        }
        let rendered = self.render(&obj.value());
        Line(vec![line(kind, rendered)])
    }

    fn render(&mut self, obj: &Value) -> Value {
        let obj = present(obj, &self.target);
        match self.rendering {
            Rendering::Object => return obj,
            Rendering::Metadata(v) => return negotiate::partial(&obj, v),
            Rendering::Table => {}
        }
        let state = self.server.lock();
        let mut t = table::from_object(&state, &self.target, &obj, &self.query);
        if self.headers_sent
            && let Some(m) = t.as_object_mut()
        {
            m.insert("columnDefinitions".into(), json!([]));
        }
        self.headers_sent = true;
        t
    }

    /// The wire event for a stored event, if this watch sees it.
    fn transform(&mut self, e: &Event) -> Option<Line> {
        if e.key != self.key {
            return None;
        }
        if let Some(ns) = &self.target.namespace
            && self.target.rt.namespaced
            && e.namespace != *ns
        {
            return None;
        }
        let now = self
            .selectors
            .matches_stored(&e.namespace, &e.object.view, &self.target);
        let before = e
            .prev
            .as_ref()
            .is_some_and(|p| self.selectors.matches_stored(&e.namespace, p, &self.target));
        let kind = match e.kind {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if before || now => "DELETED",
            _ => return None,
        };
        Some(self.line_of(kind, &e.object))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            json!({"kind": self.target.rt.kind, "apiVersion": self.target.rt.api_version(&self.target.version), "metadata": meta}),
        )
    }
}

/// A watch that answers one ERROR event carrying `e`, then ends (how a watch reports an
/// error found after it was accepted).
pub fn error_stream(e: &ApiError) -> ApiResponse {
    let stream = futures::stream::iter([line("ERROR", e.to_status())]);
    ApiResponse::Stream(stream.boxed())
}

/// One watch event on the wire, in parts (the object's part shared with the store).
struct Line(Vec<Bytes>);

impl Line {
    fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }
}

impl From<Bytes> for Line {
    fn from(b: Bytes) -> Self {
        Line(vec![b])
    }
}

/// What a watch has sent and its client not yet read, bounded in bytes.
struct Backlog {
    queue: Mutex<BacklogState>,
    ready: tokio::sync::Notify,
    limit: usize,
}

#[derive(Default)]
struct BacklogState {
    parts: VecDeque<Bytes>,
    bytes: usize,
    ended: bool,
}

/// Why a watch stops feeding its backlog.
enum Stop {
    /// The client went away.
    Gone,
    /// The client fell more than the backlog's bound behind: the watch is closed.
    Behind,
}

impl Backlog {
    fn lock(&self) -> std::sync::MutexGuard<'_, BacklogState> {
        sync::lock(&self.queue)
    }

    /// Queues an event, or closes the watch (dropping what is queued) when it would pass
    /// the bound.
    fn push(&self, line: Line) -> Result<(), Stop> {
        let mut q = self.lock();
        if q.ended {
            return Err(Stop::Gone);
        }
        if q.bytes + line.len() > self.limit && q.bytes > 0 {
            q.parts.clear();
            q.bytes = 0;
            q.ended = true;
            drop(q);
            self.ready.notify_one();
            return Err(Stop::Behind);
        }
        q.bytes += line.len();
        q.parts.extend(line.0);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Ends the stream once what is queued has been read.
    fn end(&self) {
        self.lock().ended = true;
        self.ready.notify_one();
    }

    /// The next part to send, None once the stream has ended and everything was read.
    async fn next(&self) -> Option<Bytes> {
        loop {
            let notified = self.ready.notified();
            {
                let mut q = self.lock();
                if let Some(b) = q.parts.pop_front() {
                    q.bytes = q.bytes.saturating_sub(b.len());
                    return Some(b);
                }
                if q.ended {
                    return None;
                }
            }
            notified.await;
        }
    }
}

/// Opens a watch; the response streams until timeout, cut, or the client goes away.
pub fn open(
    server: &Arc<Server>,
    t: &Target,
    q: &Query,
    rendering: Rendering,
) -> Result<ApiResponse, ApiError> {
    let selectors = Selectors::from_query(q, t)?;
    let bookmarks = q.flag("allowWatchBookmarks");
    let send_initial = q.flag("sendInitialEvents");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800);
    let requested = q.get("resourceVersion").filter(|v| !v.is_empty());
    let mut watch = Watch {
        server: server.clone(),
        key: t.rt.key(),
        target: t.clone(),
        selectors,
        rendering,
        query: q.clone(),
        headers_sent: false,
    };
    let backlog = Arc::new(Backlog {
        queue: Mutex::new(BacklogState::default()),
        ready: tokio::sync::Notify::new(),
        limit: server.config.watch_backlog_bytes.max(1),
    });
    let mut first: Vec<Line> = Vec::new();
    let mut changed = server.changed.subscribe();
    let cut = server.cut_token();
    let start;
    {
        let state = server.lock();
        let from_now = requested.is_none() || requested == Some("0") || send_initial;
        if from_now {
            start = state.rv;
            let objs: Vec<(String, Arc<Stored>)> = state
                .objects
                .get(&t.rt.key())
                .map(|o| {
                    o.iter()
                        .map(|((ns, _), s)| (ns.clone(), s.clone()))
                        .collect()
                })
                .unwrap_or_default();
            drop(state);
            for (ns, o) in objs {
                if watch.selectors.matches_stored(&ns, &o.view, t) {
                    first.push(watch.line_of("ADDED", &o));
                }
            }
            if send_initial && bookmarks {
                first.push(watch.bookmark(start, true).into());
            }
        } else {
            let rv: u64 = requested.unwrap_or_default().parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resource version {:?}",
                    requested.unwrap_or_default()
                ))
            })?;
            if state.events_since(rv).is_none() {
                let gone = ApiError::gone(format!(
                    "too old resource version: {rv} ({})",
                    state.oldest_resumable().saturating_sub(1)
                ));
                let stream = futures::stream::iter([line("ERROR", gone.to_status())]);
                return Ok(ApiResponse::Stream(stream.boxed()));
            }
            start = rv;
        }
    }
    let interval = server.config.bookmark_interval;
    // The client's end of the stream: when it is dropped, the feeding task stops.
    let gone = CancellationToken::new();
    let guard = gone.clone().drop_guard();
    let feed = backlog.clone();
    tokio::spawn(async move {
        let mut cursor = start;
        let stop = 'feed: {
            for b in first {
                if let Err(s) = feed.push(b) {
                    break 'feed s;
                }
            }
            let deadline = tokio::time::sleep(Duration::from_secs(timeout));
            tokio::pin!(deadline);
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                let events = watch.server.lock().events_since(cursor);
                let Some(events) = events else {
                    let gone = ApiError::gone(format!("too old resource version: {cursor}"));
                    let _ = feed.push(line("ERROR", gone.to_status()).into());
                    break 'feed Stop::Gone;
                };
                for e in events {
                    cursor = e.rv;
                    if let Some(b) = watch.transform(&e)
                        && let Err(s) = feed.push(b)
                    {
                        break 'feed s;
                    }
                }
                tokio::select! {
                    r = changed.changed() => if r.is_err() { break 'feed Stop::Gone },
                    _ = cut.cancelled() => break 'feed Stop::Gone,
                    _ = gone.cancelled() => break 'feed Stop::Gone,
                    _ = &mut deadline => {
                        if bookmarks {
                            let _ = feed.push(watch.bookmark(cursor, false).into());
                        }
                        break 'feed Stop::Gone;
                    }
                    _ = ticks.tick(), if bookmarks => {
                        if let Err(s) = feed.push(watch.bookmark(cursor, false).into()) {
                            break 'feed s;
                        }
                    }
                }
            }
        };
        if let Stop::Behind = stop {
            tracing::debug!(
                resource = %watch.target.rt.plural,
                resource_version = cursor,
                "closing a watch whose client fell too far behind"
            );
        }
        feed.end();
    });
    let stream = futures::stream::unfold((backlog, guard), |(backlog, guard)| async move {
        let next = backlog.next().await?;
        Some((next, (backlog, guard)))
    });
    Ok(ApiResponse::Stream(stream.boxed()))
}
