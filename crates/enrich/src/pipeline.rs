//! The enrichment pipeline: a parsed wire batch and what the connection says about the
//! client go in; an enriched [`IngestBatch`] comes out. URL and free-text columns are
//! scrubbed when it becomes rows, by their kind in the event model.

use crate::{GeoDb, UserAgentParser};
use std::net::IpAddr;
use vigil_model::{Common, IngestBatch, ProjectId, scrub_message};
use vigil_protocol::{Batch, EventBody, Scalar, Text, rate_vital};

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
            page_url: ctx.page_url.unwrap_or_default(),
            referrer: ctx.referrer.unwrap_or_default(),
            browser: ua.browser,
            browser_version: ua.browser_version,
            os,
            os_version,
            device_type,
            device_manufacturer: ctx
                .device
                .as_ref()
                .and_then(|d| d.manufacturer.clone())
                .unwrap_or_default(),
            device_model: ctx.device.map(|d| d.model).unwrap_or_default(),
            country: location.country,
            region: location.region,
            city: location.city,
            connection_type: connection.kind.unwrap_or_default(),
            effective_type: connection.effective_type.unwrap_or_default(),
            rtt: connection.rtt,
            downlink: connection.downlink,
            device_memory: ctx.device_memory,
            screen_width: ctx.screen.map(|s| s.width),
            screen_height: ctx.screen.map(|s| s.height),
            viewport_width: ctx.viewport.map(|s| s.width),
            viewport_height: ctx.viewport.map(|s| s.height),
            user_id: ctx.user_id.unwrap_or_default(),
            release: ctx.release.unwrap_or_default(),
            environment: ctx.environment.unwrap_or_default(),
            agent: ctx.agent.name,
            agent_version: ctx.agent.version,
            app_name: ctx.app.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
            app_build: ctx
                .app
                .as_ref()
                .and_then(|a| a.build.clone())
                .unwrap_or_default(),
            app_version: ctx.app.map(|a| a.version).unwrap_or_default(),
            carrier: ctx.carrier.unwrap_or_default(),
            sample_rate: ctx.sample_rate,
            attributes: if ctx.attributes.is_empty() {
                Text::default()
            } else {
                let mut attrs = ctx.attributes;
                scrub_scalars(attrs.values_mut());
                serde_json::to_string(&attrs)
                    .expect("scalars serialise")
                    .into()
            },
        };
        let mut events = batch.events;
        for e in &mut events {
            fill_derived(&mut e.body);
        }
        IngestBatch {
            errors: Vec::new(),
            project,
            common,
            events,
        }
    }
}

/// Fills what the collector derives from an event's own values: the rating of a vital the
/// SDK did not rate.
pub fn fill_derived(body: &mut EventBody) {
    if let EventBody::Vital(v) = body
        && v.rating.is_none()
    {
        v.rating = rate_vital(&v.name, v.value).map(Text::from);
    }
}
