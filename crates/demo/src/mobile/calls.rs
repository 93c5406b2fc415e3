//! The app's HTTP calls to its API, as the OTLP mapping makes them from the SDKs' client
//! spans: `api` `http`, the span's trace id, no browser span id.

use super::Session;
use super::catalog::{Network, Screen};
use crate::Rng;
use vigil_protocol::{Event, EventBody, Request, Text};

const API: &str = "https://api.vigilshop.example";

const SEARCHES: [&str; 6] = [
    "running shoes",
    "rain jacket",
    "backpack",
    "socks",
    "trail",
    "gift card",
];

/// A call: method, path, whether the screen waits for it to draw (else the user's action
/// makes it later), the API's own time on a fast network, and the response's size.
struct Call {
    method: &'static str,
    path: String,
    on_open: bool,
    server_ms: f64,
    bytes: f64,
}

fn call(method: &'static str, path: String, on_open: bool, server_ms: f64, bytes: f64) -> Call {
    Call {
        method,
        path,
        on_open,
        server_ms,
        bytes,
    }
}

/// The calls of one visit to a screen.
fn calls(r: &mut Rng, s: &Session, screen: Screen) -> Vec<Call> {
    match screen {
        Screen::Home => vec![call("GET", "/api/home/feed".into(), true, 180.0, 18_000.0)],
        Screen::ProductList => vec![call(
            "GET",
            format!("/api/products?page={}", 1 + r.below(5)),
            true,
            150.0,
            24_000.0,
        )],
        Screen::ProductDetail => {
            let id = 100 + r.below(400);
            let mut out = vec![
                call("GET", format!("/api/products/{id}"), true, 90.0, 6_000.0),
                call(
                    "GET",
                    format!("/api/products/{id}/reviews"),
                    true,
                    140.0,
                    9_000.0,
                ),
            ];
            if r.chance(0.35) {
                out.push(call("POST", "/api/cart".into(), false, 120.0, 1_500.0));
            }
            out
        }
        Screen::Search => {
            let q = SEARCHES[r.below(SEARCHES.len())].replace(' ', "+");
            vec![call(
                "GET",
                format!("/api/search?q={q}"),
                true,
                220.0,
                12_000.0,
            )]
        }
        Screen::Cart => vec![call("GET", "/api/cart".into(), true, 80.0, 2_500.0)],
        Screen::Checkout => {
            let mut out = vec![call(
                "GET",
                "/api/shipping/options".into(),
                true,
                160.0,
                1_800.0,
            )];
            if r.chance(0.6) {
                out.push(call("POST", "/api/checkout".into(), false, 650.0, 1_200.0));
            }
            out
        }
        Screen::Settings if s.user_id.is_some() => {
            vec![call("GET", "/api/me".into(), true, 70.0, 900.0)]
        }
        Screen::Settings => Vec::new(),
    }
}

/// The calls of a visit to `screen` from `t` to `t + dwell`, as events, and how long the
/// screen waits for its data (its first call). With `product_missing`, the product answers
/// 404 (and the app crashes on it).
pub(super) fn screen_calls(
    r: &mut Rng,
    s: &Session,
    screen: Screen,
    t: i64,
    dwell: i64,
    product_missing: bool,
) -> (Vec<Event>, f64) {
    let latency = s.network.slowness() * s.country.distance.sqrt();
    let mut events = Vec::new();
    let mut wait = 0.0;
    for (k, c) in calls(r, s, screen).into_iter().enumerate() {
        let duration = r.lognormal(c.server_ms + 60.0 * latency, 0.5).round();
        let at = if c.on_open {
            t + 15 * k as i64
        } else {
            t + (dwell as f64 * (0.3 + 0.4 * r.unit())) as i64
        };
        if k == 0 && c.on_open {
            wait = duration;
        }
        // A slow radio loses more calls.
        let lost = if s.network == Network::Hspa {
            0.04
        } else {
            0.01
        };
        let (status, failure) = match r.weighted(&[0.965, 0.01, 0.006, 0.007, lost]) {
            _ if product_missing && k == 0 => (Some(404), None),
            0 => (Some(if c.method == "POST" { 201 } else { 200 }), None),
            1 => (Some(500), None),
            2 => (Some(503), None),
            3 if c.path.starts_with("/api/products/") => (Some(404), None),
            3 => (Some(if c.method == "POST" { 409 } else { 401 }), None),
            _ if s.network == Network::Hspa && r.chance(0.5) => (None, Some("timeout")),
            _ => (None, Some("network")),
        };
        let response_size = status.map(|_| r.lognormal(c.bytes, 0.4).round());
        events.push(Event {
            ts: at,
            view_id: None,
            page_url: Some(screen.name(s.platform).to_owned().into()),
            body: EventBody::Request(Request {
                api: Some("http".into()),
                method: c.method.into(),
                url: format!("{API}{}", c.path).into(),
                status,
                duration,
                request_size: (c.method == "POST").then(|| 300.0 + r.below(900) as f64),
                response_size,
                trace_id: Some(r.hex(32).into()),
                span_id: None,
                trace_sampled: Some(true),
                failure: failure.map(Text::from),
                ..Request::default()
            }),
        });
    }
    (events, wait)
}
