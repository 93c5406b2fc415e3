//! OTLP/HTTP intake: `POST /v1/traces` and `POST /v1/logs` (also under `/api/v1/otlp/`),
//! protobuf or JSON, gzip or not, authenticated by the project's public key
//! (`X-Vigil-Key`) or an ingest token (`Authorization: Bearer`). Answers as the OTLP spec
//! says: 200 with an export response (its `partial_success` counts the records refused one
//! by one), and for a refused request a `google.rpc.Status` in the request's encoding,
//! with 429 or 503 and `Retry-After` when a retry can succeed. Nothing of a refused
//! request is stored; a 200 means the kept records are durable, with the mobile events made
//! from them (in the same log frame).

use crate::{Intake, IntakeError, MAX_CLOCK_SKEW_MS, check_origin, cors, now_ms};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::net::SocketAddr;
use std::sync::Arc;
use vigil_enrich::ClientInfo;
use vigil_errors::PageContext;
use vigil_meta::{Project, Scope};
use vigil_model::{IngestBatch, Rows};
use vigil_otlp::{Decoded, Encoding, Limits, OtlpError, Signal};

/// Why an OTLP request was refused: intake's reasons, or the body's.
#[derive(Debug)]
enum Refusal {
    Intake(IntakeError),
    Otlp(OtlpError),
    /// A token that may only read.
    ReadOnlyToken,
}

impl From<IntakeError> for Refusal {
    fn from(e: IntakeError) -> Self {
        Refusal::Intake(e)
    }
}

