//! What a query may take: memory (a DataFusion memory pool per query), a turn (at most a few
//! queries run at once, a few more wait briefly, the rest are told to come back), and threads
//! of its own, so a heavy query cannot hold the threads that answer intake.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits on queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// Bytes one query's aggregations, sorts and joins may hold before it is refused as too
    /// large (the rows it reads are the store's and are not counted).
    pub memory_bytes: usize,
    /// Queries running at once.
    pub max_running: usize,
    /// Queries waiting for a turn; past this, a query is refused at once.
    pub max_waiting: usize,
    /// How long a query waits for a turn before it is refused.
    pub max_wait: Duration,
    /// Threads that run queries, apart from the server's request threads.
    pub threads: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            memory_bytes: 256 << 20,
            max_running: 4,
            max_waiting: 16,
            max_wait: Duration::from_secs(5),
            threads: cores,
        }
    }
}

impl QueryLimits {
    /// Rejects limits that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_bytes == 0 || self.max_running == 0 || self.threads == 0 {
            return Err("query memory, max_running and threads must be positive".into());
        }
        Ok(())
    }
}

/// Why a query got no turn.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// Turns to run: `max_running` permits, and a bounded, time-limited wait for one.
pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

/// Counts a waiter for as long as it waits, whichever way the wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    pub(crate) fn new(limits: &QueryLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.max_running.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: limits.max_waiting,
            max_wait: limits.max_wait,
        }
    }

    /// A turn, held until the permit is dropped; `Busy` when the queue is full or the wait
    /// runs out.
    pub(crate) async fn enter(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if ahead >= self.max_waiting {
            return Err(Busy);
        }
        match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max_running: usize, max_waiting: usize, max_wait: Duration) -> Gate {
        Gate::new(&QueryLimits {
            max_running,
            max_waiting,
            max_wait,
            ..QueryLimits::default()
        })
    }

    #[tokio::test]
    async fn a_full_gate_refuses_past_its_queue_and_admits_when_a_turn_ends() {
        let g = gate(1, 0, Duration::from_secs(60));
        let first = g.enter().await.expect("a free turn");
        // No room to wait: refused at once, however long the wait would have been.
        assert_eq!(g.enter().await.err(), Some(Busy));
        drop(first);
        assert!(g.enter().await.is_ok());
    }

    #[tokio::test]
    async fn a_waiter_gets_the_turn_that_ends_and_others_time_out() {
        let g = Arc::new(gate(1, 1, Duration::from_secs(60)));
        let first = g.enter().await.expect("a free turn");
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move { g.enter().await.map(drop) })
        };
        // The waiter is queued once the counter shows it; the queue (1) is then full.
        while g.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(g.enter().await.err(), Some(Busy));
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(g.waiting.load(Ordering::SeqCst), 0);

        let short = gate(1, 4, Duration::from_millis(1));
        let _held = short.enter().await.unwrap();
        assert_eq!(short.enter().await.err(), Some(Busy));
    }
}
