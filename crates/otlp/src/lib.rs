//! OTLP/HTTP decoding for `/v1/traces` and `/v1/logs`: protobuf (the messages of
//! `opentelemetry-proto`, never hand-written) and JSON (ids in hex, 64-bit numbers as
//! strings or numbers, as the OTLP spec says), checked and flattened into spans and log
//! records with their resource's service. A record that breaks the spec (an id of the
//! wrong length or all zeros, an end before its start) is rejected alone and counted, for
//! the answer's `partial_success`; a body that is not OTLP at all is an error.
//! Mobile SDKs' spans and events are also mapped onto protocol v1's mobile events
//! ([`mobile`]).

pub mod mobile;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value};
pub use vigil_model::{LogRecord, SpanRecord};

/// How a body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

/// Why a body was refused whole.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OtlpError {
    /// Neither protobuf nor JSON.
    #[error("content type {0:?} is not application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    /// Not a valid protobuf export request.
    #[error("not an OTLP protobuf export request: {0}")]
    InvalidProtobuf(String),
    /// Not a valid JSON export request.
    #[error("not an OTLP JSON export request: {0}")]
    InvalidJson(String),
    /// More records than one request may carry.
    #[error("{got} records in one request; the limit is {limit}")]
    TooManyRecords {
        /// How many were sent.
        got: usize,
        /// The limit.
        limit: usize,
    },
}

impl OtlpError {
    /// A stable code for the answer.
    pub fn code(&self) -> &'static str {
        match self {
            OtlpError::UnsupportedContentType(_) => "unsupported_media_type",
            OtlpError::InvalidProtobuf(_) => "invalid_protobuf",
            OtlpError::InvalidJson(_) => "invalid_json",
            OtlpError::TooManyRecords { .. } => "too_many_records",
        }
    }
}

/// Bounds on what one request may make the server hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most spans or log records per request.
    pub max_records: usize,
    /// Most attributes kept per record (the rest are counted as dropped).
    pub max_attributes: usize,
    /// Longest string kept in an attribute or body, in bytes (longer ones are cut).
    pub max_value_bytes: usize,
    /// Deepest nesting of arrays and maps kept in a value.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_records: 10_000,
            max_attributes: 128,
            max_value_bytes: 8 * 1024,
            max_depth: 4,
        }
    }
}

impl Encoding {
    /// The `Content-Type` of an answer in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The two OTLP signals Vigil keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `/v1/traces`.
    Traces,
    /// `/v1/logs`.
    Logs,
}

/// `google.rpc.Status`, the body of an OTLP error answer. `opentelemetry-proto` does not
/// carry it, so it is declared here as a prost message (prost encodes it).
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The body of a refusal: a `google.rpc.Status` with its gRPC `code`. The JSON form also
/// carries Vigil's own stable `error` code.
pub fn encode_status(encoding: Encoding, code: i32, message: &str, error: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => Status {
            code,
            message: message.to_owned(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::to_vec(
            &serde_json::json!({ "code": code, "message": message, "error": error }),
        )
        .unwrap_or_default(),
    }
}

/// The body of an accepted export: empty, or a `partial_success` with the records refused
/// one by one and why.
pub fn encode_response(
    signal: Signal,
    encoding: Encoding,
    rejected: usize,
    message: &str,
) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::logs::v1::{
        ExportLogsPartialSuccess, ExportLogsServiceResponse,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    let count = i64::try_from(rejected).unwrap_or(i64::MAX);
    let partial = rejected > 0;
    match encoding {
        Encoding::Protobuf => match signal {
            Signal::Traces => ExportTraceServiceResponse {
                partial_success: partial.then(|| ExportTracePartialSuccess {
                    rejected_spans: count,
                    error_message: message.to_owned(),
                }),
            }
            .encode_to_vec(),
            Signal::Logs => ExportLogsServiceResponse {
                partial_success: partial.then(|| ExportLogsPartialSuccess {
                    rejected_log_records: count,
                    error_message: message.to_owned(),
                }),
            }
            .encode_to_vec(),
        },
        Encoding::Json => {
            let field = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Logs => "rejectedLogRecords",
            };
            // 64-bit integers are strings in protobuf's JSON mapping.
            let body = if partial {
                serde_json::json!({ "partialSuccess": { field: count.to_string(), "errorMessage": message } })
            } else {
                serde_json::json!({})
            };
            serde_json::to_vec(&body).unwrap_or_default()
        }
    }
}

