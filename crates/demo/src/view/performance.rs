//! How the page performed: navigation timing, web vitals, resources and long tasks.

use super::{Page, event, vital};
use crate::{ORIGIN, Rng, Session};
use vigil_protocol::*;

/// Scripts, styles and fonts a full page load fetches: (URL, initiator, encoded bytes).
const RESOURCES: &[(&str, &str, f64)] = &[
    ("/assets/app.9c1e07.js", "script", 95_000.0),
    ("/assets/vendor.5d8e44.js", "script", 160_000.0),
    ("/assets/styles.31aa0e.css", "link", 22_000.0),
    ("/fonts/inter.woff2", "css", 48_000.0),
    (
        "https://www.googletagmanager.com/gtag/js?id=G-DEMO",
        "script",
        90_000.0,
    ),
    (
        "https://cdn.payments.example.net/sdk.js",
        "script",
        60_000.0,
    ),
];

/// TTFB, FCP and LCP, ms from the start: slower far from the origin, on slow networks and on
/// slow devices, and slowest on product pages with their large hero image.
pub(super) fn load_timings(r: &mut Rng, s: &Session, path: &str) -> (f64, f64, f64) {
    let page_weight = if path.starts_with("/products/") {
        1.3
    } else if path == "/checkout" {
        0.9
    } else {
        1.0
    };
    let ttfb = r.lognormal(170.0 * s.country.distance * s.net.sqrt(), 0.45);
    let fcp = ttfb + r.lognormal(450.0 * s.dev * s.net.sqrt(), 0.4);
    let lcp = fcp + r.lognormal(450.0 * s.dev * s.net.powf(0.7) * page_weight, 0.55);
    (ttfb, fcp, lcp)
}

/// An SPA route change: the route event and a soft view, which has no navigation timing.
pub(super) fn soft_navigation(r: &mut Rng, page: &Page, prev_url: &str, events: &mut Vec<Event>) {
    events.push(event(
        page.t,
        EventBody::Route(Route {
            from: prev_url.to_owned().into(),
            to: page.url.clone().into(),
            new_view_id: Some(page.view_id.clone().into()),
            trigger: Some("push".into()),
            duration: Some(r.lognormal(180.0 * page.session.dev, 0.5)),
        }),
    ));
    events.push(event(
        page.t,
        EventBody::View(View {
            navigation_type: Some("soft".into()),
            ..View::default()
        }),
    ));
}

/// A full page load's view with its navigation timing. Only the session's first load sets
/// up a connection (DNS, TCP, TLS); later ones reuse it.
pub(super) fn navigation(r: &mut Rng, page: &Page, prev_url: &str) -> Event {
    let s = page.session;
    let (ttfb, fcp, lcp) = (page.ttfb, page.fcp, page.lcp);
    let first = prev_url.is_empty();
    let dns = if first {
        r.lognormal(18.0 * s.country.distance, 0.7)
    } else {
        0.0
    };
    let tcp = if first {
        r.lognormal(28.0 * s.country.distance * s.net.sqrt(), 0.5)
    } else {
        0.0
    };
    let tls = tcp * 0.6;
    let download = r.lognormal(35.0 * s.net, 0.5);
    let dom_interactive = fcp * 1.05 + download;
    // Slow devices block the main thread longer, and longer renders with it; TTI waits for
    // the last long task. (Derived, not drawn: a new draw would change every later value of
    // the seeded stream.)
    let tbt = (s.dev - 1.0).max(0.0) * 0.15 * (lcp - fcp).max(0.0);
    event(
        page.t,
        EventBody::View(View {
            navigation_type: Some(
                if !first && r.chance(0.05) {
                    "reload"
                } else {
                    "navigate"
                }
                .into(),
            ),
            timing: NavigationTiming {
                redirect: Some(0.0),
                dns: Some(dns),
                tcp: Some(tcp),
                tls: Some(tls),
                request: Some((ttfb - dns - tcp).max(1.0)),
                ttfb: Some(ttfb),
                download: Some(download),
                dom_interactive: Some(dom_interactive),
                dom_content_loaded: Some(dom_interactive + 25.0),
                dom_complete: Some(lcp * 1.15),
                load: Some(lcp * 1.15 + 15.0),
            },
            fcp: Some(fcp),
            transfer_size: Some(r.lognormal(28_000.0, 0.3).round()),
            title: None,
            tbt: Some(tbt),
            tti: Some(dom_interactive.max(lcp) + tbt * 2.0),
        }),
    )
}

