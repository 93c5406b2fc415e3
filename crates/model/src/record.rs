//! An enriched batch: what the pipeline makes of a wire batch before it becomes rows.

use serde::{Deserialize, Serialize};
use vigil_protocol::{Event, Text};

/// A project's numeric id, the partition key of everything stored.
pub type ProjectId = u32;

/// Context of one batch after enrichment: what the SDK said, plus what the collector derived
/// (browser, OS, device type, location). Holds no IP address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // field names are the column names, documented in docs/protocol.md
pub struct Common {
    pub session_id: Text,
    pub view_id: Text,
    pub page_url: Text,
    pub referrer: Text,
    pub browser: Text,
    pub browser_version: Text,
    pub os: Text,
    pub os_version: Text,
    pub device_type: Text,
    pub device_model: Text,
    #[serde(default)]
    pub device_manufacturer: Text,
    pub country: Text,
    pub region: Text,
    pub city: Text,
    pub connection_type: Text,
    pub effective_type: Text,
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
    pub user_id: Text,
    pub release: Text,
    pub environment: Text,
    pub agent: Text,
    pub agent_version: Text,
    pub app_version: Text,
    #[serde(default)]
    pub app_name: Text,
    #[serde(default)]
    pub app_build: Text,
    pub carrier: Text,
    /// The share of sessions the SDK kept; absent means all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<f64>,
    /// Custom attributes as a JSON object, `{}` when none.
    pub attributes: Text,
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
