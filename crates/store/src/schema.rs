//! The tables of the store and their columns, declared once: the Arrow schema, the row
//! extraction and the query layer's list of dimensions all come from these declarations.

use crate::record::{Common, IngestBatch};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};
use vigil_protocol::{Event, EventBody};

/// One event with the context of its batch, as the extractors see it.
pub struct Row<'a> {
    /// The batch context.
    pub common: &'a Common,
    /// The event.
    pub event: &'a Event,
}

type StrFn = for<'a> fn(&Row<'a>) -> Option<Cow<'a, str>>;
type F64Fn = fn(&Row<'_>) -> Option<f64>;
type I64Fn = fn(&Row<'_>) -> Option<i64>;
type BoolFn = fn(&Row<'_>) -> Option<bool>;

/// How a column's value is taken from a row.
#[derive(Clone, Copy)]
pub enum Extract {
    /// A string column (possibly a JSON document).
    Str(StrFn),
    /// A number stored as fixed point: an Int64 of `value × scale`, rounded. Browser
    /// timers tick in 0.1 ms at best, so durations keep all their information at scale 10
    /// while costing 2–3 bytes instead of the 8 of a float whose mantissa is noise. The
    /// query layer divides by the scale, so users see the number they sent.
    F64(F64Fn, i64),
    /// An integer column (timestamps, statuses, counts).
    I64(I64Fn),
    /// A boolean column.
    Bool(BoolFn),
}

/// One column of a table.
#[derive(Clone, Copy)]
pub struct Column {
    /// Column name, also the query API's dimension or field name.
    pub name: &'static str,
    /// How to fill it.
    pub extract: Extract,
}

impl Column {
    /// The Arrow type of the column.
    pub fn data_type(&self) -> DataType {
        match self.extract {
            Extract::Str(_) => DataType::Utf8,
            Extract::F64(..) => DataType::Int64,
            Extract::I64(_) => DataType::Int64,
            Extract::Bool(_) => DataType::Boolean,
        }
    }

    /// Whether the query layer may group and filter by it as a dimension.
    pub fn is_dimension(&self) -> bool {
        matches!(self.extract, Extract::Str(_) | Extract::Bool(_))
    }
}

/// The event tables: one per event kind keeps columns dense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Table {
    Views,
    Vitals,
    Resources,
    ResourceErrors,
    LongTasks,
    Errors,
    Requests,
    Actions,
    Routes,
    CustomEvents,
    AppStarts,
    ScreenLoads,
    Crashes,
    Anrs,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 14] = [
        Table::Views,
        Table::Vitals,
        Table::Resources,
        Table::ResourceErrors,
        Table::LongTasks,
        Table::Errors,
        Table::Requests,
        Table::Actions,
        Table::Routes,
        Table::CustomEvents,
        Table::AppStarts,
        Table::ScreenLoads,
        Table::Crashes,
        Table::Anrs,
    ];

    /// The SQL and file name of the table.
    pub fn name(self) -> &'static str {
        match self {
            Table::Views => "views",
            Table::Vitals => "vitals",
            Table::Resources => "resources",
            Table::ResourceErrors => "resource_errors",
            Table::LongTasks => "long_tasks",
            Table::Errors => "errors",
            Table::Requests => "requests",
            Table::Actions => "actions",
            Table::Routes => "routes",
            Table::CustomEvents => "custom_events",
            Table::AppStarts => "app_starts",
            Table::ScreenLoads => "screen_loads",
            Table::Crashes => "crashes",
            Table::Anrs => "anrs",
        }
    }

    /// The table by name.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The table an event goes to.
    pub fn of(body: &EventBody) -> Table {
        match body {
            EventBody::View(_) => Table::Views,
            EventBody::Vital(_) => Table::Vitals,
            EventBody::Resource(_) => Table::Resources,
            EventBody::ResourceError(_) => Table::ResourceErrors,
            EventBody::LongTask(_) => Table::LongTasks,
            EventBody::Error(_) => Table::Errors,
            EventBody::Request(_) => Table::Requests,
            EventBody::Action(_) => Table::Actions,
            EventBody::Route(_) => Table::Routes,
            EventBody::Custom(_) => Table::CustomEvents,
            EventBody::AppStart(_) => Table::AppStarts,
            EventBody::ScreenLoad(_) => Table::ScreenLoads,
            EventBody::Crash(_) => Table::Crashes,
            EventBody::Anr(_) => Table::Anrs,
        }
    }

    /// All columns: the common ones first, then the table's own.
    pub fn columns(self) -> &'static [Column] {
        &COLUMNS[self as usize]
    }

    /// The Arrow schema.
    pub fn schema(self) -> SchemaRef {
        SCHEMAS[self as usize].clone()
    }

    /// One column by name.
    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }
}