/// The load's vitals: LCP, attributed to the page's hero image, and unless lean FCP and
/// TTFB. Derived from the load timings; nothing is drawn.
pub(super) fn load_vitals(page: &Page, lean: bool, events: &mut Vec<Event>) {
    let (t, ttfb, fcp, lcp) = (page.t, page.ttfb, page.fcp, page.lcp);
    let (hero, image) = if page.is_product() {
        ("img.product-hero", "product")
    } else {
        ("section.hero > img", "hero")
    };
    events.push(event(
        t + lcp as i64,
        vital(
            "LCP",
            lcp,
            Attribution {
                element: Some(hero.into()),
                url: Some(format!("{ORIGIN}/img/{image}.webp").into()),
                ttfb: Some(ttfb),
                load_delay: Some((fcp - ttfb) * 0.4),
                load_duration: Some((lcp - fcp) * 0.7),
                render_delay: Some((lcp - fcp) * 0.3 + (fcp - ttfb) * 0.6),
                ..Attribution::default()
            },
        ),
    ));
    if !lean {
        events.push(event(
            t + fcp as i64,
            vital("FCP", fcp, Attribution::default()),
        ));
        events.push(event(
            t + ttfb as i64,
            vital("TTFB", ttfb, Attribution::default()),
        ));
    }
}

/// CLS, reported when the user leaves: mostly small, larger on slow devices.
pub(super) fn layout_shift(r: &mut Rng, page: &Page, end: i64) -> Event {
    let cls = if r.chance(0.7) {
        r.lognormal(0.02, 0.8)
    } else {
        r.lognormal(0.12 * page.session.dev.sqrt(), 0.6)
    };
    event(
        end,
        vital(
            "CLS",
            (cls * 1000.0).round() / 1000.0,
            Attribution {
                element: Some(
                    if r.chance(0.5) {
                        "div.promo-banner"
                    } else {
                        "ul.product-grid"
                    }
                    .into(),
                ),
                shift_time: Some(page.fcp + 300.0),
                load_state: Some("dom-content-loaded".into()),
                ..Attribution::default()
            },
        ),
    )
}

/// INP of a view the user interacted with, reported when they leave.
pub(super) fn interaction(r: &mut Rng, page: &Page, end: i64) -> Event {
    let inp = r.lognormal(80.0 * page.session.dev, 0.6);
    event(
        end,
        vital(
            "INP",
            inp.round(),
            Attribution {
                element: Some(
                    if page.is_product() {
                        "button#add-to-cart"
                    } else {
                        "a.nav-link"
                    }
                    .into(),
                ),
                event_type: Some("pointerup".into()),
                input_delay: Some(inp * 0.2),
                processing: Some(inp * 0.5),
                presentation_delay: Some(inp * 0.3),
                script_url: Some(format!("{ORIGIN}/assets/app.9c1e07.js").into()),
                script_duration: Some(inp * 0.45),
                ..Attribution::default()
            },
        ),
    )
}

/// Resource timings of a full load, some served from the cache, and now and then an image
/// that failed to load.
pub(super) fn resources(r: &mut Rng, page: &Page, events: &mut Vec<Event>) {
    let (s, t, ttfb) = (page.session, page.t, page.ttfb);
    for (u, initiator, size) in RESOURCES {
        if !r.chance(0.7) {
            continue;
        }
        let full = if u.starts_with("http") {
            (*u).to_owned()
        } else {
            format!("{ORIGIN}{u}")
        };
        let cached = r.chance(0.4);
        let duration = r.lognormal(60.0 * s.net * s.country.distance.sqrt(), 0.6);
        events.push(event(
            t + (ttfb as i64),
            EventBody::Resource(Resource {
                url: full.into(),
                initiator: (*initiator).into(),
                start: Some(ttfb + r.unit() * 200.0),
                duration,
                ttfb: Some(duration * 0.4),
                download: Some(duration * 0.5),
                transfer_size: Some(if cached { 0.0 } else { *size }),
                encoded_size: Some(*size),
                decoded_size: Some(size * 3.2),
                render_blocking: Some(*initiator == "link"),
                ..Resource::default()
            }),
        ));
    }
    if r.chance(0.01) {
        events.push(event(
            t + 900,
            EventBody::ResourceError(ResourceError {
                url: format!("{ORIGIN}/img/banner-{}.webp", r.below(5)).into(),
                tag: "img".into(),
            }),
        ));
    }
}

/// Long animation frames, on low-end devices only.
pub(super) fn long_tasks(r: &mut Rng, page: &Page, events: &mut Vec<Event>) {
    if page.session.dev > 2.0 && r.chance(0.6) {
        for k in 0..1 + r.below(3) {
            events.push(event(
                page.t + 1500 + k as i64 * 400,
                EventBody::LongTask(LongTask {
                    kind: "long-animation-frame".into(),
                    start: Some(1500.0 + k as f64 * 400.0),
                    duration: r.lognormal(140.0, 0.4),
                    blocking_duration: Some(r.lognormal(80.0, 0.5)),
                    script_url: Some(format!("{ORIGIN}/assets/vendor.5d8e44.js").into()),
                    invoker: Some("DOMWindow.onload".into()),
                    script_duration: Some(r.lognormal(100.0, 0.4)),
                }),
            ));
        }
    }
}
