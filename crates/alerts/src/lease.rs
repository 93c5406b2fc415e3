//! One evaluator across instances: instances that share a PostgreSQL metadata database
//! all run the loop, but only the holder of the `alerts` lease evaluates rules and delivers
//! notifications. The holder renews the lease every third of its length; when it dies, the
//! lease expires and another instance takes it at its next renewal.
//!
//! An instance acts only while its lease has a renewal period left before it expires by its
//! own clock, so a holder that stalls stops acting before anyone else may start (instances'
//! clocks must agree to within that period, as NTP keeps them).

use crate::now_ms;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use vigil_meta::Meta;

/// The lease's name in the metadata database.
const NAME: &str = "alerts";

/// The `alerts` lease as this instance sees it.
pub struct Lease {
    meta: Arc<Meta>,
    holder: String,
    ttl: Duration,
    /// Until when (ms) this instance may act; 0 when it does not hold the lease.
    acts_until: AtomicI64,
    /// Whether the last renewal found it held (to log changes once).
    held: AtomicBool,
}

impl Lease {
    /// This instance's view of the lease, as `holder` (unique per instance), held for `ttl`
    /// after each renewal. Nothing is taken until [`Lease::renew`].
    pub fn new(meta: Arc<Meta>, holder: String, ttl: Duration) -> Arc<Lease> {
        Arc::new(Lease {
            meta,
            holder,
            ttl,
            acts_until: AtomicI64::new(0),
            held: AtomicBool::new(false),
        })
    }

    /// A name for this instance: host, process and a random part.
    pub fn instance_name() -> String {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{host}/{}/{nanos:08x}", std::process::id())
    }

    /// How often the lease is renewed.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// Whether this instance may evaluate and deliver now.
    pub fn held(&self) -> bool {
        self.acts_until.load(Ordering::Relaxed) > now_ms()
    }

    /// Takes or renews the lease (blocking: call from a blocking thread); whether it is held.
    pub fn renew(&self) -> bool {
        let now = now_ms();
        let ttl = self.ttl.as_millis() as i64;
        let held = match self.meta.take_lease(NAME, &self.holder, now, ttl) {
            Ok(held) => held,
            Err(e) => {
                // Unknown: act no more until a renewal succeeds.
                tracing::warn!(error = %e, "renewing the alerts lease");
                false
            }
        };
        let margin = self.renew_every().as_millis() as i64;
        self.acts_until
            .store(if held { now + ttl - margin } else { 0 }, Ordering::Relaxed);
        if held != self.held.swap(held, Ordering::Relaxed) {
            if held {
                tracing::info!(holder = %self.holder, "this instance evaluates alerts");
            } else {
                tracing::info!(holder = %self.holder, "another instance evaluates alerts");
            }
        }
        held
    }

    /// Renews the lease for as long as the task runs.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.renew_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let lease = self.clone();
            let _ = tokio::task::spawn_blocking(move || lease.renew()).await;
        }
    }

    /// Gives the lease up (on shutdown), so another instance takes it at its next renewal.
    pub fn release(&self) {
        self.acts_until.store(0, Ordering::Relaxed);
        if let Err(e) = self.meta.release_lease(NAME, &self.holder) {
            tracing::warn!(error = %e, "releasing the alerts lease");
        }
    }
}
