//! Rows: what a storage backend receives. Columnar, per table, already scrubbed, with no
//! trace of the wire protocol.

mod append;
mod build;
mod codec;

pub use append::TableAppender;
pub use codec::{ROWS_FORMAT, TableSection};

use crate::field::{EventRow, Row, ScrubbedOnce};
use crate::record::{IngestBatch, ProjectId};
use crate::table::Table;
use crate::telemetry::{LogRecord, SpanRecord};
use arrow_array::RecordBatch;
use vigil_protocol::EventBody;

/// One batch's rows, for each table it has events in, encoded column by column (see
/// [`codec`]): the unit a storage backend makes durable. Encoded once, by the intake, so
/// that a small batch costs no Arrow arrays of its own; the embedded store writes the bytes
/// to its log as they are and gathers many batches' rows into one set of Arrow builders.
///
/// A `Rows` is always well formed: it is built from events or read back checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// Whose rows.
    pub project: ProjectId,
    encoded: Vec<u8>,
    /// Per table, its row count (tables without rows are left out).
    counts: Vec<(Table, usize)>,
    arrow_bytes: usize,
    /// Where each table's columns lie in `encoded`, as parsing finds them.
    places: Vec<codec::SectionPlace>,
    /// The places of every section's columns, each section's a range of them.
    columns: Vec<codec::ColumnPlace>,
}

impl Rows {
    /// Rows over all tables: one per event.
    pub fn len(&self) -> usize {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// About the bytes the rows take as Arrow arrays.
    pub fn memory_bytes(&self) -> usize {
        self.arrow_bytes
    }

    /// The tables with rows and how many each.
    pub fn tables(&self) -> &[(Table, usize)] {
        &self.counts
    }

    /// The encoding (format [`ROWS_FORMAT`]), which the log stores as it is.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// Reads encoded rows back, checking every value; an error says what is wrong. Rows
    /// of an earlier format come back in this one.
    pub fn from_encoded(bytes: &[u8]) -> Result<Rows, String> {
        if bytes.first() == Some(&2) {
            return Rows::from_encoded(&codec::upgrade_v2(bytes)?);
        }
        let encoded = codec::in_current_format(bytes)?;
        let (project, sections) = codec::parse(&encoded, codec::Text::Check)?;
        let counts = sections.iter().map(|s| (s.table, s.rows)).collect();
        let arrow_bytes = sections.iter().map(|s| s.arrow_bytes).sum();
        let (places, columns) = codec::places_of(&encoded, &sections);
        drop(sections);
        Ok(Rows {
            project,
            encoded,
            counts,
            arrow_bytes,
            places,
            columns,
        })
    }

    /// Each table's rows, to append to a [`TableAppender`] of its table.
    pub fn sections(&self) -> Vec<TableSection<'_>> {
        codec::sections_at(&self.encoded, &self.places, &self.columns).unwrap_or_else(|| {
            // Places are made with the bytes, so this is not reached; the rows were checked
            // when built or read back, so this parse cannot fail.
            codec::parse(&self.encoded, codec::Text::Trust)
                .map_or_else(|_| Vec::new(), |(_, sections)| sections)
        })
    }

    /// Each table's rows as an Arrow batch of its schema.
    pub fn batches(&self) -> Vec<(Table, RecordBatch)> {
        self.sections()
            .iter()
            .map(|s| {
                let mut appender = TableAppender::new(s.table);
                appender.append(s);
                (s.table, appender.finish())
            })
            .collect()
    }
}

/// Why a batch did not become rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowsError {
    /// Its rows would take more memory than allowed.
    #[error("the batch's rows would take {bytes} bytes, the limit is {limit}")]
    TooLarge {
        /// Estimated or measured bytes.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Building them failed (a defect, caught so it cannot take a server down).
    #[error("the batch cannot be stored: {0}")]
    Unbuildable(String),
}

