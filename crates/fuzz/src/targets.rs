//! The fuzz targets. Each takes one input, must never panic, and checks a property of what
//! it got back; a violated property is a panic too, so the driver reports it.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::io::Write;
use vigil_demo::Rng;
use vigil_protocol::{ParseLimits, parse_batch};

/// A target: its name, its seed inputs, and the check of one input.
pub struct Target {
    /// Name on the command line.
    pub name: &'static str,
    /// Seed inputs the mutator starts from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Runs one input.
    pub run: fn(&[u8], &Context),
}

/// What the targets share (built once).
pub struct Context {
    enricher: vigil_enrich::Enricher,
    errors: vigil_errors::ErrorProcessor,
}

impl Context {
    /// Builds the shared parts.
    pub fn new() -> Self {
        Self {
            enricher: vigil_enrich::Enricher::new(
                vigil_enrich::GeoDb::open(None, None).expect("an empty geo database"),
            ),
            errors: vigil_errors::ErrorProcessor::default(),
        }
    }
}

/// Every target.
pub const TARGETS: [Target; 6] = [
    Target {
        name: "batch",
        seeds: fixtures,
        run: batch,
    },
    Target {
        name: "gzip",
        seeds: gzip_seeds,
        run: gzip,
    },
    Target {
        name: "query",
        seeds: query_seeds,
        run: query,
    },
    Target {
        name: "wal",
        seeds: wal_seeds,
        run: wal,
    },
    Target {
        name: "otlp",
        seeds: otlp_seeds,
        run: otlp,
    },
    Target {
        name: "rows",
        seeds: rows_seeds,
        run: rows,
    },
];

/// The rows of every valid fixture batch, encoded as the log stores them: mutations of
/// real rows reach the decoder's tables, columns and shared context, which random bytes
/// rarely get past the header to.
fn rows_seeds() -> Vec<Vec<u8>> {
    let ctx = Context::new();
    let client = vigil_enrich::ClientInfo {
        ip: Some("203.0.113.9".parse().expect("an address")),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"),
    };
    fixtures()
        .iter()
        .filter_map(|body| parse_batch(body, &ParseLimits::default()).ok())
        .map(|parsed| {
            let enriched = ctx.enricher.enrich(1, parsed, &client);
            let rows = enriched
                .to_rows(usize::MAX)
                .expect("a fixture becomes rows");
            rows.encoded().to_vec()
        })
        .collect()
}

/// Encoded rows as the log replays them: an answer or an error, never a panic; what reads
/// gives its tables' batches, holds the rows it counts, and reads again the same.
fn rows(input: &[u8], _ctx: &Context) {
    let Ok(rows) = vigil_model::Rows::from_encoded(input) else {
        return;
    };
    let batches = rows.batches();
    let counted: Vec<_> = rows.tables().to_vec();
    let built: Vec<_> = batches.iter().map(|(t, b)| (*t, b.num_rows())).collect();
    assert_eq!(built, counted, "batches hold the rows the rows count");
    let again = vigil_model::Rows::from_encoded(rows.encoded())
        .unwrap_or_else(|e| panic!("rows read once do not read again: {e}"));
    assert_eq!(again, rows, "rows changed when read again");
}

/// OTLP export requests in JSON; the same bytes are also tried as protobuf, which the
/// mutations then reshape.
fn otlp_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"GET /pay","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{"key":"n","value":{"intValue":"3"}},{"key":"a","value":{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"k","value":{"doubleValue":1.5}}]}}]}}}],"events":[{"timeUnixNano":"1544712660500000000","name":"e"}],"status":{"code":2,"message":"x"}}]}]}]}"#.to_vec(),
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1544712660000000000","severityNumber":17,"severityText":"ERROR","body":{"stringValue":"boom"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#.to_vec(),
    ]
}

