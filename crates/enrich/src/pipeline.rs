//! The enrichment pipeline: a parsed wire batch and what the connection says about the
//! client go in; a scrubbed, enriched [`IngestBatch`] for the store comes out.

use crate::{GeoDb, UserAgentParser, scrub_message, scrub_url, template_url};
use std::net::IpAddr;
use vigil_protocol::{Batch, EventBody, Scalar, rate_vital};
use vigil_store::{Common, IngestBatch, ProjectId};

/// What the HTTP connection tells about the client. The IP address is used for the location
/// lookup and then dropped with this value.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo<'a> {
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
}

/// Enriches batches; shared by intake and the demo generator.
#[derive(Default)]
pub struct Enricher {
    /// User agent parser with its cache.
    pub user_agents: UserAgentParser,
    /// Geo databases.
    pub geo: GeoDb,
}

fn scrub_opt(v: &mut Option<String>, f: fn(&str) -> String) {
    if let Some(s) = v {
        *s = f(s);
    }
}

fn scrub_scalars<'a>(values: impl Iterator<Item = &'a mut Scalar>) {
    for v in values {
        if let Scalar::String(s) = v {
            *s = scrub_message(s);
        }
    }
}

impl Enricher {
    /// A pipeline with the given geo databases.
    pub fn new(geo: GeoDb) -> Self {
        Self {
            user_agents: UserAgentParser::default(),
            geo,
        }
    }

    /// Turns a wire batch into what the store keeps.
    pub fn enrich(&self, project: ProjectId, batch: Batch, client: &ClientInfo<'_>) -> IngestBatch {
        let ctx = batch.context;
        let ua = self
            .user_agents
            .parse(client.user_agent.unwrap_or_default());
        let location = client.ip.map(|ip| self.geo.locate(ip)).unwrap_or_default();
        let connection = ctx.connection.unwrap_or_default();
        let (os, os_version) = match ctx.os {
            Some(o) => (o.name, o.version),
            None => (ua.os, ua.os_version),
        };
        let device_type = ctx
            .device
            .as_ref()
            .and_then(|d| d.kind.clone())
            .unwrap_or(ua.device_type);
        let common = Common {
            session_id: ctx.session_id,
            view_id: ctx.view_id.unwrap_or_default(),
            page_url: ctx.page_url.as_deref().map(scrub_url).unwrap_or_default(),
            referrer: ctx.referrer.as_deref().map(scrub_url).unwrap_or_default(),
            browser: ua.browser,
            browser_version: ua.browser_version,
            os,
            os_version,
            device_type,
            device_model: ctx.device.map(|d| d.model).unwrap_or_default(),
            country: location.country,
            region: location.region,
            city: location.city,
            connection_type: connection.kind.unwrap_or_default(),
            effective_type: connection.effective_type.unwrap_or_default(),
            device_memory: ctx.device_memory,
            screen_width: ctx.screen.map(|s| s.width),
            screen_height: ctx.screen.map(|s| s.height),
            viewport_width: ctx.viewport.map(|s| s.width),
            viewport_height: ctx.viewport.map(|s| s.height),
            user_id: ctx
                .user_id
                .as_deref()
                .map(scrub_message)
                .unwrap_or_default(),
            release: ctx.release.unwrap_or_default(),
            environment: ctx.environment.unwrap_or_default(),
            agent: ctx.agent.name,
            agent_version: ctx.agent.version,
            app_version: ctx.app.map(|a| a.version).unwrap_or_default(),
            carrier: ctx.carrier.unwrap_or_default(),
            sample_rate: ctx.sample_rate,
            attributes: if ctx.attributes.is_empty() {
                String::new()
            } else {
                let mut attrs = ctx.attributes;
                scrub_scalars(attrs.values_mut());
                serde_json::to_string(&attrs).expect("scalars serialise")
            },
        };
        let mut events = batch.events;
        for e in &mut events {
            scrub_opt(&mut e.page_url, scrub_url);
            scrub_event(&mut e.body);
        }
        IngestBatch {
            project,
            common,
            events,
        }
    }
}

/// Scrubs one event's free text and URLs and fills what the collector derives.
pub fn scrub_event(body: &mut EventBody) {
    match body {
        EventBody::View(v) => scrub_opt(&mut v.title, scrub_message),
        EventBody::Vital(v) => {
            scrub_opt(&mut v.attribution.url, scrub_url);
            scrub_opt(&mut v.attribution.script_url, scrub_url);
            if v.rating.is_none() {
                v.rating = rate_vital(&v.name, v.value).map(str::to_owned);
            }
        }
        EventBody::Resource(r) => r.url = scrub_url(&r.url),
        EventBody::ResourceError(r) => r.url = scrub_url(&r.url),
        EventBody::LongTask(t) => scrub_opt(&mut t.script_url, scrub_url),
        EventBody::Error(e) => {
            e.message = scrub_message(&e.message);
            scrub_opt(&mut e.stack, scrub_message);
            for f in &mut e.frames {
                scrub_opt(&mut f.file, scrub_url);
            }
            for b in &mut e.breadcrumbs {
                b.message = scrub_message(&b.message);
                scrub_scalars(b.data.values_mut());
            }
        }
        EventBody::Request(r) => {
            r.url = scrub_url(&r.url);
            let template = r
                .url_template
                .as_deref()
                .map_or_else(|| template_url(&r.url), scrub_url);
            r.url_template = Some(template);
        }
        EventBody::Action(_) => {}
        EventBody::Route(r) => {
            r.from = scrub_url(&r.from);
            r.to = scrub_url(&r.to);
        }
        EventBody::Custom(c) => scrub_scalars(c.properties.values_mut()),
        EventBody::AppStart(_) | EventBody::ScreenLoad(_) => {}
        EventBody::Crash(c) => {
            c.message = scrub_message(&c.message);
            scrub_opt(&mut c.stack, scrub_message);
        }
        EventBody::Anr(a) => scrub_opt(&mut a.stack, scrub_message),
    }
}