impl IngestBatch {
    /// Builds the batch's rows, refusing a batch whose rows would pass `limit` bytes: first
    /// by the context copied into each row (before anything is built), then by the rows'
    /// measured size. A panic while building is caught and returned as an error.
    pub fn to_rows(&self, limit: usize) -> Result<Rows, RowsError> {
        let estimate = self.context_row_bytes();
        if estimate > limit {
            return Err(RowsError::TooLarge {
                bytes: estimate,
                limit,
            });
        }
        let rows = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.build_rows()))
            .map_err(|panic| {
                RowsError::Unbuildable(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "rows could not be built".to_owned()),
                )
            })?;
        let bytes = rows.memory_bytes();
        if bytes > limit {
            return Err(RowsError::TooLarge { bytes, limit });
        }
        Ok(rows)
    }

    fn build_rows(&self) -> Rows {
        let page_url = ScrubbedOnce::new(&self.common.page_url);
        let mut by_table: Vec<Vec<Row<'_>>> = Table::ALL.iter().map(|_| Vec::new()).collect();
        self.push_rows(&page_url, &mut by_table);
        Rows::encode_tables(self.project, by_table)
    }

    /// Sorts the batch's events into their tables' rows; `page_url` is the context's, to
    /// scrub once for them all.
    fn push_rows<'a>(&'a self, page_url: &'a ScrubbedOnce<'a>, by_table: &mut [Vec<Row<'a>>]) {
        let mut analyses = self.errors.iter().peekable();
        for (i, e) in self.events.iter().enumerate() {
            while analyses.next_if(|(at, _)| *at < i).is_some() {}
            let row = Row::Event(EventRow {
                common: &self.common,
                event: e,
                error: analyses.next_if(|(at, _)| *at == i).map(|(_, a)| a),
                context_page_url: page_url,
            });
            let table = Table::of(&e.body);
            by_table[table as usize].push(row);
            // A traced request is also its page's client span.
            if let EventBody::Request(q) = &e.body
                && q.trace_id.is_some()
                && q.span_id.is_some()
            {
                by_table[Table::Spans as usize].push(row);
            }
        }
    }
}

impl Rows {
    fn encode_tables(project: ProjectId, by_table: Vec<Vec<Row<'_>>>) -> Rows {
        Rows::encode_tables_reading(project, by_table, build::Reading::default())
    }

    /// [`Rows::encode_tables`], read as `how` says (tests compare the ways).
    fn encode_tables_reading(
        project: ProjectId,
        by_table: Vec<Vec<Row<'_>>>,
        how: build::Reading,
    ) -> Rows {
        let tables: Vec<(Table, Vec<Row<'_>>)> = Table::ALL
            .iter()
            .zip(by_table)
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(&t, rows)| (t, rows))
            .collect();
        Rows::encode_reading(project, &tables, how)
    }