/// The OTLP decoders, in both encodings: never a panic, and what decodes is within the
/// limits.
fn otlp(input: &[u8], _ctx: &Context) {
    let limits = vigil_otlp::Limits::default();
    for encoding in [vigil_otlp::Encoding::Json, vigil_otlp::Encoding::Protobuf] {
        if let Ok(spans) = vigil_otlp::decode_traces(input, encoding, &limits) {
            assert!(spans.records.len() + spans.rejected <= limits.max_records);
            for s in &spans.records {
                assert_eq!((s.trace_id.len(), s.span_id.len()), (32, 16));
                assert!(s.attributes.len() <= limits.max_attributes && s.duration_ms >= 0.0);
            }
            // What decodes becomes rows that read back whole, as the log replays them.
            let rows = vigil_model::Rows::from_spans(1, &spans.records);
            let back = vigil_model::Rows::from_encoded(rows.encoded())
                .unwrap_or_else(|e| panic!("span rows do not read back: {e}"));
            assert_eq!(back.len(), spans.records.len());
        }
        if let Ok(logs) = vigil_otlp::decode_logs(input, encoding, &limits) {
            assert!(logs.records.len() + logs.rejected <= limits.max_records);
            let rows = vigil_model::Rows::from_logs(1, &logs.records);
            let back = vigil_model::Rows::from_encoded(rows.encoded())
                .unwrap_or_else(|e| panic!("log rows do not read back: {e}"));
            assert_eq!(back.len(), logs.records.len());
        }
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("../../docs/fixtures");
    let mut out = Vec::new();
    for sub in ["valid", "invalid"] {
        let mut paths: Vec<_> = std::fs::read_dir(dir.join(sub))
            .expect("docs/fixtures")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        out.extend(paths.iter().map(|p| std::fs::read(p).expect("fixture")));
    }
    out
}

/// Batch parser → error analysis (stack parsing, grouping) → enrichment → rows: never a panic; what parses is stable under a round
/// trip and becomes exactly one row per event.
///
/// Stable after one trip, not from the first: serde_json's default float parsing is not
/// correctly rounded for numbers with more than 17 significant digits (this fuzzer found
/// `96.9223372036854775807` read one ulp away from its shortest re-serialisation). Stored
/// numbers are fixed point at 0.1 ms or 0.001, far coarser, so that ulp never reaches a row.
fn batch(input: &[u8], ctx: &Context) {
    let Ok(parsed) = parse_batch(input, &ParseLimits::default()) else {
        return;
    };
    let reparse = |b: &vigil_protocol::Batch| {
        let bytes = serde_json::to_vec(b).expect("a parsed batch serialises");
        parse_batch(&bytes, &ParseLimits::default())
            .unwrap_or_else(|e| panic!("a parsed batch no longer parses: {e}"))
    };
    let once = reparse(&parsed);
    assert_eq!(reparse(&once), once, "round trip changed the batch");
    assert_eq!(once.events.len(), parsed.events.len());
    let events = parsed.events.len();
    let client = vigil_enrich::ClientInfo {
        ip: Some("203.0.113.9".parse().expect("an address")),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"),
    };
    let page = vigil_errors::PageContext {
        release: parsed.context.release.as_deref().unwrap_or_default(),
        page_url: parsed.context.page_url.as_deref().unwrap_or_default(),
        trusted_hosts: &[],
        fetch_origins: None,
    };
    let errors = ctx.errors.analyse_batch(1, &page, &parsed.events);
    let mut enriched = ctx.enricher.enrich(1, parsed, &client);
    enriched.errors = errors;
    let rows = enriched
        .to_rows(usize::MAX)
        .unwrap_or_else(|e| panic!("an accepted batch cannot become rows: {e}"));
    let event_rows: usize = rows
        .tables()
        .iter()
        .filter(|(t, _)| t.is_event())
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        event_rows, events,
        "every event becomes one row of its table"
    );
    // A traced request is also its page's client span, and nothing else is a span.
    let traced = enriched
        .events
        .iter()
        .filter(|e| {
            matches!(&e.body, vigil_protocol::EventBody::Request(q) if q.trace_id.is_some() && q.span_id.is_some())
        })
        .count();
    let spans: usize = rows
        .tables()
        .iter()
        .filter(|(t, _)| !t.is_event())
        .map(|(_, n)| n)
        .sum();
    assert_eq!(spans, traced, "each traced request is one client span");
    // What the log writes, it reads back the same.
    let decoded = vigil_store::frame::decode(rows.encoded())
        .unwrap_or_else(|e| panic!("a log frame of these rows does not read back: {e}"));
    assert_eq!(decoded, rows, "rows changed through the log");
}

fn gzip_seeds() -> Vec<Vec<u8>> {
    fixtures()
        .into_iter()
        .map(|f| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&f).expect("in memory");
            enc.finish().expect("in memory")
        })
        .collect()
}

/// Intake's gzip path: bounded output whatever the input, then the batch parser.
fn gzip(input: &[u8], ctx: &Context) {
    const LIMIT: usize = 256 * 1024;
    if let Ok(out) = vigil_intake::gunzip_capped(input, LIMIT) {
        assert!(out.len() <= LIMIT, "gunzip went past its cap");
        batch(&out, ctx);
    }
}

const METRICS: &[&str] = &[
    "lcp",
    "inp",
    "cls",
    "page_views",
    "views",
    "errors",
    "requests.duration",
    "views.load",
    "custom_events.value",
    "actions",
    "nope",
    "views.nope",
    "vitals.value",
];
const FIELDS: &[&str] = &[
    "country",
    "device_type",
    "url_template",
    "status",
    "duration",
    "handled",
    "attributes.plan",
    "attributes.a b",
    "count",
    "ts",
    "name",
    "error_type",
    "message",
    "user_id",
    "x\"y",
];
const OPS: &[&str] = &[
    "eq",
    "neq",
    "in",
    "not_in",
    "contains",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "not_exists",
    "like",
];
const AGGS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "p50",
    "p75",
    "p90",
    "p99",
    "sessions",
    "users",
    "good",
    "needs_improvement",
    "poor",
    "p100",
];

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len())]
}

