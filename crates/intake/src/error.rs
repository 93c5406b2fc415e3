use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigil_protocol::ParseError;
use vigil_replay::ReplayError;

/// Why intake refused a batch. Retryable (429/503) is distinct from rejected (4xx).
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// No key in query string, header or body.
    #[error("no project key: pass ?key=pk_…, the X-Vigil-Key header or the batch's key field")]
    MissingKey,
    /// The key matches no project.
    #[error("unknown project key")]
    InvalidKey,
    /// The browser origin is not on the project's list.
    #[error("origin {0:?} is not allowed for this project")]
    OriginNotAllowed(String),
    /// The body is over the limit as sent.
    #[error("body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The body inflates past the limit.
    #[error("body decompresses to more than {0} bytes")]
    DecompressedTooLarge(usize),
    /// Not valid gzip.
    #[error("body is not valid gzip: {0}")]
    BadGzip(String),
    /// A content encoding other than gzip.
    #[error("content-encoding {0:?} is not supported, use gzip or none")]
    UnsupportedEncoding(String),
    /// A content type other than text/plain or application/json.
    #[error("content-type {0:?} is not supported, use text/plain or application/json")]
    UnsupportedMediaType(String),
    /// The batch is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The project sends faster than its rate limit.
    #[error("project is over its rate limit, retry after a second")]
    RateLimited,
    /// The store's queue is full.
    #[error("collector is busy, retry after a second")]
    Overloaded,
    /// The store cannot write.
    #[error("collector cannot store data right now, retry later")]
    Unavailable,
    /// The store's disk is full; nothing was kept.
    #[error("collector's disk is full, retry later")]
    StorageFull,
    /// The batch's rows would take too much memory.
    #[error("{0}")]
    BatchTooLarge(String),
    /// The batch passed every check but still cannot be stored.
    #[error("batch cannot be stored: {0}")]
    Unstorable(String),
    /// The body did not arrive in time.
    #[error("body not received within {0} s")]
    BodyTimeout(u64),
    /// A replay upload's `enc` is neither `gzip` nor `none`.
    #[error("enc {0:?} is not supported, use gzip or none")]
    BadEncoding(String),
    /// A replay segment was refused.
    #[error(transparent)]
    Replay(#[from] vigil_replay::ReplayError),
}

impl IntakeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            IntakeError::MissingKey => "missing_key",
            IntakeError::InvalidKey => "invalid_key",
            IntakeError::OriginNotAllowed(_) => "origin_not_allowed",
            IntakeError::BodyTooLarge(_) => "body_too_large",
            IntakeError::DecompressedTooLarge(_) => "decompressed_too_large",
            IntakeError::BadGzip(_) => "bad_gzip",
            IntakeError::UnsupportedEncoding(_) => "unsupported_encoding",
            IntakeError::UnsupportedMediaType(_) => "unsupported_media_type",
            IntakeError::Parse(e) => e.code(),
            IntakeError::RateLimited => "rate_limited",
            IntakeError::Overloaded => "overloaded",
            IntakeError::Unavailable => "unavailable",
            IntakeError::StorageFull => "storage_full",
            IntakeError::BatchTooLarge(_) => "batch_too_large",
            IntakeError::Unstorable(_) => "unstorable_batch",
            IntakeError::BodyTimeout(_) => "body_timeout",
            IntakeError::BadEncoding(_) => "bad_encoding",
            IntakeError::Replay(e) => match e {
                ReplayError::Segment(e) => e.code(),
                ReplayError::Duplicate(_) => "duplicate_segment",
                ReplayError::SessionTooLarge { .. } => "session_replay_too_large",
                ReplayError::Io(_) => "unavailable",
            },
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            IntakeError::MissingKey | IntakeError::InvalidKey => StatusCode::UNAUTHORIZED,
            IntakeError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            IntakeError::BodyTooLarge(_)
            | IntakeError::DecompressedTooLarge(_)
            | IntakeError::BatchTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IntakeError::Parse(ParseError::TooManyEvents { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            IntakeError::UnsupportedEncoding(_) | IntakeError::UnsupportedMediaType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IntakeError::BadGzip(_) | IntakeError::Parse(_) | IntakeError::Unstorable(_) => {
                StatusCode::BAD_REQUEST
            }
            IntakeError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IntakeError::BadEncoding(_) => StatusCode::BAD_REQUEST,
            IntakeError::Replay(e) => match e {
                ReplayError::Segment(_) => StatusCode::BAD_REQUEST,
                ReplayError::Duplicate(_) => StatusCode::CONFLICT,
                ReplayError::SessionTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                ReplayError::Io(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            IntakeError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            IntakeError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            IntakeError::Overloaded | IntakeError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for IntakeError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        let mut response = (self.status(), axum::Json(body)).into_response();
        add_retry_after(&mut response);
        response
    }
}

impl IntakeError {
    /// Whether intake answers this before it has read the whole body (true of every route;
    /// a missing key is known before the body only where the key cannot be in it).
    pub(crate) fn leaves_body_unread(&self) -> bool {
        matches!(
            self,
            IntakeError::InvalidKey
                | IntakeError::OriginNotAllowed(_)
                | IntakeError::BadEncoding(_)
                | IntakeError::Overloaded
                | IntakeError::BodyTooLarge(_)
                | IntakeError::BodyTimeout(_)
        )
    }
}

/// The server will not read the rest of a body it answered early, so the connection cannot
/// carry another request: saying so keeps a client from sending its next one into a closing
/// socket.
pub(crate) fn close_connection(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// Retryable answers say when to retry; a full disk is not freed within a second.
pub(crate) fn add_retry_after(response: &mut Response) {
    let secs = match response.status() {
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => "1",
        StatusCode::INSUFFICIENT_STORAGE => "30",
        _ => return,
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
}
