//! One trace as a waterfall: its spans (the browser's client span on top, the backend's
//! spans below it) ordered as a tree, the critical path through them, and the trace's
//! logs. The SQL only fetches rows; the tree is built here, bounded whatever the spans
//! claim (duplicates, cycles, parents that never arrived, skewed clocks).

use crate::model::{column_value, quote_str};
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use vigil_model::Type;
use vigil_store::Table;

/// Most spans one answer holds; a trace with more says `truncated`.
pub const MAX_TRACE_SPANS: usize = 10_000;
/// Most log records one answer holds.
pub const MAX_TRACE_LOGS: usize = 1_000;

/// Whether `id` is a W3C trace id: 32 lowercase hex digits, not all zeros.
pub fn is_trace_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0')
}

/// A span as the waterfall shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaterfallSpan {
    /// Its id.
    pub span_id: String,
    /// Its parent's id, when it has one (the parent may not have arrived).
    pub parent_span_id: Option<String>,
    /// The service that recorded it (`browser` for a page's client span).
    pub service: String,
    /// The operation.
    pub name: String,
    /// `client`, `server`, `internal`, `producer`, `consumer` or `unspecified`.
    pub kind: String,
    /// `unset`, `ok` or `error`.
    pub status: String,
    /// Why it failed, when it says.
    pub status_message: Option<String>,
    /// The HTTP status it saw or answered.
    pub http_status: Option<i64>,
    /// The URL it requested or served (scrubbed).
    pub url: Option<String>,
    /// Start, ms since the epoch.
    pub start: f64,
    /// Start, ms after the trace's first span started.
    pub offset: f64,
    /// Duration in ms.
    pub duration: f64,
    /// Depth in the tree: 0 for a root.
    pub depth: usize,
    /// Whether it lies on the critical path (the chain of spans the trace's end waited on).
    pub critical: bool,
    /// Time on the critical path spent in this span itself, not in a child, in ms.
    pub critical_self_time: f64,
    /// Whether a browser sent it (the page's client span of a traced request).
    pub browser: bool,
    /// The monitored session it belongs to, when known.
    pub session_id: Option<String>,
    /// The page view it belongs to, when known.
    pub view_id: Option<String>,
    /// The instrumentation that recorded it.
    pub scope: Option<String>,
    /// Its attributes.
    pub attributes: Value,
    /// Its resource's attributes.
    pub resource: Value,
    /// Its events (exceptions among them).
    pub events: Value,
}

/// A log record of the trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceLog {
    /// When, ms since the epoch.
    pub time: f64,
    /// ms after the trace's first span started.
    pub offset: f64,
    /// `INFO`, `ERROR`, …
    pub severity: Option<String>,
    /// The message.
    pub body: Option<String>,
    /// The span it was logged in.
    pub span_id: Option<String>,
    /// The service that logged it.
    pub service: Option<String>,
    /// The logger.
    pub scope: Option<String>,
    /// Its attributes.
    pub attributes: Value,
}

/// A trace's waterfall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The trace id.
    pub trace_id: String,
    /// When its first span started, ms since the epoch.
    pub start: f64,
    /// From the first span's start to the last span's end, ms.
    pub duration: f64,
    /// The services taking part, in order of their first span.
    pub services: Vec<String>,
    /// The monitored session that started it, when a browser did.
    pub session_id: Option<String>,
    /// The page view that started it.
    pub view_id: Option<String>,
    /// The span on the critical path with the most time of its own: where to look first.
    pub slowest_span_id: Option<String>,
    /// Spans depth first, children in order of start.
    pub spans: Vec<WaterfallSpan>,
    /// Log records in time order.
    pub logs: Vec<TraceLog>,
    /// Whether spans or logs were left out past the limits.
    pub truncated: bool,
}

/// A column as the answer shows it: fixed-point numbers as the numbers sent, the rest as
/// stored (integers stay integers).
fn column(table: Table, name: &str) -> String {
    match table.column(name) {
        Some(c) if matches!(c.ty, Type::Fixed(_)) => format!("{} AS \"{name}\"", column_value(c)),
        _ => format!("\"{name}\""),
    }
}

/// The SQL of a trace's spans, earliest first.
pub(crate) fn spans_sql(trace_id: &str, from: i64, to: i64) -> String {
    let cols = [
        "span_id",
        "parent_span_id",
        "service",
        "name",
        "kind",
        "status",
        "status_message",
        "http_status",
        "url",
        "start",
        "duration",
        "sdk_language",
        "session_id",
        "view_id",
        "scope",
        "attributes",
        "resource",
        "events",
    ]
    .map(|c| column(Table::Spans, c));
    format!(
        "SELECT {} FROM \"spans\" WHERE \"trace_id\" = {} AND \"ts\" >= {from} AND \"ts\" < {to} \
         ORDER BY \"start\", \"span_id\" LIMIT {}",
        cols.join(", "),
        quote_str(trace_id),
        MAX_TRACE_SPANS + 1
    )
}

