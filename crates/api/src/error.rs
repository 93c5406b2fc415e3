//! The API's one error type and its mapping to HTTP: every error answer is JSON with a
//! stable `code` and a lowercase `message`. Retryable answers (429, 503) carry `Retry-After`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_meta::MetaError;

/// Errors of the API's routes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown API token.
    #[error("log in, or send an api token: Authorization: Bearer vt_…")]
    Unauthorized,
    /// Wrong email or password.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// A logged-in request without the login session's CSRF token.
    #[error("missing or wrong x-csrf-token header")]
    Csrf,
    /// No such project (or not one of the user's).
    #[error("no such project")]
    NotFound,
    /// The project exists but not the thing asked for in it (a trace, a session's replay).
    #[error("{0}")]
    Missing(&'static str),
    /// Too many wrong passwords for this email; retry after this many seconds.
    #[error("too many failed sign-ins for this email; try again in {0} s")]
    TooManyAttempts(u64),
    /// The name is taken.
    #[error("{0}")]
    Conflict(String),
    /// A path or query parameter, or the body's framing, is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// A read's query (the body of `/query`, `/conversion`, `/sessions`) is malformed.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The body of a sign-in, settings, token, member or erasure request is malformed.
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// Something failed inside.
    #[error("internal error: {0}")]
    Internal(String),
    /// The query is well formed but needs more memory than a query may take.
    #[error("{0}")]
    QueryTooLarge(String),
    /// Too many queries or password checks at once; retry after this many seconds.
    #[error("{1}")]
    Busy(u64, String),
    /// The caller is known but their role or token scope does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// A cookie-authenticated write from another site (its `Origin` or `Sec-Fetch-Site`).
    #[error("cross-site request refused")]
    CrossOrigin,
    /// A cookie-authenticated write or a sign-in without `Content-Type: application/json`.
    #[error("send the body as content-type: application/json")]
    NotJson,
    /// No invitation has this secret, or it expired or was used.
    #[error("no such invitation, or it expired or was used")]
    NoInvitation,
    /// A source-map upload was refused (or could not be stored).
    #[error("{0}")]
    Upload(vigil_errors::UploadError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            ApiError::NotFound | ApiError::Missing(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            ApiError::QueryTooLarge(_) => (StatusCode::BAD_REQUEST, "query_too_large"),
            ApiError::Busy(..) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::CrossOrigin => (StatusCode::FORBIDDEN, "cross_origin"),
            ApiError::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::NoInvitation => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Upload(e) => (
                match e {
                    vigil_errors::UploadError::TooLarge { .. }
                    | vigil_errors::UploadError::QuotaExceeded { .. } => {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    vigil_errors::UploadError::DebugIdMismatch { .. } => StatusCode::CONFLICT,
                    _ if e.is_client_error() => StatusCode::BAD_REQUEST,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                },
                e.code(),
            ),
            ApiError::Internal(m) => {
                tracing::error!(message = %m, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "code": code, "message": self.to_string() })),
        )
            .into_response();
        if let ApiError::TooManyAttempts(secs) | ApiError::Busy(secs, _) = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Metadata refusals are the client's errors (a taken name, the last owner, a bad value);
/// anything else is ours.
impl From<MetaError> for ApiError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Duplicate(_)
            | MetaError::LastOwner
            | MetaError::AlreadyMember(_)
            | MetaError::Conflict(_) => ApiError::Conflict(e.to_string()),
            MetaError::Invalid(m) => ApiError::InvalidBody(m),
            MetaError::NoInvitation => ApiError::NoInvitation,
            MetaError::WrongUser => ApiError::Forbidden(e.to_string()),
            MetaError::Database(_) | MetaError::Random(_) | MetaError::TooNew { .. } => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

/// An error answer in the API's shape: `{"code", "message"}`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "code": code, "message": message })),
    )
        .into_response()
}

/// Gives axum's own rejections (a bad path or query parameter, a wrong method) the API's
/// JSON error shape, so every 4xx of the API reads the same.
pub async fn json_rejections(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let mut fixed = json_error(status, code, &message);
    // Keep what the rejection said besides its body (e.g. `Allow` on a 405).
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}
