//! The typed shapes of protocol v1. Every struct denies unknown keys: a misspelt field is an
//! error the SDK author sees at once, not data silently lost.

use crate::Text;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One request body: the context shared by its events, and the events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Protocol version, always 1.
    pub v: u32,
    /// The project's public key, when not given in the query string or header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Text>,
    /// What is the same for every event of the batch.
    pub context: Context,
    /// The events, in any order.
    #[schemars(length(min = 1, max = 500))]
    #[serde(deserialize_with = "crate::event_de::events")]
    pub events: Vec<Event>,
}

/// What is shared by the events of one batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// Session id chosen by the SDK (kept across pages, 30 min idle, 4 h max).
    pub session_id: Text,
    /// The current view (page load, soft navigation or screen); events may override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_id: Option<Text>,
    /// Which SDK sent the batch.
    pub agent: Agent,
    /// The page or screen URL; events may override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<Text>,
    /// `document.referrer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Text>,
    /// Screen size in CSS pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<Size>,
    /// Viewport size in CSS pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<Size>,
    /// Network Information API values, or the mobile network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<Connection>,
    /// `navigator.deviceMemory` in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_memory: Option<f64>,
    /// The application's own user id, when it set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Text>,
    /// The application release (for comparing deploys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Text>,
    /// Environment such as production or staging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Text>,
    /// Custom attributes set by the application; flat, scalar values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Scalar>,
    /// Mobile: the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<App>,
    /// Mobile: the operating system as the SDK knows it (browsers are read from User-Agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    /// Mobile: the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    /// Mobile: the carrier name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<Text>,
    /// The share of sessions the SDK keeps (0 < rate ≤ 1, default 1): each kept session
    /// stands for `1 / sample_rate` sessions when totals are estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<f64>,
}

/// The SDK's name and version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// e.g. `vigil-browser`, `vigil-android`.
    pub name: Text,
    /// Semver of the SDK.
    pub version: Text,
}

/// A width and height in CSS pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The network the device is on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// `wifi`, `cellular`, `ethernet`, … (`navigator.connection.type`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<Text>,
    /// `4g`, `3g`, `2g`, `slow-2g` (`navigator.connection.effectiveType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_type: Option<Text>,
    /// Estimated round trip in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt: Option<f64>,
    /// Estimated downlink in Mbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downlink: Option<f64>,
}

/// A mobile application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Bundle or package id.
    pub name: Text,
    /// Marketing version.
    pub version: Text,
    /// Build number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Text>,
}

/// An operating system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Os {
    /// e.g. `Android`, `iOS`.
    pub name: Text,
    /// e.g. `14`.
    pub version: Text,
}

/// A mobile device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// e.g. `Pixel 8`.
    pub model: Text,
    /// e.g. `Google`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<Text>,
    /// `mobile`, `tablet`, `desktop`, `tv`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<Text>,
}

/// A flat attribute or property value.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
}

impl Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Bool(b) => s.serialize_bool(*b),
            // Whole numbers go back out as integers, as they came in: `200`, not `200.0`.
            Scalar::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => s.serialize_i64(*n as i64),
            Scalar::Number(n) => s.serialize_f64(*n),
            Scalar::String(v) => s.serialize_str(v),
        }
    }
}

/// One event: the fields every event has, and what its type adds.
// `Deserialize` is written out in `event_de.rs`: the derived one buffers every event twice.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Event {
    /// When it happened, in ms since the Unix epoch (UTC).
    pub ts: i64,
    /// Overrides the context's view id (a soft navigation inside the batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_id: Option<Text>,
    /// Overrides the context's page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<Text>,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

