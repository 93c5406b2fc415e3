//! `vigil bench replay`: session replay segments ingested durably over HTTP, gzip as the
//! replay chunk sends them: segments per second, MB/s of replay JSON, request latency, and
//! the bytes they take on disk.

use serde_json::{Value, json};
use std::io::Write;
use vigil_demo::Rng;

/// Options of `vigil bench replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Sessions recorded.
    #[arg(long, default_value_t = 400)]
    sessions: usize,
    /// Segments per session after its first (a full snapshot): 5 s each.
    #[arg(long, default_value_t = 24)]
    segments: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
}

/// A serialized DOM node as rrweb writes it: an element with children, or text.
fn node(rng: &mut Rng, id: &mut u64, depth: usize) -> Value {
    *id += 1;
    if depth == 0 || rng.below(4) == 0 {
        let words = 3 + rng.below(20);
        let text: Vec<String> = (0..words)
            .map(|_| {
                let len = 2 + rng.below(8);
                rng.hex(len)
            })
            .collect();
        return json!({ "type": 3, "textContent": text.join(" "), "id": *id });
    }
    let tag = ["div", "p", "span", "a", "li", "section", "button"][rng.below(7)];
    let me = *id;
    let children: Vec<Value> = (0..1 + rng.below(5))
        .map(|_| node(rng, id, depth - 1))
        .collect();
    json!({
        "type": 2, "tagName": tag, "id": me,
        "attributes": { "class": format!("c{}", rng.below(60)) },
        "childNodes": children
    })
}

/// A page's first segment: meta and a full snapshot of a content page (a few hundred nodes).
fn full_snapshot(rng: &mut Rng, t: i64) -> (Vec<Value>, u64) {
    let mut id = 0;
    let body = node(rng, &mut id, 7);
    let events = vec![
        json!({ "type": 4, "timestamp": t, "data": { "href": "https://shop.example.com/p/1", "width": 1280, "height": 800 } }),
        json!({ "type": 2, "timestamp": t + 5, "data": { "node": { "type": 0, "childNodes": [body], "id": 0 }, "initialOffset": { "left": 0, "top": 0 } } }),
    ];
    (events, id)
}

/// Five seconds of a reading user: mouse moves, scrolls, a few text and attribute changes.
fn incremental(rng: &mut Rng, t: i64, nodes: u64) -> Vec<Value> {
    (0..40 + rng.below(60))
        .map(|i| {
            let at = t + i as i64 * 50;
            let target = 1 + rng.below(nodes as usize);
            match rng.below(10) {
                0..=5 => json!({ "type": 3, "timestamp": at, "data": { "source": 1, "positions": [
                    { "x": rng.below(1280), "y": rng.below(800), "id": target, "timeOffset": -20 },
                    { "x": rng.below(1280), "y": rng.below(800), "id": target, "timeOffset": 0 }
                ] } }),
                6 | 7 => json!({ "type": 3, "timestamp": at, "data": { "source": 3, "id": 1, "x": 0, "y": rng.below(6000) } }),
                _ => json!({ "type": 3, "timestamp": at, "data": { "source": 0,
                    "texts": [{ "id": target, "value": rng.hex(12) }],
                    "attributes": [{ "id": target, "attributes": { "class": format!("c{}", rng.below(60)) } }],
                    "removes": [], "adds": [] } }),
            }
        })
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let mut server = crate::bench::start_server(std::path::Path::new(""))?;
    let mut rng = Rng::new(5);
    let start = crate::now_ms() - 3_600_000;
    let (mut json_bytes, mut bodies) = (0usize, Vec::new());
    for s in 0..args.sessions {
        let session = format!("bench-{s}");
        let t0 = start + rng.below(1_800_000) as i64;
        let (first, nodes) = full_snapshot(&mut rng, t0);
        for seq in 0..=args.segments {
            let t = t0 + seq as i64 * 5000;
            let events = if seq == 0 {
                first.clone()
            } else {
                incremental(&mut rng, t, nodes)
            };
            let end = events
                .last()
                .and_then(|e| e["timestamp"].as_i64())
                .unwrap_or(t);
            let segment = json!({
                "v": 1, "session_id": session, "view_id": "view-1", "seq": seq,
                "start": t, "end": end, "mode": "session", "events": events
            })
            .to_string();
            json_bytes += segment.len();
            bodies.push(gzip(segment.as_bytes()));
        }
    }
    // Sessions record side by side: interleave their segments as they would arrive.
    let per = args.segments + 1;
    let mut order: Vec<usize> = (0..bodies.len()).collect();
    order.sort_by_key(|i| (i % per, i / per));
    let mut slots: Vec<Option<Vec<u8>>> = bodies.into_iter().map(Some).collect();
    let bodies: Vec<Vec<u8>> = order.iter().filter_map(|&i| slots[i].take()).collect();
    let sent: usize = bodies.iter().map(Vec::len).sum();
    let count = bodies.len();
    let url = format!(
        "http://{}/api/v1/replay?key={}&enc=gzip",
        server.addr, server.key
    );
    let headers = [("content-type", "text/plain;charset=UTF-8".to_owned())];
    let (mut latencies, elapsed) =
        crate::bench::post_all(&url, &headers, bodies, args.connections, 202)?;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let mib = |b: f64| b / 1_048_576.0;
    println!(
        "ingest      {count} segments of {} sessions ({:.1} MiB of JSON, {:.1} MiB gzip sent) over {} connections in {elapsed:.2} s",
        args.sessions,
        mib(json_bytes as f64),
        mib(sent as f64),
        args.connections,
    );
    println!(
        "throughput  {:.0} segments/s durable, {:.1} MB/s of replay JSON ({:.1} MB/s sent); request p50 {:.1} ms, p99 {:.1} ms",
        count as f64 / elapsed,
        json_bytes as f64 / elapsed / 1e6,
        sent as f64 / elapsed / 1e6,
        at(0.5),
        at(0.99),
    );
    let stored = dir_bytes(&server.data_dir().join("replay"));
    println!(
        "disk        {:.1} MiB ({:.1}% of the JSON, {:.0} bytes per segment)",
        mib(stored as f64),
        stored as f64 * 100.0 / json_bytes as f64,
        stored as f64 / count as f64
    );
    if let Some(peak) = crate::bench::rss_kib(server.child.id(), "VmHWM") {
        println!("server      peak RSS {:.1} MiB", peak as f64 / 1024.0);
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    Ok(())
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                dir_bytes(&path)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}
