//! `POST /api/v1/replay`: session replay segments from the replay chunk (`docs/replay.md`).
//! The same key, origin, slot, memory, body-timeout and rate-limit rules as the RUM intake;
//! its own body limits; 202 only once the segment is on disk.

use crate::{Intake, IntakeError, check_origin, cors, gunzip_capped, kib, now_ms};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use vigil_replay::{ReplayError, SegmentLimits, check_segment};

/// Largest segment as sent: the chunk flushes at 60,000 compressed bytes; a first full
/// snapshot of a large page may be bigger.
pub(crate) const MAX_REPLAY_BODY_BYTES: usize = 1024 * 1024;
/// Largest segment once inflated.
pub(crate) const MAX_REPLAY_JSON_BYTES: usize = 8 * 1024 * 1024;
/// Most rrweb events in one segment (5 s of a busy page stays far below).
const MAX_SEGMENT_EVENTS: usize = 50_000;

#[derive(Deserialize)]
pub(crate) struct ReplayParams {
    key: Option<String>,
    enc: Option<String>,
}

impl Intake {
    async fn handle_replay(
        &self,
        params: ReplayParams,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<usize, IntakeError> {
        let key = params.key.or_else(|| {
            headers
                .get(super::X_VIGIL_KEY)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let project = self
            .project(key.as_deref().ok_or(IntakeError::MissingKey)?)
            .await?;
        check_origin(&project, headers)?;
        let gzip = match params.enc.as_deref() {
            None | Some("none") => false,
            Some("gzip") => true,
            Some(other) => return Err(IntakeError::BadEncoding(other.chars().take(32).collect())),
        };
        let Some(store) = self.replay.clone() else {
            return Err(IntakeError::Unavailable);
        };
        let _slot = self
            .inflight
            .try_acquire()
            .map_err(|_| IntakeError::Overloaded)?;
        let (raw, mut memory) = self.read_body(headers, body, MAX_REPLAY_BODY_BYTES).await?;
        let json: Bytes = if gzip {
            if !raw.starts_with(&[0x1f, 0x8b]) {
                return Err(IntakeError::BadGzip(
                    "enc=gzip but the body does not start as gzip does".into(),
                ));
            }
            let room = MAX_REPLAY_JSON_BYTES.min(raw.len().saturating_mul(1032)) + 1024;
            memory.push(
                self.memory
                    .try_acquire_many(kib(room))
                    .map_err(|_| IntakeError::Overloaded)?,
            );
            Bytes::from(gunzip_capped(&raw, MAX_REPLAY_JSON_BYTES)?)
        } else {
            raw
        };
        self.admit(project.id, 1)?;
        let now = now_ms();
        let limits = SegmentLimits {
            max_events: MAX_SEGMENT_EVENTS,
            earliest: now.saturating_sub(i64::from(project.retention_days) * 86_400_000),
            latest: now + crate::MAX_CLOCK_SKEW_MS,
        };
        let project_id = project.id;
        let bytes = json.len();
        // Checking, compressing and the two fsyncs are blocking work.
        let stored = tokio::task::spawn_blocking(move || {
            let meta = check_segment(&json, &limits).map_err(ReplayError::from)?;
            store.append(project_id, &meta, &json)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "replay append failed");
            IntakeError::Unavailable
        })?;
        match stored {
            Ok(()) => Ok(bytes),
            Err(ReplayError::Io(e)) => {
                tracing::error!(error = %e, "replay storage failed");
                Err(if e.kind() == std::io::ErrorKind::StorageFull {
                    IntakeError::StorageFull
                } else {
                    IntakeError::Unavailable
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

pub(crate) async fn replay(
    State(intake): State<Arc<Intake>>,
    Query(params): Query<ReplayParams>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = intake.handle_replay(params, &headers, body).await;
    let allowed = !matches!(result, Err(IntakeError::OriginNotAllowed(_)));
    let mut response = match result {
        Ok(bytes) => {
            let m = &intake.metrics;
            m.accepted_replay_segments.fetch_add(1, Ordering::Relaxed);
            m.accepted_replay_bytes
                .fetch_add(bytes as u64, Ordering::Relaxed);
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({ "accepted": 1 })),
            )
                .into_response()
        }
        Err(e) => {
            intake.metrics.rejected(e.code());
            // The key is only ever in the query or a header here, never in the body.
            let unread = e.leaves_body_unread() || matches!(e, IntakeError::MissingKey);
            let mut response = e.into_response();
            if unread {
                crate::error::close_connection(&mut response);
            }
            response
        }
    };
    cors(&headers, &mut response, allowed);
    response
}
