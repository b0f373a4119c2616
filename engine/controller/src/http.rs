//! The controller's HTTP port: `POST /hooks/git` (push webhooks, see
//! [`capstan_source::webhook`]), `/healthz` (the process answers),
//! `/readyz` (the controller loop is running: only the leader's, with
//! leader election) and `/metrics` (Prometheus text format).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use capstan_source::webhook::Hooks;

use crate::metrics::Metrics;

/// The router of the HTTP port.
pub fn router(hooks: Arc<Hooks>, metrics: Arc<Metrics>, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Acquire);
                async move {
                    if ready {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready: starting, or a standby waiting for the leader")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let body = metrics.encode();
                async move {
                    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
                        .into_response()
                }
            }),
        )
        .merge(hooks.router())
}

/// Serves the port until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hooks: Arc<Hooks>,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
) {
    if let Err(error) = axum::serve(listener, router(hooks, metrics, ready)).await {
        tracing::error!(%error, "the HTTP port failed");
    }
}
