//! Mobile RUM from OpenTelemetry's mobile SDKs (opentelemetry-android, opentelemetry-swift):
//! their spans and log events mapped onto protocol v1's mobile events and context, so an app
//! sending OTLP gets the same tables, sessions and views as one sending Vigil's JSON. The
//! spans and log records themselves are stored as well (traces and logs); these events are
//! what is added. docs/protocol.md has the table of which attribute fills which column.
//!
//! - `AppStart` spans (`start.type` cold / warm / hot) → `app_start`;
//! - an activity's or fragment's `Created` / `Restarted` span, or a `ScreenLoad` span, with
//!   the screen's name → `screen_load`;
//! - HTTP client spans → `request`, with the trace id that joins them to backend traces;
//! - `app.crash` / `device.crash` and MetricKit's `metrickit.diagnostic.crash` events → `crash`;
//! - `device.anr` and MetricKit's `metrickit.diagnostic.hang` events → `anr`;
//! - `app.jank` events, and older Android agents' `slowRenders` / `frozenRenders` spans →
//!   `jank`.
//!
//! A record is mobile when its resource says so (`os.name` Android or iOS / iPadOS, an
//! `android.os.api_level`, or the Swift SDK), and it becomes an event only with a
//! `session.id`, which both SDKs add to every span and log record.

use crate::{LogRecord, SpanRecord};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use vigil_model::attribute;
use vigil_protocol::{
    Agent, Anr, App, AppStart, Batch, Connection, Context, Crash, Device, Event, EventBody, Jank,
    MAX_NUMBER, Os, PROTOCOL_VERSION, Request, Scalar, ScreenLoad, Text,
};

/// Most events in one mapped batch, as in a batch an SDK sends.
const MAX_BATCH_EVENTS: usize = 500;

/// How long the Android SDK's main thread was blocked when it reports an ANR: it sends no
/// duration, and reports after five one-second checks fail.
pub const ANDROID_ANR_MS: f64 = 5_000.0;

/// Screen-name attributes, newest convention first.
const SCREEN_KEYS: &[&str] = &["app.screen.name", "screen.name"];

/// Whether a resource is a mobile app's.
pub fn is_mobile(resource: &Map<String, Value>) -> bool {
    let text = |k: &str| resource.get(k).and_then(Value::as_str).unwrap_or_default();
    matches!(
        text("os.name").to_ascii_lowercase().as_str(),
        "android" | "ios" | "ipados"
    ) || resource.contains_key("android.os.api_level")
        || text("telemetry.sdk.language") == "swift"
}

/// A number attribute of the record (the SDKs send numbers, some collectors strings),
/// within what the event tables keep exactly.
fn number(attributes: &Map<String, Value>, keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| match attributes.get(*k)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|n| n.is_finite() && n.abs() <= MAX_NUMBER)
}

/// The radio generation of a connection subtype (`LTE` → `4g`), as the web's effective
/// connection types name them; `None` for what is not a cellular radio.
fn generation(subtype: &str) -> Option<&'static str> {
    let s = subtype.to_ascii_uppercase();
    Some(match s.as_str() {
        "NR" | "NRNSA" => "5g",
        "LTE" | "LTE_CA" | "IWLAN" => "4g",
        "HSPA" | "HSPAP" | "HSDPA" | "HSUPA" | "UMTS" | "WCDMA" | "EVDO_0" | "EVDO_A"
        | "EVDO_B" | "EHRPD" | "HRPD" | "TD_SCDMA" => "3g",
        "EDGE" | "GPRS" | "CDMA" | "1XRTT" | "IDEN" | "GSM" => "2g",
        _ => return None,
    })
}

