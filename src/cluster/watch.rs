//! Watches: a stream of ADDED/MODIFIED/DELETED events from a resourceVersion, BOOKMARKs when
//! asked for, 410 Gone (as an ERROR event) past the retained window, ended by timeoutSeconds
//! or when the faults API cuts all streams.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};

use super::error::ApiError;
use super::negotiate::{self, Rendering};
use super::read::{Selectors, present, presents_as_is};
use super::server::{ApiResponse, Query, Server, Target};
use super::store::{Event, EventType, Stored};
use super::table;

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
    fn line_of(&mut self, kind: &str, obj: &Stored) -> Bytes {
        if self.rendering == Rendering::Object && presents_as_is(obj, &self.target) {
            return line_json(kind, &obj.json);
        }
        let rendered = self.render(&obj.value());
        line(kind, rendered)
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
    fn transform(&mut self, e: &Event) -> Option<Bytes> {
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
    let (mut tx, rx) = mpsc::channel::<Bytes>(256);
    let mut first: Vec<Bytes> = Vec::new();
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
                first.push(watch.bookmark(start, true));
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
                first.push(line("ERROR", gone.to_status()));
                let stream = futures::stream::iter(first);
                return Ok(ApiResponse::Stream(stream.boxed()));
            }
            start = rv;
        }
    }
    let interval = server.config.bookmark_interval;
    tokio::spawn(async move {
        let mut cursor = start;
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            let events = watch.server.lock().events_since(cursor);
            let Some(events) = events else {
                let gone = ApiError::gone(format!("too old resource version: {cursor}"));
                let _ = tx.send(line("ERROR", gone.to_status())).await;
                return;
            };
            for e in events {
                cursor = e.rv;
                if let Some(b) = watch.transform(&e)
                    && tx.send(b).await.is_err()
                {
                    return;
                }
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = cut.cancelled() => return,
                _ = &mut deadline => {
                    if bookmarks {
                        let _ = tx.send(watch.bookmark(cursor, false)).await;
                    }
                    return;
                }
                _ = ticks.tick(), if bookmarks => {
                    if tx.send(watch.bookmark(cursor, false)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(ApiResponse::Stream(rx.boxed()))
}
