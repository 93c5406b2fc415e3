//! What a column is: its storage type, what kind of value it holds, and how it is taken from
//! an event.

use crate::record::{Common, ErrorAnalysis};
use crate::telemetry::{LogRecord, SpanRecord};
use std::borrow::Cow;
use vigil_protocol::Event;

/// One row of a table, as the extractors see it.
#[derive(Clone, Copy)]
pub enum Row<'a> {
    /// An SDK's event with the context of its batch.
    Event(EventRow<'a>),
    /// A span received over OTLP.
    Span(&'a SpanRecord),
    /// A log record received over OTLP.
    Log(&'a LogRecord),
}

/// One event with the context of its batch.
#[derive(Clone, Copy)]
pub struct EventRow<'a> {
    /// The batch context.
    pub common: &'a Common,
    /// The event.
    pub event: &'a Event,
    /// The collector's analysis, for an error event that had one.
    pub error: Option<&'a ErrorAnalysis>,
    /// The context's page URL scrubbed as a URL, once for all the batch's rows: each
    /// client span's attributes hold it (scrubbed per row, it was 1.2% of intake's
    /// instructions).
    pub context_page_url: &'a ScrubbedOnce<'a>,
}

/// A URL scrubbed when it is first asked for, and only then.
pub struct ScrubbedOnce<'a> {
    url: &'a str,
    scrubbed: std::cell::OnceCell<Cow<'a, str>>,
}

impl<'a> ScrubbedOnce<'a> {
    /// `url`, to scrub when asked.
    pub fn new(url: &'a str) -> ScrubbedOnce<'a> {
        ScrubbedOnce {
            url,
            scrubbed: std::cell::OnceCell::new(),
        }
    }

    /// The URL scrubbed (see [`crate::scrub::scrubbed_url`]).
    pub fn get(&self) -> &str {
        self.scrubbed
            .get_or_init(|| crate::scrub::scrubbed_url(self.url))
    }
}

/// Runs an event table's extractor on an event row; other rows have no value.
pub(crate) fn on_event<'a, T>(
    row: &Row<'a>,
    extract: impl Fn(&EventRow<'a>) -> Option<T>,
) -> Option<T> {
    match row {
        Row::Event(r) => extract(r),
        Row::Span(_) | Row::Log(_) => None,
    }
}

/// Runs an extractor of the batch context on an event row; other rows have no value.
pub(crate) fn on_context<'a, T>(
    row: &Row<'a>,
    extract: impl Fn(&'a Common) -> Option<T>,
) -> Option<T> {
    match row {
        Row::Event(r) => extract(r.common),
        Row::Span(_) | Row::Log(_) => None,
    }
}

pub(crate) type StrFn = for<'a> fn(&Row<'a>) -> Option<Cow<'a, str>>;
pub(crate) type F64Fn = fn(&Row<'_>) -> Option<f64>;
pub(crate) type I64Fn = fn(&Row<'_>) -> Option<i64>;
pub(crate) type BoolFn = fn(&Row<'_>) -> Option<bool>;
/// Fills a column from another one when the event left it empty (`page_path` from
/// `page_url`): it runs on the other column's stored, already scrubbed value.
pub(crate) type DeriveFn = fn(&str) -> Option<String>;

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// UTF-8 text (JSON documents too).
    Text,
    /// A 64-bit integer.
    Int,
    /// A number kept as an Int64 of `value × scale`, rounded. Browser timers tick in 0.1 ms
    /// at best, so durations keep all their information at scale 10 while costing 2–3
    /// bytes instead of the 8 of a float whose mantissa is noise. The query layer divides
    /// by the scale, so users see the number they sent.
    Fixed(i64),
    /// A boolean.
    Bool,
}

/// The unit of a measurement, for documents and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Unit {
    Ms,
    Bytes,
    Px,
    /// A count of things.
    Count,
    /// A share between 0 and 1.
    Share,
    /// A number without a unit (CLS, money, a scroll depth in percent).
    Number,
    /// GiB of device memory.
    GiB,
    /// An HTTP status code.
    Status,
}

/// What a column's values are. The kind decides what happens to a value before it is
/// stored and what the query layer lets a user do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// When the event happened (ms since the epoch).
    Time,
    /// An identifier chosen by an SDK (session, view, trace): grouped and filtered, never
    /// scrubbed.
    Id,
    /// A URL: secret parameters lose their values and emails, cards and tokens are
    /// replaced before it is stored.
    Url,
    /// Free text written by an application or a browser (messages, stacks, titles, user
    /// ids): emails, cards and tokens are replaced before it is stored.
    Message,
    /// A categorical value (browser, country, status text): grouped and filtered as is.
    Dimension,
    /// A number measured on the client, in a unit.
    Measurement(Unit),
    /// A JSON document (frames, breadcrumbs, properties, attributes); its builder scrubs
    /// what it holds.
    Json,
}

/// How a column's value is taken from a row.
#[derive(Clone, Copy)]
pub(crate) enum Extract {
    Str(StrFn),
    F64(F64Fn),
    I64(I64Fn),
    Bool(BoolFn),
}

/// One column of a table.
#[derive(Clone, Copy)]
pub struct Field {
    /// Column name, also the query API's dimension or field name.
    pub name: &'static str,
    /// How it is stored.
    pub ty: Type,
    /// What it holds.
    pub kind: Kind,
    pub(crate) extract: Extract,
    /// When the extractor gives nothing: the column to derive from, and how.
    pub(crate) derive: Option<(&'static str, DeriveFn)>,
    /// An event row's value comes from its batch's context alone, so the rows of one batch
    /// share it and it is extracted once for them.
    pub(crate) context_only: bool,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Field {
    /// The Arrow type of the column.
    pub fn data_type(&self) -> arrow_schema::DataType {
        match self.ty {
            Type::Text => arrow_schema::DataType::Utf8,
            Type::Int | Type::Fixed(_) => arrow_schema::DataType::Int64,
            Type::Bool => arrow_schema::DataType::Boolean,
        }
    }

    /// Whether rows may leave it empty: every row has a time.
    pub fn is_nullable(&self) -> bool {
        self.kind != Kind::Time
    }

    /// Whether the query layer may group and filter by it as a dimension.
    pub fn is_dimension(&self) -> bool {
        matches!(self.ty, Type::Text | Type::Bool)
    }

    /// Whether it holds numbers (integers or fixed point), other than the timestamp.
    pub fn is_numeric(&self) -> bool {
        matches!(self.ty, Type::Int | Type::Fixed(_)) && self.kind != Kind::Time
    }

    /// The fixed-point scale: stored value = value × scale (1 for integers).
    pub fn scale(&self) -> Option<i64> {
        match self.ty {
            Type::Fixed(s) => Some(s),
            Type::Int => Some(1),
            Type::Text | Type::Bool => None,
        }
    }
}
