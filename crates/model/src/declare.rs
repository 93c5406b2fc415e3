//! The tables' columns, declared once. Each line names a column, its kind (which fixes its
//! storage type, its scrubbing and what queries may do with it) and how its value is taken
//! from an enriched event. Everything else (Arrow schemas, row building, scrubbing, the
//! query layer's field checks, the documents) is derived from this list.
//!
//! Adding a column is one line here and one line in `docs/protocol.md` (or the table's
//! section of ARCHITECTURE.md for derived columns); a new column reads as null in data
//! written before it existed, so old segments and logs need nothing.

use crate::field::EventRow;
use crate::field::{DeriveFn, Extract, Field, Kind, Row, Type, Unit, on_context, on_event};
use crate::scrub::{
    scheme_end, scrub_message, scrub_url, scrubbed_message, scrubbed_url, split_at_byte,
    template_url,
};
use crate::table::Table;
use crate::telemetry::{attribute, int_attribute, one_attribute, severity_name};
use arrow_schema::{Field as ArrowField, Schema, SchemaRef};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use vigil_protocol::{Breadcrumb, EventBody, Frame, Request, Scalar};

fn s(v: &str) -> Option<Cow<'_, str>> {
    if v.is_empty() {
        None
    } else {
        Some(Cow::Borrowed(v))
    }
}
fn os<T: AsRef<str>>(v: &Option<T>) -> Option<Cow<'_, str>> {
    v.as_ref().map(|v| Cow::Borrowed(v.as_ref()))
}
fn json<T: serde::Serialize>(v: &T) -> Option<Cow<'static, str>> {
    serde_json::to_string(v).ok().map(Cow::Owned)
}

fn scrub_scalars(values: &BTreeMap<String, Scalar>) -> BTreeMap<String, Scalar> {
    values
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::String(s) => Scalar::String(scrub_message(s)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// A flat object with its string values scrubbed as free text.
fn flat_json(values: &BTreeMap<String, Scalar>) -> Option<Cow<'static, str>> {
    json(&scrub_scalars(values))
}

/// Stack frames with their file URLs scrubbed.
fn frames_json(frames: &[Frame]) -> Option<Cow<'static, str>> {
    let scrubbed: Vec<Frame> = frames
        .iter()
        .map(|f| Frame {
            file: f.file.as_deref().map(|file| scrub_url(file).into()),
            ..f.clone()
        })
        .collect();
    json(&scrubbed)
}

/// Breadcrumbs with their messages and values scrubbed as free text.
fn breadcrumbs_json(crumbs: &[Breadcrumb]) -> Option<Cow<'static, str>> {
    let scrubbed: Vec<Breadcrumb> = crumbs
        .iter()
        .map(|b| Breadcrumb {
            message: scrub_message(&b.message).into(),
            data: scrub_scalars(&b.data),
            ..b.clone()
        })
        .collect();
    json(&scrubbed)
}

