//! Parse throughput: raw body → checked, typed batch.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vigil_protocol::{ParseLimits, ScanLimits, parse_batch, scan_json};

fn parse(c: &mut Criterion) {
    let body = std::fs::read(format!(
        "{}/../../docs/fixtures/valid/full.json",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let events = parse_batch(&body, &ParseLimits::default())
        .unwrap()
        .events
        .len();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("full_fixture_batch", |b| {
        b.iter(|| parse_batch(black_box(&body), &ParseLimits::default()).unwrap())
    });
    group.finish();

    let mixed = mixed_batch(20);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(20));
    group.bench_function("mixed_20_events", |b| {
        b.iter(|| parse_batch(black_box(&mixed), &ParseLimits::default()).unwrap())
    });
    group.finish();

    // The structural pre-scan alone, which every body goes through before the typed parse.
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(mixed.len() as u64));
    group.bench_function("mixed_20_events", |b| {
        b.iter(|| scan_json(black_box(&mixed), &ScanLimits::default()).unwrap())
    });
    group.finish();
}

/// A batch like `vigil bench ingest` sends: the five most common event types in turn, in
/// the field order the agent writes them.
fn mixed_batch(n: usize) -> Vec<u8> {
    let ts = 1_767_225_600_000_i64;
    let events: Vec<String> = (0..n)
        .map(|i| {
            let ts = ts + i as i64 * 37;
            match i % 5 {
                0 => format!(
                    r#"{{"ts":{ts},"type":"vital","name":"LCP","value":{}.25,"attribution":{{"element":"img.hero"}}}}"#,
                    1800 + i
                ),
                1 => format!(
                    r#"{{"ts":{ts},"type":"request","method":"GET","url":"https://shop.example.com/api/products/{i}","status":200,"duration":118.5,"trace_id":"4bf92f3577b34da6a3ce929d0e0e{i:04x}","span_id":"00f067aa0ba9{i:04x}","trace_sampled":true}}"#
                ),
                2 => format!(r#"{{"ts":{ts},"type":"action","action":"click","selector":"button#buy"}}"#),
                3 => format!(
                    r#"{{"ts":{ts},"type":"resource","url":"https://shop.example.com/assets/app.js","initiator":"script","duration":80.125,"transfer_size":95000.0}}"#
                ),
                _ => format!(
                    r#"{{"ts":{ts},"type":"view","navigation_type":"navigate","timing":{{"ttfb":312.5}},"fcp":905.0}}"#
                ),
            }
        })
        .collect();
    format!(
        r#"{{"v":1,"context":{{"session_id":"mk3f9a2-8c1d2e3f4a","view_id":"mk3f9a2-8c1d2e3f4a.0.9f3a","agent":{{"name":"vigil-browser","version":"0.1.0"}},"page_url":"https://shop.example.com/products/42?utm_source=mail","connection":{{"type":"wifi","effective_type":"4g"}}}},"events":[{}]}}"#,
        events.join(",")
    )
    .into_bytes()
}

criterion_group!(benches, parse);
criterion_main!(benches);