fn s(v: &str) -> Option<Cow<'_, str>> {
    if v.is_empty() {
        None
    } else {
        Some(Cow::Borrowed(v))
    }
}
fn os(v: &Option<String>) -> Option<Cow<'_, str>> {
    v.as_deref().map(Cow::Borrowed)
}
fn json<T: serde::Serialize>(v: &T) -> Option<Cow<'static, str>> {
    serde_json::to_string(v).ok().map(Cow::Owned)
}
fn host(url: &str) -> Option<Cow<'_, str>> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(Cow::Borrowed(&rest[..end]))
}

/// Fixed-point scale of millisecond columns (0.1 ms).
pub const MS_SCALE: i64 = 10;
/// Fixed-point scale of other fractional columns (0.001).
pub const NUMBER_SCALE: i64 = 1000;

macro_rules! col {
    ($name:literal, str, $f:expr) => {
        Column {
            name: $name,
            extract: Extract::Str($f),
        }
    };
    // Durations and times in ms: 0.1 ms resolution.
    ($name:literal, ms, $f:expr) => {
        Column {
            name: $name,
            extract: Extract::F64($f, MS_SCALE),
        }
    };
    // Byte counts: whole bytes.
    ($name:literal, bytes, $f:expr) => {
        Column {
            name: $name,
            extract: Extract::F64($f, 1),
        }
    };
    // Other numbers (scores such as CLS, money, percentages): 0.001 resolution.
    ($name:literal, f64, $f:expr) => {
        Column {
            name: $name,
            extract: Extract::F64($f, NUMBER_SCALE),
        }
    };
    // Shares such as a sample rate: one in a million, so 1/3 keeps six digits.
    ($name:literal, rate, $f:expr) => {
        Column {
            name: $name,
            extract: Extract::F64($f, 1_000_000),
        }
    };
    ($name:literal, i64, $f:expr) => {
        Column {
            name: $name,
            extract: Extract::I64($f),
        }
    };
    ($name:literal, bool, $f:expr) => {
        Column {
            name: $name,
            extract: Extract::Bool($f),
        }
    };
}

/// Binds `$v` to the event's body of the given variant; other variants never reach a
/// table's extractors, because rows are routed by [`Table::of`].
macro_rules! body {
    ($row:expr, $variant:ident) => {
        match &$row.event.body {
            EventBody::$variant(v) => v,
            _ => return None,
        }
    };
}

fn common_columns() -> Vec<Column> {
    vec![
        col!("ts", i64, |r| Some(r.event.ts)),
        col!("session_id", str, |r| s(&r.common.session_id)),
        col!("view_id", str, |r| r
            .event
            .view_id
            .as_deref()
            .or(Some(r.common.view_id.as_str()))
            .and_then(s)),
        col!("page_url", str, |r| r
            .event
            .page_url
            .as_deref()
            .or(Some(r.common.page_url.as_str()))
            .and_then(s)),
        col!("page_path", str, |r| {
            let url = r.event.page_url.as_deref().unwrap_or(&r.common.page_url);
            if url.is_empty() {
                None
            } else {
                Some(Cow::Owned(path_of(url)))
            }
        }),
        col!("browser", str, |r| s(&r.common.browser)),
        col!("browser_version", str, |r| s(&r.common.browser_version)),
        col!("os", str, |r| s(&r.common.os)),
        col!("os_version", str, |r| s(&r.common.os_version)),
        col!("device_type", str, |r| s(&r.common.device_type)),
        col!("device_model", str, |r| s(&r.common.device_model)),
        col!("country", str, |r| s(&r.common.country)),
        col!("region", str, |r| s(&r.common.region)),
        col!("city", str, |r| s(&r.common.city)),
        col!("connection_type", str, |r| s(&r.common.connection_type)),
        col!("effective_type", str, |r| s(&r.common.effective_type)),
        col!("device_memory", f64, |r| r.common.device_memory),
        col!("user_id", str, |r| s(&r.common.user_id)),
        col!("release", str, |r| s(&r.common.release)),
        col!("environment", str, |r| s(&r.common.environment)),
        col!("agent", str, |r| s(&r.common.agent)),
        col!("agent_version", str, |r| s(&r.common.agent_version)),
        col!("app_version", str, |r| s(&r.common.app_version)),
        col!("carrier", str, |r| s(&r.common.carrier)),
        col!("sample_rate", rate, |r| r.common.sample_rate),
        col!(
            "attributes",
            str,
            |r| if r.common.attributes.is_empty() || r.common.attributes == "{}" {
                None
            } else {
                s(&r.common.attributes)
            }
        ),
    ]
}