/// What an event is, tagged by its `type` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// A page load (hard navigation) or bfcache restore.
    View(View),
    /// A web vital's value.
    Vital(Vital),
    /// One resource's timing.
    Resource(Resource),
    /// A resource that failed to load.
    ResourceError(ResourceError),
    /// A long task or long animation frame.
    LongTask(LongTask),
    /// A JavaScript error.
    Error(ErrorEvent),
    /// A fetch or XHR.
    Request(Request),
    /// A user action.
    Action(Action),
    /// An SPA soft navigation.
    Route(Route),
    /// A business event the application sent.
    Custom(Custom),
    /// Mobile: the app started.
    AppStart(AppStart),
    /// Mobile: a screen loaded.
    ScreenLoad(ScreenLoad),
    /// Mobile: the app crashed.
    Crash(Crash),
    /// Mobile: the app did not respond.
    Anr(Anr),
    /// Mobile: frames slower than a threshold (jank) over a period.
    Jank(Jank),
}

impl EventBody {
    /// The `type` tag as sent on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::View(_) => "view",
            EventBody::Vital(_) => "vital",
            EventBody::Resource(_) => "resource",
            EventBody::ResourceError(_) => "resource_error",
            EventBody::LongTask(_) => "long_task",
            EventBody::Error(_) => "error",
            EventBody::Request(_) => "request",
            EventBody::Action(_) => "action",
            EventBody::Route(_) => "route",
            EventBody::Custom(_) => "custom",
            EventBody::AppStart(_) => "app_start",
            EventBody::ScreenLoad(_) => "screen_load",
            EventBody::Crash(_) => "crash",
            EventBody::Anr(_) => "anr",
            EventBody::Jank(_) => "jank",
        }
    }
}

/// A page load with its navigation timing (all in ms from navigation start, or durations).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// `navigate`, `reload`, `back_forward`, `prerender`, `restore` (bfcache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub navigation_type: Option<Text>,
    /// Phase durations and milestones.
    #[serde(default)]
    pub timing: NavigationTiming,
    /// First Contentful Paint, ms from navigation start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fcp: Option<f64>,
    /// Bytes of the document over the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_size: Option<f64>,
    /// Page title (scrubbed like URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    /// Total Blocking Time: the sum over long tasks between FCP and TTI of each task's time
    /// past 50 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tbt: Option<f64>,
    /// Time to Interactive, ms from navigation start: the end of the last long task before
    /// a 5 s window without long tasks (and at most two requests in flight), after FCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tti: Option<f64>,
}

/// Navigation timing: phase durations (dns … download) and milestones (dom_interactive …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NavigationTiming {
    /// Redirect time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<f64>,
    /// DNS lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<f64>,
    /// TCP connect (including TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<f64>,
    /// TLS handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<f64>,
    /// From request start to the first byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<f64>,
    /// Time to first byte from navigation start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<f64>,
    /// Response download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<f64>,
    /// DOM interactive milestone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dom_interactive: Option<f64>,
    /// DOMContentLoaded end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dom_content_loaded: Option<f64>,
    /// DOM complete milestone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dom_complete: Option<f64>,
    /// Load event end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<f64>,
}

/// A web vital as `web-vitals` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vital {
    /// `LCP`, `INP`, `CLS`, `FCP` or `TTFB`.
    pub name: Text,
    /// ms, or unitless for CLS.
    pub value: f64,
    /// `good`, `needs-improvement` or `poor`; computed by the collector when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Text>,
    /// Why the value is what it is.
    #[serde(default)]
    pub attribution: Attribution,
}

/// Attribution of a vital; which fields are set depends on the vital.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attribution {
    /// LCP: the element; INP: the interaction target; CLS: the largest shift's source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<Text>,
    /// LCP: the image or resource URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Text>,
    /// LCP phase: time to first byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<f64>,
    /// LCP phase: resource load delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_delay: Option<f64>,
    /// LCP phase: resource load duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_duration: Option<f64>,
    /// LCP phase: element render delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_delay: Option<f64>,
    /// INP: `pointerdown`, `click`, `keydown`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<Text>,
    /// INP phase: input delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_delay: Option<f64>,
    /// INP phase: processing duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing: Option<f64>,
    /// INP phase: presentation delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation_delay: Option<f64>,
    /// INP: the long-animation-frame script that took longest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_url: Option<Text>,
    /// INP: that script's duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_duration: Option<f64>,
    /// CLS: time of the largest shift, ms from navigation start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_time: Option<f64>,
    /// Document or page load state when the metric was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_state: Option<Text>,
}

