//! The page's API calls.

use super::{Page, event};
use crate::{ORIGIN, Rng};
use std::collections::BTreeMap;
use vigil_protocol::*;

/// The calls each kind of page makes: (method, URL).
fn endpoints(r: &mut Rng, page: &Page) -> Vec<(&'static str, String)> {
    let path = page.path;
    if page.is_product() {
        vec![
            (
                "GET",
                format!(
                    "{ORIGIN}/api/products/{}",
                    path.trim_start_matches("/products/")
                ),
            ),
            (
                "GET",
                format!("{ORIGIN}/api/recommendations?product={}", r.below(500)),
            ),
        ]
    } else if path == "/products" {
        vec![(
            "GET",
            format!("{ORIGIN}/api/products?page={}", 1 + r.below(5)),
        )]
    } else if page.is_checkout() {
        vec![
            ("GET", format!("{ORIGIN}/api/cart")),
            ("POST", format!("{ORIGIN}/api/checkout")),
        ]
    } else if path == "/cart" {
        vec![("GET", format!("{ORIGIN}/api/cart"))]
    } else {
        vec![
            ("GET", format!("{ORIGIN}/api/user")),
            (
                "GET",
                "https://api.search.example.net/v1/suggest?q=shoes".to_owned(),
            ),
        ]
    }
}

/// The page's fetch calls, the recommendations API slower than the rest and a few percent
/// failing. Returns a breadcrumb per call for an error later in the view to carry.
pub(super) fn api_calls(r: &mut Rng, page: &Page, events: &mut Vec<Event>) -> Vec<Breadcrumb> {
    let s = page.session;
    let mut crumbs = Vec::new();
    for (k, (method, u)) in endpoints(r, page).into_iter().enumerate() {
        let at = page.t + page.ttfb as i64 + 200 + k as i64 * 150;
        let slow_api = if u.contains("recommendations") {
            2.2
        } else {
            1.0
        };
        let duration = r.lognormal(
            110.0 * s.country.distance.sqrt() * s.net.sqrt() * slow_api,
            0.6,
        );
        let outcome = r.weighted(&[0.965, 0.012, 0.008, 0.01, 0.005]);
        let (status, failure) = match outcome {
            0 => (Some(if method == "POST" { 201 } else { 200 }), None),
            1 => (Some(500), None),
            2 => (Some(503), None),
            3 => (Some(404), None),
            _ => (None, Some(Text::from("network"))),
        };
        crumbs.push(Breadcrumb {
            ts: at,
            category: "request".into(),
            message: format!("{method} {u} {}", status.unwrap_or(0)).into(),
            data: BTreeMap::new(),
        });
        events.push(event(
            at,
            EventBody::Request(Request {
                api: Some("fetch".into()),
                method: method.into(),
                url: u.into(),
                url_template: None,
                status,
                duration,
                ttfb: Some(duration * 0.7),
                download: Some(duration * 0.1),
                response_size: Some(r.lognormal(4_000.0, 0.8).round()),
                trace_id: Some(r.hex(32).into()),
                span_id: Some(r.hex(16).into()),
                trace_sampled: Some(true),
                failure,
                ..Request::default()
            }),
        ));
    }
    crumbs
}
