//! The demo shop's backend: the spans its services would export over OTLP for the
//! browser's and the mobile app's traced requests (with the app's own client span, as the
//! OpenTelemetry mobile SDKs export it), so the trace views and the services' figures have
//! data.
//! Derived from each request's own ids (not the generator's random stream), so adding them
//! changes none of the other demo data.

use serde_json::{Map, Value};
use vigil_model::{IngestBatch, SpanRecord};
use vigil_protocol::EventBody;

/// A small hash of an id and a salt: the demo backend's dice.
fn roll(id: &str, salt: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (h >> 29)
}

fn share(id: &str, salt: u64) -> f64 {
    (roll(id, salt) % 10_000) as f64 / 10_000.0
}

fn attributes(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The mobile app's client span of a traced request (the browser's is made from the
/// request itself): its id, and the span.
fn app_client_span(
    batch: &IngestBatch,
    trace: &str,
    q: &vigil_protocol::Request,
    ts: i64,
) -> (String, SpanRecord) {
    let id = format!("{:016x}", roll(trace, 6) | 1);
    let c = &batch.common;
    let mut resource = attributes(&[
        ("service.name", c.app_name.as_str().into()),
        ("service.version", c.app_version.as_str().into()),
        ("os.name", c.os.as_str().into()),
        ("os.version", c.os_version.as_str().into()),
        ("device.model.name", c.device_model.as_str().into()),
        (
            "telemetry.sdk.language",
            if c.agent.contains("swift") {
                "swift"
            } else {
                "java"
            }
            .into(),
        ),
    ]);
    resource.retain(|_, v| v.as_str().is_some_and(|s| !s.is_empty()));
    let mut span_attributes = attributes(&[
        ("http.request.method", q.method.as_str().into()),
        ("url.full", q.url.as_str().into()),
        ("session.id", c.session_id.as_str().into()),
    ]);
    if let Some(status) = q.status {
        span_attributes.insert("http.response.status_code".into(), status.into());
    }
    let span = SpanRecord {
        trace_id: trace.to_owned(),
        span_id: id.clone(),
        parent_span_id: None,
        service: c.app_name.to_string(),
        name: q.method.to_string(),
        kind: "client",
        start_ms: ts as f64,
        duration_ms: q.duration,
        status: if q.status.is_none_or(|s| s >= 500) {
            "error"
        } else {
            "unset"
        },
        status_message: String::new(),
        scope: if c.agent.contains("swift") {
            "NSURLSession"
        } else {
            "io.opentelemetry.okhttp-3.0"
        }
        .into(),
        attributes: span_attributes,
        resource,
        events: Vec::new(),
    };
    (id, span)
}

/// The backend spans of a batch's traced requests that reached the server: a `shop-api`
/// server span under the browser's or the app's client span, a `postgres` query below it,
/// and for cart and checkout calls a `pricing` call beside the query; for an app's request,
/// the app's client span too.
pub fn backend_spans(batch: &IngestBatch) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for e in &batch.events {
        let EventBody::Request(q) = &e.body else {
            continue;
        };
        let (Some(trace), Some(status)) = (&q.trace_id, q.status) else {
            continue;
        };
        if q.trace_sampled == Some(false) {
            continue;
        }
        let app_span;
        let browser_span = match &q.span_id {
            Some(browser) => browser.as_str(),
            None if !batch.common.app_name.is_empty() => {
                let (id, span) = app_client_span(batch, trace, q, e.ts);
                out.push(span);
                app_span = id;
                app_span.as_str()
            }
            None => continue,
        };
        let path = q
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("/")
            .split('?')
            .next()
            .unwrap_or("/");
        let route = vigil_model::template_url(path);
        let start = e.ts as f64 + q.duration * (0.05 + 0.1 * share(browser_span, 1));
        let duration = q.duration * 0.72;
        let server_id = format!("{:016x}", roll(browser_span, 2) | 1);
        let failed = status >= 500;
        let resource = attributes(&[
            ("service.version", "3.8.0".into()),
            ("deployment.environment.name", "production".into()),
            ("telemetry.sdk.language", "python".into()),
        ]);
        let span =
            |id: String, parent: &str, service: &str, name: String, kind, at, took| SpanRecord {
                trace_id: trace.to_string(),
                span_id: id,
                parent_span_id: Some(parent.to_owned()),
                service: service.to_owned(),
                name,
                kind,
                start_ms: at,
                duration_ms: took,
                status: "unset",
                status_message: String::new(),
                scope: String::new(),
                attributes: Map::new(),
                resource: resource.clone(),
                events: Vec::new(),
            };
        let mut server = span(
            server_id.clone(),
            browser_span,
            "shop-api",
            format!("{} {route}", q.method),
            "server",
            start,
            duration,
        );
        server.scope = "opentelemetry.instrumentation.flask".into();
        server.attributes = attributes(&[
            ("http.request.method", q.method.as_str().into()),
            ("http.route", route.as_str().into()),
            ("http.response.status_code", status.into()),
            ("session.id", batch.common.session_id.as_str().into()),
        ]);
        if failed {
            server.status = "error";
            server.status_message = "upstream dependency failed".into();
        }
        // The query takes most of the request on a slow endpoint.
        let table = route
            .trim_start_matches("/api/")
            .split('/')
            .next()
            .unwrap_or("items");
        let query_share = 0.35 + 0.45 * share(browser_span, 3);
        let mut db = span(
            format!("{:016x}", roll(browser_span, 4) | 1),
            &server_id,
            "postgres",
            format!("SELECT {table}"),
            "client",
            start + duration * 0.1,
            duration * query_share,
        );
        db.scope = "opentelemetry.instrumentation.psycopg".into();
        db.attributes = attributes(&[
            ("db.system", "postgresql".into()),
            (
                "db.statement",
                format!("SELECT * FROM {table} WHERE id = $1").into(),
            ),
        ]);
        if route.contains("cart") || route.contains("checkout") {
            let mut pricing = span(
                format!("{:016x}", roll(browser_span, 5) | 1),
                &server_id,
                "pricing",
                "POST /price".into(),
                "server",
                start + duration * 0.15,
                duration * 0.25,
            );
            if failed {
                pricing.status = "error";
                pricing.status_message = "timeout".into();
            }
            out.push(pricing);
        }
        out.push(server);
        out.push(db);
    }
    out
}
