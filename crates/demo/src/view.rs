//! One page view: the events it produces, in one module per role. The parts draw from the
//! generator's seeded stream in the order [`Generator::view`] calls them, and each in a fixed
//! order inside; moving a draw changes every later value, and so the whole demo data set
//! (`tests::demo_data_is_unchanged` notices).

mod actions;
mod conversions;
mod errors;
mod performance;
mod requests;

use crate::{Generator, ORIGIN, Rng, Session};
use std::collections::BTreeMap;
use vigil_enrich::ClientInfo;
use vigil_errors::{ErrorProcessor, PageContext};
use vigil_model::IngestBatch;
use vigil_protocol::*;

/// What a session's earlier views leave for the next one.
#[derive(Default)]
pub(crate) struct Journey {
    /// The previous view's URL, empty before the first: the referrer, and whether the
    /// connection still has to be set up.
    prev_url: String,
    /// Whether something went into the cart, which a checkout needs.
    cart: bool,
    /// The slowest LCP so far: conversion falls as it rises.
    worst_lcp: f64,
}

/// The view being generated and its load timings, which most of its events derive from.
struct Page<'a> {
    session: &'a Session,
    path: &'a str,
    url: String,
    view_id: String,
    /// Start of the view, ms since the epoch.
    t: i64,
    /// Load timings, ms from the start.
    ttfb: f64,
    fcp: f64,
    lcp: f64,
}

impl<'a> Page<'a> {
    fn new(r: &mut Rng, session: &'a Session, t: i64, path: &'a str) -> Self {
        // Named as the browser agent names views (the same draw as before, so the seeded
        // stream after it is unchanged).
        let view_id = crate::view_id(&session.id, t - session.start, &r.hex(16)[..4]);
        let (ttfb, fcp, lcp) = performance::load_timings(r, session, path);
        Page {
            session,
            path,
            url: format!("{ORIGIN}{path}"),
            view_id,
            t,
            ttfb,
            fcp,
            lcp,
        }
    }

    fn is_product(&self) -> bool {
        self.path.starts_with("/products/")
    }

    fn is_checkout(&self) -> bool {
        self.path == "/checkout"
    }
}

/// An event; the batch's context gives its view and page.
fn event(ts: i64, body: EventBody) -> Event {
    Event {
        ts,
        view_id: None,
        page_url: None,
        body,
    }
}

/// A web vital; enrichment rates it. Its value is kept as the browser agent sends it (CLS to
/// four decimals, times to 0.1 ms), so the demo's data is no finer than real data.
fn vital(name: &str, value: f64, attribution: Attribution) -> EventBody {
    let places = if name == "CLS" { 1e4 } else { 10.0 };
    EventBody::Vital(Vital {
        name: name.into(),
        value: (value * places).round() / places,
        rating: None,
        attribution,
    })
}

impl Generator {
    /// One page view's batch, and how long the user stayed on it.
    pub(crate) fn view(
        &mut self,
        s: &Session,
        t: i64,
        path: &str,
        soft: bool,
        journey: &mut Journey,
    ) -> (IngestBatch, i64) {
        let r = &mut self.rng;
        let lean = self.config.lean;
        let page = Page::new(r, s, t, path);
        let mut events = Vec::new();
        if soft {
            performance::soft_navigation(r, &page, &journey.prev_url, &mut events);
        } else {
            events.push(performance::navigation(r, &page, &journey.prev_url));
            performance::load_vitals(&page, lean, &mut events);
        }
        let dwell = r.lognormal(40_000.0, 0.8) as i64;
        // The storage and query benchmarks need only page views and their LCP.
        if !lean {
            let end = t + dwell;
            events.push(performance::layout_shift(r, &page, end));
            let interacted = r.chance(0.75);
            if interacted {
                events.push(performance::interaction(r, &page, end));
            }
            // A soft navigation keeps the page, and so its resources.
            if !soft {
                performance::resources(r, &page, &mut events);
            }
            performance::long_tasks(r, &page, &mut events);
            let mut crumbs = requests::api_calls(r, &page, &mut events);
            actions::user_actions(r, &page, interacted, end, &mut crumbs, &mut events);
            events.extend(errors::script_error(r, &page, crumbs));
            conversions::business_events(r, &page, journey, end, &mut events);
        }
        let batch = self.batch(s, &page.view_id, &page.url, &journey.prev_url, events);
        journey.worst_lcp = journey.worst_lcp.max(page.lcp);
        journey.prev_url = page.url;
        (batch, dwell)
    }

    /// The batch the browser SDK would send for the view, through the real enrichment.
    fn batch(
        &self,
        s: &Session,
        view_id: &str,
        url: &str,
        referrer: &str,
        events: Vec<Event>,
    ) -> IngestBatch {
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "plan".to_owned(),
            Scalar::String(
                if s.user_id.is_some() {
                    "member"
                } else {
                    "guest"
                }
                .into(),
            ),
        );
        let wire = Batch {
            v: 1,
            key: None,
            context: Context {
                session_id: s.id.clone().into(),
                view_id: Some(view_id.to_owned().into()),
                agent: Agent {
                    name: "vigil-browser".into(),
                    version: "0.1.0".into(),
                },
                page_url: Some(url.to_owned().into()),
                referrer: if referrer.is_empty() {
                    None
                } else {
                    Some(referrer.to_owned().into())
                },
                screen: Some(Size {
                    width: s.platform.screen.0,
                    height: s.platform.screen.1,
                }),
                viewport: Some(Size {
                    width: s.platform.screen.0,
                    height: s.platform.screen.1.saturating_sub(120),
                }),
                connection: Some(Connection {
                    kind: Some(s.connection.0.into()),
                    effective_type: Some(s.connection.1.into()),
                    rtt: None,
                    downlink: None,
                }),
                device_memory: Some(s.device_memory),
                user_id: s.user_id.as_deref().map(Text::from),
                release: Some(s.release.into()),
                environment: Some("production".into()),
                attributes,
                ..Context::default()
            },
            events,
        };
        let client = ClientInfo {
            ip: None,
            user_agent: Some(s.platform.user_agent),
        };
        // Errors are grouped as intake groups them (the demo uploads no source maps).
        let errors = if ErrorProcessor::has_errors(&wire.events) {
            ErrorProcessor::default().analyse_batch(
                self.project,
                &PageContext {
                    release: s.release,
                    page_url: url,
                    trusted_hosts: &[],
                    fetch_origins: None,
                },
                &wire.events,
            )
        } else {
            Vec::new()
        };
        let mut batch = self.enricher.enrich(self.project, wire, &client);
        batch.errors = errors;
        // The demo has no client addresses; it sets the country the geo lookup would give.
        batch.common.country = s.country.code.to_owned().into();
        batch
    }
}