/// The path of a URL, without origin, query or fragment (`/` when empty): the `page_path`
/// dimension. Hash routes (`/#/cart`) keep their fragment path, since for those apps it is
/// the page.
pub fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let from_path = if url.contains("://") {
        after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
    } else {
        after_scheme
    };
    let (before_fragment, fragment) = match from_path.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (from_path, None),
    };
    let path = before_fragment.split('?').next().unwrap_or("/");
    let path = if path.is_empty() { "/" } else { path };
    match fragment {
        Some(f) if f.starts_with('/') => format!("{path}#{}", f.split('?').next().unwrap_or(f)),
        _ => path.to_owned(),
    }
}

fn own_columns(table: Table) -> Vec<Column> {
    match table {
        Table::Views => vec![
            col!("navigation_type", str, |r| os(
                &body!(r, View).navigation_type
            )),
            col!("title", str, |r| os(&body!(r, View).title)),
            col!("referrer", str, |r| s(&r.common.referrer)),
            col!("screen_width", i64, |r| r
                .common
                .screen_width
                .map(i64::from)),
            col!("screen_height", i64, |r| r
                .common
                .screen_height
                .map(i64::from)),
            col!("viewport_width", i64, |r| r
                .common
                .viewport_width
                .map(i64::from)),
            col!("viewport_height", i64, |r| r
                .common
                .viewport_height
                .map(i64::from)),
            col!("redirect", ms, |r| body!(r, View).timing.redirect),
            col!("dns", ms, |r| body!(r, View).timing.dns),
            col!("tcp", ms, |r| body!(r, View).timing.tcp),
            col!("tls", ms, |r| body!(r, View).timing.tls),
            col!("request", ms, |r| body!(r, View).timing.request),
            col!("ttfb", ms, |r| body!(r, View).timing.ttfb),
            col!("download", ms, |r| body!(r, View).timing.download),
            col!("dom_interactive", ms, |r| body!(r, View)
                .timing
                .dom_interactive),
            col!("dom_content_loaded", ms, |r| body!(r, View)
                .timing
                .dom_content_loaded),
            col!("dom_complete", ms, |r| body!(r, View).timing.dom_complete),
            col!("load", ms, |r| body!(r, View).timing.load),
            col!("fcp", ms, |r| body!(r, View).fcp),
            col!("transfer_size", bytes, |r| body!(r, View).transfer_size),
            col!("tbt", ms, |r| body!(r, View).tbt),
            col!("tti", ms, |r| body!(r, View).tti),
        ],
        Table::Vitals => vec![
            col!("name", str, |r| s(&body!(r, Vital).name)),
            col!("value", f64, |r| Some(body!(r, Vital).value)),
            col!("rating", str, |r| os(&body!(r, Vital).rating)),
            col!("element", str, |r| os(&body!(r, Vital).attribution.element)),
            col!("url", str, |r| os(&body!(r, Vital).attribution.url)),
            col!("lcp_ttfb", ms, |r| body!(r, Vital).attribution.ttfb),
            col!("load_delay", ms, |r| body!(r, Vital).attribution.load_delay),
            col!("load_duration", ms, |r| body!(r, Vital)
                .attribution
                .load_duration),
            col!("render_delay", ms, |r| body!(r, Vital)
                .attribution
                .render_delay),
            col!("event_type", str, |r| os(&body!(r, Vital)
                .attribution
                .event_type)),
            col!("input_delay", ms, |r| body!(r, Vital)
                .attribution
                .input_delay),
            col!("processing", ms, |r| body!(r, Vital).attribution.processing),
            col!("presentation_delay", ms, |r| body!(r, Vital)
                .attribution
                .presentation_delay),
            col!("script_url", str, |r| os(&body!(r, Vital)
                .attribution
                .script_url)),
            col!("script_duration", ms, |r| body!(r, Vital)
                .attribution
                .script_duration),
            col!("shift_time", ms, |r| body!(r, Vital).attribution.shift_time),
            col!("load_state", str, |r| os(&body!(r, Vital)
                .attribution
                .load_state)),
        ],
        Table::Resources => vec![
            col!("url", str, |r| s(&body!(r, Resource).url)),
            col!("domain", str, |r| host(&body!(r, Resource).url)),
            col!("initiator", str, |r| s(&body!(r, Resource).initiator)),
            col!("start", ms, |r| body!(r, Resource).start),
            col!("duration", ms, |r| Some(body!(r, Resource).duration)),
            col!("dns", ms, |r| body!(r, Resource).dns),
            col!("tcp", ms, |r| body!(r, Resource).tcp),
            col!("tls", ms, |r| body!(r, Resource).tls),
            col!("ttfb", ms, |r| body!(r, Resource).ttfb),
            col!("download", ms, |r| body!(r, Resource).download),
            col!("transfer_size", bytes, |r| body!(r, Resource).transfer_size),
            col!("encoded_size", bytes, |r| body!(r, Resource).encoded_size),
            col!("decoded_size", bytes, |r| body!(r, Resource).decoded_size),
            col!("render_blocking", bool, |r| body!(r, Resource)
                .render_blocking),
            col!("status", i64, |r| body!(r, Resource).status.map(i64::from)),
        ],
        Table::ResourceErrors => vec![
            col!("url", str, |r| s(&body!(r, ResourceError).url)),
            col!("domain", str, |r| host(&body!(r, ResourceError).url)),
            col!("tag", str, |r| s(&body!(r, ResourceError).tag)),
        ],
        Table::LongTasks => vec![
            col!("kind", str, |r| s(&body!(r, LongTask).kind)),
            col!("start", ms, |r| body!(r, LongTask).start),
            col!("duration", ms, |r| Some(body!(r, LongTask).duration)),
            col!("blocking_duration", ms, |r| body!(r, LongTask)
                .blocking_duration),
            col!("script_url", str, |r| os(&body!(r, LongTask).script_url)),
            col!("invoker", str, |r| os(&body!(r, LongTask).invoker)),
            col!("script_duration", ms, |r| body!(r, LongTask)
                .script_duration),
        ],
        Table::Errors => vec![
            col!("error_type", str, |r| s(&body!(r, Error).error_type)),
            col!("message", str, |r| s(&body!(r, Error).message)),
            col!("stack", str, |r| os(&body!(r, Error).stack)),
            col!("frames", str, |r| json(&body!(r, Error).frames)),
            col!("handled", bool, |r| Some(body!(r, Error).handled)),
            col!("source", str, |r| os(&body!(r, Error).source)),
            col!("breadcrumbs", str, |r| json(&body!(r, Error).breadcrumbs)),
        ],
        Table::Requests => vec![
            col!("api", str, |r| os(&body!(r, Request).api)),
            col!("method", str, |r| s(&body!(r, Request).method)),
            col!("url", str, |r| s(&body!(r, Request).url)),
            col!("url_template", str, |r| os(&body!(r, Request).url_template)),
            col!("status", i64, |r| body!(r, Request).status.map(i64::from)),
            col!("duration", ms, |r| Some(body!(r, Request).duration)),
            col!("dns", ms, |r| body!(r, Request).dns),
            col!("tcp", ms, |r| body!(r, Request).tcp),
            col!("tls", ms, |r| body!(r, Request).tls),
            col!("ttfb", ms, |r| body!(r, Request).ttfb),
            col!("download", ms, |r| body!(r, Request).download),
            col!("request_size", bytes, |r| body!(r, Request).request_size),
            col!("response_size", bytes, |r| body!(r, Request).response_size),
            col!("trace_id", str, |r| os(&body!(r, Request).trace_id)),
            col!("span_id", str, |r| os(&body!(r, Request).span_id)),
            col!("failure", str, |r| os(&body!(r, Request).failure)),
        ],
        Table::Actions => vec![
            col!("action", str, |r| s(&body!(r, Action).action)),
            col!("selector", str, |r| os(&body!(r, Action).selector)),
            col!("count", i64, |r| body!(r, Action).count.map(i64::from)),
            col!("depth", f64, |r| body!(r, Action).depth),
            col!("form", str, |r| os(&body!(r, Action).form)),
            col!("fields", str, |r| {
                let f = &body!(r, Action).fields;
                if f.is_empty() { None } else { json(f) }
            }),
            col!("last_field", str, |r| os(&body!(r, Action).last_field)),
        ],
        Table::Routes => vec![
            col!("from_url", str, |r| s(&body!(r, Route).from)),
            col!("to_url", str, |r| s(&body!(r, Route).to)),
            col!("new_view_id", str, |r| os(&body!(r, Route).new_view_id)),
            col!("trigger", str, |r| os(&body!(r, Route).trigger)),
            col!("duration", ms, |r| body!(r, Route).duration),
        ],
        Table::CustomEvents => vec![
            col!("name", str, |r| s(&body!(r, Custom).name)),
            col!("properties", str, |r| {
                let p = &body!(r, Custom).properties;
                if p.is_empty() { None } else { json(p) }
            }),
            col!("value", f64, |r| body!(r, Custom).value),
        ],
        Table::AppStarts => vec![
            col!("start_type", str, |r| s(&body!(r, AppStart).start_type)),
            col!("duration", ms, |r| Some(body!(r, AppStart).duration)),
        ],
        Table::ScreenLoads => vec![
            col!("screen", str, |r| s(&body!(r, ScreenLoad).screen)),
            col!("duration", ms, |r| Some(body!(r, ScreenLoad).duration)),
        ],
        Table::Crashes => vec![
            col!("error_type", str, |r| s(&body!(r, Crash).error_type)),
            col!("message", str, |r| s(&body!(r, Crash).message)),
            col!("stack", str, |r| os(&body!(r, Crash).stack)),
            col!("frames", str, |r| json(&body!(r, Crash).frames)),
        ],
        Table::Anrs => vec![
            col!("duration", ms, |r| Some(body!(r, Anr).duration)),
            col!("stack", str, |r| os(&body!(r, Anr).stack)),
        ],
    }
}

