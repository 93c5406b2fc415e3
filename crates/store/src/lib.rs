//! The embedded store: a write-ahead log with group commit, an in-memory table of Arrow
//! batches that queries see at once, and Parquet segments per project, day and table that
//! a background flusher writes, compacts and expires. It receives [`vigil_model::Rows`]
//! and knows nothing of the wire protocol or of HTTP.

pub mod deltas;
mod engine;
mod flusher;
pub mod fold;
pub mod frame;
mod manifest;
mod memtable;
mod metrics;
mod migrate;
pub mod page_urls;
mod paired;
mod replay;
mod segment;
pub mod session_ids;
pub mod view_ids;
pub mod wal;
mod writer;

pub use engine::{ERASURE_GRACE, Store, StoreConfig, StoreError, TableSnapshot, is_disk_full};
pub use manifest::{MANIFEST_VERSION, Manifest, SegmentFile, day_of};
pub use metrics::{StoreMetrics, WRITE_LATENCY_BUCKETS};
pub use segment::{column_bytes, read_parquet};
pub use vigil_model::storage::{Erasure, ErasureReport, EventStore};
pub use vigil_model::{ProjectId, Rows, Table};
