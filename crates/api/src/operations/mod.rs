//! Operating the server: liveness (`/healthz`), readiness (`/readyz`) and Prometheus
//! metrics (`/metrics`, every metric named once in `metrics.rs`).

mod metrics;

use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// Health, readiness and metrics.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
}

/// Alive: the process answers and its store writer runs (a dead writer will not come
/// back without a restart, so an orchestrator should restart it).
async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.store.is_writer_alive() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store writer is down").into_response()
    }
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.store.is_writable() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store is not writable").into_response()
    }
}

async fn render_metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = metrics::render(
        &state.intake.metrics,
        state.store.metrics(),
        &state.alerts,
        &state.queries,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
