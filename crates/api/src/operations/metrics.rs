//! The Prometheus exposition: every metric Vigil exports is named here, once.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use vigil_intake::IntakeMetrics;
use vigil_store::StoreMetrics;

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// Renders all metrics in the Prometheus text format.
pub fn render(
    intake: &IntakeMetrics,
    store: &StoreMetrics,
    alerts: &vigil_alerts::Evaluator,
    queries: &vigil_query::QueryEngine,
) -> String {
    let mut out = String::new();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    if queries.remote().is_some() {
        counter(
            &mut out,
            "vigil_queries_in_clickhouse_total",
            "Typed queries ClickHouse answered alone, compiled to its SQL (no row of their range was still local).",
            queries.remote_answers(),
        );
    }
    counter(
        &mut out,
        "vigil_intake_accepted_batches_total",
        "Batches accepted and durable.",
        load(&intake.accepted_batches),
    );
    counter(
        &mut out,
        "vigil_intake_accepted_events_total",
        "Events accepted and durable.",
        load(&intake.accepted_events),
    );
    counter(
        &mut out,
        "vigil_otlp_accepted_spans_total",
        "Spans accepted over OTLP and durable.",
        load(&intake.accepted_spans),
    );
    counter(
        &mut out,
        "vigil_otlp_accepted_log_records_total",
        "Log records accepted over OTLP and durable.",
        load(&intake.accepted_logs),
    );
    counter(
        &mut out,
        "vigil_otlp_mobile_events_total",
        "Mobile events (app starts, screens, requests, crashes, ANRs) made from OTLP spans and log records, durable.",
        load(&intake.accepted_mobile_events),
    );
    counter(
        &mut out,
        "vigil_replay_accepted_segments_total",
        "Session replay segments accepted and durable.",
        load(&intake.accepted_replay_segments),
    );
    counter(
        &mut out,
        "vigil_replay_accepted_bytes_total",
        "Bytes of session replay segments accepted (as JSON).",
        load(&intake.accepted_replay_bytes),
    );
    let _ = writeln!(
        out,
        "# HELP vigil_intake_rejected_batches_total Batches rejected, by error code."
    );
    let _ = writeln!(out, "# TYPE vigil_intake_rejected_batches_total counter");
    for (code, n) in intake.rejected_by_code() {
        let _ = writeln!(
            out,
            "vigil_intake_rejected_batches_total{{code=\"{code}\"}} {n}"
        );
    }
    gauge(
        &mut out,
        "vigil_store_queue_depth",
        "Batches waiting for the store writer.",
        load(&store.queue_depth),
    );
    gauge(
        &mut out,
        "vigil_store_memtable_rows",
        "Rows in memory not yet written to Parquet (the open memtable and the frozen ones).",
        load(&store.memtable_rows),
    );
    gauge(
        &mut out,
        "vigil_store_memtable_bytes",
        "Size in memory of the rows not yet written to Parquet.",
        load(&store.memtable_bytes),
    );
    gauge(
        &mut out,
        "vigil_store_frozen_memtables",
        "Memtables frozen and waiting for the flusher.",
        load(&store.frozen_memtables),
    );
    counter(
        &mut out,
        "vigil_store_segments_flushed_total",
        "Parquet segments written by flushes.",
        load(&store.segments_flushed),
    );
    counter(
        &mut out,
        "vigil_store_compactions_total",
        "Segment compactions.",
        load(&store.compactions),
    );
    counter(
        &mut out,
        "vigil_store_batches_refused_total",
        "Batches refused before the log: too large once expanded into rows, or unstorable.",
        load(&store.batches_refused),
    );
    counter(
        &mut out,
        "vigil_store_log_frames_skipped_total",
        "Write-ahead log frames skipped at start-up because they could not be loaded.",
        load(&store.frames_skipped),
    );
    let name = "vigil_store_write_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Write-ahead log group commit latency (write and fsync)."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0;
    for (i, bound) in vigil_store_buckets().iter().enumerate() {
        cumulative += load(&store.write_latency_buckets[i]);
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    cumulative += load(&store.write_latency_buckets[10]);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(
        out,
        "{name}_sum {}",
        load(&store.write_latency_sum_us) as f64 / 1e6
    );
    let _ = writeln!(out, "{name}_count {cumulative}");
    let evaluator = &alerts.metrics;
    counter(
        &mut out,
        "vigil_alert_evaluations_total",
        "Alert rules evaluated.",
        load(&evaluator.evaluations),
    );
    counter(
        &mut out,
        "vigil_alert_evaluation_failures_total",
        "Alert rule evaluations that failed (a query refused or failed).",
        load(&evaluator.failures),
    );
    counter(
        &mut out,
        "vigil_alert_evaluation_microseconds_total",
        "Time spent evaluating alert rules.",
        load(&evaluator.micros),
    );
    counter(
        &mut out,
        "vigil_alert_transitions_total",
        "Alert segment state transitions recorded.",
        load(&evaluator.transitions),
    );
    gauge(
        &mut out,
        "vigil_alert_last_round_microseconds",
        "How long the last round of every rule's evaluation took.",
        load(&evaluator.last_round_micros),
    );
    if let Some(lease) = alerts.lease() {
        gauge(
            &mut out,
            "vigil_alert_lease_held",
            "1 when this instance holds the lease to evaluate alerts (instances sharing a PostgreSQL metadata database).",
            u64::from(lease.held()),
        );
    }
    if let Some(outbox) = alerts.outbox() {
        let delivery = &outbox.metrics;
        counter(
            &mut out,
            "vigil_alert_notifications_delivered_total",
            "Alert notifications the receiver accepted.",
            load(&delivery.delivered),
        );
        counter(
            &mut out,
            "vigil_alert_delivery_failures_total",
            "Alert notification delivery attempts that failed.",
            load(&delivery.failed_attempts),
        );
        counter(
            &mut out,
            "vigil_alert_notifications_given_up_total",
            "Alert notifications given up after their last attempt.",
            load(&delivery.given_up),
        );
    }
    out
}

fn vigil_store_buckets() -> [f64; 10] {
    vigil_store::WRITE_LATENCY_BUCKETS
}