/// The host of a URL: the `domain` dimension.
pub fn host_of(url: &str) -> Option<String> {
    let rest = &url[scheme_end(url)? + 3..];
    let end = memchr::memchr3(b'/', b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

fn path(url: &str) -> Option<String> {
    Some(path_of(url).into_owned())
}
fn host(url: &str) -> Option<String> {
    host_of(url)
}
fn template(url: &str) -> Option<String> {
    Some(template_url(url))
}

/// Fixed-point scale of millisecond columns (0.1 ms).
const MS_SCALE: i64 = 10;
/// Fixed-point scale of span and log times (1 µs).
const MICROS_SCALE: i64 = 1000;
/// Fixed-point scale of other fractional columns (0.001).
const NUMBER_SCALE: i64 = 1000;
/// Fixed-point scale of a vital's value (0.0001): CLS scores such as 0.0225 keep their
/// digits (web-vitals reports more), and millisecond vitals cost about one bit more.
pub(crate) const VITAL_SCALE: i64 = 10_000;
/// Fixed-point scale of shares such as a sample rate: one in a million, so 1/3 keeps six
/// digits.
const SHARE_SCALE: i64 = 1_000_000;

const fn field(name: &'static str, ty: Type, kind: Kind, extract: Extract) -> Field {
    Field {
        name,
        ty,
        kind,
        extract,
        derive: None,
        context_only: false,
    }
}

macro_rules! column {
    ($name:literal, time, $f:expr) => {
        field($name, Type::Int, Kind::Time, Extract::I64($f))
    };
    ($name:literal, id, $f:expr) => {
        field($name, Type::Text, Kind::Id, Extract::Str($f))
    };
    ($name:literal, url, $f:expr) => {
        field($name, Type::Text, Kind::Url, Extract::Str($f))
    };
    ($name:literal, url, $f:expr, derive $from:literal, $derive:expr) => {
        Field {
            derive: Some(($from, $derive as DeriveFn)),
            ..column!($name, url, $f)
        }
    };
    ($name:literal, message, $f:expr) => {
        field($name, Type::Text, Kind::Message, Extract::Str($f))
    };
    ($name:literal, dim, $f:expr) => {
        field($name, Type::Text, Kind::Dimension, Extract::Str($f))
    };
    ($name:literal, json, $f:expr) => {
        field($name, Type::Text, Kind::Json, Extract::Str($f))
    };
    ($name:literal, bool, $f:expr) => {
        field($name, Type::Bool, Kind::Dimension, Extract::Bool($f))
    };
    // Durations and times in ms: 0.1 ms resolution.
    ($name:literal, ms, $f:expr) => {
        field(
            $name,
            Type::Fixed(MS_SCALE),
            Kind::Measurement(Unit::Ms),
            Extract::F64($f),
        )
    };
    // Span and log times and durations in ms: 1 µs resolution, since backend spans (a
    // database query) take well under the 0.1 ms of browser timers.
    ($name:literal, us, $f:expr) => {
        field(
            $name,
            Type::Fixed(MICROS_SCALE),
            Kind::Measurement(Unit::Ms),
            Extract::F64($f),
        )
    };
    // Byte counts: whole bytes.
    ($name:literal, bytes, $f:expr) => {
        field(
            $name,
            Type::Fixed(1),
            Kind::Measurement(Unit::Bytes),
            Extract::F64($f),
        )
    };
    // Other numbers (scores such as CLS, money, percentages): 0.001 resolution.
    ($name:literal, number, $f:expr) => {
        field(
            $name,
            Type::Fixed(NUMBER_SCALE),
            Kind::Measurement(Unit::Number),
            Extract::F64($f),
        )
    };
    // A vital's value: CLS and milliseconds alike, at 0.0001.
    ($name:literal, vital, $f:expr) => {
        field(
            $name,
            Type::Fixed(VITAL_SCALE),
            Kind::Measurement(Unit::Number),
            Extract::F64($f),
        )
    };
    ($name:literal, share, $f:expr) => {
        field(
            $name,
            Type::Fixed(SHARE_SCALE),
            Kind::Measurement(Unit::Share),
            Extract::F64($f),
        )
    };
    ($name:literal, px, $f:expr) => {
        field(
            $name,
            Type::Int,
            Kind::Measurement(Unit::Px),
            Extract::I64($f),
        )
    };
    ($name:literal, count, $f:expr) => {
        field(
            $name,
            Type::Int,
            Kind::Measurement(Unit::Count),
            Extract::I64($f),
        )
    };
    ($name:literal, status, $f:expr) => {
        field(
            $name,
            Type::Int,
            Kind::Measurement(Unit::Status),
            Extract::I64($f),
        )
    };
}

/// An event table's column: its extractor reads an event row (see [`column!`] for the
/// kinds).
macro_rules! col {
    ($name:literal, url, $f:expr, derive $from:literal, $derive:expr) => {
        column!($name, url, |row| on_event(row, $f), derive $from, $derive)
    };
    ($name:literal, $kind:ident, $f:expr) => {
        column!($name, $kind, |row| on_event(row, $f))
    };
}

/// An event table's column whose extractor reads only the batch context (see
/// [`Field::context_only`]).
macro_rules! ctx {
    ($name:literal, $kind:ident, $f:expr) => {
        Field {
            context_only: true,
            ..column!($name, $kind, |row| on_context(row, $f))
        }
    };
}

/// A column of rows of several sources whose event rows' values come from the batch
/// context alone; a test checks that every event of a batch gets the same one.
macro_rules! by_context {
    ($column:expr) => {
        Field {
            context_only: true,
            ..$column
        }
    };
}

/// A text column the events never fill themselves, derived from another column's stored
/// value.
macro_rules! derived {
    ($name:literal, dim, $from:literal, $derive:expr) => {
        Field {
            derive: Some(($from, $derive as DeriveFn)),
            ..field($name, Type::Text, Kind::Dimension, Extract::Str(|_| None))
        }
    };
}

/// Binds `$v` to the event's body of the given variant; other variants never reach a
/// table's extractors, because rows are routed by [`Table::of`].
macro_rules! body {
    ($row:expr, $variant:ident) => {
        match &$row.event.body {
            EventBody::$variant(v) => v,
            _ => return None,
        }
    };
}

fn common_columns() -> Vec<Field> {
    vec![
        col!("ts", time, |r| Some(r.event.ts)),
        ctx!("session_id", id, |c| s(&c.session_id)),
        col!("view_id", id, |r| r
            .event
            .view_id
            .as_deref()
            .or(Some(r.common.view_id.as_str()))
            .and_then(s)),
        col!("page_url", url, |r| r
            .event
            .page_url
            .as_deref()
            .or(Some(r.common.page_url.as_str()))
            .and_then(s)),
        derived!("page_path", dim, "page_url", path),
        ctx!("browser", dim, |c| s(&c.browser)),
        ctx!("browser_version", dim, |c| s(&c.browser_version)),
        ctx!("os", dim, |c| s(&c.os)),
        ctx!("os_version", dim, |c| s(&c.os_version)),
        ctx!("device_type", dim, |c| s(&c.device_type)),
        ctx!("device_model", dim, |c| s(&c.device_model)),
        ctx!("device_manufacturer", dim, |c| s(&c.device_manufacturer)),
        ctx!("country", dim, |c| s(&c.country)),
        ctx!("region", dim, |c| s(&c.region)),
        ctx!("city", dim, |c| s(&c.city)),
        ctx!("connection_type", dim, |c| s(&c.connection_type)),
        ctx!("effective_type", dim, |c| s(&c.effective_type)),
        ctx!("rtt", ms, |c| c.rtt),
        ctx!("downlink", number, |c| c.downlink),
        ctx!("device_memory", number, |c| c.device_memory),
        ctx!("user_id", message, |c| s(&c.user_id)),
        ctx!("release", dim, |c| s(&c.release)),
        ctx!("environment", dim, |c| s(&c.environment)),
        ctx!("agent", dim, |c| s(&c.agent)),
        ctx!("agent_version", dim, |c| s(&c.agent_version)),
        ctx!("app_version", dim, |c| s(&c.app_version)),
        ctx!("app_name", dim, |c| s(&c.app_name)),
        ctx!("app_build", dim, |c| s(&c.app_build)),
        ctx!("carrier", dim, |c| s(&c.carrier)),
        ctx!("sample_rate", share, |c| c.sample_rate),
        ctx!(
            "attributes",
            json,
            |c| if c.attributes.is_empty() || c.attributes == "{}" {
                None
            } else {
                s(&c.attributes)
            }
        ),
    ]
}

/// `text` before its first `?`.
fn before_query(text: &str) -> &str {
    split_at_byte(text, b'?').map_or(text, |(before, _)| before)
}

/// The path of a URL, without origin, query or fragment (`/` when empty): the `page_path`
/// dimension. Hash routes (`/#/cart`) keep their fragment path, since for those apps it is
/// the page.
pub fn path_of(url: &str) -> Cow<'_, str> {
    let from_path = match scheme_end(url) {
        Some(scheme) => {
            let rest = &url[scheme + 3..];
            memchr::memchr(b'/', rest.as_bytes()).map_or("/", |i| &rest[i..])
        }
        None => url,
    };
    let (before_fragment, fragment) = match split_at_byte(from_path, b'#') {
        Some((b, f)) => (b, Some(f)),
        None => (from_path, None),
    };
    let path = before_query(before_fragment);
    let path = if path.is_empty() { "/" } else { path };
    match fragment {
        Some(f) if f.starts_with('/') => Cow::Owned(format!("{path}#{}", before_query(f))),
        _ => Cow::Borrowed(path),
    }
}

fn own_columns(table: Table) -> Vec<Field> {
    match table {
        Table::Views => vec![
            col!("navigation_type", dim, |r| os(
                &body!(r, View).navigation_type
            )),
            col!("title", message, |r| os(&body!(r, View).title)),
            ctx!("referrer", url, |c| s(&c.referrer)),
            ctx!("screen_width", px, |c| c.screen_width.map(i64::from)),
            ctx!("screen_height", px, |c| c.screen_height.map(i64::from)),
            ctx!("viewport_width", px, |c| c.viewport_width.map(i64::from)),
            ctx!("viewport_height", px, |c| c.viewport_height.map(i64::from)),
            col!("redirect", ms, |r| body!(r, View).timing.redirect),
            col!("dns", ms, |r| body!(r, View).timing.dns),
            col!("tcp", ms, |r| body!(r, View).timing.tcp),
            col!("tls", ms, |r| body!(r, View).timing.tls),
            col!("request", ms, |r| body!(r, View).timing.request),
            col!("ttfb", ms, |r| body!(r, View).timing.ttfb),
            col!("download", ms, |r| body!(r, View).timing.download),
            col!("dom_interactive", ms, |r| body!(r, View)
                .timing
                .dom_interactive),
            col!("dom_content_loaded", ms, |r| body!(r, View)
                .timing
                .dom_content_loaded),
            col!("dom_complete", ms, |r| body!(r, View).timing.dom_complete),
            col!("load", ms, |r| body!(r, View).timing.load),
            col!("fcp", ms, |r| body!(r, View).fcp),
            col!("transfer_size", bytes, |r| body!(r, View).transfer_size),
            col!("tbt", ms, |r| body!(r, View).tbt),
            col!("tti", ms, |r| body!(r, View).tti),
        ],
        Table::Vitals => vec![
            col!("name", dim, |r| s(&body!(r, Vital).name)),
            col!("value", vital, |r| Some(body!(r, Vital).value)),
            col!("rating", dim, |r| os(&body!(r, Vital).rating)),
            col!("element", dim, |r| os(&body!(r, Vital).attribution.element)),
            col!("url", url, |r| os(&body!(r, Vital).attribution.url)),
            col!("lcp_ttfb", ms, |r| body!(r, Vital).attribution.ttfb),
            col!("load_delay", ms, |r| body!(r, Vital).attribution.load_delay),
            col!("load_duration", ms, |r| body!(r, Vital)
                .attribution
                .load_duration),
            col!("render_delay", ms, |r| body!(r, Vital)
                .attribution
                .render_delay),
            col!("event_type", dim, |r| os(&body!(r, Vital)
                .attribution
                .event_type)),
            col!("input_delay", ms, |r| body!(r, Vital)
                .attribution
                .input_delay),
            col!("processing", ms, |r| body!(r, Vital).attribution.processing),
            col!("presentation_delay", ms, |r| body!(r, Vital)
                .attribution
                .presentation_delay),
            col!("script_url", url, |r| os(&body!(r, Vital)
                .attribution
                .script_url)),
            col!("script_duration", ms, |r| body!(r, Vital)
                .attribution
                .script_duration),
            col!("shift_time", ms, |r| body!(r, Vital).attribution.shift_time),
            col!("load_state", dim, |r| os(&body!(r, Vital)
                .attribution
                .load_state)),
        ],
        Table::Resources => vec![
            col!("url", url, |r| s(&body!(r, Resource).url)),
            derived!("domain", dim, "url", host),
            col!("initiator", dim, |r| s(&body!(r, Resource).initiator)),
            col!("start", ms, |r| body!(r, Resource).start),
            col!("duration", ms, |r| Some(body!(r, Resource).duration)),
            col!("dns", ms, |r| body!(r, Resource).dns),
            col!("tcp", ms, |r| body!(r, Resource).tcp),
            col!("tls", ms, |r| body!(r, Resource).tls),
            col!("ttfb", ms, |r| body!(r, Resource).ttfb),
            col!("download", ms, |r| body!(r, Resource).download),
            col!("transfer_size", bytes, |r| body!(r, Resource).transfer_size),
            col!("encoded_size", bytes, |r| body!(r, Resource).encoded_size),
            col!("decoded_size", bytes, |r| body!(r, Resource).decoded_size),
            col!("render_blocking", bool, |r| body!(r, Resource)
                .render_blocking),
            col!("status", status, |r| body!(r, Resource)
                .status
                .map(i64::from)),
        ],
        Table::ResourceErrors => vec![
            col!("url", url, |r| s(&body!(r, ResourceError).url)),
            derived!("domain", dim, "url", host),
            col!("tag", dim, |r| s(&body!(r, ResourceError).tag)),
        ],
        Table::LongTasks => vec![
            col!("kind", dim, |r| s(&body!(r, LongTask).kind)),
            col!("start", ms, |r| body!(r, LongTask).start),
            col!("duration", ms, |r| Some(body!(r, LongTask).duration)),
            col!("blocking_duration", ms, |r| body!(r, LongTask)
                .blocking_duration),
            col!("script_url", url, |r| os(&body!(r, LongTask).script_url)),
            col!("invoker", dim, |r| os(&body!(r, LongTask).invoker)),
            col!("script_duration", ms, |r| body!(r, LongTask)
                .script_duration),
        ],
        Table::Errors => vec![
            col!("error_type", dim, |r| s(&body!(r, Error).error_type)),
            col!("message", message, |r| s(&body!(r, Error).message)),
            col!("stack", message, |r| os(&body!(r, Error).stack)),
            // The collector's processed frames (original locations, in-app marks) when
            // it analysed the error, else the frames as received.
            col!("frames", json, |r| match r.error {
                Some(a) => s(&a.frames),
                None => frames_json(&body!(r, Error).frames),
            }),
            col!("handled", bool, |r| Some(body!(r, Error).handled)),
            col!("source", dim, |r| os(&body!(r, Error).source)),
            col!("breadcrumbs", json, |r| breadcrumbs_json(
                &body!(r, Error).breadcrumbs
            )),
            col!("fingerprint", dim, |r| r
                .error
                .and_then(|a| s(&a.fingerprint))),
            col!("grouping", json, |r| r.error.and_then(|a| s(&a.grouping))),
            col!("culprit", message, |r| r.error.and_then(|a| s(&a.culprit))),
            col!("symbolication", dim, |r| r
                .error
                .and_then(|a| s(&a.symbolication))),
            col!("causes", json, |r| r.error.and_then(|a| s(&a.causes))),
        ],
        Table::Requests => vec![
            col!("api", dim, |r| os(&body!(r, Request).api)),
            col!("method", dim, |r| s(&body!(r, Request).method)),
            col!("url", url, |r| s(&body!(r, Request).url)),
            col!("url_template", url, |r| os(&body!(r, Request).url_template), derive "url", template),
            col!("status", status, |r| body!(r, Request)
                .status
                .map(i64::from)),
            col!("duration", ms, |r| Some(body!(r, Request).duration)),
            col!("dns", ms, |r| body!(r, Request).dns),
            col!("tcp", ms, |r| body!(r, Request).tcp),
            col!("tls", ms, |r| body!(r, Request).tls),
            col!("ttfb", ms, |r| body!(r, Request).ttfb),
            col!("download", ms, |r| body!(r, Request).download),
            col!("request_size", bytes, |r| body!(r, Request).request_size),
            col!("response_size", bytes, |r| body!(r, Request).response_size),
            col!("trace_id", id, |r| os(&body!(r, Request).trace_id)),
            col!("span_id", id, |r| os(&body!(r, Request).span_id)),
            col!("trace_sampled", bool, |r| body!(r, Request).trace_sampled),
            col!("failure", dim, |r| os(&body!(r, Request).failure)),
        ],
        Table::Actions => vec![
            col!("action", dim, |r| s(&body!(r, Action).action)),
            col!("selector", dim, |r| os(&body!(r, Action).selector)),
            col!("count", count, |r| body!(r, Action).count.map(i64::from)),
            col!("depth", number, |r| body!(r, Action).depth),
            col!("form", dim, |r| os(&body!(r, Action).form)),
            col!("fields", json, |r| {
                let f = &body!(r, Action).fields;
                if f.is_empty() { None } else { json(f) }
            }),
            col!("last_field", dim, |r| os(&body!(r, Action).last_field)),
        ],
        Table::Routes => vec![
            col!("from_url", url, |r| s(&body!(r, Route).from)),
            col!("to_url", url, |r| s(&body!(r, Route).to)),
            col!("new_view_id", id, |r| os(&body!(r, Route).new_view_id)),
            col!("trigger", dim, |r| os(&body!(r, Route).trigger)),
            col!("duration", ms, |r| body!(r, Route).duration),
        ],
        Table::CustomEvents => vec![
            col!("name", dim, |r| s(&body!(r, Custom).name)),
            col!("properties", json, |r| {
                let p = &body!(r, Custom).properties;
                if p.is_empty() { None } else { flat_json(p) }
            }),
            col!("value", number, |r| body!(r, Custom).value),
        ],
        Table::AppStarts => vec![
            col!("start_type", dim, |r| s(&body!(r, AppStart).start_type)),
            col!("duration", ms, |r| Some(body!(r, AppStart).duration)),
        ],
        Table::ScreenLoads => vec![
            col!("screen", dim, |r| s(&body!(r, ScreenLoad).screen)),
            col!("duration", ms, |r| Some(body!(r, ScreenLoad).duration)),
        ],
        Table::Crashes => vec![
            col!("error_type", dim, |r| s(&body!(r, Crash).error_type)),
            col!("message", message, |r| s(&body!(r, Crash).message)),
            col!("stack", message, |r| os(&body!(r, Crash).stack)),
            // The collector's frames (parsed from the stack, in-app marked) when it
            // analysed the crash, else the frames as received.
            col!("frames", json, |r| match r.error {
                Some(a) => s(&a.frames),
                None => frames_json(&body!(r, Crash).frames),
            }),
            col!("fingerprint", dim, |r| r
                .error
                .and_then(|a| s(&a.fingerprint))),
            col!("grouping", json, |r| r.error.and_then(|a| s(&a.grouping))),
            col!("culprit", message, |r| r.error.and_then(|a| s(&a.culprit))),
        ],
        Table::Anrs => vec![
            col!("duration", ms, |r| Some(body!(r, Anr).duration)),
            col!("stack", message, |r| os(&body!(r, Anr).stack)),
        ],
        Table::Janks => vec![
            col!("frame_count", count, |r| Some(i64::from(
                body!(r, Jank).frame_count
            ))),
            col!("period", ms, |r| body!(r, Jank).period),
            col!("threshold", ms, |r| body!(r, Jank).threshold),
        ],
        Table::Spans => span_columns(),
        Table::Logs => log_columns(),
    }
}

/// A traced request from a browser: its client span, the root of the backend's trace.
fn traced_request<'a>(r: &EventRow<'a>) -> Option<&'a Request> {
    match &r.event.body {
        EventBody::Request(q) if q.trace_id.is_some() && q.span_id.is_some() => Some(q),
        _ => None,
    }
}