/// Resource timing for one resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Resource URL.
    pub url: Text,
    /// `img`, `script`, `link`, `css`, `fetch`, `xmlhttprequest`, `font`, ….
    pub initiator: Text,
    /// Start, ms from navigation start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    /// Total duration.
    pub duration: f64,
    /// DNS phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<f64>,
    /// TCP phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<f64>,
    /// TLS phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<f64>,
    /// Time to first byte from request start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<f64>,
    /// Download phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<f64>,
    /// Bytes over the wire (0 for a cache hit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_size: Option<f64>,
    /// Body bytes as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_size: Option<f64>,
    /// Body bytes decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_size: Option<f64>,
    /// Whether it blocked rendering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_blocking: Option<bool>,
    /// HTTP status when the browser exposes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// A resource that failed to load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceError {
    /// Resource URL.
    pub url: Text,
    /// The element's tag: `img`, `script`, `link`, `video`, ….
    pub tag: Text,
}

/// A long task (≥ 50 ms) or long animation frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LongTask {
    /// `longtask` or `long-animation-frame`.
    pub kind: Text,
    /// Start, ms from navigation start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    /// Duration.
    pub duration: f64,
    /// Long animation frame: blocking duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocking_duration: Option<f64>,
    /// The longest script's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_url: Option<Text>,
    /// The longest script's invoker (e.g. `BUTTON#buy.onclick`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoker: Option<Text>,
    /// The longest script's duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_duration: Option<f64>,
}

/// A stack frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// Function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<Text>,
    /// Script URL or file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Text>,
    /// 1-based line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// Something that happened before an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Breadcrumb {
    /// When, ms since the epoch.
    pub ts: i64,
    /// `click`, `route`, `request`, `console`, `custom`.
    pub category: Text,
    /// Human summary (selector, URL, status, message).
    pub message: Text,
    /// Extra flat values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Scalar>,
}

/// A JavaScript error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorEvent {
    /// `TypeError`, `Error`, ….
    pub error_type: Text,
    /// The message.
    pub message: Text,
    /// The raw stack string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Text>,
    /// Parsed frames, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Frame>,
    /// Caught by the application (`vigil.error(e)`) or not.
    #[serde(default)]
    pub handled: bool,
    /// `onerror`, `unhandledrejection`, `console`, `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Text>,
    /// The last actions before the error, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breadcrumbs: Vec<Breadcrumb>,
    /// The application's own grouping (`vigil.error(e, { fingerprint })`): errors with the
    /// same list are one group. `{{ default }}` stands for the collector's fingerprint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint: Vec<String>,
    /// The `cause` chain: the error's cause first, then that one's cause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<ErrorCause>,
    /// Debug ids of the scripts in the stack, by script URL, as the bundles registered them:
    /// an uploaded source map with the same debug id applies whatever the release or URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub debug_ids: BTreeMap<String, String>,
}

/// An error in the `cause` chain of another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorCause {
    /// `TypeError`, `Error`, ….
    pub error_type: Text,
    /// The message.
    pub message: Text,
    /// The raw stack string; the collector parses it (a cause's frames would nest deeper
    /// than a batch may).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Text>,
}

