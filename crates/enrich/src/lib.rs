//! Enrichment between intake and the store: user agent → browser, OS and device type; IP →
//! country (and region and city with a city database); PII scrubbing of URLs and messages;
//! and URL templating for endpoints. The IP address goes in here and never
//! comes out.

mod geo;
mod pipeline;
mod useragent;

pub use geo::{GeoDb, GeoError, Location};
pub use pipeline::{ClientInfo, Enricher, fill_derived};
pub use useragent::{UaInfo, UserAgentParser};
pub use vigil_model::{scrub_message, scrub_url, template_url};