/// A JSON document of attributes with every string scrubbed: as a URL under a key that
/// names one (`url.full`, `http.url`, `http.target`), else as free text.
fn attributes_json(values: &Map<String, Value>) -> Option<Cow<'static, str>> {
    fn scrub(key: &str, v: &Value) -> Value {
        match v {
            Value::String(s) if key.contains("url") || key == "http.target" => {
                Value::String(scrub_url(s))
            }
            Value::String(s) => Value::String(scrub_message(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| scrub(key, i)).collect()),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), scrub(k, v))).collect())
            }
            other => other.clone(),
        }
    }
    if values.is_empty() {
        return None;
    }
    json(
        &values
            .iter()
            .map(|(k, v)| (k.clone(), scrub(k, v)))
            .collect::<Map<String, Value>>(),
    )
}

/// The URL a span requested or served: `url.full` (`http.url` before the stable HTTP
/// conventions), else put together from a server's scheme, host and target or path.
fn span_url(attrs: &Map<String, Value>) -> Option<Cow<'_, str>> {
    if let Some(full) = one_attribute(attrs, &["url.full", "http.url"]) {
        return Some(Cow::Borrowed(full));
    }
    let target = one_attribute(attrs, &["http.target", "url.path"])?;
    let query = one_attribute(attrs, &["url.query"])
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let host = one_attribute(attrs, &["http.host", "server.address", "net.host.name"]);
    let scheme = one_attribute(attrs, &["http.scheme", "url.scheme"]).unwrap_or("http");
    Some(Cow::Owned(match host {
        Some(host) => format!("{scheme}://{host}{target}{query}"),
        None => format!("{target}{query}"),
    }))
}

