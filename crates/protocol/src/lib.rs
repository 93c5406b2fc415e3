//! Wire protocol v1: the JSON batches that the browser agent and the mobile SDKs send to
//! intake, as typed values. `docs/protocol.md` describes the same shapes for people and
//! `docs/protocol.schema.json` for machines; the fixtures in `docs/fixtures/` are parsed by
//! the tests of this crate so the three never drift apart.

mod event_de;
mod events;
mod fast;
mod scan;
mod text;
mod vitals;

pub use events::*;
pub use scan::{MAX_NUMBER, ScanError, ScanLimits, scan_json};
pub use text::Text;
pub use vitals::{VitalThresholds, rate_vital, thresholds};

/// The protocol version this collector speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Why a body could not become a [`Batch`]. Each variant has a stable machine-readable code.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not UTF-8.
    #[error("body is not valid utf-8 (at byte {0})")]
    InvalidUtf8(usize),
    /// The raw scan found a structural limit broken.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The JSON is malformed.
    #[error("invalid json: {0}")]
    InvalidJson(String),
    /// A key the protocol does not define.
    #[error("unknown field: {0}")]
    UnknownField(String),
    /// A field has the wrong type or a required field is missing.
    #[error("invalid field: {0}")]
    InvalidField(String),
    /// The batch declares a version this collector does not speak.
    #[error("unsupported protocol version {0}, this collector speaks 1")]
    UnsupportedVersion(u32),
    /// More events than allowed in one batch.
    #[error("batch has {got} events, the limit is {limit}")]
    TooManyEvents {
        /// Events in the batch.
        got: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A batch without events.
    #[error("batch has no events")]
    EmptyBatch,
    /// A value outside its allowed range (negative duration, timestamp far off, …).
    #[error("invalid value: {0}")]
    InvalidValue(String),
}

impl ParseError {
    /// Stable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::InvalidUtf8(_) => "invalid_utf8",
            ParseError::Scan(e) => e.code(),
            ParseError::InvalidJson(_) => "invalid_json",
            ParseError::UnknownField(_) => "unknown_field",
            ParseError::InvalidField(_) => "invalid_field",
            ParseError::UnsupportedVersion(_) => "unsupported_version",
            ParseError::TooManyEvents { .. } => "too_many_events",
            ParseError::EmptyBatch => "empty_batch",
            ParseError::InvalidValue(_) => "invalid_value",
        }
    }
}

/// Limits applied while parsing one batch.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Structural limits checked on the raw bytes.
    pub scan: ScanLimits,
    /// Most events in one batch.
    pub max_events: usize,
    /// Most keys in one flat object (`attributes`, `properties`).
    pub max_flat_keys: usize,
    /// Most bytes of keys and string values in one flat object. The context's attributes
    /// are copied into every row of the batch, so they are bounded much tighter than a body.
    pub max_flat_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            scan: ScanLimits::default(),
            max_events: 500,
            max_flat_keys: 64,
            max_flat_bytes: 8 * 1024,
        }
    }
}

fn check_flat(
    what: &str,
    object: &std::collections::BTreeMap<String, Scalar>,
    limits: &ParseLimits,
) -> Result<(), ParseError> {
    if object.len() > limits.max_flat_keys {
        return Err(ParseError::InvalidValue(format!(
            "{what} has {} keys, the limit is {}",
            object.len(),
            limits.max_flat_keys
        )));
    }
    let bytes: usize = object
        .iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    Scalar::String(s) => s.len(),
                    Scalar::Bool(_) | Scalar::Number(_) => 8,
                }
        })
        .sum();
    if bytes > limits.max_flat_bytes {
        return Err(ParseError::InvalidValue(format!(
            "{what} holds {bytes} bytes of keys and values, the limit is {}",
            limits.max_flat_bytes
        )));
    }
    Ok(())
}

/// Checks that every event's `ts` lies in `[earliest, latest]` (ms since the epoch). Intake
/// calls it with the project's retention and a day of clock skew: an event outside would be
/// dropped by retention at once, or sit in the future where no query or retention reaches.
pub fn check_time_window(batch: &Batch, earliest: i64, latest: i64) -> Result<(), ParseError> {
    for (i, event) in batch.events.iter().enumerate() {
        if event.ts > latest {
            return Err(ParseError::InvalidValue(format!(
                "events[{i}]: ts {} is more than a day ahead of the collector's clock ({latest})",
                event.ts
            )));
        }
        if event.ts < earliest {
            return Err(ParseError::InvalidValue(format!(
                "events[{i}]: ts {} is older than the project keeps data (before {earliest})",
                event.ts
            )));
        }
    }
    Ok(())
}

