use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Errors of the read API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown API token.
    #[error("a valid api token is required: Authorization: Bearer vt_…")]
    Unauthorized,
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