const SESSION_KEYS: &[&str] = &["session.id", "vigil.session_id"];
const VIEW_KEYS: &[&str] = &["view.id", "vigil.view_id"];
const USER_KEYS: &[&str] = &["enduser.id", "user.id"];
const ENVIRONMENT_KEYS: &[&str] = &["deployment.environment.name", "deployment.environment"];
const STATUS_KEYS: &[&str] = &["http.response.status_code", "http.status_code"];

/// The `spans` table: backends' spans received over OTLP, and the client span of each
/// traced browser request (the span id the agent put in `traceparent`), so a backend
/// trace always has its browser root.
fn span_columns() -> Vec<Field> {
    vec![
        column!("ts", time, |r| match r {
            Row::Span(sp) => Some(sp.start_ms.floor() as i64),
            Row::Event(e) => Some(e.event.ts),
            Row::Log(_) => None,
        }),
        column!("start", us, |r| match r {
            Row::Span(sp) => Some(sp.start_ms),
            Row::Event(e) => Some(e.event.ts as f64),
            Row::Log(_) => None,
        }),
        column!("duration", us, |r| match r {
            Row::Span(sp) => Some(sp.duration_ms),
            Row::Event(e) => traced_request(e).map(|q| q.duration),
            Row::Log(_) => None,
        }),
        column!("trace_id", id, |r| match r {
            Row::Span(sp) => Some(Cow::Borrowed(sp.trace_id.as_str())),
            Row::Event(e) => traced_request(e).and_then(|q| os(&q.trace_id)),
            Row::Log(_) => None,
        }),
        column!("span_id", id, |r| match r {
            Row::Span(sp) => Some(Cow::Borrowed(sp.span_id.as_str())),
            Row::Event(e) => traced_request(e).and_then(|q| os(&q.span_id)),
            Row::Log(_) => None,
        }),
        column!("parent_span_id", id, |r| match r {
            Row::Span(sp) => os(&sp.parent_span_id),
            _ => None,
        }),
        by_context!(column!("service", dim, |r| match r {
            Row::Span(sp) => s(&sp.service),
            // The page's own service: its app name when the SDK sent one.
            Row::Event(e) => s(&e.common.app_name).or(Some(Cow::Borrowed("browser"))),
            Row::Log(_) => None,
        })),
        column!("name", message, |r| match r {
            Row::Span(sp) => s(&sp.name),
            Row::Event(e) => traced_request(e).map(|q| {
                let target = q
                    .url_template
                    .as_deref()
                    .map_or_else(|| template_url(&q.url), str::to_owned);
                // Joined by hand: `format!` took about 950 instructions a traced request.
                let path = path_of(&target);
                let mut name = String::with_capacity(q.method.len() + 1 + path.len());
                name.push_str(&q.method);
                name.push(' ');
                name.push_str(&path);
                Cow::Owned(name)
            }),
            Row::Log(_) => None,
        }),
        by_context!(column!("kind", dim, |r| match r {
            Row::Span(sp) => Some(Cow::Borrowed(sp.kind)),
            Row::Event(_) => Some(Cow::Borrowed("client")),
            Row::Log(_) => None,
        })),
        column!("status", dim, |r| match r {
            Row::Span(sp) => Some(Cow::Borrowed(sp.status)),
            // OpenTelemetry's HTTP conventions: a client span fails on no answer or 4xx/5xx.
            Row::Event(e) => traced_request(e).map(|q| {
                Cow::Borrowed(
                    if q.failure.is_some() || q.status.is_some_and(|c| c >= 400) {
                        "error"
                    } else {
                        "unset"
                    },
                )
            }),
            Row::Log(_) => None,
        }),
        column!("status_message", message, |r| match r {
            Row::Span(sp) => s(&sp.status_message),
            Row::Event(e) => traced_request(e).and_then(|q| os(&q.failure)),
            Row::Log(_) => None,
        }),
        column!("http_status", status, |r| match r {
            Row::Span(sp) => int_attribute(&sp.attributes, STATUS_KEYS),
            Row::Event(e) => traced_request(e)
                .and_then(|q| q.status)
                .filter(|c| *c > 0)
                .map(i64::from),
            Row::Log(_) => None,
        }),
        column!("url", url, |r| match r {
            Row::Span(sp) => span_url(&sp.attributes),
            Row::Event(e) => traced_request(e).map(|q| Cow::Borrowed(q.url.as_str())),
            Row::Log(_) => None,
        }),
        column!("scope", dim, |r| match r {
            Row::Span(sp) => s(&sp.scope),
            _ => None,
        }),
        by_context!(column!("session_id", id, |r| match r {
            Row::Span(sp) =>
                attribute(&sp.attributes, &sp.resource, SESSION_KEYS).map(Cow::Borrowed),
            Row::Event(e) => s(&e.common.session_id),
            Row::Log(_) => None,
        })),
        column!("view_id", id, |r| match r {
            Row::Span(sp) => attribute(&sp.attributes, &sp.resource, VIEW_KEYS).map(Cow::Borrowed),
            Row::Event(e) => e
                .event
                .view_id
                .as_deref()
                .or(Some(e.common.view_id.as_str()))
                .and_then(s),
            Row::Log(_) => None,
        }),
        by_context!(column!("user_id", message, |r| match r {
            Row::Span(sp) => attribute(&sp.attributes, &sp.resource, USER_KEYS).map(Cow::Borrowed),
            Row::Event(e) => s(&e.common.user_id),
            Row::Log(_) => None,
        })),
        by_context!(column!("environment", dim, |r| match r {
            Row::Span(sp) => one_attribute(&sp.resource, ENVIRONMENT_KEYS).map(Cow::Borrowed),
            Row::Event(e) => s(&e.common.environment),
            Row::Log(_) => None,
        })),
        by_context!(column!("release", dim, |r| match r {
            Row::Span(sp) => one_attribute(&sp.resource, &["service.version"]).map(Cow::Borrowed),
            Row::Event(e) => s(&e.common.release),
            Row::Log(_) => None,
        })),
        // Which SDK sent it (`python`, `nodejs`, `swift`, `webjs`): mobile SDKs' spans
        // are kept for the mobile views.
        by_context!(column!("sdk_language", dim, |r| match r {
            Row::Span(sp) =>
                one_attribute(&sp.resource, &["telemetry.sdk.language"]).map(Cow::Borrowed),
            Row::Event(_) => Some(Cow::Borrowed("webjs")),
            Row::Log(_) => None,
        })),
        by_context!(column!("sample_rate", share, |r| match r {
            Row::Event(e) => e.common.sample_rate,
            _ => None,
        })),
        column!("attributes", json, |r| match r {
            Row::Span(sp) => attributes_json(&sp.attributes),
            // Scrubbed as `attributes_json` scrubs them (the page URL as a URL, the rest as
            // text), as the values go in rather than in a second copy of the map.
            Row::Event(e) => traced_request(e).and_then(|q| {
                let page_url = match e.event.page_url.as_deref() {
                    Some(own) => scrubbed_url(own),
                    None => Cow::Borrowed(e.context_page_url.get()),
                };
                ClientSpanAttributes {
                    method: scrubbed_message(&q.method),
                    page_url,
                    api: q.api.as_deref().map(scrubbed_message),
                    trace_sampled: q.trace_sampled,
                }
                .json()
                .map(Cow::Owned)
            }),
            Row::Log(_) => None,
        }),
        by_context!(column!("resource", json, |r| match r {
            Row::Span(sp) => attributes_json(&sp.resource),
            Row::Event(e) => browser_resource_json(e.common),
            Row::Log(_) => None,
        })),
        column!("events", json, |r| match r {
            Row::Span(sp) if !sp.events.is_empty() => {
                let scrubbed: Vec<Value> = sp
                    .events
                    .iter()
                    .map(|e| match e {
                        Value::Object(m) => attributes_json(m)
                            .and_then(|j| serde_json::from_str(&j).ok())
                            .unwrap_or(Value::Null),
                        other => other.clone(),
                    })
                    .collect();
                json(&scrubbed)
            }
            _ => None,
        }),
    ]
}

