//! The HTTP surface of `vigil serve`: intake's routes, the query API (secret API token),
//! the session endpoint, health and readiness, and Prometheus metrics.

mod agent;
mod auth;
mod error;
mod metrics;
mod serve;
mod throttle;
mod web;

pub use error::ApiError;
pub use serve::{ServeLimits, serve};
pub use throttle::LoginThrottle;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, Path, Query as QueryParams, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use vigil_intake::Intake;
use vigil_meta::Meta;
use vigil_query::{Filter, Query, QueryEngine, QueryError, QueryResult, SessionSearch};
use vigil_store::Store;

/// Everything the handlers share.
pub struct AppState {
    /// The store (for readiness and metrics).
    pub store: Arc<Store>,
    /// Metadata.
    pub meta: Arc<Meta>,
    /// Intake (for its metrics).
    pub intake: Arc<Intake>,
    /// The query engine.
    pub queries: QueryEngine,
    /// Serve the dashboard from this folder instead of the embedded files.
    pub web_dir: Option<std::path::PathBuf>,
    /// Wrong passwords per email.
    pub login_throttle: LoginThrottle,
}

/// The full router of `vigil serve`.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        // Sign-in, password and invitation bodies are a few short fields: a small limit
        // keeps a megabyte email from reaching the throttle or argon2.
        .route("/api/v1/login", post(auth::login).layer(auth_body_limit()))
        .route("/api/v1/logout", post(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route(
            "/api/v1/me/password",
            post(auth::change_password).layer(auth_body_limit()),
        )
        .route(
            "/api/v1/invitations/lookup",
            post(auth::lookup_invitation).layer(auth_body_limit()),
        )
        .route(
            "/api/v1/invitations/accept",
            post(auth::accept_invitation).layer(auth_body_limit()),
        )
        .route("/api/v1/projects", post(auth::create_project))
        .route(
            "/api/v1/projects/{id}",
            get(auth::project_settings).put(auth::update_project),
        )
        .route(
            "/api/v1/projects/{id}/tokens",
            get(auth::list_tokens).post(auth::create_token),
        )
        .route(
            "/api/v1/projects/{id}/tokens/{token_id}",
            axum::routing::delete(auth::revoke_token),
        )
        .route(
            "/api/v1/projects/{id}/members",
            get(auth::list_members).post(auth::invite_member),
        )
        .route(
            "/api/v1/projects/{id}/members/{user_id}",
            axum::routing::put(auth::change_role).delete(auth::remove_member),
        )
        .route(
            "/api/v1/projects/{id}/invitations",
            get(auth::list_invitations),
        )
        .route(
            "/api/v1/projects/{id}/invitations/{invitation_id}",
            axum::routing::delete(auth::revoke_invitation),
        )
        .route("/api/v1/projects/{id}/erasure", post(auth::erase))
        .route("/api/v1/query", post(query))
        .route("/api/v1/conversion", post(conversion))
        .route("/api/v1/sessions", post(sessions))
        .route("/api/v1/attributes", get(attributes))
        .route("/api/v1/sessions/{session_id}", get(session))
        .route("/agent/vigil.js", get(agent::agent_js))
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state.clone());
    let dashboard = Router::new()
        .route("/", get(web::index))
        .route("/{*path}", get(web::asset))
        .with_state(Arc::new(state.web_dir.clone()));
    api.merge(state.intake.clone().router())
        .layer(axum::middleware::map_response(error::json_rejections))
        .merge(dashboard)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(60),
        ))
        .layer(CatchPanicLayer::new())
        // Rejections are counted in /metrics; logging each 503 would flood the log when
        // the server is saturated, which is when the log matters most.
        .layer(TraceLayer::new_for_http().on_failure(()))
}

fn auth_body_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(auth::AUTH_BODY_LIMIT)
}

fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Invalid(i) => ApiError::InvalidQuery(i.0),
        e @ QueryError::TooLarge(_) => ApiError::QueryTooLarge(e.to_string()),
        e @ QueryError::Busy => ApiError::Busy(QueryError::RETRY_AFTER_SECS, e.to_string()),
        QueryError::Engine(e) => ApiError::Internal(e.to_string()),
    }
}

/// `?project=<id>`: which project a logged-in user reads (tokens imply theirs).
#[derive(Deserialize)]
struct ProjectParam {
    project: Option<u32>,
}

/// A read request's project (the token's, or for a user the one named by `?project=`) and
/// its JSON body, parsed strictly.
struct ReadJson<T>(vigil_meta::Project, T);

/// The largest request body a read accepts.
const READ_BODY_LIMIT: usize = 1 << 20;

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<AppState>> for ReadJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let QueryParams(param) = QueryParams::<ProjectParam>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
        let project = auth::reader(state, &parts.method, &parts.headers, param.project)?;
        let bytes = axum::body::to_bytes(body, READ_BODY_LIMIT)
            .await
            .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        let parsed =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
        Ok(ReadJson(project, parsed))
    }
}

/// `POST /api/v1/query`.
async fn query(
    State(state): State<Arc<AppState>>,
    ReadJson(project, query): ReadJson<Query>,
) -> Result<Json<QueryResult>, ApiError> {
    Ok(Json(
        state
            .queries
            .run(project.id, &query)
            .await
            .map_err(query_error)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversionQuery {
    event: String,
    #[serde(default)]
    filters: Vec<Filter>,
    from: i64,
    to: i64,
}

/// `POST /api/v1/conversion`: a business event's conversion by LCP rating.
async fn conversion(
    State(state): State<Arc<AppState>>,
    ReadJson(project, q): ReadJson<ConversionQuery>,
) -> Result<Json<QueryResult>, ApiError> {
    let result = state
        .queries
        .conversion(project.id, &q.event, &q.filters, q.from, q.to);
    Ok(Json(result.await.map_err(query_error)?))
}

/// `POST /api/v1/sessions`: the sessions matching a search.
async fn sessions(
    State(state): State<Arc<AppState>>,
    ReadJson(project, search): ReadJson<SessionSearch>,
) -> Result<Json<QueryResult>, ApiError> {
    Ok(Json(
        state
            .queries
            .sessions(project.id, &search)
            .await
            .map_err(query_error)?,
    ))
}

#[derive(Deserialize)]
struct Range {
    from: Option<i64>,
    to: Option<i64>,
    project: Option<u32>,
}

async fn session(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    QueryParams(range): QueryParams<Range>,
) -> Result<Response, ApiError> {
    let project = auth::reader(&state, &Method::GET, &headers, range.project)?;
    let events = state
        .queries
        .session(
            project.id,
            &session_id,
            range.from.unwrap_or(0),
            range.to.unwrap_or(i64::MAX),
        )
        .await
        .map_err(query_error)?;
    Ok(Json(serde_json::json!({ "session_id": session_id, "events": events })).into_response())
}

/// `GET /api/v1/attributes?from=&to=`: custom attribute keys seen on views.
async fn attributes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    QueryParams(range): QueryParams<Range>,
) -> Result<Response, ApiError> {
    let project = auth::reader(&state, &Method::GET, &headers, range.project)?;
    let keys = state
        .queries
        .attribute_keys(
            project.id,
            range.from.unwrap_or(0),
            range.to.unwrap_or(i64::MAX),
        )
        .await
        .map_err(query_error)?;
    let keys: Vec<_> = keys
        .into_iter()
        .map(|(key, views)| serde_json::json!({ "key": key, "views": views }))
        .collect();
    Ok(Json(serde_json::json!({ "keys": keys })).into_response())
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

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = metrics::render(&state.intake.metrics, state.store.metrics());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
