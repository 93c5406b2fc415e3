//! Parse throughput: raw body → checked, typed batch.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vigil_protocol::{ParseLimits, parse_batch};

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
}

criterion_group!(benches, parse);
criterion_main!(benches);