/// The attributes of a browser request's client span: the map `attributes_json` would
/// write, keys in its order, the page URL scrubbed as a URL and the rest as text, without
/// a map of owned keys and values for every traced request.
struct ClientSpanAttributes<'a> {
    method: Cow<'a, str>,
    page_url: Cow<'a, str>,
    api: Option<Cow<'a, str>>,
    trace_sampled: Option<bool>,
}

impl ClientSpanAttributes<'_> {
    /// The JSON object, written directly (see [`JsonObject`]).
    fn json(&self) -> Option<String> {
        let api = self.api.as_deref();
        let mut out = JsonObject::with_capacity(
            80 + self.method.len() + self.page_url.len() + api.map_or(0, str::len),
        );
        out.string("http.request.method", &self.method)?;
        out.string("page.url", &self.page_url)?;
        if let Some(api) = api {
            out.string("vigil.api", api)?;
        }
        if let Some(sampled) = self.trace_sampled {
            out.boolean("vigil.trace_sampled", sampled);
        }
        out.finish()
    }
}

/// A JSON object written field by field, for keys that need no escaping, given in the order
/// a map of them writes them (sorted): the same text as serde_json's for that map, where
/// only the values go through its string escaping. A derived `Serialize` or a map escaped
/// the keys too and allocated each entry: a traced request's attributes took about 1,400
/// instructions (`make bench-instructions`).
struct JsonObject(Vec<u8>);