/// A fetch or XHR.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `fetch` or `xhr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Text>,
    /// HTTP method.
    pub method: Text,
    /// The URL as requested.
    pub url: Text,
    /// The templated URL (`/users/:id`); the collector derives it when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_template: Option<Text>,
    /// HTTP status; absent or 0 when the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Total duration in ms.
    pub duration: f64,
    /// DNS phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<f64>,
    /// TCP phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<f64>,
    /// TLS phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<f64>,
    /// Time to first byte from request start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<f64>,
    /// Download phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<f64>,
    /// Request body bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_size: Option<f64>,
    /// Response body bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_size: Option<f64>,
    /// W3C trace id (32 hex) sent in `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<Text>,
    /// W3C parent span id (16 hex) sent in `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<Text>,
    /// The `sampled` flag sent in `traceparent`: whether the backend was asked to record
    /// the trace (it follows the session's trace sampling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_sampled: Option<bool>,
    /// `network`, `abort`, `timeout` when no response came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Text>,
}

/// A user action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// `click`, `rage_click`, `dead_click`, `scroll`, `form_start`, `form_submit`,
    /// `form_abandon`.
    pub action: Text,
    /// Stable CSS selector of the target (never its text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Text>,
    /// Rage click: how many clicks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Scroll: deepest point reached, percent of the page height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<f64>,
    /// Form actions: the form's name or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Text>,
    /// Form actions: names of the fields touched, never their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Form abandon: the last field touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_field: Option<Text>,
}

/// An SPA soft navigation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// URL before.
    pub from: Text,
    /// URL after.
    pub to: Text,
    /// The new view id this navigation starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_view_id: Option<Text>,
    /// `push`, `replace`, `pop`, `hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Text>,
    /// From the navigation until the page settled (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
}

/// A business event sent by the application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Custom {
    /// e.g. `signup`, `checkout`.
    pub name: Text,
    /// Flat properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Scalar>,
    /// A number to sum (revenue, quantity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Mobile: the app started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppStart {
    /// `cold`, `warm` or `hot`.
    pub start_type: Text,
    /// ms until the first frame.
    pub duration: f64,
}

/// Mobile: a screen loaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenLoad {
    /// Screen name.
    pub screen: Text,
    /// ms until the screen was drawn.
    pub duration: f64,
}

/// Mobile: a crash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    /// Exception or signal name.
    pub error_type: Text,
    /// The message.
    pub message: Text,
    /// The raw stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Text>,
    /// Parsed frames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Frame>,
}

/// Mobile: the main thread did not respond.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Anr {
    /// How long it was blocked, ms.
    pub duration: f64,
    /// The main thread's stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Text>,
}

/// Mobile: frames that took longer than a threshold to render (slow or frozen frames) over
/// a period, on the screen of the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Jank {
    /// How many frames were slower than `threshold`.
    pub frame_count: u32,
    /// The period counted, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<f64>,
    /// The frame time above which a frame counts, ms (16 slow, 700 frozen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// Most parts in an error's custom fingerprint.
pub const MAX_FINGERPRINT_PARTS: usize = 16;
/// Most bytes in one part of a custom fingerprint.
pub const MAX_FINGERPRINT_PART_BYTES: usize = 256;
/// Most errors in a `cause` chain.
pub const MAX_ERROR_CAUSES: usize = 8;
/// Most scripts named in an error's `debug_ids`.
pub const MAX_DEBUG_IDS: usize = 32;

impl ErrorEvent {
    fn check(&self) -> Result<(), String> {
        if self.fingerprint.len() > MAX_FINGERPRINT_PARTS {
            return Err(format!(
                "fingerprint has {} parts, the limit is {MAX_FINGERPRINT_PARTS}",
                self.fingerprint.len()
            ));
        }
        if let Some(long) = self
            .fingerprint
            .iter()
            .find(|p| p.len() > MAX_FINGERPRINT_PART_BYTES)
        {
            return Err(format!(
                "a fingerprint part has {} bytes, the limit is {MAX_FINGERPRINT_PART_BYTES}",
                long.len()
            ));
        }
        if self.causes.len() > MAX_ERROR_CAUSES {
            return Err(format!(
                "causes has {} errors, the limit is {MAX_ERROR_CAUSES}",
                self.causes.len()
            ));
        }
        if self.debug_ids.len() > MAX_DEBUG_IDS {
            return Err(format!(
                "debug_ids names {} scripts, the limit is {MAX_DEBUG_IDS}",
                self.debug_ids.len()
            ));
        }
        if let Some((url, id)) = self.debug_ids.iter().find(|(_, id)| !is_debug_id(id)) {
            return Err(format!(
                "debug_ids[{url:?}] = {id:?} is not a debug id (a UUID, 32 hex digits with or without dashes)"
            ));
        }
        Ok(())
    }
}