/// The SQL of a trace's logs, earliest first.
pub(crate) fn logs_sql(trace_id: &str, from: i64, to: i64) -> String {
    let cols = [
        "time",
        "severity",
        "body",
        "span_id",
        "service",
        "scope",
        "attributes",
    ]
    .map(|c| column(Table::Logs, c));
    format!(
        "SELECT {} FROM \"logs\" WHERE \"trace_id\" = {} AND \"ts\" >= {from} AND \"ts\" < {to} \
         ORDER BY \"time\" LIMIT {}",
        cols.join(", "),
        quote_str(trace_id),
        MAX_TRACE_LOGS + 1
    )
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn document(v: &Value) -> Value {
    v.as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// A span row as fetched, before it has a place in the tree.
struct Fetched {
    span: WaterfallSpan,
    end: f64,
}

/// Deepest level the tree is walked to; a deeper chain (only a broken or hostile sender
/// makes one) is cut there and its rest shown as roots.
const MAX_DEPTH: usize = 256;

/// Builds the waterfall from the spans' and logs' rows (columns in the order of
/// [`spans_sql`] and [`logs_sql`]); `None` when the trace has no span and no log.
pub(crate) fn waterfall(
    trace_id: &str,
    span_rows: &[Vec<Value>],
    log_rows: &[Vec<Value>],
) -> Option<Trace> {
    let truncated = span_rows.len() > MAX_TRACE_SPANS || log_rows.len() > MAX_TRACE_LOGS;
    let mut seen = HashSet::new();
    let mut fetched: Vec<Fetched> = Vec::new();
    for r in span_rows.iter().take(MAX_TRACE_SPANS) {
        let Some(span_id) = text(&r[0]) else { continue };
        // An exporter that retries sends a span twice: keep the first.
        if !seen.insert(span_id.clone()) {
            continue;
        }
        let start = r[9].as_f64().unwrap_or(0.0);
        let duration = r[10].as_f64().unwrap_or(0.0).max(0.0);
        fetched.push(Fetched {
            end: start + duration,
            span: WaterfallSpan {
                span_id,
                parent_span_id: text(&r[1]),
                service: text(&r[2]).unwrap_or_default(),
                name: text(&r[3]).unwrap_or_default(),
                kind: text(&r[4]).unwrap_or_default(),
                status: text(&r[5]).unwrap_or_else(|| "unset".into()),
                status_message: text(&r[6]),
                http_status: r[7].as_i64(),
                url: text(&r[8]),
                start,
                offset: 0.0,
                duration,
                depth: 0,
                critical: false,
                critical_self_time: 0.0,
                browser: r[11].as_str() == Some("webjs")
                    && text(&r[4]).as_deref() == Some("client"),
                session_id: text(&r[12]),
                view_id: text(&r[13]),
                scope: text(&r[14]),
                attributes: document(&r[15]),
                resource: document(&r[16]),
                events: document(&r[17]),
            },
        });
    }
    if fetched.is_empty() && log_rows.is_empty() {
        return None;
    }
    let logs_start = log_rows
        .iter()
        .filter_map(|r| r[0].as_f64())
        .reduce(f64::min);
    let start = fetched
        .iter()
        .map(|f| f.span.start)
        .chain(logs_start)
        .reduce(f64::min)
        .unwrap_or(0.0);
    let end = fetched
        .iter()
        .map(|f| f.end)
        .chain(log_rows.iter().filter_map(|r| r[0].as_f64()))
        .fold(start, f64::max);

    // Children by parent, in order of start (the rows come sorted by start).
    let index: HashMap<&str, usize> = fetched
        .iter()
        .enumerate()
        .map(|(i, f)| (f.span.span_id.as_str(), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); fetched.len()];
    let mut roots = Vec::new();
    for (i, f) in fetched.iter().enumerate() {
        match f.span.parent_span_id.as_deref().and_then(|p| index.get(p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }

    // Depth first from the roots; spans no root reaches (a cycle of parents) and spans
    // past the depth limit become roots of their own.
    let mut order = Vec::with_capacity(fetched.len());
    let mut placed = vec![false; fetched.len()];
    let mut depth = vec![0usize; fetched.len()];
    let mut pending: Vec<usize> = roots.iter().rev().copied().collect();
    let mut unplaced_from = 0;
    loop {
        while let Some(i) = pending.pop() {
            if placed[i] {
                continue;
            }
            placed[i] = true;
            order.push(i);
            if depth[i] + 1 >= MAX_DEPTH {
                continue;
            }
            for &c in children[i].iter().rev() {
                if !placed[c] {
                    depth[c] = depth[i] + 1;
                    pending.push(c);
                }
            }
        }
        // Spans are only ever placed, so the search for the next unplaced one resumes.
        while unplaced_from < fetched.len() && placed[unplaced_from] {
            unplaced_from += 1;
        }
        match (unplaced_from < fetched.len()).then_some(unplaced_from) {
            Some(i) => {
                depth[i] = 0;
                pending.push(i);
            }
            None => break,
        }
    }

    // The critical path from the root that ends last: in each span, walking back from its
    // end, the child that ended last before the cursor, then the one before that child's
    // start, and so on; the gaps are the span's own time.
    let mut on_path = vec![0.0f64; fetched.len()];
    let mut critical = vec![false; fetched.len()];
    let main_root = order
        .iter()
        .copied()
        .filter(|&i| depth[i] == 0)
        .max_by(|&a, &b| fetched[a].end.total_cmp(&fetched[b].end));
    if let Some(root) = main_root {
        // (span, the end of the window it may fill)
        let mut stack = vec![(root, fetched[root].end)];
        let mut visited = vec![false; fetched.len()];
        while let Some((i, window_end)) = stack.pop() {
            if visited[i] {
                continue;
            }
            visited[i] = true;
            critical[i] = true;
            let span_start = fetched[i].span.start;
            let mut cursor = window_end.min(fetched[i].end).max(span_start);
            let mut kids: Vec<usize> = children[i]
                .iter()
                .copied()
                .filter(|&c| depth[c] == depth[i] + 1)
                .collect();
            kids.sort_by(|&a, &b| fetched[b].end.total_cmp(&fetched[a].end));
            let mut own = 0.0;
            let mut first = true;
            for c in kids {
                let (c_start, c_end) = (fetched[c].span.start, fetched[c].end);
                // A child that ends after the cursor ran beside the one already on the path
                // (the first may pass its parent's end: clocks differ between services).
                if (!first && c_end > cursor) || c_start >= cursor || c_end <= span_start {
                    continue;
                }
                first = false;
                let c_end = c_end.min(cursor);
                own += cursor - c_end;
                stack.push((c, c_end));
                cursor = c_start.max(span_start);
            }
            own += cursor - span_start;
            on_path[i] = own.max(0.0);
        }
    }
    let slowest = (0..fetched.len())
        .filter(|&i| critical[i])
        .max_by(|&a, &b| on_path[a].total_cmp(&on_path[b]))
        .map(|i| fetched[i].span.span_id.clone());

    let mut services: Vec<String> = Vec::new();
    for &i in &order {
        if !services.contains(&fetched[i].span.service) {
            services.push(fetched[i].span.service.clone());
        }
    }
    let browser_root = order
        .iter()
        .map(|&i| &fetched[i].span)
        .find(|s| s.browser)
        .or_else(|| order.first().map(|&i| &fetched[i].span));
    let session_id = browser_root.and_then(|s| s.session_id.clone());
    let view_id = browser_root.and_then(|s| s.view_id.clone());

    let mut slots: Vec<Option<Fetched>> = fetched.into_iter().map(Some).collect();
    let spans = order
        .iter()
        .filter_map(|&i| {
            let mut s = slots[i].take()?.span;
            s.offset = s.start - start;
            s.depth = depth[i];
            s.critical = critical[i];
            s.critical_self_time = on_path[i];
            Some(s)
        })
        .collect();
    let logs = log_rows
        .iter()
        .take(MAX_TRACE_LOGS)
        .map(|r| {
            let time = r[0].as_f64().unwrap_or(start);
            TraceLog {
                time,
                offset: time - start,
                severity: text(&r[1]),
                body: text(&r[2]),
                span_id: text(&r[3]),
                service: text(&r[4]),
                scope: text(&r[5]),
                attributes: document(&r[6]),
            }
        })
        .collect();
    Some(Trace {
        trace_id: trace_id.to_owned(),
        start,
        duration: end - start,
        services,
        session_id,
        view_id,
        slowest_span_id: slowest,
        spans,
        logs,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A span row in the column order of `spans_sql`.
    fn row(id: &str, parent: Option<&str>, service: &str, start: f64, duration: f64) -> Vec<Value> {
        let browser = service == "browser";
        vec![
            json!(id),
            parent.map_or(Value::Null, |p| json!(p)),
            json!(service),
            json!(format!("op {id}")),
            json!(if browser { "client" } else { "server" }),
            json!("unset"),
            Value::Null,
            Value::Null,
            Value::Null,
            json!(start),
            json!(duration),
            json!(if browser { "webjs" } else { "python" }),
            if browser { json!("s1") } else { Value::Null },
            if browser { json!("v1") } else { Value::Null },
            Value::Null,
            json!("{\"a\":1}"),
            Value::Null,
            Value::Null,
        ]
    }

    fn ids(t: &Trace) -> Vec<(&str, usize, bool)> {
        t.spans
            .iter()
            .map(|s| (s.span_id.as_str(), s.depth, s.critical))
            .collect()
    }

    #[test]
    fn trace_ids_are_32_lowercase_hex_digits_not_all_zero() {
        assert!(is_trace_id("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(!is_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736"));
        assert!(!is_trace_id("00000000000000000000000000000000"));
        assert!(!is_trace_id("4bf92f3577b34da6"));
        assert!(!is_trace_id("4bf92f3577b34da6a3ce929d0e0e473g"));
    }

    #[test]
    fn the_browser_request_is_the_root_and_the_critical_path_follows_the_last_child() {
        // browser 0..100 → api 5..95 → (auth 10..20, db 20..80 → query 30..70, cache 25..40)
        let rows = vec![
            row("b", None, "browser", 1000.0, 100.0),
            row("api", Some("b"), "api", 1005.0, 90.0),
            row("auth", Some("api"), "api", 1010.0, 10.0),
            row("db", Some("api"), "api", 1020.0, 60.0),
            row("cache", Some("api"), "api", 1025.0, 15.0),
            row("q", Some("db"), "postgres", 1030.0, 40.0),
        ];
        let t = waterfall("t", &rows, &[]).unwrap();
        assert_eq!(
            ids(&t),
            vec![
                ("b", 0, true),
                ("api", 1, true),
                ("auth", 2, true),
                ("db", 2, true),
                ("q", 3, true),
                ("cache", 2, false),
            ]
        );
        assert_eq!((t.start, t.duration), (1000.0, 100.0));
        assert_eq!(t.services, ["browser", "api", "postgres"]);
        assert_eq!(
            (t.session_id.as_deref(), t.view_id.as_deref()),
            (Some("s1"), Some("v1"))
        );
        // The query's 40 ms of its own are the largest share of the path.
        assert_eq!(t.slowest_span_id.as_deref(), Some("q"));
        let q = t.spans.iter().find(|s| s.span_id == "q").unwrap();
        assert_eq!((q.offset, q.critical_self_time), (30.0, 40.0));
        let db = t.spans.iter().find(|s| s.span_id == "db").unwrap();
        assert_eq!(db.critical_self_time, 20.0);
        let api = t.spans.iter().find(|s| s.span_id == "api").unwrap();
        // 5..10 before auth, 20..20 between, 80..95 after db.
        assert_eq!(api.critical_self_time, 20.0);
        assert_eq!(t.spans[0].attributes, json!({"a": 1}));
    }

    #[test]
    fn duplicates_cycles_missing_parents_and_deep_chains_stay_bounded() {
        let mut rows = vec![
            row("a", Some("b"), "x", 0.0, 1.0),
            row("b", Some("a"), "x", 0.5, 1.0),
            row("a", None, "x", 9.0, 1.0),
            row("orphan", Some("gone"), "y", 2.0, 1.0),
            row("self", Some("self"), "y", 3.0, 1.0),
        ];
        for i in 0..1000 {
            let parent = (i > 0).then(|| format!("d{}", i - 1));
            rows.push(row(
                &format!("d{i}"),
                parent.as_deref(),
                "deep",
                10.0 + i as f64,
                1.0,
            ));
        }
        let t = waterfall("t", &rows, &[]).unwrap();
        assert_eq!(t.spans.len(), 1004, "each span once");
        assert!(t.spans.iter().all(|s| s.depth < MAX_DEPTH));
        let mut unique: Vec<&str> = t.spans.iter().map(|s| s.span_id.as_str()).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 1004);
    }

    #[test]
    fn a_child_that_outlives_its_parent_on_a_skewed_clock_is_clamped() {
        let rows = vec![
            row("b", None, "browser", 0.0, 50.0),
            row("s", Some("b"), "api", 10.0, 60.0),
        ];
        let t = waterfall("t", &rows, &[]).unwrap();
        // The server's clock runs ahead: its span ends at 70, after the browser's 50.
        let b = &t.spans[0];
        assert_eq!(b.critical_self_time, 10.0);
        assert_eq!(t.spans[1].critical_self_time, 40.0);
        assert_eq!(t.duration, 70.0);
    }

    #[test]
    fn logs_alone_make_a_trace_and_nothing_makes_none() {
        assert!(waterfall("t", &[], &[]).is_none());
        let logs = vec![vec![
            json!(5.0),
            json!("ERROR"),
            json!("boom"),
            json!("s"),
            json!("api"),
            Value::Null,
            Value::Null,
        ]];
        let t = waterfall("t", &[], &logs).unwrap();
        assert_eq!(t.logs[0].body.as_deref(), Some("boom"));
        assert!(t.spans.is_empty());
    }
}
