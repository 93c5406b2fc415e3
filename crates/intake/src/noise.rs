//! The project's noise filters at intake: errors from browser extensions, `Script error.`
//! without a stack and the project's own rules are dropped before anything is stored, and
//! counted per day and reason. Counts gather in memory and go to meta.db at most every
//! 10 s (a crash loses at most those seconds of counts, never events).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_meta::{ErrorSettings, Meta};
use vigil_protocol::{Batch, EventBody};

/// How long a project's settings are trusted; changes apply within this time.
const SETTINGS_TTL: Duration = Duration::from_secs(5);
/// How often gathered counts are written.
const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// (project, day, reason) → errors dropped.
type Counts = HashMap<(u32, i64, String), i64>;

pub(crate) struct NoiseFilter {
    meta: Arc<Meta>,
    /// Only projects whose key was valid get here, so this holds one entry per project.
    settings: Mutex<HashMap<u32, (Instant, Arc<ErrorSettings>)>>,
    /// (project, day, reason) → errors dropped since the last write. Reasons are
    /// `extension`, `script_error` and `rule:<n>` with n < 50: bounded per project.
    counts: Mutex<(Instant, Counts)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl NoiseFilter {
    pub(crate) fn new(meta: Arc<Meta>) -> Self {
        Self {
            meta,
            settings: Mutex::new(HashMap::new()),
            counts: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    /// A project's error settings, read at most every 5 s.
    pub(crate) fn settings(&self, project: u32) -> Arc<ErrorSettings> {
        if let Some((at, s)) = lock(&self.settings).get(&project)
            && at.elapsed() < SETTINGS_TTL
        {
            return Arc::clone(s);
        }
        let settings = Arc::new(self.meta.error_settings(project).unwrap_or_else(|e| {
            tracing::warn!(error = %e, project, "cannot read error settings; using the defaults");
            ErrorSettings::default()
        }));
        lock(&self.settings).insert(project, (Instant::now(), Arc::clone(&settings)));
        settings
    }

    /// Removes the batch's noise errors and counts them. Runs on the blocking pool.
    pub(crate) fn drop_noise(&self, project: u32, batch: &mut Batch, now_ms: i64) {
        let settings = self.settings(project);
        let page = batch.context.page_url.clone().unwrap_or_default();
        let mut dropped: Vec<String> = Vec::new();
        batch.events.retain(|e| match &e.body {
            EventBody::Error(err) => match vigil_errors::noise_reason(err, &page, &settings) {
                Some(reason) => {
                    dropped.push(reason);
                    false
                }
                None => true,
            },
            _ => true,
        });
        if dropped.is_empty() && lock(&self.counts).1.is_empty() {
            return;
        }
        let day = now_ms.div_euclid(86_400_000);
        let due = {
            let mut counts = lock(&self.counts);
            for reason in dropped {
                *counts.1.entry((project, day, reason)).or_default() += 1;
            }
            if counts.0.elapsed() >= FLUSH_EVERY {
                counts.0 = Instant::now();
                std::mem::take(&mut counts.1)
            } else {
                HashMap::new()
            }
        };
        self.write(due);
    }

    fn write(&self, due: Counts) {
        if due.is_empty() {
            return;
        }
        let rows: Vec<(u32, i64, String, i64)> =
            due.into_iter().map(|((p, d, r), n)| (p, d, r, n)).collect();
        if let Err(e) = self.meta.add_filtered_counts(&rows) {
            tracing::warn!(error = %e, "cannot record filtered error counts");
        }
    }

    /// Writes what has gathered (at shutdown, and for tests).
    pub(crate) fn flush(&self) {
        let due = std::mem::take(&mut lock(&self.counts).1);
        self.write(due);
    }
}
