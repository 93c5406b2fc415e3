//! Log frames written before the store took [`Rows`]: format 1 held the JSON of an
//! [`IngestBatch`] (the wire protocol's events with the enriched context). They are read
//! here, so a log written by an earlier release replays after an upgrade. Fields the wire
//! protocol gains later are absent from such frames and read as absent.

use crate::record::IngestBatch;
use crate::rows::Rows;

/// Rows of a format-1 log frame.
pub fn rows_of_v1_frame(payload: &[u8]) -> Result<Rows, String> {
    let batch: IngestBatch = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    batch.to_rows(usize::MAX).map_err(|e| e.to_string())
}