/// Spans as an OTLP protobuf `/v1/traces` body, one resource per service: what an SDK's
/// exporter sends, for benchmarks and load tests. Attributes are sent as strings.
pub fn encode_traces(spans: &[SpanRecord]) -> Vec<u8> {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    let unhex = |h: &str| -> Vec<u8> {
        (0..h.len() / 2)
            .filter_map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
            .collect()
    };
    let kv = |map: &Map<String, Value>| -> Vec<KeyValue> {
        map.iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                key_strindex: 0,
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })),
                }),
            })
            .collect()
    };
    // Whole and fractional milliseconds apart: the nanoseconds are past f64's 53 bits.
    let nanos = |ms: f64| {
        let whole = ms.floor();
        whole as u64 * 1_000_000 + ((ms - whole) * 1e6).round() as u64
    };
    let mut by_service: Vec<ResourceSpans> = Vec::new();
    for s in spans {
        let span = Span {
            trace_id: unhex(&s.trace_id),
            span_id: unhex(&s.span_id),
            parent_span_id: s.parent_span_id.as_deref().map(unhex).unwrap_or_default(),
            name: s.name.clone(),
            kind: match s.kind {
                "internal" => 1,
                "server" => 2,
                "client" => 3,
                "producer" => 4,
                "consumer" => 5,
                _ => 0,
            },
            start_time_unix_nano: nanos(s.start_ms),
            end_time_unix_nano: nanos(s.start_ms + s.duration_ms),
            attributes: kv(&s.attributes),
            status: Some(Status {
                code: match s.status {
                    "ok" => 1,
                    "error" => 2,
                    _ => 0,
                },
                message: s.status_message.clone(),
            }),
            ..Span::default()
        };
        let service_name = |r: &ResourceSpans| {
            r.resource.as_ref().and_then(|res| {
                res.attributes
                    .iter()
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.as_ref())
                    .and_then(|v| match &v.value {
                        Some(any_value::Value::StringValue(name)) => Some(name.clone()),
                        _ => None,
                    })
            })
        };
        match by_service
            .iter_mut()
            .find(|r| service_name(r).as_deref() == Some(s.service.as_str()))
        {
            Some(r) => r.scope_spans[0].spans.push(span),
            None => {
                let mut resource = s.resource.clone();
                resource.insert("service.name".into(), Value::String(s.service.clone()));
                by_service.push(ResourceSpans {
                    resource: Some(Resource {
                        attributes: kv(&resource),
                        ..Resource::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: s.scope.clone(),
                            ..InstrumentationScope::default()
                        }),
                        spans: vec![span],
                        ..ScopeSpans::default()
                    }],
                    ..ResourceSpans::default()
                });
            }
        }
    }
    ExportTraceServiceRequest {
        resource_spans: by_service,
    }
    .encode_to_vec()
}

/// The encoding a `Content-Type` header names.
pub fn encoding_of(content_type: Option<&str>) -> Result<Encoding, OtlpError> {
    let media = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(OtlpError::UnsupportedContentType(media)),
    }
}

/// What a request held: the records kept, and the rejected ones with the first reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// Records that passed the checks.
    pub records: Vec<T>,
    /// How many were rejected.
    pub rejected: usize,
    /// Why (the first few), for `partial_success.error_message`.
    pub reasons: Vec<String>,
}

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            rejected: 0,
            reasons: Vec::new(),
        }
    }
}

