//! The read API: queries, conversion, the search for monitored sessions, one monitored
//! session's timeline, and custom attribute keys. Each reads one project's data, the one
//! [`ProjectAccess<Read>`] lets the caller read. (A monitored session is a visitor's session
//! on the customer's site; login sessions, the dashboard's own, are in [`crate::login`].)

use crate::access::{ProjectAccess, Read};
use crate::{ApiError, AppState};
use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, Path, Query as QueryParams, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Arc;
use vigil_query::{Query, QueryError, QueryResult, SessionSearch};

/// Queries, conversion, monitored sessions and attributes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/query", post(query))
        .route("/api/v1/conversion", post(conversion))
        .route("/api/v1/funnel", post(funnel))
        .route("/api/v1/sessions", post(search_sessions))
        .route("/api/v1/attributes", get(attributes))
        .route("/api/v1/sessions/{session_id}", get(session_timeline))
        .route("/api/v1/sessions/{session_id}/replay", get(session_replay))
        .route("/api/v1/traces/{trace_id}", get(trace))
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid(i) => ApiError::InvalidQuery(i.0),
            e @ QueryError::TooLarge(_) => ApiError::QueryTooLarge(e.to_string()),
            e @ QueryError::Busy => ApiError::Busy(QueryError::RETRY_AFTER_SECS, e.to_string()),
            QueryError::Engine(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<vigil_query::InvalidQuery> for ApiError {
    fn from(e: vigil_query::InvalidQuery) -> Self {
        ApiError::InvalidQuery(e.0)
    }
}

/// The largest request body a read accepts.
const READ_BODY_LIMIT: usize = 1 << 20;

/// A read's JSON body, parsed strictly: an error is the query's (`invalid_query`).
pub(crate) struct QueryBody<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<AppState>> for QueryBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &Arc<AppState>) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), READ_BODY_LIMIT)
            .await
            .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        let parsed =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
        Ok(QueryBody(parsed))
    }
}

/// `POST /api/v1/query`.
async fn query(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryBody(query): QueryBody<Query>,
) -> Result<Json<QueryResult>, ApiError> {
    Ok(Json(state.queries.run(access.project.id, &query).await?))
}

/// `POST /api/v1/conversion`: a business event's conversion and revenue by the rating of
/// the sessions' worst LCP, INP or CLS, overall or by page, and what poor costs.
async fn conversion(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryBody(q): QueryBody<vigil_query::ConversionRequest>,
) -> Result<Json<vigil_query::Conversion>, ApiError> {
    Ok(Json(state.queries.conversion(access.project.id, &q).await?))
}

/// `POST /api/v1/funnel`: sessions through ordered steps within a time limit.
async fn funnel(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryBody(q): QueryBody<vigil_query::FunnelRequest>,
) -> Result<Json<vigil_query::Funnel>, ApiError> {
    Ok(Json(state.queries.funnel(access.project.id, &q).await?))
}

/// `POST /api/v1/sessions`: the monitored sessions matching a search.
async fn search_sessions(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryBody(mut search): QueryBody<SessionSearch>,
) -> Result<Json<QueryResult>, ApiError> {
    let project = access.project.id;
    let (replay, from, to) = (state.replay.clone(), search.from, search.to);
    let with_replay =
        tokio::task::spawn_blocking(move || replay.sessions_between(project, from, to))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    search.with_replay = Some(with_replay);
    let mut result = state.queries.sessions(project, &search).await?;
    // Whether each session found has a replay: the dashboard shows a play link.
    let has = search.with_replay.unwrap_or_default();
    result.columns.push("has_replay".into());
    for row in &mut result.rows {
        let found = row
            .first()
            .and_then(|v| v.as_str())
            .is_some_and(|id| has.binary_search_by(|s| s.as_str().cmp(id)).is_ok());
        row.push(serde_json::Value::Bool(found));
    }
    Ok(Json(result))
}

/// A time range in the query string (`?project=` is read by [`ProjectAccess`]).
#[derive(Deserialize)]
struct Range {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /api/v1/sessions/{session_id}`: every event of one monitored session.
async fn session_timeline(
    State(state): State<Arc<AppState>>,
    Path(session_id): Path<String>,
    QueryParams(range): QueryParams<Range>,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    let events = state
        .queries
        .session(
            access.project.id,
            &session_id,
            range.from.unwrap_or(0),
            range.to.unwrap_or(i64::MAX),
        )
        .await?;
    Ok(Json(serde_json::json!({ "session_id": session_id, "events": events })).into_response())
}

/// `GET /api/v1/sessions/{session_id}/replay`: the session's replay segments in `seq`
/// order, one JSON object per line (`docs/replay.md`), read from disk one at a time while
/// the answer is sent, so a long session is never all in memory. 404 when it has none.
async fn session_replay(
    State(state): State<Arc<AppState>>,
    Path(session_id): Path<String>,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    let project = access.project.id;
    let replay = state.replay.clone();
    let reader = tokio::task::spawn_blocking(move || {
        if !replay.has_replay(project, &session_id)? {
            return Ok(None);
        }
        replay.read(project, &session_id).map(Some)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e: std::io::Error| ApiError::Internal(e.to_string()))?;
    let Some(mut reader) = reader else {
        return Err(ApiError::Missing("this session has no replay"));
    };
    // A few segments ahead of the client at most.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<axum::body::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        for segment in reader.by_ref() {
            let line = segment.map(|mut json| {
                // A newline in JSON text can only be whitespace (never inside a string),
                // so it becomes a space and each segment stays one line.
                for b in &mut json {
                    if *b == b'\n' || *b == b'\r' {
                        *b = b' ';
                    }
                }
                json.push(b'\n');
                axum::body::Bytes::from(json)
            });
            let failed = line.is_err();
            if let Err(e) = &line {
                tracing::error!(error = %e, "replay read failed");
            }
            if tx.blocking_send(line).is_err() || failed {
                break;
            }
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /api/v1/traces/{trace_id}?from=&to=`: one trace's waterfall (the browser request
/// on top, the backend's spans below it, the critical path marked) and its logs. The range
/// narrows which stored days are read; without it every day is.
async fn trace(
    State(state): State<Arc<AppState>>,
    Path(trace_id): Path<String>,
    QueryParams(range): QueryParams<Range>,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    let found = state
        .queries
        .trace(
            access.project.id,
            &trace_id,
            range.from.unwrap_or(0),
            range.to.unwrap_or(i64::MAX),
        )
        .await?;
    match found {
        Some(trace) => Ok(Json(trace).into_response()),
        None => Err(ApiError::Missing("no such trace in the range")),
    }
}

/// `GET /api/v1/attributes?from=&to=`: custom attribute keys seen on views.
async fn attributes(
    State(state): State<Arc<AppState>>,
    QueryParams(range): QueryParams<Range>,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    let keys = state
        .queries
        .attribute_keys(
            access.project.id,
            range.from.unwrap_or(0),
            range.to.unwrap_or(i64::MAX),
        )
        .await?;
    let keys: Vec<_> = keys
        .into_iter()
        .map(|(key, views)| serde_json::json!({ "key": key, "views": views }))
        .collect();
    Ok(Json(serde_json::json!({ "keys": keys })).into_response())
}
