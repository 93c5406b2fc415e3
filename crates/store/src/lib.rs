//! The embedded store: a write-ahead log with group commit, an in-memory table of Arrow
//! batches that queries see at once, and Parquet segments per project, day and table that
//! a background flusher writes, compacts and expires. It knows nothing of HTTP.

mod engine;
mod manifest;
mod metrics;
mod record;
mod schema;
mod segment;
pub mod wal;

pub use engine::{
    ERASURE_GRACE, Erasure, ErasureReport, Store, StoreConfig, StoreError, TableSnapshot,
    is_disk_full,
};
pub use manifest::{MANIFEST_VERSION, Manifest, SegmentFile, day_of};
pub use metrics::{StoreMetrics, WRITE_LATENCY_BUCKETS};
pub use record::{Common, IngestBatch, ProjectId};
pub use schema::{Column, Extract, Row, Table, batches_by_table, build_batch, path_of};
pub use segment::read_parquet;
