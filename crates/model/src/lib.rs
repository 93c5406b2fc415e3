//! The event model: every table Vigil keeps and every column of it, declared once, and the
//! rows built from enriched wire batches by those declarations.
//!
//! From the declarations in `declare.rs` come the Arrow schemas, the row builders, the
//! scrubbing of every URL and free-text column (by its kind, never by naming it again), and
//! the query layer's checks of field names, types and fixed-point scales. Storage backends
//! receive [`Rows`] (columnar, per table) and implement [`storage::EventStore`]; they never
//! see the wire protocol.

mod declare;
mod field;
pub mod legacy;
mod memo;
mod record;
mod rows;
mod scrub;
pub mod storage;

mod table;
mod telemetry;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use declare::{host_of, path_of};
pub use field::{EventRow, Field, Kind, Row, ScrubbedOnce, Type, Unit};
pub use record::{Common, ErrorAnalysis, IngestBatch, ProjectId};
pub use rows::{ROWS_FORMAT, Rows, RowsError, TableAppender, TableSection};
pub use scrub::{scrub_message, scrub_url, template_url};
pub use table::Table;
pub use telemetry::{LogRecord, SpanRecord, attribute, severity_name};