impl From<OtlpError> for Refusal {
    fn from(e: OtlpError) -> Self {
        Refusal::Otlp(e)
    }
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Refusal::Intake(e) => e.code(),
            Refusal::Otlp(e) => e.code(),
            Refusal::ReadOnlyToken => "read_only_token",
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::Intake(IntakeError::MissingKey) => "no project key: send the X-Vigil-Key header with the project's public key, or Authorization: Bearer with an ingest token".into(),
            Refusal::Intake(e) => e.to_string(),
            Refusal::Otlp(e) => e.to_string(),
            Refusal::ReadOnlyToken => "this token may only read; send data with the public key or an ingest-admin token".into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Refusal::Intake(e) => e.status(),
            Refusal::Otlp(OtlpError::UnsupportedContentType(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Refusal::Otlp(OtlpError::TooManyRecords { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Otlp(_) => StatusCode::BAD_REQUEST,
            Refusal::ReadOnlyToken => StatusCode::FORBIDDEN,
        }
    }

    /// The gRPC code of the status, as OTLP/HTTP answers carry it.
    fn grpc_code(&self) -> i32 {
        match self.status() {
            StatusCode::UNAUTHORIZED => 16,
            StatusCode::FORBIDDEN => 7,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::INSUFFICIENT_STORAGE => 8,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            StatusCode::INTERNAL_SERVER_ERROR => 13,
            _ => 3,
        }
    }

    fn into_response(self, encoding: Option<Encoding>) -> Response {
        let status = self.status();
        let message = format!("{}: {}", self.code(), self.message());
        let encoding = encoding.unwrap_or(Encoding::Json);
        let body = vigil_otlp::encode_status(encoding, self.grpc_code(), &message, self.code());
        let mut response = (
            status,
            [(header::CONTENT_TYPE, encoding.content_type())],
            body,
        )
            .into_response();
        crate::error::add_retry_after(&mut response);
        response
    }
}

/// A decoded request: the records kept, why others were refused, and the mobile events
/// made from them.
struct Telemetry {
    kept: usize,
    rejected: usize,
    reasons: Vec<String>,
    spans: Vec<vigil_otlp::SpanRecord>,
    logs: Vec<vigil_otlp::LogRecord>,
    mobile: Vec<vigil_protocol::Batch>,
}

/// What an accepted request kept and refused.
struct Accepted {
    kept: usize,
    rejected: usize,
    reasons: Vec<String>,
}

/// Whether a string can be an API token at all (hex, bounded): anything else is refused
/// before a lookup, so the token cache only holds short strings.
fn is_plausible_token(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Intake {
    /// The OTLP routes: `/v1/traces` and `/v1/logs`, and the same under `/api/v1/otlp`.
    pub fn otlp_router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/v1/traces", post(traces).options(preflight))
            .route("/v1/logs", post(logs).options(preflight))
            .route("/api/v1/otlp/v1/traces", post(traces).options(preflight))
            .route("/api/v1/otlp/v1/logs", post(logs).options(preflight))
            .with_state(self)
    }

    /// The project of an ingest token: from a 5 s cache, else from meta.db on the blocking
    /// pool. A read-only token is refused.
    async fn token_project(&self, token: &str) -> Result<Arc<Project>, Refusal> {
        if !is_plausible_token(token) {
            return Err(IntakeError::InvalidKey.into());
        }
        let meta = self.meta.clone();
        let found = self
            .tokens
            .get(token, move |t| {
                meta.token(&t)
                    .map(|found| found.map(|(project, scope)| (Arc::new(project), scope)))
            })
            .await?;
        match found {
            None => Err(IntakeError::InvalidKey.into()),
            Some((_, Scope::Read)) => Err(Refusal::ReadOnlyToken),
            Some((project, _)) => Ok(project),
        }
    }

    /// The project a request authenticates as.
    async fn otlp_project(&self, headers: &HeaderMap) -> Result<Arc<Project>, Refusal> {
        let header = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        if let Some(key) = header("x-vigil-key") {
            let project = self.project(key.trim()).await?;
            check_origin(&project, headers)?;
            return Ok(project);
        }
        if let Some(auth) = header(header::AUTHORIZATION.as_str()) {
            let token = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .ok_or(IntakeError::InvalidKey)?;
            let token = token.trim();
            // Collectors set one header: the public key is accepted there too.
            if token.starts_with("pk_") {
                let project = self.project(token).await?;
                check_origin(&project, headers)?;
                return Ok(project);
            }
            return self.token_project(token).await;
        }
        Err(IntakeError::MissingKey.into())
    }

    async fn export(
        &self,
        signal: Signal,
        headers: &HeaderMap,
        peer: SocketAddr,
        body: Body,
    ) -> Result<Accepted, Refusal> {
        let encoding = vigil_otlp::encoding_of(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        )?;
        // Authenticate before taking a slot or reading the body.
        let project = self.otlp_project(headers).await?;
        let _slot = self
            .inflight
            .try_acquire()
            .map_err(|_| IntakeError::Overloaded)?;
        let (raw, mut memory) = self
            .read_body(headers, body, self.config.max_otlp_body_bytes)
            .await?;
        let decoded: Bytes = self.inflate(headers, raw, &mut memory)?;
        // Decoding a few MiB of protobuf or JSON is the blocking pool's work.
        let limits = Limits {
            max_records: self.config.max_otlp_records,
            ..Limits::default()
        };
        let now = now_ms() as f64;
        let earliest = now - f64::from(project.retention_days) * 86_400_000.0;
        let latest = now + MAX_CLOCK_SKEW_MS as f64;
        let decoded = tokio::task::spawn_blocking(move || -> Result<_, OtlpError> {
            let in_window = |t: f64| t >= earliest && t <= latest;
            Ok(match signal {
                Signal::Traces => {
                    let mut d = vigil_otlp::decode_traces(&decoded, encoding, &limits)?;
                    keep_in_window(&mut d, |s| in_window(s.start_ms));
                    let mobile = vigil_otlp::mobile::span_batches(&d.records);
                    Telemetry {
                        kept: d.records.len(),
                        rejected: d.rejected,
                        reasons: d.reasons,
                        spans: d.records,
                        logs: Vec::new(),
                        mobile,
                    }
                }
                Signal::Logs => {
                    let mut d = vigil_otlp::decode_logs(&decoded, encoding, &limits)?;
                    keep_in_window(&mut d, |l| in_window(l.time_ms));
                    let mobile = vigil_otlp::mobile::log_batches(&d.records);
                    Telemetry {
                        kept: d.records.len(),
                        rejected: d.rejected,
                        reasons: d.reasons,
                        spans: Vec::new(),
                        logs: d.records,
                        mobile,
                    }
                }
            })
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "OTLP decoding failed");
            IntakeError::Unavailable
        })??;
        drop(memory);
        let Telemetry {
            kept,
            rejected,
            reasons,
            spans,
            logs,
            mobile,
        } = decoded;
        if kept > 0 {
            let events: usize = mobile.iter().map(|b| b.events.len()).sum();
            self.admit(project.id, kept + events)?;
            // A mobile SDK's events, enriched like any batch (the client's address gives
            // the country); crashes are grouped as JavaScript errors are.
            let client = ClientInfo {
                ip: Some(self.client_ip(headers, peer)),
                user_agent: None,
            };
            let batches: Vec<IngestBatch> = mobile
                .into_iter()
                .map(|batch| {
                    let errors = self.errors.analyse_batch(
                        project.id,
                        &PageContext::default(),
                        &batch.events,
                    );
                    let mut enriched = self.enricher.enrich(project.id, batch, &client);
                    enriched.errors = errors;
                    enriched
                })
                .collect();
            let limit = self.store.row_limit();
            let project_id = project.id;
            let rows = tokio::task::spawn_blocking(move || {
                Rows::from_telemetry(project_id, &spans, &logs, &batches, limit)
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "OTLP rows failed");
                IntakeError::Unavailable
            })?
            .map_err(|e| crate::store_error(self.store.refuse(e)))?;
            self.store.append(rows).await.map_err(crate::store_error)?;
            self.metrics.accepted_mobile(events);
        }
        Ok(Accepted {
            kept,
            rejected,
            reasons,
        })
    }
}

