//! An enriched batch: what the pipeline makes of a wire batch before it becomes rows.

use serde::{Deserialize, Serialize};
use vigil_protocol::Event;

/// A project's numeric id, the partition key of everything stored.
pub type ProjectId = u32;

/// Context of one batch after enrichment: what the SDK said, plus what the collector derived
/// (browser, OS, device type, location). Holds no IP address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // field names are the column names, documented in docs/protocol.md
pub struct Common {
    pub session_id: String,
    pub view_id: String,
    pub page_url: String,
    pub referrer: String,
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    pub device_type: String,
    pub device_model: String,
    #[serde(default)]
    pub device_manufacturer: String,
    pub country: String,
    pub region: String,
    pub city: String,
    pub connection_type: String,
    pub effective_type: String,
    /// Estimated round trip in ms, as the SDK reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt: Option<f64>,
    /// Estimated downlink in Mbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downlink: Option<f64>,
    pub device_memory: Option<f64>,
    pub screen_width: Option<u32>,
    pub screen_height: Option<u32>,
    pub viewport_width: Option<u32>,
    pub viewport_height: Option<u32>,
    pub user_id: String,
    pub release: String,
    pub environment: String,
    pub agent: String,
    pub agent_version: String,
    pub app_version: String,
    #[serde(default)]
    pub app_name: String,
    #[serde(default)]
    pub app_build: String,
    pub carrier: String,
    /// The share of sessions the SDK kept; absent means all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<f64>,
    /// Custom attributes as a JSON object, `{}` when none.
    pub attributes: String,
}

impl Common {
    /// Bytes of text the context holds. Every event row carries a copy of it, so a batch's
    /// rows cost about `events × this` on top of the events' own bytes.
    pub fn text_bytes(&self) -> usize {
        [
            &self.session_id,
            &self.view_id,
            &self.page_url,
            &self.referrer,
            &self.browser,
            &self.browser_version,
            &self.os,
            &self.os_version,
            &self.device_type,
            &self.device_model,
            &self.device_manufacturer,
            &self.country,
            &self.region,
            &self.city,
            &self.connection_type,
            &self.effective_type,
            &self.user_id,
            &self.release,
            &self.environment,
            &self.agent,
            &self.agent_version,
            &self.app_version,
            &self.app_name,
            &self.app_build,
            &self.carrier,
            &self.attributes,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
            // page_path is derived from page_url, and fixed-width columns add ~8 bytes each.
            + self.page_url.len()
            + 64
    }
}

/// One accepted batch, enriched: the unit of durability. Its URL and free-text values are
/// scrubbed when it becomes [`crate::Rows`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestBatch {
    /// Whose data this is.
    pub project: ProjectId,
    /// Shared context.
    pub common: Common,
    /// The events, already scrubbed and normalised.
    pub events: Vec<Event>,
    /// What the collector made of each error event (symbolicated frames, fingerprint), by
    /// the event's index; empty when nothing analysed the batch, and then an error's
    /// grouping columns stay null.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<(usize, ErrorAnalysis)>,
}

/// What the collector derives from an error event before it is stored: the columns of the
/// errors table that the SDK does not send. JSON documents are kept as text, so the model
/// needs no knowledge of their shape; `vigil-errors` writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorAnalysis {
    /// The group this error belongs to.
    pub fingerprint: String,
    /// JSON: the grouping algorithm's version and the parts that went into the hash.
    pub grouping: String,
    /// JSON: the frames, each as received plus its original location when a source map
    /// resolved it, or why not; file URLs already scrubbed.
    pub frames: String,
    /// JSON: the `cause` chain with its frames processed the same way; empty when none.
    pub causes: String,
    /// Where it happened: the innermost in-app frame, `function (file:line)`.
    pub culprit: String,
    /// `mapped`, `partial`, `unmapped` or `no_frames`.
    pub symbolication: String,
}

impl IngestBatch {
    /// About how many bytes of rows the batch context alone becomes: it is copied into every
    /// row, so a small body with a large context expands a lot. Checked before any row is
    /// built.
    pub fn context_row_bytes(&self) -> usize {
        self.events.len().saturating_mul(self.common.text_bytes())
    }
}