/// A debug id as bundlers write them: a UUID, with or without its dashes.
pub fn is_debug_id(id: &str) -> bool {
    let hex: Vec<u8> = id.bytes().filter(|b| *b != b'-').collect();
    hex.len() == 32
        && hex.iter().all(u8::is_ascii_hexdigit)
        && (id.len() == 32
            || (id.len() == 36 && [8, 13, 18, 23].iter().all(|&i| id.as_bytes()[i] == b'-')))
}

/// Largest vital value accepted: kept at 0.0001 in 64 bits, 10^14 stays exact.
pub const MAX_VITAL_VALUE: f64 = 1e14;

/// Earliest timestamp accepted: 2020-01-01, so a zero or seconds-instead-of-ms clock is
/// caught.
pub const MIN_TS_MS: i64 = 1_577_836_800_000;

impl Event {
    /// Semantic checks that types alone cannot express.
    pub fn check(&self) -> Result<(), String> {
        if self.ts < MIN_TS_MS {
            return Err(format!(
                "ts {} is before 2020-01-01; ts is ms since the epoch",
                self.ts
            ));
        }
        let non_negative = |name: &str, v: Option<f64>| match v {
            Some(x) if !x.is_finite() || x < 0.0 => {
                Err(format!("{name} must be a finite number ≥ 0"))
            }
            _ => Ok(()),
        };
        match &self.body {
            EventBody::Vital(v) => {
                if !matches!(v.name.as_str(), "LCP" | "INP" | "CLS" | "FCP" | "TTFB") {
                    return Err(format!(
                        "vital name {:?} is not one of LCP, INP, CLS, FCP, TTFB",
                        v.name
                    ));
                }
                if let Some(r) = &v.rating
                    && !matches!(r.as_str(), "good" | "needs-improvement" | "poor")
                {
                    return Err(format!(
                        "rating {r:?} is not good, needs-improvement or poor"
                    ));
                }
                non_negative("value", Some(v.value))?;
                // Kept at 0.0001 in a 64-bit integer: a larger value could not be stored
                // exactly (no real vital comes near it: a day is 8.64e7 ms).
                if v.value > MAX_VITAL_VALUE {
                    return Err(format!("value must be at most {MAX_VITAL_VALUE:e}"));
                }
                Ok(())
            }
            EventBody::Resource(r) => non_negative("duration", Some(r.duration)),
            EventBody::LongTask(t) => non_negative("duration", Some(t.duration)),
            EventBody::Request(r) => non_negative("duration", Some(r.duration)),
            EventBody::AppStart(a) => non_negative("duration", Some(a.duration)),
            EventBody::ScreenLoad(s) => non_negative("duration", Some(s.duration)),
            EventBody::Anr(a) => non_negative("duration", Some(a.duration)),
            EventBody::Jank(j) => {
                non_negative("period", j.period).and(non_negative("threshold", j.threshold))
            }
            EventBody::Route(r) => non_negative("duration", r.duration),
            EventBody::Custom(c) => match c.value {
                Some(x) if !x.is_finite() => Err("value must be finite".into()),
                _ => Ok(()),
            },
            EventBody::View(v) => non_negative("tbt", v.tbt).and(non_negative("tti", v.tti)),
            EventBody::Error(e) => e.check(),
            EventBody::ResourceError(_) | EventBody::Action(_) | EventBody::Crash(_) => Ok(()),
        }
    }
}
