use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Errors of the read API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown API token.
    #[error("log in, or send an api token: Authorization: Bearer vt_…")]
    Unauthorized,
    /// Wrong email or password.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// A logged-in request without the session's CSRF token.
    #[error("missing or wrong x-csrf-token header")]
    Csrf,
    /// No such project (or not one of the user's).
    #[error("no such project")]
    NotFound,
    /// The name is taken.
    #[error("{0}")]
    Conflict(String),
    /// The query is malformed.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// Something failed inside.
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::Internal(m) => {
                tracing::error!(message = %m, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        (
            status,
            Json(serde_json::json!({ "code": code, "message": self.to_string() })),
        )
            .into_response()
    }
}
