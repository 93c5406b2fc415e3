//! What a query may take: memory (a DataFusion memory pool per query), a turn (at most a few
//! queries run at once, a few more wait briefly, the rest are told to come back), and threads
//! of its own, so a heavy query cannot hold the threads that answer intake.

use std::future::Future;
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

/// The query threads: a runtime of their own. DataFusion computes inside the futures it
/// polls, so on the server's runtime a long aggregation would hold a request thread and
/// intake would wait behind it.
pub(crate) struct Threads(Option<tokio::runtime::Runtime>);

impl Threads {
    pub(crate) fn start(threads: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("vigil-query")
            // Planning recurses over the expression tree; requests cap its size, and deeper
            // stacks than tokio's 2 MiB default keep what does pass far from the edge.
            .thread_stack_size(8 << 20)
            .enable_all()
            .build()
            // Like the store's writer thread: a server that cannot start threads cannot serve.
            .expect("start the query threads");
        Self(Some(runtime))
    }

    /// Runs `work` on the query threads; dropping the returned future (the request went
    /// away or timed out) cancels the work at its next await.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let runtime = self.0.as_ref().expect("runtime present until drop");
        let mut task = AbortOnDrop(runtime.spawn(work));
        (&mut task.0).await
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which is not allowed inside another
        // runtime (the server drops its state on its own runtime at shutdown).
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
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

    #[test]
    fn work_runs_on_the_query_threads_and_threads_stop_inside_a_runtime() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        outer.block_on(async {
            let threads = Threads::start(1);
            let name = threads
                .run(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap();
            assert_eq!(name.as_deref(), Some("vigil-query"));
            // Dropped on a runtime thread, as the server does at shutdown: must not panic.
            drop(threads);
        });
    }
}
