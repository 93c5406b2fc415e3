//! `vigil bench otlp`: OTLP spans ingested durably over HTTP (protobuf, as SDKs' exporters
//! send them), and the waterfall's answer time for one trace among many stored spans.

use anyhow::bail;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use vigil_demo::Rng;
use vigil_model::SpanRecord;

/// Options of `vigil bench otlp`.
#[derive(clap::Args)]
pub struct OtlpArgs {
    /// Spans to send over HTTP.
    #[arg(long, default_value_t = 500_000)]
    spans: usize,
    /// Spans per request (an SDK's batch processor sends up to 512).
    #[arg(long, default_value_t = 512)]
    batch_size: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Spans stored for the waterfall measurement (the trace looked up is among them).
    #[arg(long, default_value_t = 10_000_000)]
    stored_spans: usize,
    /// Spans of the trace looked up.
    #[arg(long, default_value_t = 1_000)]
    trace_spans: usize,
    /// Waterfall repetitions.
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Data folder for the stored spans (kept and reused); default a temporary one.
    #[arg(long)]
    data: Option<PathBuf>,
}

const SERVICES: [&str; 6] = ["shop-api", "pricing", "cart", "postgres", "redis", "search"];

/// A span of `trace` under `parent`, `at` ms since the epoch.
fn span(rng: &mut Rng, trace: &str, parent: Option<String>, at: f64) -> SpanRecord {
    let service = SERVICES[rng.below(SERVICES.len())];
    let mut attributes = serde_json::Map::new();
    attributes.insert(
        "http.route".into(),
        format!("/api/{}", rng.below(40)).into(),
    );
    attributes.insert("http.response.status_code".into(), 200.into());
    let mut resource = serde_json::Map::new();
    resource.insert("service.version".into(), "1.4.2".into());
    SpanRecord {
        trace_id: trace.to_owned(),
        span_id: rng.hex(16),
        parent_span_id: parent,
        service: service.to_owned(),
        name: format!("GET /api/{}", rng.below(40)),
        kind: "server",
        start_ms: at,
        duration_ms: rng.lognormal(20.0, 1.0),
        status: if rng.below(50) == 0 { "error" } else { "unset" },
        status_message: String::new(),
        scope: "bench".into(),
        attributes,
        resource,
        events: Vec::new(),
    }
}

/// `n` spans in traces of about 20, their times spread over the last `days` days.
fn traces(rng: &mut Rng, n: usize, end_ms: i64, days: i64) -> Vec<SpanRecord> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let trace = rng.hex(32);
        let at = (end_ms - rng.below((days * 86_400_000) as usize) as i64) as f64;
        let root = span(rng, &trace, None, at);
        let root_id = root.span_id.clone();
        out.push(root);
        for i in 1..20.min(n - out.len() + 1) {
            out.push(span(rng, &trace, Some(root_id.clone()), at + i as f64));
        }
    }
    out
}

pub fn run(args: OtlpArgs) -> anyhow::Result<()> {
    ingest(&args)?;
    waterfall(&args)
}

/// Spans over HTTP: every 200 means durable.
fn ingest(args: &OtlpArgs) -> anyhow::Result<()> {
    let mut server = crate::bench::start_server(std::path::Path::new(""))?;
    let mut rng = Rng::new(7);
    let end = crate::now_ms();
    let bodies: Vec<Vec<u8>> = traces(&mut rng, args.spans, end, 1)
        .chunks(args.batch_size.max(1))
        .map(vigil_otlp::encode_traces)
        .collect();
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let url = format!("http://{}/v1/traces", server.addr);
    let headers = [
        ("content-type", "application/x-protobuf".to_owned()),
        ("x-vigil-key", server.key.clone()),
    ];
    let (mut latencies, elapsed) =
        crate::bench::post_all(&url, &headers, bodies, args.connections, 200)?;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "ingest      {} spans in {} protobuf requests of {} ({:.1} MiB) over {} connections: {:.0} spans/s durable; request p50 {:.1} ms, p99 {:.1} ms",
        args.spans,
        latencies.len(),
        args.batch_size,
        bytes as f64 / 1048576.0,
        args.connections,
        args.spans as f64 / elapsed,
        at(0.5),
        at(0.99),
    );
    if let Some(peak) = crate::bench::rss_kib(server.child.id(), "VmHWM") {
        println!("server      peak RSS {:.1} MiB", peak as f64 / 1024.0);
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    Ok(())
}

/// One trace of `trace_spans` spans among `stored_spans`, looked up through the query
/// engine as the API does.
fn waterfall(args: &OtlpArgs) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = args.data.clone().unwrap_or_else(|| tmp.path().to_owned());
    let store = Arc::new(vigil_store::Store::open(
        &crate::store_dir(&dir),
        vigil_store::StoreConfig::default(),
    )?);
    let project = 1;
    let end = crate::now_ms();
    let target = "0af7651916cd43dd8448eb211c80319c";
    let stored: u64 = store
        .segments()
        .iter()
        .filter(|s| s.table == "spans")
        .map(|s| s.rows)
        .sum();
    if (stored as usize) < args.stored_spans {
        let started = Instant::now();
        let mut rng = Rng::new(11);
        let chunk = 50_000;
        let mut loaded = 0;
        // The looked-up trace sits in the middle of the range, among the others.
        let middle = args.stored_spans / 2;
        while loaded < args.stored_spans {
            let n = chunk.min(args.stored_spans - loaded);
            let mut spans = traces(&mut rng, n, end, 7);
            if (loaded..loaded + n).contains(&middle) {
                let at = (end - 3 * 86_400_000) as f64;
                let root = span(&mut rng, target, None, at);
                let mut parents = vec![root.span_id.clone()];
                spans.push(root);
                for i in 1..args.trace_spans {
                    let parent = parents[rng.below(parents.len())].clone();
                    let s = span(&mut rng, target, Some(parent), at + i as f64 * 0.5);
                    parents.push(s.span_id.clone());
                    spans.push(s);
                }
            }
            let rows = spans
                .chunks(5_000)
                .map(|c| vigil_model::Rows::from_spans(project, c))
                .collect();
            store.append_all_blocking(rows)?;
            loaded += n;
        }
        store.flush_blocking()?;
        println!(
            "loaded      {} spans (+{} of the trace) in {:.1} s",
            args.stored_spans,
            args.trace_spans,
            started.elapsed().as_secs_f64()
        );
    }
    let segments: Vec<_> = store
        .segments()
        .into_iter()
        .filter(|s| s.table == "spans")
        .collect();
    let bytes: u64 = segments.iter().map(|s| s.bytes).sum();
    let rows: u64 = segments.iter().map(|s| s.rows).sum();
    println!(
        "disk        {:.1} MiB in {} span segments: {:.1} bytes per span",
        bytes as f64 / 1048576.0,
        segments.len(),
        bytes as f64 / rows as f64
    );
    let engine = vigil_query::QueryEngine::new(store.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        // As the dashboard asks: without a range (every stored day is read).
        let trace = runtime.block_on(engine.trace(project, target, 0, i64::MAX))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        found = trace.map_or(0, |t| t.spans.len());
    }
    if found != args.trace_spans {
        bail!("the waterfall held {found} spans, not {}", args.trace_spans);
    }
    println!(
        "waterfall   trace of {found} spans among {rows}: {}",
        crate::bench::runs_summary(&mut times)
    );
    store.close();
    Ok(())
}
