use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Intake's counters.
#[derive(Default)]
pub struct IntakeMetrics {
    /// Batches accepted (durable).
    pub accepted_batches: AtomicU64,
    /// Events accepted (durable).
    pub accepted_events: AtomicU64,
    /// Spans accepted over OTLP (durable).
    pub accepted_spans: AtomicU64,
    /// Log records accepted over OTLP (durable).
    pub accepted_logs: AtomicU64,
    /// Mobile events made from OTLP spans and log records (durable).
    pub accepted_mobile_events: AtomicU64,
    /// Replay segments accepted (durable).
    pub accepted_replay_segments: AtomicU64,
    /// Bytes of replay segments accepted, as JSON.
    pub accepted_replay_bytes: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl IntakeMetrics {
    /// Counts an accepted batch.
    pub fn accepted(&self, events: usize) {
        self.accepted_batches.fetch_add(1, Ordering::Relaxed);
        self.accepted_events
            .fetch_add(events as u64, Ordering::Relaxed);
    }

    /// Counts an accepted OTLP request's spans (or log records).
    pub fn accepted_otlp(&self, spans: bool, records: usize) {
        let counter = if spans {
            &self.accepted_spans
        } else {
            &self.accepted_logs
        };
        counter.fetch_add(records as u64, Ordering::Relaxed);
    }

    /// Counts the mobile events made from an accepted OTLP request.
    pub fn accepted_mobile(&self, events: usize) {
        self.accepted_mobile_events
            .fetch_add(events as u64, Ordering::Relaxed);
    }

    /// Counts a rejected batch by its code.
    pub fn rejected(&self, code: &'static str) {
        *self
            .rejected
            .lock()
            .expect("metrics lock")
            .entry(code)
            .or_default() += 1;
    }

    /// Rejections so far, by code.
    pub fn rejected_by_code(&self) -> BTreeMap<&'static str, u64> {
        self.rejected.lock().expect("metrics lock").clone()
    }
}