/// Parses and checks one batch. The order matters for the error a client sees: encoding
/// first, then structure (depth, string length) on the raw bytes so a hostile body is
/// rejected before any allocation per value, then the typed parse, then semantic checks.
/// Batches without error events are read by a reader of their own first (`fast.rs`), which
/// checks each string's length before copying it and nests no deeper than the types; it
/// leaves every body it is not sure of to the order above, so the errors are the same.
pub fn parse_batch(body: &[u8], limits: &ParseLimits) -> Result<Batch, ParseError> {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => return Err(ParseError::InvalidUtf8(e.valid_up_to())),
    };
    let batch = match fast::read_batch(text, &limits.scan) {
        Some(batch) => batch,
        None => {
            scan_json(body, &limits.scan)?;
            // From the checked text, not the bytes: the parser then does not check each
            // string's UTF-8 again.
            serde_json::from_str(text).map_err(classify_serde_error)?
        }
    };
    if batch.v != PROTOCOL_VERSION {
        return Err(ParseError::UnsupportedVersion(batch.v));
    }
    if batch.events.is_empty() {
        return Err(ParseError::EmptyBatch);
    }
    if batch.events.len() > limits.max_events {
        return Err(ParseError::TooManyEvents {
            got: batch.events.len(),
            limit: limits.max_events,
        });
    }
    check_flat("context.attributes", &batch.context.attributes, limits)?;
    if let Some(rate) = batch.context.sample_rate
        && !(rate > 0.0 && rate <= 1.0)
    {
        return Err(ParseError::InvalidValue(format!(
            "context.sample_rate {rate} is not in (0, 1]"
        )));
    }
    for (i, event) in batch.events.iter().enumerate() {
        event
            .check()
            .map_err(|m| ParseError::InvalidValue(format!("events[{i}]: {m}")))?;
        if let EventBody::Custom(c) = &event.body {
            check_flat(&format!("events[{i}].properties"), &c.properties, limits)?;
        }
    }
    Ok(batch)
}

/// Whether [`parse_batch`] reads `body` with its own reader rather than the pre-scan and
/// serde. Both read a batch alike (tests hold them to it), so this says only how fast: a
/// wire field the own reader does not know sends every batch carrying it the slow way, and
/// a test over every field of the schema catches that.
#[doc(hidden)]
pub fn reads_on_the_fast_path(body: &[u8], limits: &ParseLimits) -> bool {
    std::str::from_utf8(body).is_ok_and(|text| fast::read_batch(text, &limits.scan).is_some())
}

fn classify_serde_error(e: serde_json::Error) -> ParseError {
    use serde_json::error::Category;
    let text = e.to_string();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ParseError::InvalidJson(text),
        Category::Data if text.starts_with("unknown field") => ParseError::UnknownField(text),
        Category::Data if text.starts_with("unknown variant") => ParseError::InvalidField(text),
        Category::Data => ParseError::InvalidField(text),
    }
}

/// The JSON Schema of a batch, generated from the types above (their doc comments are the
/// descriptions), as `docs/protocol.schema.json` holds it; a test keeps the two equal.
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Batch>().to_value();
    // Each event type is a struct that denies unknown keys, flattened into the event with
    // its common fields; the generator cannot see the denial through the flattening. Keys
    // neither the common fields nor the matching type's fields evaluate are unknown.
    if let Some(event) = schema
        .pointer_mut("/$defs/Event")
        .and_then(|v| v.as_object_mut())
    {
        event.insert("unevaluatedProperties".into(), false.into());
    }
    if let Some(root) = schema.as_object_mut() {
        root.insert("title".into(), "Vigil ingest batch, protocol v1".into());
        root.insert(
            "description".into(),
            "The JSON body of POST /api/v1/ingest: one batch of events with their shared \
             context. Generated from crates/protocol/src/events.rs. Enforced by the collector \
             but not expressible here: nesting depth at most 6 (the batch is depth 1); strings \
             and keys at most 16384 raw bytes; at most 500 events; integers written without a \
             fraction or exponent; numbers within ±10^15; flat objects (attributes, \
             properties) at most 64 keys and 8 KiB; ts from 2020-01-01 within the project's \
             retention and at most a day ahead; durations and vital values finite and ≥ 0; \
             sample_rate in (0, 1]; vital names LCP, INP, CLS, FCP, TTFB and ratings good, \
             needs-improvement, poor. The limits are the server defaults and are \
             configurable. See docs/protocol.md."
                .into(),
        );
    }
    schema
}