/// The batch context of a record: what its resource and attributes say about the app,
/// device, network and session. `None` without a session id.
fn context(attributes: &Map<String, Value>, resource: &Map<String, Value>) -> Option<Context> {
    let get = |keys: &[&str]| attribute(attributes, resource, keys).map(Text::from);
    let session_id = get(&["session.id"])?;
    let os_name = get(&["os.name"]).unwrap_or_default();
    let apple = matches!(os_name.to_ascii_lowercase().as_str(), "ios" | "ipados")
        || get(&["telemetry.sdk.language"]).as_deref() == Some("swift");
    let model = get(&["device.model.name", "device.model.identifier"]);
    let subtype = get(&["network.connection.subtype"]);
    let mut extra = BTreeMap::new();
    for key in [
        "network.connection.subtype",
        "network.carrier.icc",
        "network.carrier.mcc",
        "network.carrier.mnc",
    ] {
        if let Some(v) = get(&[key]) {
            extra.insert(key.to_owned(), Scalar::String(v.to_string()));
        }
    }
    let version = get(&["service.version"]).unwrap_or_default();
    Some(Context {
        session_id,
        agent: Agent {
            name: if apple {
                "opentelemetry-swift"
            } else {
                "opentelemetry-android"
            }
            .into(),
            version: get(&["rum.sdk.version", "telemetry.sdk.version"]).unwrap_or_default(),
        },
        connection: Some(Connection {
            kind: get(&["network.connection.type"]).map(|t| match t.as_str() {
                "cell" => "cellular".into(),
                "wired" => "ethernet".into(),
                _ => t,
            }),
            effective_type: subtype.as_deref().and_then(generation).map(Text::from),
            rtt: None,
            downlink: None,
        })
        .filter(|c| c.kind.is_some() || c.effective_type.is_some()),
        user_id: get(&["enduser.id", "user.id"]),
        release: (!version.is_empty()).then(|| version.clone()),
        environment: get(&["deployment.environment.name", "deployment.environment"]),
        attributes: extra,
        app: get(&["service.name"]).map(|name| App {
            name,
            version,
            build: get(&["app.build_id", "service.build"]),
        }),
        os: (!os_name.is_empty()).then(|| Os {
            name: match os_name.to_ascii_lowercase().as_str() {
                "android" => "Android".into(),
                "ios" => "iOS".into(),
                "ipados" => "iPadOS".into(),
                _ => os_name.clone(),
            },
            version: get(&["os.version"]).unwrap_or_default(),
        }),
        device: model.map(|model| Device {
            kind: Some(if model.starts_with("iPad") {
                "tablet".into()
            } else {
                "mobile".into()
            }),
            manufacturer: get(&["device.manufacturer"]).or_else(|| apple.then(|| "Apple".into())),
            model,
        }),
        carrier: get(&["network.carrier.name"]),
        ..Context::default()
    })
}

fn screen(attributes: &Map<String, Value>) -> Option<Text> {
    SCREEN_KEYS
        .iter()
        .chain(&["activity.name", "fragment.name"])
        .find_map(|k| attributes.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty() && *s != "unknown_screen")
        .map(Text::from)
}

/// The event a mobile span is, if any.
fn span_event(s: &SpanRecord) -> Option<EventBody> {
    let a = &s.attributes;
    let name = s.name.as_str();
    if name.eq_ignore_ascii_case("AppStart") || name == "app.start" {
        let start_type = a
            .get("start.type")
            .and_then(Value::as_str)
            .unwrap_or("cold")
            .to_ascii_lowercase();
        return Some(EventBody::AppStart(AppStart {
            start_type: start_type.into(),
            duration: s.duration_ms,
        }));
    }
    // Older Android agents report slow and frozen frames as spans with a `count`.
    let jank_threshold = match name {
        "slowRenders" => Some(16.0),
        "frozenRenders" => Some(700.0),
        _ => None,
    };
    if let Some(threshold) = jank_threshold {
        let count = number(a, &["count"])?;
        return Some(EventBody::Jank(Jank {
            frame_count: u32::try_from(count as i64).ok()?,
            period: None,
            threshold: Some(threshold),
        }));
    }
    let lifecycle = matches!(name, "Created" | "Restarted")
        && (a.contains_key("activity.name") || a.contains_key("fragment.name"));
    let declared = matches!(
        name,
        "ScreenLoad" | "screen.load" | "screen_load" | "screen_view"
    );
    if lifecycle || declared {
        return Some(EventBody::ScreenLoad(ScreenLoad {
            screen: screen(a)?,
            duration: s.duration_ms,
        }));
    }
    let method = a
        .get("http.request.method")
        .or_else(|| a.get("http.method"))
        .and_then(Value::as_str);
    let url = a
        .get("url.full")
        .or_else(|| a.get("http.url"))
        .and_then(Value::as_str);
    if let (true, Some(method), Some(url)) = (s.kind == "client", method, url) {
        let status = number(a, &["http.response.status_code", "http.status_code"])
            .filter(|s| (1.0..=999.0).contains(s))
            .map(|s| s as u16);
        let failure = a
            .get("error.type")
            .and_then(Value::as_str)
            .filter(|_| status.is_none())
            .map(|e| {
                if e.to_ascii_lowercase().contains("timeout") {
                    Text::from("timeout")
                } else {
                    Text::from("network")
                }
            })
            .or_else(|| (status.is_none() && s.status == "error").then(|| "network".into()));
        return Some(EventBody::Request(Request {
            api: Some("http".into()),
            method: method.to_ascii_uppercase().into(),
            url: url.to_owned().into(),
            status,
            duration: s.duration_ms,
            request_size: number(a, &["http.request.body.size"]),
            response_size: number(a, &["http.response.body.size"]),
            // The trace joins the request to the backend's spans; the span itself is kept
            // as it came (its service, parent and attributes), so no client span is made
            // from the request.
            trace_id: Some(s.trace_id.clone().into()),
            span_id: None,
            trace_sampled: Some(true),
            failure,
            ..Request::default()
        }));
    }
    None
}

