//! Store write throughput: batches made durable (log write, fsync, in-memory table), and
//! a Parquet flush.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_model::{Common, IngestBatch, Rows};
use vigil_protocol::{Event, EventBody, Request, Vital};
use vigil_store::{Store, StoreConfig};

fn batches(n: usize, per_batch: usize) -> Vec<Rows> {
    (0..n)
        .map(|i| {
            IngestBatch {
                errors: Vec::new(),
                project: 1,
                common: Common {
                    session_id: format!("s{i}").into(),
                    browser: "Chrome".into(),
                    country: "DE".into(),
                    ..Common::default()
                },
                events: (0..per_batch)
                    .map(|j| Event {
                        ts: 1_764_000_000_000 + (i * per_batch + j) as i64,
                        view_id: None,
                        page_url: None,
                        body: if j % 2 == 0 {
                            EventBody::Vital(Vital {
                                name: "LCP".into(),
                                value: 1800.0 + j as f64,
                                ..Vital::default()
                            })
                        } else {
                            EventBody::Request(Request {
                                method: "GET".into(),
                                url: "https://api.example.com/x".into(),
                                status: Some(200),
                                duration: 120.0,
                                ..Request::default()
                            })
                        },
                    })
                    .collect(),
            }
            .to_rows(usize::MAX)
            .unwrap()
        })
        .collect()
}

fn write(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            flush_rows: usize::MAX,
            max_unflushed_rows: usize::MAX,
            ..StoreConfig::default()
        },
    )
    .unwrap();
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.throughput(Throughput::Elements(256 * 20));
    group.bench_function("append_256_batches_of_20_durable", |b| {
        b.iter_batched(
            || batches(256, 20),
            |bs| store.append_all_blocking(bs).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Elements(50_000 * 20));
    group.sample_size(10);
    group.bench_function("flush_1m_rows_to_parquet", |b| {
        b.iter_batched(
            || {
                store.append_all_blocking(batches(50_000, 20)).unwrap();
            },
            |()| store.flush_blocking().unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, write);
criterion_main!(benches);
