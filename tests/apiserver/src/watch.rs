//! `?watch=true`: a stream of newline-delimited JSON watch events.
//!
//! Without a resourceVersion (or with "0") the stream starts with a
//! synthetic ADDED per existing object; with one, it replays the stored
//! history after it, or answers an ERROR event with a 410 Expired status
//! when that history was compacted (see [`crate::TestApiServer::compact`]).
//! `allowWatchBookmarks=true` adds periodic BOOKMARK events, and
//! `sendInitialEvents=true` ends the initial events with the
//! `k8s.io/initial-events-end` bookmark that streaming lists wait for.
//!
//! As on a real server, a modification moving an object out of (into) a
//! watch's label or field selection reaches that watch as DELETED (ADDED).

use crate::catalog::ResourceType;
use crate::handlers::Shared;
use crate::route::Query;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::store::{Event, EventType};
use axum::body::Body;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

struct Filter {
    key: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    api_version: String,
    metadata_only: bool,
}

impl Filter {
    fn selects(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The watch line for a change, if this watch sees it. A modification
    /// that moves an object into (out of) the selection is ADDED (DELETED).
    fn event_line(&self, e: &Event) -> Option<String> {
        if e.key != self.key || self.namespace.as_ref().is_some_and(|ns| *ns != e.namespace) {
            return None;
        }
        let now = self.selects(&e.object);
        let before = e.previous.as_ref().is_some_and(|p| self.selects(p));
        let kind = match (e.kind, before, now) {
            (EventType::Modified, false, true) => "ADDED",
            (EventType::Modified, true, false) => "DELETED",
            (kind, _, true) => kind.as_str(),
            _ => return None,
        };
        Some(self.line(kind, e.object.clone()))
    }

    fn line(&self, kind: &str, mut object: Value) -> String {
        object["apiVersion"] = json!(self.api_version);
        if self.metadata_only {
            object = crate::meta::partial_metadata(&object);
        }
        format!("{}\n", json!({"type": kind, "object": object}))
    }
}

fn error_line(error: &ApiError) -> String {
    format!("{}\n", json!({"type": "ERROR", "object": error.to_status()}))
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> String {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    format!(
        "{}\n",
        json!({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta}})
    )
}

/// Starts a watch; the body streams until the timeout, an error, or the
/// client going away.
pub(crate) fn watch(
    shared: &Arc<Shared>,
    rt: &ResourceType,
    namespace: Option<String>,
    query: &Query,
    metadata_only: bool,
) -> ApiResult<Body> {
    let filter = Filter {
        key: rt.key(),
        namespace,
        labels: LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or_default())?,
        api_version: rt.api_version(),
        metadata_only,
    };
    let bookmarks = query.flag("allowWatchBookmarks");
    let send_initial = query.flag("sendInitialEvents");
    let timeout = query.get("timeoutSeconds").and_then(|t| t.parse().ok()).map(Duration::from_secs);
    let requested: Option<u64> = match query.get("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?),
    };

    let (tx, rx) = mpsc::channel::<String>(256);
    let mut initial = Vec::new();
    let (events, mut last_rv) = {
        let store = shared.lock_store();
        let events = store.subscribe();
        let current = store.resource_version();
        match requested {
            Some(rv) if !send_initial && rv < store.compacted() => {
                let status = ApiError::gone(format!("too old resource version: {rv} ({})", store.compacted()));
                initial.push(error_line(&status));
            }
            Some(rv) if !send_initial => {
                initial.extend(store.events_since(rv).iter().filter_map(|e| filter.event_line(e)));
            }
            _ => {
                for obj in store.list(&filter.key, filter.namespace.as_deref()) {
                    if filter.selects(obj) {
                        initial.push(filter.line("ADDED", obj.clone()));
                    }
                }
                if send_initial {
                    initial.push(bookmark(rt, current, true));
                }
            }
        }
        (events, current)
    };
    let expired = initial.first().is_some_and(|l| l.starts_with("{\"type\":\"ERROR\""));
    let rt = rt.clone();
    let interval = shared.bookmark_interval;
    let follow = async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let mut events: broadcast::Receiver<Arc<Event>> = events;
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            let line = tokio::select! {
                e = events.recv() => match e {
                    Ok(e) if e.rv > last_rv => {
                        last_rv = e.rv;
                        match filter.event_line(&e) {
                            Some(line) => line,
                            None => continue,
                        }
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let status = ApiError::gone("the watch fell too far behind");
                        let _ = tx.send(error_line(&status)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks => bookmark(&rt, last_rv, false),
                _ = tx.closed() => return,
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    };
    tokio::spawn(async move {
        match timeout {
            Some(t) => {
                let _ = tokio::time::timeout(t, follow).await;
            }
            None => follow.await,
        }
    });
    Ok(body_of(rx))
}

fn body_of(rx: mpsc::Receiver<String>) -> Body {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, std::convert::Infallible>(line), rx))
    });
    Body::from_stream(stream)
}