/// The event a mobile log record is, if any.
fn log_event(l: &LogRecord) -> Option<EventBody> {
    let a = &l.attributes;
    let text = |k: &str| a.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    match l.event_name.as_str() {
        "app.crash" | "device.crash" | "metrickit.diagnostic.crash" => {
            let error_type = text("exception.type")
                .or_else(|| text("metrickit.diagnostic.crash.exception.objc.name"))
                .or_else(|| text("metrickit.diagnostic.crash.exception.mach_exception.name"))
                .or_else(|| text("metrickit.diagnostic.crash.exception.signal.name"))
                .unwrap_or("crash");
            Some(EventBody::Crash(Crash {
                error_type: error_type.to_owned().into(),
                message: text("exception.message")
                    .unwrap_or_default()
                    .to_owned()
                    .into(),
                stack: text("exception.stacktrace").map(Text::from),
                frames: Vec::new(),
            }))
        }
        "device.anr" => Some(EventBody::Anr(Anr {
            duration: ANDROID_ANR_MS,
            stack: text("exception.stacktrace").map(Text::from),
        })),
        // MetricKit measures hangs in seconds; a hang without a duration stays a log record.
        "metrickit.diagnostic.hang" => number(a, &["metrickit.diagnostic.hang.hang_duration"])
            .filter(|d| d.is_finite() && *d >= 0.0 && *d < 86_400.0)
            .map(|seconds| {
                EventBody::Anr(Anr {
                    duration: seconds * 1000.0,
                    stack: text("exception.stacktrace").map(Text::from),
                })
            }),
        // Frames over the threshold in a period; the agent measures both in seconds.
        "app.jank" => {
            let count = number(a, &["app.jank.frame_count"])?;
            let seconds = |k| number(a, &[k]).filter(|s| *s >= 0.0).map(|s| s * 1000.0);
            Some(EventBody::Jank(Jank {
                frame_count: u32::try_from(count as i64).ok()?,
                period: seconds("app.jank.period"),
                threshold: seconds("app.jank.threshold"),
            }))
        }
        _ => None,
    }
}

/// Events grouped by their context into batches.
#[derive(Default)]
struct Batches {
    by_context: BTreeMap<String, (Context, Vec<Event>)>,
}

impl Batches {
    fn push(&mut self, context: Context, event: Event) {
        // What protocol v1 refuses from an SDK is not made from OTLP either.
        if event.check().is_err() {
            return;
        }
        let key = serde_json::to_string(&context).unwrap_or_default();
        self.by_context
            .entry(key)
            .or_insert_with(|| (context, Vec::new()))
            .1
            .push(event);
    }

    fn into_batches(self) -> Vec<Batch> {
        let mut out = Vec::new();
        for (context, mut events) in self.by_context.into_values() {
            events.sort_by_key(|e| e.ts);
            for chunk in events.chunks(MAX_BATCH_EVENTS) {
                out.push(Batch {
                    v: PROTOCOL_VERSION,
                    key: None,
                    context: context.clone(),
                    events: chunk.to_vec(),
                });
            }
        }
        out
    }
}

/// What a mobile event is made from: a span or a log record.
trait Record {
    fn resource(&self) -> &Map<String, Value>;
    fn attributes(&self) -> &Map<String, Value>;
    fn ts(&self) -> i64;
    fn event(&self) -> Option<EventBody>;
}

impl Record for SpanRecord {
    fn resource(&self) -> &Map<String, Value> {
        &self.resource
    }
    fn attributes(&self) -> &Map<String, Value> {
        &self.attributes
    }
    fn ts(&self) -> i64 {
        self.start_ms.floor() as i64
    }
    fn event(&self) -> Option<EventBody> {
        span_event(self)
    }
}

impl Record for LogRecord {
    fn resource(&self) -> &Map<String, Value> {
        &self.resource
    }
    fn attributes(&self) -> &Map<String, Value> {
        &self.attributes
    }
    fn ts(&self) -> i64 {
        self.time_ms.floor() as i64
    }
    fn event(&self) -> Option<EventBody> {
        log_event(self)
    }
}

/// The mobile events among a request's records, as batches (one per session and context).
fn batches_of<R: Record>(records: &[R]) -> Vec<Batch> {
    let mut batches = Batches::default();
    for r in records.iter().filter(|r| is_mobile(r.resource())) {
        let (Some(body), Some(context)) = (r.event(), context(r.attributes(), r.resource())) else {
            continue;
        };
        batches.push(
            context,
            Event {
                ts: r.ts(),
                view_id: None,
                page_url: screen(r.attributes()),
                body,
            },
        );
    }
    batches.into_batches()
}

/// The mobile events among a request's spans, as batches (one per session and context).
pub fn span_batches(spans: &[SpanRecord]) -> Vec<Batch> {
    batches_of(spans)
}

/// The mobile events among a request's log records, as batches.
pub fn log_batches(logs: &[LogRecord]) -> Vec<Batch> {
    batches_of(logs)
}