impl JsonObject {
    fn with_capacity(bytes: usize) -> JsonObject {
        let mut out = Vec::with_capacity(bytes);
        out.push(b'{');
        JsonObject(out)
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    fn string(&mut self, key: &str, value: &str) -> Option<()> {
        self.key(key);
        serde_json::to_writer(&mut self.0, value).ok()
    }

    fn boolean(&mut self, key: &str, value: bool) {
        self.key(key);
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.0.extend_from_slice(text);
    }

    fn is_empty(&self) -> bool {
        self.0.len() == 1
    }

    fn finish(mut self) -> Option<String> {
        self.0.push(b'}');
        String::from_utf8(self.0).ok()
    }
}

/// The resource of a browser event's client span: the browser, OS, device and country the
/// batch's context names, those that are set, scrubbed as text (see [`JsonObject`]).
fn browser_resource_json(common: &crate::record::Common) -> Option<Cow<'static, str>> {
    // In the order of their keys.
    let fields = [
        ("browser.name", &common.browser),
        ("browser.version", &common.browser_version),
        ("device.type", &common.device_type),
        ("geo.country", &common.country),
        ("os.name", &common.os),
    ];
    let mut out = JsonObject::with_capacity(160);
    for (key, value) in fields {
        if !value.is_empty() {
            out.string(key, &scrubbed_message(value))?;
        }
    }
    if out.is_empty() {
        return None;
    }
    out.finish().map(Cow::Owned)
}

