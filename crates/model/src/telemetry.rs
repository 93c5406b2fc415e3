//! Spans and log records from backends (OTLP), flattened: what the `spans` and `logs`
//! tables are built from. The model knows nothing of protobuf; `vigil-otlp` decodes into
//! these.

use serde_json::{Map, Value};

/// A span, flattened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanRecord {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits; `None` for a root span.
    pub parent_span_id: Option<String>,
    /// The resource's `service.name` (`unknown_service` when it has none, as the spec says).
    pub service: String,
    /// The operation.
    pub name: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    /// Start, ms since the epoch (sub-millisecond kept).
    pub start_ms: f64,
    /// Duration in ms.
    pub duration_ms: f64,
    /// `unset`, `ok` or `error`.
    pub status: &'static str,
    /// The status message.
    pub status_message: String,
    /// The instrumentation scope's name (`opentelemetry.instrumentation.flask`).
    pub scope: String,
    /// The span's attributes as a JSON object.
    pub attributes: Map<String, Value>,
    /// The resource's attributes as a JSON object.
    pub resource: Map<String, Value>,
    /// Events: `[{"time_ms", "name", "attributes"}]`.
    pub events: Vec<Value>,
}

/// A log record, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// When it happened (or was observed), ms since the epoch.
    pub time_ms: f64,
    /// 1–24, 0 when unspecified.
    pub severity_number: i32,
    /// As the SDK named it (`INFO`, `ERROR`, …).
    pub severity_text: String,
    /// The body: text, or JSON for structured bodies.
    pub body: String,
    /// The trace it belongs to, when logged inside a span.
    pub trace_id: Option<String>,
    /// The span it belongs to.
    pub span_id: Option<String>,
    /// The resource's `service.name`.
    pub service: String,
    /// The instrumentation scope's name (the logger).
    pub scope: String,
    /// The event's name (`app.crash`, `device.anr`, …) when the record is an event: the
    /// record's `event_name`, or its older `event.name` attribute.
    pub event_name: String,
    /// The record's attributes.
    pub attributes: Map<String, Value>,
    /// The resource's attributes.
    pub resource: Map<String, Value>,
}

/// A string attribute of the record, else of its resource: the first of `keys` present.
pub fn attribute<'a>(
    attributes: &'a Map<String, Value>,
    resource: &'a Map<String, Value>,
    keys: &[&str],
) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        attributes
            .get(*k)
            .or_else(|| resource.get(*k))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    })
}

/// A string attribute: the first of `keys` present.
pub(crate) fn one_attribute<'a>(
    attributes: &'a Map<String, Value>,
    keys: &[&str],
) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        attributes
            .get(*k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    })
}

/// An integer attribute (`http.response.status_code`), also when sent as a string.
pub(crate) fn int_attribute(attributes: &Map<String, Value>, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| match attributes.get(*k)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

/// The OTLP severity number's name, for records that sent a number and no text.
pub fn severity_name(number: i32) -> Option<&'static str> {
    Some(match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => return None,
    })
}
