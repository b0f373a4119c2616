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
//! Not modelled: an object that stops matching a label selector is not
//! reported as DELETED to that watch (a real server does that).

use crate::catalog::ResourceType;
use crate::handlers::Shared;
use crate::route::Query;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::store::Event;
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
}

impl Filter {
    fn matches(&self, e: &Event) -> bool {
        e.key == self.key
            && self.namespace.as_ref().is_none_or(|ns| *ns == e.namespace)
            && self.labels.matches(&e.object)
            && self.fields.matches(&e.object)
    }

    fn line(&self, kind: &str, mut object: Value) -> String {
        object["apiVersion"] = json!(self.api_version);
        format!("{}\n", json!({"type": kind, "object": object}))
    }
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
) -> ApiResult<Body> {
    let filter = Filter {
        key: rt.key(),
        namespace,
        labels: LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or_default())?,
        api_version: rt.api_version(),
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
                initial.push(filter.line("ERROR", status.to_status()));
            }
            Some(rv) if !send_initial => {
                for e in store.events_since(rv).into_iter().filter(|e| filter.matches(e)) {
                    initial.push(filter.line(e.kind.as_str(), e.object));
                }
            }
            _ => {
                for obj in store.list(&filter.key, filter.namespace.as_deref()) {
                    if filter.labels.matches(obj) && filter.fields.matches(obj) {
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
                        if !filter.matches(&e) { continue; }
                        filter.line(e.kind.as_str(), e.object.clone())
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let status = ApiError::gone("the watch fell too far behind");
                        let _ = tx.send(filter.line("ERROR", status.to_status())).await;
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