impl<T> Decoded<T> {
    fn reject(&mut self, why: String) {
        self.rejected += 1;
        if self.reasons.len() < 5 {
            self.reasons.push(why);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An id of exactly `len` bytes, not all zeros, in hex.
fn id(bytes: &[u8], len: usize, what: &str) -> Result<String, String> {
    if bytes.len() != len {
        return Err(format!(
            "{what} has {} bytes; it must have {len}",
            bytes.len()
        ));
    }
    if bytes.iter().all(|b| *b == 0) {
        return Err(format!("{what} is all zeros"));
    }
    Ok(hex(bytes))
}

fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// An OTLP value as JSON, strings cut and nesting bounded.
fn value(v: &AnyValue, limits: &Limits, depth: usize) -> Value {
    let Some(v) = &v.value else {
        return Value::Null;
    };
    match v {
        any_value::Value::StringValue(s) => Value::String(cut(s, limits.max_value_bytes)),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::from(*i),
        any_value::Value::DoubleValue(d) => {
            serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number)
        }
        any_value::Value::BytesValue(b) => Value::String(cut(&hex(b), limits.max_value_bytes)),
        // An index into a profile's string table: nothing without the profile.
        any_value::Value::StringValueStrindex(_) => Value::Null,
        _ if depth >= limits.max_depth => Value::String("[nested too deep]".into()),
        any_value::Value::ArrayValue(a) => Value::Array(
            a.values
                .iter()
                .take(limits.max_attributes)
                .map(|v| value(v, limits, depth + 1))
                .collect(),
        ),
        any_value::Value::KvlistValue(kv) => {
            Value::Object(attributes(&kv.values, limits, depth + 1))
        }
    }
}

/// Longest `exception.stacktrace` kept, in bytes: as long as a stack in Vigil's own
/// protocol, since the innermost frames of a crash are what group it.
pub const MAX_STACK_BYTES: usize = 16 * 1024;

fn attributes(kvs: &[KeyValue], limits: &Limits, depth: usize) -> Map<String, Value> {
    let stack_limits = Limits {
        max_value_bytes: limits.max_value_bytes.max(MAX_STACK_BYTES),
        ..*limits
    };
    kvs.iter()
        .take(limits.max_attributes)
        .map(|kv| {
            let limits = if kv.key == "exception.stacktrace" {
                &stack_limits
            } else {
                limits
            };
            (
                cut(&kv.key, 256),
                kv.value
                    .as_ref()
                    .map_or(Value::Null, |v| value(v, limits, depth)),
            )
        })
        .collect()
}

fn resource_of(resource: Option<&Resource>, limits: &Limits) -> (String, Map<String, Value>) {
    let attrs = resource
        .map(|r| attributes(&r.attributes, limits, 0))
        .unwrap_or_default();
    let service = attrs
        .get("service.name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown_service")
        .to_owned();
    (service, attrs)
}

fn scope_name(scope: Option<&InstrumentationScope>) -> String {
    scope.map(|s| cut(&s.name, 256)).unwrap_or_default()
}

/// Nanoseconds since the epoch as milliseconds: whole and fractional parts apart, since
/// the nanoseconds themselves are past f64's 53 bits.
fn ms(nanos: u64) -> f64 {
    (nanos / 1_000_000) as f64 + (nanos % 1_000_000) as f64 / 1e6
}

fn parse<M: Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
) -> Result<M, OtlpError> {
    match encoding {
        Encoding::Protobuf => {
            M::decode(body).map_err(|e| OtlpError::InvalidProtobuf(e.to_string()))
        }
        Encoding::Json => {
            serde_json::from_slice(body).map_err(|e| OtlpError::InvalidJson(e.to_string()))
        }
    }
}

fn check_count(got: usize, limits: &Limits) -> Result<(), OtlpError> {
    if got > limits.max_records {
        return Err(OtlpError::TooManyRecords {
            got,
            limit: limits.max_records,
        });
    }
    Ok(())
}

/// The spans of a `/v1/traces` body.
pub fn decode_traces(
    body: &[u8],
    encoding: Encoding,
    limits: &Limits,
) -> Result<Decoded<SpanRecord>, OtlpError> {
    let request: ExportTraceServiceRequest = parse(body, encoding)?;
    let total: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    check_count(total, limits)?;
    let mut out = Decoded::default();
    for rs in &request.resource_spans {
        let (service, resource) = resource_of(rs.resource.as_ref(), limits);
        for (scope, span) in rs.scope_spans.iter().flat_map(|s| {
            s.spans
                .iter()
                .map(move |span| (scope_name(s.scope.as_ref()), span))
        }) {
            let checked = (|| {
                let trace_id = id(&span.trace_id, 16, "trace_id")?;
                let span_id = id(&span.span_id, 8, "span_id")?;
                let parent_span_id = if span.parent_span_id.is_empty() {
                    None
                } else {
                    Some(id(&span.parent_span_id, 8, "parent_span_id")?)
                };
                if span.end_time_unix_nano < span.start_time_unix_nano {
                    return Err(format!("span {span_id} ends before it starts"));
                }
                if span.start_time_unix_nano == 0 {
                    return Err(format!("span {span_id} has no start time"));
                }
                Ok((trace_id, span_id, parent_span_id))
            })();
            let (trace_id, span_id, parent_span_id) = match checked {
                Ok(ids) => ids,
                Err(why) => {
                    out.reject(why);
                    continue;
                }
            };
            let status = span.status.as_ref();
            out.records.push(SpanRecord {
                trace_id,
                span_id,
                parent_span_id,
                service: service.clone(),
                name: cut(&span.name, 1024),
                kind: match span.kind {
                    1 => "internal",
                    2 => "server",
                    3 => "client",
                    4 => "producer",
                    5 => "consumer",
                    _ => "unspecified",
                },
                start_ms: ms(span.start_time_unix_nano),
                duration_ms: (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e6,
                status: match status.map_or(0, |s| s.code) {
                    1 => "ok",
                    2 => "error",
                    _ => "unset",
                },
                status_message: status
                    .map(|s| cut(&s.message, limits.max_value_bytes))
                    .unwrap_or_default(),
                scope,
                attributes: attributes(&span.attributes, limits, 0),
                resource: resource.clone(),
                events: span
                    .events
                    .iter()
                    .take(limits.max_attributes)
                    .map(|e| {
                        serde_json::json!({
                            "time_ms": ms(e.time_unix_nano),
                            "name": cut(&e.name, 1024),
                            "attributes": attributes(&e.attributes, limits, 0),
                        })
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// The log records of a `/v1/logs` body.
pub fn decode_logs(
    body: &[u8],
    encoding: Encoding,
    limits: &Limits,
) -> Result<Decoded<LogRecord>, OtlpError> {
    let request: ExportLogsServiceRequest = parse(body, encoding)?;
    let total: usize = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    check_count(total, limits)?;
    let mut out = Decoded::default();
    for rl in &request.resource_logs {
        let (service, resource) = resource_of(rl.resource.as_ref(), limits);
        for (scope, log) in rl.scope_logs.iter().flat_map(|s| {
            s.log_records
                .iter()
                .map(move |log| (scope_name(s.scope.as_ref()), log))
        }) {
            let optional_id = |bytes: &[u8], len, what| {
                if bytes.is_empty() {
                    Ok(None)
                } else {
                    id(bytes, len, what).map(Some)
                }
            };
            let ids = optional_id(&log.trace_id, 16, "trace_id")
                .and_then(|t| optional_id(&log.span_id, 8, "span_id").map(|s| (t, s)));
            let (trace_id, span_id) = match ids {
                Ok(ids) => ids,
                Err(why) => {
                    out.reject(why);
                    continue;
                }
            };
            let time = if log.time_unix_nano != 0 {
                log.time_unix_nano
            } else {
                log.observed_time_unix_nano
            };
            if time == 0 {
                out.reject("a log record without a time".into());
                continue;
            }
            let body = match log.body.as_ref().map(|b| value(b, limits, 0)) {
                Some(Value::String(s)) => s,
                Some(Value::Null) | None => String::new(),
                Some(other) => cut(&other.to_string(), limits.max_value_bytes),
            };
            let attributes = attributes(&log.attributes, limits, 0);
            let event_name = if log.event_name.is_empty() {
                attributes
                    .get("event.name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            } else {
                log.event_name.clone()
            };
            out.records.push(LogRecord {
                time_ms: ms(time),
                severity_number: log.severity_number,
                severity_text: cut(&log.severity_text, 64),
                body,
                trace_id,
                span_id,
                service: service.clone(),
                scope,
                event_name: cut(&event_name, 256),
                attributes,
                resource: resource.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
