//! Checking an uploaded segment against `docs/replay.md` before anything is stored.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a segment is refused; `code()` is the API's error code.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Not JSON, or not an object of the segment's shape.
    #[error("invalid json: {0}")]
    InvalidJson(String),
    /// A field has the wrong type, is missing or unknown.
    #[error("invalid field: {0}")]
    InvalidField(String),
    /// A value outside what is allowed.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A session or view id with characters that are not allowed.
    #[error("{0} must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -")]
    InvalidId(&'static str),
}

impl SegmentError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SegmentError::InvalidJson(_) => "invalid_json",
            SegmentError::InvalidField(_) => "invalid_field",
            SegmentError::InvalidValue(_) => "invalid_value",
            SegmentError::InvalidId(_) => "invalid_session_id",
        }
    }
}

/// How the session was chosen for recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The whole session.
    Session,
    /// From 60 s before the first error on.
    Error,
}

/// What the store needs of a checked segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMeta {
    /// The monitored session.
    pub session_id: String,
    /// The page view it was recorded in.
    pub view_id: Option<String>,
    /// Its number within the session.
    pub seq: u32,
    /// First event, ms since the epoch.
    pub start: i64,
    /// Last event, ms since the epoch.
    pub end: i64,
    /// How the session was chosen.
    pub mode: Mode,
    /// rrweb events in it.
    pub events: usize,
}

/// Limits of one segment.
#[derive(Debug, Clone, Copy)]
pub struct SegmentLimits {
    /// Most rrweb events in one segment.
    pub max_events: usize,
    /// Earliest `start` accepted (the project's retention), ms.
    pub earliest: i64,
    /// Latest `end` accepted (now and a day of clock skew), ms.
    pub latest: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    v: u32,
    session_id: String,
    #[serde(default)]
    view_id: Option<String>,
    seq: u32,
    start: i64,
    end: i64,
    mode: Mode,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// An rrweb event: an object with a numeric type and time; its other keys are rrweb's.
#[derive(Deserialize)]
struct RrwebEvent {
    #[serde(rename = "type")]
    _kind: u32,
    timestamp: f64,
}

/// Whether an id may name a file: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a segment's JSON (decompressed, UTF-8 checked by the parse) and says what it is.
pub fn check_segment(json: &[u8], limits: &SegmentLimits) -> Result<SegmentMeta, SegmentError> {
    let wire: Wire = serde_json::from_slice(json).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => SegmentError::InvalidField(e.to_string()),
            _ => SegmentError::InvalidJson(e.to_string()),
        }
    })?;
    if wire.v != 1 {
        return Err(SegmentError::InvalidValue(format!(
            "unsupported replay version {}, this collector speaks 1",
            wire.v
        )));
    }
    if !valid_id(&wire.session_id) {
        return Err(SegmentError::InvalidId("session_id"));
    }
    if wire.view_id.as_deref().is_some_and(|v| !valid_id(v)) {
        return Err(SegmentError::InvalidId("view_id"));
    }
    if wire.events.is_empty() {
        return Err(SegmentError::InvalidValue("a segment has no events".into()));
    }
    if wire.events.len() > limits.max_events {
        return Err(SegmentError::InvalidValue(format!(
            "a segment has {} events, the limit is {}",
            wire.events.len(),
            limits.max_events
        )));
    }
    if wire.start > wire.end {
        return Err(SegmentError::InvalidValue(format!(
            "start {} is after end {}",
            wire.start, wire.end
        )));
    }
    if wire.start < limits.earliest {
        return Err(SegmentError::InvalidValue(format!(
            "start {} is older than the project keeps data (before {})",
            wire.start, limits.earliest
        )));
    }
    if wire.end > limits.latest {
        return Err(SegmentError::InvalidValue(format!(
            "end {} is more than a day ahead of the collector's clock",
            wire.end
        )));
    }
    for (i, raw) in wire.events.iter().enumerate() {
        // a derived struct also reads an array by position: an event must be an object
        let object = raw.get().starts_with('{');
        let e: RrwebEvent = (if object {
            serde_json::from_str(raw.get())
        } else {
            Err(serde::de::Error::custom("not an object"))
        })
        .map_err(|e: serde_json::Error| {
            SegmentError::InvalidField(format!(
                "events[{i}] is not an rrweb event (an object with a numeric type and timestamp): {e}"
            ))
        })?;
        if !e.timestamp.is_finite() {
            return Err(SegmentError::InvalidValue(format!(
                "events[{i}].timestamp is not finite"
            )));
        }
    }
    Ok(SegmentMeta {
        session_id: wire.session_id,
        view_id: wire.view_id,
        seq: wire.seq,
        start: wire.start,
        end: wire.end,
        mode: wire.mode,
        events: wire.events.len(),
    })
}