static COLUMNS: LazyLock<Vec<Vec<Column>>> = LazyLock::new(|| {
    Table::ALL
        .iter()
        .map(|&t| {
            let mut cols = common_columns();
            cols.extend(own_columns(t));
            cols
        })
        .collect()
});

static SCHEMAS: LazyLock<Vec<SchemaRef>> = LazyLock::new(|| {
    Table::ALL
        .iter()
        .map(|&t| {
            let fields: Vec<Field> = t
                .columns()
                .iter()
                .map(|c| Field::new(c.name, c.data_type(), c.name != "ts"))
                .collect();
            Arc::new(Schema::new(fields))
        })
        .collect()
});

/// Builds one Arrow batch of `table` from rows that all belong to it.
pub fn build_batch(table: Table, rows: &[Row<'_>]) -> RecordBatch {
    let arrays: Vec<ArrayRef> = table
        .columns()
        .iter()
        .map(|col| -> ArrayRef {
            match col.extract {
                Extract::Str(f) => {
                    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
                    rows.iter().for_each(|r| b.append_option(f(r)));
                    Arc::new(b.finish())
                }
                Extract::F64(f, scale) => {
                    let mut b = Int64Builder::with_capacity(rows.len());
                    let fixed = |v: f64| (v * scale as f64).round() as i64;
                    rows.iter().for_each(|r| b.append_option(f(r).map(fixed)));
                    Arc::new(b.finish())
                }
                Extract::I64(f) => {
                    let mut b = Int64Builder::with_capacity(rows.len());
                    rows.iter().for_each(|r| b.append_option(f(r)));
                    Arc::new(b.finish())
                }
                Extract::Bool(f) => {
                    let mut b = BooleanBuilder::with_capacity(rows.len());
                    rows.iter().for_each(|r| b.append_option(f(r)));
                    Arc::new(b.finish())
                }
            }
        })
        .collect();
    RecordBatch::try_new(table.schema(), arrays).expect("columns match the schema they came from")
}

/// Splits batches into Arrow batches per table.
pub fn batches_by_table(batches: &[&IngestBatch]) -> Vec<(Table, Vec<RecordBatch>)> {
    let mut rows: Vec<Vec<Row<'_>>> = Table::ALL.iter().map(|_| Vec::new()).collect();
    for b in batches {
        for e in &b.events {
            rows[Table::of(&e.body) as usize].push(Row {
                common: &b.common,
                event: e,
            });
        }
    }
    Table::ALL
        .iter()
        .zip(rows)
        .filter(|(_, r)| !r.is_empty())
        .map(|(&t, r)| (t, vec![build_batch(t, &r)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths() {
        assert_eq!(path_of("https://example.com/a/b?x=1#top"), "/a/b");
        assert_eq!(path_of("https://example.com"), "/");
        assert_eq!(path_of("https://example.com/#/cart?x=1"), "/#/cart");
    }

    #[test]
    fn column_names_are_unique_per_table() {
        for t in Table::ALL {
            let mut names: Vec<_> = t.columns().iter().map(|c| c.name).collect();
            names.sort();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{}", t.name());
        }
    }
}