    /// One OTLP request's rows as one durable unit: its spans, its log records, and the
    /// events made from them (a mobile SDK's app starts, screens, requests, crashes). Refused
    /// like [`IngestBatch::to_rows`] past `limit` bytes; a panic while building is an error.
    pub fn from_telemetry(
        project: ProjectId,
        spans: &[SpanRecord],
        logs: &[LogRecord],
        batches: &[IngestBatch],
        limit: usize,
    ) -> Result<Rows, RowsError> {
        let estimate: usize = batches.iter().map(IngestBatch::context_row_bytes).sum();
        if estimate > limit {
            return Err(RowsError::TooLarge {
                bytes: estimate,
                limit,
            });
        }
        let rows = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut by_table: Vec<Vec<Row<'_>>> = Table::ALL.iter().map(|_| Vec::new()).collect();
            by_table[Table::Spans as usize].extend(spans.iter().map(Row::Span));
            by_table[Table::Logs as usize].extend(logs.iter().map(Row::Log));
            let page_urls: Vec<_> = batches
                .iter()
                .map(|b| ScrubbedOnce::new(&b.common.page_url))
                .collect();
            for (batch, page_url) in batches.iter().zip(&page_urls) {
                batch.push_rows(page_url, &mut by_table);
            }
            Rows::encode_tables(project, by_table)
        }))
        .map_err(|_| RowsError::Unbuildable("rows could not be built".into()))?;
        let bytes = rows.memory_bytes();
        if bytes > limit {
            return Err(RowsError::TooLarge { bytes, limit });
        }
        Ok(rows)
    }

    fn encode(project: ProjectId, tables: &[(Table, Vec<Row<'_>>)]) -> Rows {
        Rows::encode_reading(project, tables, build::Reading::default())
    }

    fn encode_reading(
        project: ProjectId,
        tables: &[(Table, Vec<Row<'_>>)],
        how: build::Reading,
    ) -> Rows {
        let events: usize = tables.iter().map(|(_, rows)| rows.len()).sum();
        let mut encoded = Vec::with_capacity(1024 + events * 128);
        encoded.push(ROWS_FORMAT);
        encoded.extend_from_slice(&project.to_le_bytes());
        let event_rows: Vec<Row<'_>> = tables
            .iter()
            .filter(|(table, _)| table.is_event())
            .flat_map(|(_, rows)| rows.iter().copied())
            .collect();
        let mut scratch = build::Scratch::default();
        scratch.how = how;
        // A section is written into this buffer before it is copied after its column
        // count: room for all of them, as for `encoded`, spares it growing five times a
        // batch.
        scratch.body.reserve(encoded.capacity());
        scratch.reserve(tables.iter().map(|(_, rows)| rows.len()).max().unwrap_or(0));
        let shared = build::encode_shared(&mut scratch, &mut encoded, &event_rows);
        encoded.push(tables.len() as u8);
        // About what a section of a browser batch has (its own columns and the shared ones
        // repeated in it): one allocation most times.
        let mut columns = Vec::with_capacity(tables.len() * 32);
        let places: Vec<codec::SectionPlace> = tables
            .iter()
            .map(|(table, rows)| {
                build::encode_table(
                    &mut scratch,
                    &mut encoded,
                    &mut columns,
                    *table,
                    rows,
                    &shared,
                )
            })
            .collect();
        let arrow_bytes = places.iter().map(|p| p.arrow_bytes).sum();
        Rows {
            project,
            encoded,
            counts: tables.iter().map(|(t, rows)| (*t, rows.len())).collect(),
            arrow_bytes,
            places,
            columns,
        }
    }

    /// One table's rows; no table at all when there are none (a table section always has
    /// rows).
    fn encode_one(project: ProjectId, table: Table, rows: Vec<Row<'_>>) -> Rows {
        if rows.is_empty() {
            return Rows::encode(project, &[]);
        }
        Rows::encode(project, &[(table, rows)])
    }

    /// The `spans` rows of spans received from a backend.
    pub fn from_spans(project: ProjectId, spans: &[SpanRecord]) -> Rows {
        let rows: Vec<Row<'_>> = spans.iter().map(Row::Span).collect();
        Rows::encode_one(project, Table::Spans, rows)
    }

    /// The `logs` rows of log records received from a backend.
    pub fn from_logs(project: ProjectId, logs: &[LogRecord]) -> Rows {
        let rows: Vec<Row<'_>> = logs.iter().map(Row::Log).collect();
        Rows::encode_one(project, Table::Logs, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Common;
    use vigil_protocol::{Event, EventBody, Request, View, Vital};

    /// The batch's rows as [`IngestBatch::to_rows`] builds them, but reading every column
    /// row by row.
    fn read_per_row(batch: &IngestBatch) -> Rows {
        let page_url = ScrubbedOnce::new(&batch.common.page_url);
        let mut by_table: Vec<Vec<Row<'_>>> = Table::ALL.iter().map(|_| Vec::new()).collect();
        batch.push_rows(&page_url, &mut by_table);
        let how = build::Reading {
            per_row_context: true,
            ..build::Reading::default()
        };
        Rows::encode_tables_reading(batch.project, by_table, how)
    }

    /// An event at `ts` of the batch's view and page.
    fn at(ts: i64, body: EventBody) -> Event {
        Event {
            ts,
            view_id: None,
            page_url: None,
            body,
        }
    }

    /// A traced request: also a client span's row.
    fn traced(ts: i64, method: &str, url: &str) -> Event {
        at(
            ts,
            EventBody::Request(Request {
                method: method.into(),
                url: url.into(),
                trace_id: Some(format!("{ts:032x}").into()),
                span_id: Some(format!("{ts:016x}").into()),
                ..Request::default()
            }),
        )
    }

    #[test]
    fn a_context_read_once_encodes_as_the_context_read_row_by_row() {
        let rich = Common {
            session_id: "s-1".into(),
            view_id: "v-1".into(),
            page_url: "https://shop.example.com/cart?token=abc&q=ann@example.com".into(),
            browser: "Chrome".into(),
            browser_version: "131".into(),
            os: "Windows".into(),
            country: "DE".into(),
            user_id: "ann@example.com".into(),
            agent: "vigil-browser".into(),
            app_name: "shop".into(),
            sample_rate: Some(0.25),
            rtt: Some(50.0),
            device_memory: Some(8.0),
            ..Common::default()
        };
        let events = vec![
            at(1, EventBody::View(View::default())),
            at(
                2,
                EventBody::Vital(Vital {
                    name: "LCP".into(),
                    value: 1234.5,
                    ..Vital::default()
                }),
            ),
            traced(3, "GET", "https://api.example.com/orders/7?key=x"),
            at(4, EventBody::View(View::default())),
            traced(5, "POST", "https://api.example.com/pay"),
        ];
        let batches = [
            IngestBatch {
                errors: Vec::new(),
                project: 3,
                common: rich,
                events: events.clone(),
            },
            IngestBatch {
                errors: Vec::new(),
                project: 3,
                common: Common::default(),
                events,
            },
            // Events with pages of their own: the page columns differ from row to row.
            IngestBatch {
                errors: Vec::new(),
                project: 3,
                common: Common {
                    session_id: "s-2".into(),
                    page_url: "https://shop.example.com/".into(),
                    screen_width: Some(1920),
                    attributes: r#"{"plan":"pro"}"#.into(),
                    ..Common::default()
                },
                events: (0..5)
                    .map(|i| Event {
                        view_id: Some(format!("v-{i}").into()),
                        page_url: (i % 2 == 0)
                            .then(|| format!("https://shop.example.com/p/{i}").into()),
                        ..at(i, EventBody::View(View::default()))
                    })
                    .collect(),
            },
        ];
        for batch in &batches {
            let read_once = batch.to_rows(usize::MAX).unwrap();
            assert_eq!(read_once, read_per_row(batch));
        }
    }

    /// Derived columns row by row: a value derived once and shared by the rows after it
    /// (the context's page), one per row (each request's URL), and runs of both.
    #[test]
    fn derived_columns_hold_each_rows_value_whether_shared_or_its_own() {
        use arrow_array::cast::AsArray;
        let urls = [
            "https://api.example.com/orders/7",
            "https://api.example.com/orders/8",
            "https://api.example.com/orders/8",
            "https://cdn.example.com/app.js",
            "https://api.example.com/users/1/cart",
        ];
        let mut events: Vec<Event> = urls
            .iter()
            .enumerate()
            .map(|(i, url)| traced(i as i64 + 1, "GET", url))
            .collect();
        // A template of its own between two rows that derive theirs from one URL.
        if let EventBody::Request(q) = &mut events[2].body {
            q.url_template = Some("/orders/{id}".into());
        }
        events.insert(3, traced(3, "GET", urls[2]));
        events.extend((0..6).map(|i| Event {
            page_url: (i % 3 == 2).then(|| format!("https://shop.example.com/p/{i}").into()),
            ..at(10 + i, EventBody::View(View::default()))
        }));
        let batch = IngestBatch {
            errors: Vec::new(),
            project: 3,
            common: Common {
                session_id: "s-1".into(),
                page_url: "https://shop.example.com/cart?q=1".into(),
                ..Common::default()
            },
            events,
        };
        let column = |table: Table, name: &str| -> Vec<Option<String>> {
            let rows = batch.to_rows(usize::MAX).unwrap();
            let mut appender = TableAppender::new(table);
            rows.sections()
                .iter()
                .filter(|s| s.table == table)
                .for_each(|s| appender.append(s));
            let records = appender.finish();
            let values = records.column_by_name(name).expect(name).as_string::<i32>();
            values.iter().map(|v| v.map(str::to_owned)).collect()
        };
        let expected: Vec<Option<String>> = [
            "https://api.example.com/orders/:id",
            "https://api.example.com/orders/:id",
            "/orders/{id}",
            "https://api.example.com/orders/:id",
            "https://cdn.example.com/app.js",
            "https://api.example.com/users/:id/cart",
        ]
        .map(|t| Some(t.to_owned()))
        .into();
        assert_eq!(column(Table::Requests, "url_template"), expected);
        let paths: Vec<Option<String>> = ["/cart", "/cart", "/p/2", "/cart", "/cart", "/p/5"]
            .map(|p| Some(p.to_owned()))
            .into();
        assert_eq!(column(Table::Views, "page_path"), paths);
    }

    #[test]
    fn client_spans_hold_their_page_url_scrubbed_the_contexts_or_their_own() {
        let context_url = "https://shop.example.com/cart?token=abc&q=ann@example.com";
        let own_url = "https://shop.example.com/pay?password=p";
        let mut own = traced(2, "POST", "https://api.example.com/pay");
        own.page_url = Some(own_url.into());
        let batch = IngestBatch {
            errors: Vec::new(),
            project: 3,
            common: Common {
                page_url: context_url.into(),
                ..Common::default()
            },
            events: vec![
                traced(1, "GET", "https://api.example.com/orders/7"),
                own,
                traced(3, "GET", "https://api.example.com/orders/8"),
            ],
        };
        let rows = batch.to_rows(usize::MAX).unwrap();
        let (_, spans) = rows
            .batches()
            .into_iter()
            .find(|(table, _)| *table == Table::Spans)
            .expect("client spans");
        let attributes = spans
            .column_by_name("attributes")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        let page_urls: Vec<String> = attributes
            .iter()
            .map(|a| {
                let a: serde_json::Value = serde_json::from_str(a.unwrap()).unwrap();
                a["page.url"].as_str().unwrap().to_owned()
            })
            .collect();
        let (context, own) = (crate::scrub_url(context_url), crate::scrub_url(own_url));
        assert!(!context.contains("abc") && !context.contains("ann@") && !own.contains("=p"));
        assert_eq!(page_urls, [context.clone(), own, context]);
    }

    /// A small random number generator (xorshift), so that a failure repeats.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// `value` with keys dropped and values swapped at random from small pools, nested
    /// objects too; `type` stays, so the event keeps its kind.
    fn vary(r: &mut Rng, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        const TEXTS: &[&str] = &[
            "a",
            "",
            "https://shop.example.com/cart/7?token=abc&q=ann@example.com",
            "https://shop.example.com/",
            "ann@example.com paid 4111 1111 1111 1111",
        ];
        match value {
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let kept = k.as_str() == "type" || r.below(3) == 0;
                    if kept {
                        out.insert(k.clone(), v.clone());
                    } else if r.below(3) != 0 {
                        out.insert(k.clone(), vary(r, v));
                    }
                }
                Value::Object(out)
            }
            Value::String(_) => Value::from(TEXTS[r.below(TEXTS.len())]),
            Value::Number(_) => Value::from([0.0, 1.0, 250.0, 1234.5678][r.below(4)]),
            Value::Bool(b) => Value::Bool(*b != (r.below(2) == 0)),
            other => other.clone(),
        }
    }

    /// Batches of the fixtures' events, each varied (see [`vary`]) and repeated at random,
    /// so that columns come out constant, differing, with and without nulls; those the
    /// parser refuses (a required key dropped) are left out.
    fn varied_batches(r: &mut Rng, count: usize) -> Vec<IngestBatch> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/fixtures/valid");
        let mut events = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let body = std::fs::read(entry.unwrap().path()).unwrap();
            let batch: serde_json::Value = serde_json::from_slice(&body).unwrap();
            events.extend(batch["events"].as_array().unwrap().iter().cloned());
        }
        let commons = [
            Common::default(),
            Common {
                session_id: "s-1".into(),
                view_id: "v-1".into(),
                page_url: "https://shop.example.com/cart?token=abc&q=ann@example.com".into(),
                browser: "Chrome".into(),
                country: "DE".into(),
                user_id: "ann@example.com".into(),
                sample_rate: Some(0.25),
                screen_width: Some(1920),
                ..Common::default()
            },
        ];
        let mut batches = Vec::new();
        while batches.len() < count {
            let mut chosen = Vec::new();
            for _ in 0..1 + r.below(12) {
                let mut event = match chosen.last() {
                    Some(last) if r.below(3) == 0 => serde_json::Value::clone(last),
                    _ => {
                        let source = r.below(events.len());
                        vary(r, &events[source])
                    }
                };
                event["ts"] = serde_json::Value::from(1_764_000_000_000i64 + r.below(3) as i64);
                chosen.push(event);
            }
            let body = serde_json::json!({
                "v": 1,
                "context": { "session_id": "s-1", "agent": { "name": "a", "version": "1" } },
                "events": chosen,
            });
            let limits = vigil_protocol::ParseLimits::default();
            let Ok(batch) = vigil_protocol::parse_batch(body.to_string().as_bytes(), &limits)
            else {
                continue;
            };
            batches.push(IngestBatch {
                errors: Vec::new(),
                project: 3,
                common: commons[r.below(commons.len())].clone(),
                events: batch.events,
            });
        }
        batches
    }

    #[test]
    fn columns_written_in_one_pass_encode_as_through_the_typed_buffers() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let batches = varied_batches(&mut r, 2000);
        let mut kinds = std::collections::BTreeSet::new();
        for batch in &batches {
            let page_url = ScrubbedOnce::new(&batch.common.page_url);
            let mut by_table: Vec<Vec<Row<'_>>> = Table::ALL.iter().map(|_| Vec::new()).collect();
            batch.push_rows(&page_url, &mut by_table);
            for (t, rows) in Table::ALL.iter().zip(&by_table) {
                if !rows.is_empty() {
                    kinds.insert(t.name());
                }
            }
            // As intake reads a batch (its context once), and as rows of many batches are
            // read (the context row by row, the same strings in each row).
            for per_row_context in [false, true] {
                let how = |all_through_buffers| build::Reading {
                    per_row_context,
                    all_through_buffers,
                };
                let one_pass =
                    Rows::encode_tables_reading(batch.project, by_table.clone(), how(false));
                let buffered =
                    Rows::encode_tables_reading(batch.project, by_table.clone(), how(true));
                assert_eq!(one_pass, buffered, "{batch:?}");
            }
        }
        // Every table the browser's events reach was among them.
        for table in [
            "views",
            "vitals",
            "requests",
            "resources",
            "actions",
            "errors",
            "spans",
        ] {
            assert!(kinds.contains(table), "no {table} rows: {kinds:?}");
        }
    }

    /// A column as the memtable reads it: index, type, constant, validity, values.
    type ColumnParts = (usize, u8, bool, Option<Vec<u8>>, Vec<u8>);

    /// A section's columns as the memtable reads them, whatever way they were found.
    fn columns_of(section: &TableSection<'_>) -> Vec<ColumnParts> {
        section
            .columns
            .iter()
            .map(|c| {
                (
                    c.index,
                    c.tag,
                    c.constant,
                    c.validity.map(<[u8]>::to_vec),
                    c.values.to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn sections_at_their_places_hold_what_parsing_the_rows_finds() {
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        for batch in varied_batches(&mut r, 300) {
            let built = batch.to_rows(usize::MAX).unwrap();
            let read_back = Rows::from_encoded(built.encoded()).unwrap();
            let (_, parsed) = codec::parse(built.encoded(), codec::Text::Check).unwrap();
            for rows in [&built, &read_back] {
                let placed = rows.sections();
                assert!(
                    placed
                        .iter()
                        .all(|s| matches!(s.columns, codec::Columns::Placed(..)))
                );
                assert_eq!(placed.len(), parsed.len());
                for (p, q) in placed.iter().zip(&parsed) {
                    assert_eq!(
                        (p.table, p.rows, p.arrow_bytes),
                        (q.table, q.rows, q.arrow_bytes)
                    );
                    assert_eq!(columns_of(p), columns_of(q));
                }
            }
        }
    }

    /// A batch whose buffers grow past what a thread keeps leaves them to be freed: what
    /// any batch can make a thread hold between requests stays bounded.
    #[test]
    fn a_thread_keeps_small_buffers_only() {
        let url = format!("https://shop.example.com/{}", "p".repeat(400));
        let batch = |events: usize| IngestBatch {
            errors: Vec::new(),
            project: 3,
            common: Common::default(),
            events: (0..events as i64).map(|i| traced(i, "GET", &url)).collect(),
        };
        batch(20).to_rows(usize::MAX).unwrap();
        let small = build::kept_bytes();
        assert!(small > 0, "a small batch's buffers are kept");
        // 5,000 requests of 400-byte URLs: a section of megabytes.
        batch(5_000).to_rows(usize::MAX).unwrap();
        assert!(
            build::kept_bytes() <= 6 * 256 * 1024,
            "{}",
            build::kept_bytes()
        );
        assert!(build::kept_bytes() < 1024 * 1024);
    }
}
