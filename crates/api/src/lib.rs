//! The HTTP surface of `vigil serve`, one module per resource, each with its own router:
//!
//! - [`read`]: queries, conversion, monitored sessions (search and timeline), attributes;
//! - [`login`]: sign-in and -out, `me`, passwords, accepting invitations (login sessions);
//! - [`alerts`]: alert rules, mutes, previews, history, notifications;
//! - [`projects`]: projects, settings, API tokens, members, invitations, erasure;
//! - [`assets`]: the browser agent and the dashboard;
//! - [`operations`]: health, readiness, Prometheus metrics.
//!
//! The binary composes them with intake's router ([`with_layers`] adds what every route
//! shares). Who may call what is decided in one place, [`access`]; every error is an
//! [`ApiError`], answered as `{code, message}`.

pub mod access;
pub mod alerts;
pub mod assets;
mod error;
pub mod error_groups;
pub mod login;
pub mod operations;
pub mod projects;
pub mod read;
mod serve;
pub mod sourcemaps;
mod throttle;
mod unread_body;

pub use error::ApiError;
pub use serve::{ServeLimits, serve};
pub use throttle::LoginThrottle;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use vigil_intake::Intake;
use vigil_meta::Meta;
use vigil_query::QueryEngine;
use vigil_store::Store;

/// Everything the handlers share.
pub struct AppState {
    /// The store (for readiness, metrics and erasure).
    pub store: Arc<Store>,
    /// Metadata.
    pub meta: Arc<Meta>,
    /// Intake (for its metrics).
    pub intake: Arc<Intake>,
    /// The query engine.
    pub queries: Arc<QueryEngine>,
    /// The alert evaluator (also previews and test notifications).
    pub alerts: Arc<vigil_alerts::Evaluator>,
    /// Failed sign-ins per email, and the slots password hashing runs in.
    pub login_throttle: LoginThrottle,
    /// Uploaded source maps.
    pub sourcemaps: sourcemaps::SourceMaps,
    /// Session replay segments.
    pub replay: Arc<vigil_replay::ReplayStore>,
}

/// Runs `routes`' handlers on `threads`. The server's request threads run at background
/// priority because nearly every request they take is ingest (see `vigil_threads`); the
/// dashboard's routes, which a person waits on, hop to threads at the process's own
/// priority. The hop costs a few microseconds, paid only by these rare requests.
pub fn on_threads(routes: Router, threads: Arc<vigil_threads::Pool>) -> Router {
    routes.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let threads = Arc::clone(&threads);
            async move {
                match threads.run(next.run(request)).await {
                    Ok(response) => response,
                    // A panic of the handler (the work is cancelled only with this wait).
                    Err(e) => ApiError::Internal(e.to_string()).into_response(),
                }
            }
        },
    ))
}

/// What every route shares, around `api` (the JSON routes: ours and intake's) and `assets`
/// (merged last, behind them): axum's own rejections in the API's `{code, message}` shape,
/// a 60 s deadline, panics answered 500, request tracing, and `Connection: close` on an answer
/// sent before its request's body was read.
pub fn with_layers(api: Router, assets: Router) -> Router {
    // One layer of four, outermost first, not four `Router::layer`s: each of those boxes
    // every route again, and each box is cloned for every request (an allocation each).
    let shared = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(
            unread_body::close_when_body_unread,
        ))
        // Rejections are counted in /metrics; logging each 503 would flood the log when
        // the server is saturated, which is when the log matters most.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(60),
        ));
    api.layer(axum::middleware::map_response(error::json_rejections))
        .merge(assets)
        .layer(shared)
}