/// The `logs` table: backends' log records received over OTLP.
fn log_columns() -> Vec<Field> {
    vec![
        column!("ts", time, |r| match r {
            Row::Log(l) => Some(l.time_ms.floor() as i64),
            _ => None,
        }),
        column!("time", us, |r| match r {
            Row::Log(l) => Some(l.time_ms),
            _ => None,
        }),
        column!("severity", dim, |r| match r {
            Row::Log(l) =>
                s(&l.severity_text).or_else(|| severity_name(l.severity_number).map(Cow::Borrowed)),
            _ => None,
        }),
        column!("severity_number", count, |r| match r {
            Row::Log(l) if l.severity_number > 0 => Some(i64::from(l.severity_number)),
            _ => None,
        }),
        column!("body", message, |r| match r {
            Row::Log(l) => s(&l.body),
            _ => None,
        }),
        column!("trace_id", id, |r| match r {
            Row::Log(l) => os(&l.trace_id),
            _ => None,
        }),
        column!("span_id", id, |r| match r {
            Row::Log(l) => os(&l.span_id),
            _ => None,
        }),
        column!("service", dim, |r| match r {
            Row::Log(l) => s(&l.service),
            _ => None,
        }),
        column!("scope", dim, |r| match r {
            Row::Log(l) => s(&l.scope),
            _ => None,
        }),
        column!("event_name", dim, |r| match r {
            Row::Log(l) => s(&l.event_name),
            _ => None,
        }),
        column!("session_id", id, |r| match r {
            Row::Log(l) => attribute(&l.attributes, &l.resource, SESSION_KEYS).map(Cow::Borrowed),
            _ => None,
        }),
        column!("user_id", message, |r| match r {
            Row::Log(l) => attribute(&l.attributes, &l.resource, USER_KEYS).map(Cow::Borrowed),
            _ => None,
        }),
        column!("environment", dim, |r| match r {
            Row::Log(l) => one_attribute(&l.resource, ENVIRONMENT_KEYS).map(Cow::Borrowed),
            _ => None,
        }),
        column!("release", dim, |r| match r {
            Row::Log(l) => one_attribute(&l.resource, &["service.version"]).map(Cow::Borrowed),
            _ => None,
        }),
        column!("sdk_language", dim, |r| match r {
            Row::Log(l) =>
                one_attribute(&l.resource, &["telemetry.sdk.language"]).map(Cow::Borrowed),
            _ => None,
        }),
        // Backends do not sample sessions; kept so every table answers estimated counts.
        column!("sample_rate", share, |_| None),
        column!("attributes", json, |r| match r {
            Row::Log(l) => attributes_json(&l.attributes),
            _ => None,
        }),
        column!("resource", json, |r| match r {
            Row::Log(l) => attributes_json(&l.resource),
            _ => None,
        }),
    ]
}

/// The columns every event table starts with: the event's time, ids and page, and the
/// batch's context.
pub(crate) static COMMON_COLUMNS: LazyLock<Vec<Field>> = LazyLock::new(common_columns);

pub(crate) static COLUMNS: LazyLock<Vec<Vec<Field>>> = LazyLock::new(|| {
    Table::ALL
        .iter()
        .map(|&t| {
            // Spans and logs come from backends: none of a browser batch's context.
            let mut cols = if t.is_event() {
                COMMON_COLUMNS.clone()
            } else {
                Vec::new()
            };
            cols.extend(own_columns(t));
            cols
        })
        .collect()
});