fn random_value(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    match rng.below(9) {
        0 => json!(pick(
            rng,
            &["IN", "mobile", "x' OR '1'='1", "é\u{0}", "", "%_\\"]
        )),
        1 => json!(rng.below(1000)),
        2 => json!([1e308, -1e308, 0.5][rng.below(3)]),
        3 => json!(rng.chance(0.5)),
        4 => json!(
            (0..rng.below(5))
                .map(|i| format!("v{i}"))
                .collect::<Vec<_>>()
        ),
        5 => json!(null),
        6 => json!({"a": 1}),
        7 => json!([[1], {"b": 2}]),
        _ => json!("a".repeat(rng.below(3000))),
    }
}

fn random_time(rng: &mut Rng) -> i64 {
    match rng.below(6) {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => 0,
        3 => -1,
        _ => 1_764_000_000_000 + rng.below(1_000_000_000) as i64,
    }
}

/// A query as a client might build it, or break it.
fn random_query(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    let filters: Vec<_> = (0..rng.below(6))
        .map(|_| json!({"field": pick(rng, FIELDS), "op": pick(rng, OPS), "value": random_value(rng)}))
        .collect();
    let mut group_by: Vec<String> = (0..rng.below(4))
        .map(|_| pick(rng, FIELDS).to_owned())
        .collect();
    if rng.chance(0.4) {
        let unit = pick(rng, &["m", "h", "d", "s", ""]);
        let n = [1u64, 5, 60, 999_999_999_999_999, 18_014_398_509_481_984, 0][rng.below(6)];
        group_by.push(format!("time:{n}{unit}"));
    }
    let aggregations: Vec<_> = (0..rng.below(4)).map(|_| pick(rng, AGGS)).collect();
    let mut q = json!({
        "metric": pick(rng, METRICS), "filters": filters, "group_by": group_by,
        "from": random_time(rng), "to": random_time(rng),
    });
    if !aggregations.is_empty() {
        q["aggregations"] = json!(aggregations);
    }
    if rng.chance(0.3) {
        q["limit"] = json!([0u64, 1, 10_000, 10_001, u64::MAX][rng.below(5)]);
    }
    if rng.chance(0.3) {
        q["order_by"] = json!(pick(rng, &["time", "count", "p75", "country", "nope"]));
    }
    q
}

fn query_seeds() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(11);
    (0..64)
        .map(|_| random_query(&mut rng).to_string().into_bytes())
        .collect()
}

/// Query model: whatever the body, checking it never panics, and any query it accepts
/// becomes SQL that parses.
fn query(input: &[u8], _ctx: &Context) {
    // Half the inputs are fresh structured queries drawn from the input's bytes, so the
    // checks see valid shapes, not only the mutator's near-misses.
    let structured;
    let body = if input.first().is_some_and(|b| b % 2 == 0) && input.len() >= 8 {
        let seed = u64::from_le_bytes(input[..8].try_into().expect("8 bytes"));
        structured = random_query(&mut Rng::new(seed)).to_string().into_bytes();
        &structured[..]
    } else {
        input
    };
    if let Ok(q) = serde_json::from_slice::<vigil_query::Query>(body)
        && let Ok((_, sql)) = q.to_sql()
    {
        Parser::parse_sql(&GenericDialect {}, &sql)
            .unwrap_or_else(|e| panic!("accepted query gave SQL that does not parse: {e}\n{sql}"));
    }
    if let Ok(s) = serde_json::from_slice::<vigil_query::SessionSearch>(body)
        && let Ok(sql) = s.to_sql()
    {
        Parser::parse_sql(&GenericDialect {}, &sql)
            .unwrap_or_else(|e| panic!("accepted session search gave bad SQL: {e}\n{sql}"));
    }
}

fn wal_seeds() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(5);
    (0..16)
        .map(|_| {
            let mut bytes = Vec::new();
            for seq in 1..=(1 + rng.below(8) as u64) {
                let payload: Vec<u8> = (0..rng.below(300)).map(|_| rng.below(256) as u8).collect();
                bytes.extend(vigil_store::wal::encode_frame(seq, &payload));
            }
            bytes
        })
        .collect()
}

/// Log reader: whatever the bytes, it returns whole frames that re-encode to exactly the
/// prefix it says is valid, and never reads past the end.
fn wal(input: &[u8], _ctx: &Context) {
    let (frames, valid) = vigil_store::wal::parse_frames(input);
    // Whatever a frame holds, reading its payload is an answer or an error, never a panic.
    for f in &frames {
        let _ = vigil_store::frame::decode(&f.payload);
    }
    assert!(valid as usize <= input.len(), "valid prefix past the end");
    let encoded: Vec<u8> = frames
        .iter()
        .flat_map(|f| vigil_store::wal::encode_frame(f.seq, &f.payload))
        .collect();
    assert_eq!(
        &encoded[..],
        &input[..valid as usize],
        "frames differ from the bytes read"
    );
}