/// Refuses, one by one, records stamped outside what the project keeps (older than its
/// retention, or further ahead than clocks drift).
fn keep_in_window<T>(decoded: &mut Decoded<T>, in_window: impl Fn(&T) -> bool) {
    let before = decoded.records.len();
    decoded.records.retain(|r| in_window(r));
    let outside = before - decoded.records.len();
    if outside > 0 {
        decoded.rejected += outside;
        if decoded.reasons.len() < 5 {
            decoded.reasons.push(format!(
                "{outside} records are stamped outside the project's retention or too far ahead"
            ));
        }
    }
}

async fn export(
    intake: Arc<Intake>,
    signal: Signal,
    headers: HeaderMap,
    peer: SocketAddr,
    body: Body,
) -> Response {
    let encoding = vigil_otlp::encoding_of(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
    .ok();
    let result = intake.export(signal, &headers, peer, body).await;
    let allowed = !matches!(
        result,
        Err(Refusal::Intake(IntakeError::OriginNotAllowed(_)))
    );
    let mut response = match (result, encoding) {
        (Ok(accepted), Some(encoding)) => {
            intake
                .metrics
                .accepted_otlp(signal == Signal::Traces, accepted.kept);
            let body = vigil_otlp::encode_response(
                signal,
                encoding,
                accepted.rejected,
                &accepted.reasons.join("; "),
            );
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, encoding.content_type())],
                body,
            )
                .into_response()
        }
        (Ok(_), None) => unreachable!("an accepted request had a known encoding"),
        (Err(refusal), encoding) => {
            intake.metrics.rejected(refusal.code());
            let unread = match &refusal {
                Refusal::Intake(e) => {
                    e.leaves_body_unread() || matches!(e, IntakeError::MissingKey)
                }
                Refusal::ReadOnlyToken | Refusal::Otlp(OtlpError::UnsupportedContentType(_)) => {
                    true
                }
                _ => false,
            };
            let mut response = refusal.into_response(encoding);
            if unread {
                crate::error::close_connection(&mut response);
            }
            response
        }
    };
    cors(&headers, &mut response, allowed);
    response
}

async fn traces(
    State(intake): State<Arc<Intake>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(intake, Signal::Traces, headers, peer, body).await
}

async fn logs(
    State(intake): State<Arc<Intake>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(intake, Signal::Logs, headers, peer, body).await
}

/// Browsers' OpenTelemetry exporters send a preflight: the key travels in a header, so
/// the origin is checked on the real request.
async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    crate::allow_post(&mut response);
    cors(&headers, &mut response, true);
    response
}