pub(crate) static SCHEMAS: LazyLock<Vec<SchemaRef>> = LazyLock::new(|| {
    Table::ALL
        .iter()
        .map(|&t| {
            let fields: Vec<ArrowField> = t
                .columns()
                .iter()
                .map(|c| ArrowField::new(c.name, c.data_type(), c.is_nullable()))
                .collect();
            Arc::new(Schema::new(fields))
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Common;

    #[test]
    fn paths_and_hosts_by_byte_searches_agree_with_str_patterns() {
        // The `str`-pattern forms they replaced, as they were.
        fn path_by_patterns(url: &str) -> Cow<'_, str> {
            let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
            let from_path = if url.contains("://") {
                after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
            } else {
                after_scheme
            };
            let (before_fragment, fragment) = match from_path.split_once('#') {
                Some((b, f)) => (b, Some(f)),
                None => (from_path, None),
            };
            let path = before_fragment.split('?').next().unwrap_or("/");
            let path = if path.is_empty() { "/" } else { path };
            match fragment {
                Some(f) if f.starts_with('/') => {
                    Cow::Owned(format!("{path}#{}", f.split('?').next().unwrap_or(f)))
                }
                _ => Cow::Borrowed(path),
            }
        }
        fn host_by_patterns(url: &str) -> Option<String> {
            let rest = url.split_once("://")?.1;
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            Some(rest[..end].to_owned())
        }
        let urls = crate::scrub::sample_urls(20_000);
        for url in &urls {
            assert_eq!(path_of(url), path_by_patterns(url), "{url}");
            assert_eq!(host_of(url), host_by_patterns(url), "{url}");
        }
        let hash_routes = urls.iter().filter(|u| path_of(u).contains('#')).count();
        let hosts = urls.iter().filter(|u| host_of(u).is_some()).count();
        assert!(
            hash_routes > 1_000 && hosts > 1_000,
            "{hash_routes} {hosts}"
        );
    }

    #[test]
    fn a_client_span_has_the_attributes_of_a_map_of_them() {
        let url = "https://shop.example/cart?token=abc&q=1";
        for (method, api, sampled) in [
            ("GET", None, None),
            ("POST", Some("checkout for bob@example.com"), Some(true)),
            ("GET", Some("cart"), Some(false)),
            // Every kind of character JSON escapes, and some it does not.
            ("P\"U\\T", Some("tab\there\nnew \u{1} é 日本 \u{7f}"), None),
        ] {
            let mut map = Map::new();
            map.insert(
                "http.request.method".into(),
                Value::String(scrub_message(method)),
            );
            if let Some(api) = api {
                map.insert("vigil.api".into(), Value::String(scrub_message(api)));
            }
            if let Some(sampled) = sampled {
                map.insert("vigil.trace_sampled".into(), Value::Bool(sampled));
            }
            map.insert("page.url".into(), Value::String(scrub_url(url)));
            let typed = ClientSpanAttributes {
                method: scrubbed_message(method),
                page_url: scrubbed_url(url),
                api: api.map(scrubbed_message),
                trace_sampled: sampled,
            };
            assert_eq!(typed.json().map(Cow::Owned), json(&map));
        }
    }

    #[test]
    fn a_browser_resource_is_the_map_of_its_set_fields() {
        let map_json = |c: &crate::record::Common| {
            let mut m = Map::new();
            for (k, v) in [
                ("browser.name", &c.browser),
                ("browser.version", &c.browser_version),
                ("os.name", &c.os),
                ("device.type", &c.device_type),
                ("geo.country", &c.country),
            ] {
                if !v.is_empty() {
                    m.insert(k.into(), Value::String(scrub_message(v)));
                }
            }
            (!m.is_empty()).then(|| json(&m)).flatten()
        };
        let full = crate::record::Common {
            browser: "Chrome".into(),
            browser_version: "131.0".into(),
            os: "Windows \"11\"\\".into(),
            device_type: "desktop".into(),
            country: "DE".into(),
            ..Default::default()
        };
        let some = crate::record::Common {
            os: "iOS\ttab bob@example.com".into(),
            country: "日本".into(),
            ..Default::default()
        };
        for common in [full, some, crate::record::Common::default()] {
            assert_eq!(browser_resource_json(&common), map_json(&common));
        }
        assert_eq!(
            browser_resource_json(&crate::record::Common::default()),
            None
        );
    }

    #[test]
    fn page_paths() {
        assert_eq!(path_of("https://example.com/a/b?x=1#top"), "/a/b");
        assert_eq!(path_of("https://example.com"), "/");
        assert_eq!(path_of("https://example.com/#/cart?x=1"), "/#/cart");
    }

    #[test]
    fn column_names_are_unique_per_table() {
        for t in Table::ALL {
            let mut names: Vec<_> = t.columns().iter().map(|c| c.name).collect();
            names.sort();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{}", t.name());
        }
    }

    #[test]
    fn derived_columns_come_after_the_text_column_they_derive_from() {
        for t in Table::ALL {
            let cols = t.columns();
            for (i, c) in cols.iter().enumerate() {
                if let Some((from, _)) = c.derive {
                    let at = cols.iter().position(|f| f.name == from);
                    assert!(
                        at.is_some_and(|at| at < i && cols[at].ty == Type::Text),
                        "{}.{} derives from {from}",
                        t.name(),
                        c.name
                    );
                }
            }
        }
    }

    #[test]
    fn common_columns_derive_only_from_common_columns_and_only_they_from_them() {
        // Rows write a batch's constant common columns once, apart from the tables' own
        // columns (`rows::build::encode_shared`): neither side may need the other's values.
        let common = &COMMON_COLUMNS[..];
        for t in Table::ALL.iter().filter(|t| t.is_event()) {
            let cols = t.columns();
            assert_eq!(
                cols[..common.len()]
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>(),
                common.iter().map(|c| c.name).collect::<Vec<_>>()
            );
            for (i, c) in cols.iter().enumerate() {
                let Some((from, _)) = c.derive else { continue };
                let is_common = |name: &str| common.iter().any(|f| f.name == name);
                assert_eq!(
                    i < common.len(),
                    is_common(from),
                    "{}.{} derives from {from}",
                    t.name(),
                    c.name
                );
            }
        }
    }

    #[test]
    fn a_column_of_the_context_gives_every_event_of_a_batch_one_value() {
        // A context with every field set, and every event type with and without overrides.
        let Value::Object(mut fields) = serde_json::to_value(Common::default()).unwrap() else {
            panic!("a context is an object")
        };
        for name in ["rtt", "downlink", "sample_rate"] {
            fields.insert(name.into(), Value::Null);
        }
        for (name, value) in &mut fields {
            *value = match value {
                Value::String(_) => Value::String(format!("{name}-value")),
                _ => Value::from(2),
            };
        }
        let common: Common = serde_json::from_value(Value::Object(fields)).unwrap();
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let body = std::fs::read(format!("{dir}/../../docs/fixtures/valid/full.json")).unwrap();
        let batch =
            vigil_protocol::parse_batch(&body, &vigil_protocol::ParseLimits::default()).unwrap();
        let mut events = batch.events.clone();
        for (i, e) in batch.events.iter().enumerate() {
            let mut e = e.clone();
            e.ts += i as i64;
            e.view_id = Some(format!("view-{i}").into());
            e.page_url = Some(format!("https://other.example/{i}?q={i}").into());
            events.push(e);
        }
        let page_url = crate::field::ScrubbedOnce::new(&common.page_url);
        let rows: Vec<Row<'_>> = events
            .iter()
            .map(|event| {
                Row::Event(EventRow {
                    common: &common,
                    event,
                    error: None,
                    context_page_url: &page_url,
                })
            })
            .collect();
        let mut checked = 0;
        for t in Table::ALL {
            for c in t.columns().iter().filter(|c| c.context_only) {
                let values: Vec<String> = rows
                    .iter()
                    .map(|r| match c.extract {
                        Extract::Str(f) => format!("{:?}", f(r)),
                        Extract::F64(f) => format!("{:?}", f(r)),
                        Extract::I64(f) => format!("{:?}", f(r)),
                        Extract::Bool(f) => format!("{:?}", f(r)),
                    })
                    .collect();
                assert_ne!(values[0], "None", "{}.{} has a value", t.name(), c.name);
                assert!(
                    values.iter().all(|v| *v == values[0]),
                    "{}.{}: {values:?}",
                    t.name(),
                    c.name
                );
                checked += 1;
            }
        }
        assert!(checked > 40, "{checked} columns of the context");
    }

    #[test]
    fn every_table_starts_with_the_time_column() {
        for t in Table::ALL {
            assert_eq!(t.columns()[0].kind, Kind::Time, "{}", t.name());
        }
    }
}
