//! Threads by what waits on them. Reads (queries, the dashboard's API) are what a person
//! waits on; ingest (parsing, enrichment, the log writer, flushes and merges) is what the
//! agents' retries and the store's queues absorb. On a machine whose cores ingest can
//! saturate, ingest's threads run at a lower scheduling priority, so a query gets the CPU
//! when it needs it and ingest takes whatever is left.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

/// How far below the process's own priority background threads run: at nice +10 the
/// kernel's fair scheduler gives a thread about a tenth of the weight of one at nice 0.
pub const BACKGROUND_NICENESS: i32 = 10;

/// The highest niceness Linux knows.
const MAX_NICE: i32 = 19;

/// Lowers the calling thread's scheduling priority to [`BACKGROUND_NICENESS`] below the
/// process's main thread (Linux keeps a niceness per thread, and a new thread starts at
/// its creator's, so the level is set from the main thread's, never stacked). Where the
/// system refuses, the thread keeps its priority and the first refusal is logged: ingest
/// then shares the CPU with reads evenly, as it would anyway.
pub fn lower_this_thread() {
    settle_this_thread(Priority::Background);
}

/// Puts the calling thread at `priority`'s niceness: lowered to it when above it
/// (background), brought back to it when below it (an interactive thread started by a
/// background one). Raising a priority needs privileges a server may lack; the first
/// refusal of each kind is logged.
fn settle_this_thread(priority: Priority) {
    static WARNED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
    let tid = rustix::thread::gettid();
    let result = niceness_of(priority).and_then(|target| {
        let now = rustix::process::getpriority_process(Some(tid))?;
        let off = match priority {
            Priority::Background => now < target,
            Priority::Interactive => now > target,
        };
        if off {
            rustix::process::setpriority_process(Some(tid), target)?;
        }
        Ok(())
    });
    if let Err(e) = result
        && !WARNED[priority as usize].swap(true, Ordering::Relaxed)
    {
        tracing::warn!(error = %e, ?priority, "cannot set the priority of a thread pool");
    }
}

/// The niceness threads of `priority` run at: the main thread's (its id is the process's),
/// plus [`BACKGROUND_NICENESS`] for background ones.
fn niceness_of(priority: Priority) -> rustix::io::Result<i32> {
    let main = rustix::process::getpriority_process(Some(rustix::process::getpid()))?;
    Ok(match priority {
        Priority::Interactive => main,
        Priority::Background => (main + BACKGROUND_NICENESS).min(MAX_NICE),
    })
}

/// The calling thread's niceness (what `nice` shows for it).
pub fn niceness_of_this_thread() -> std::io::Result<i32> {
    Ok(rustix::process::getpriority_process(Some(
        rustix::thread::gettid(),
    ))?)
}

/// Which priority a [`Pool`]'s threads run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The process's own: work someone waits on.
    Interactive = 0,
    /// Lowered by [`BACKGROUND_NICENESS`]: work that queues absorb.
    Background = 1,
}

/// A tokio runtime of its own, so one kind of work cannot hold the threads another kind
/// needs (DataFusion computes inside the futures it polls; intake parses and encodes in
/// them), at the priority of that kind of work.
pub struct Pool(Option<tokio::runtime::Runtime>);

impl Pool {
    /// `threads` workers named `name` (its blocking pool too), at `priority`.
    pub fn start(name: &str, threads: usize, priority: Priority) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(name)
            // Query planning recurses over the expression tree; requests cap its size, and
            // deeper stacks than tokio's 2 MiB default keep what does pass far from the edge.
            .thread_stack_size(8 << 20)
            .on_thread_start(move || settle_this_thread(priority))
            .enable_all()
            .build()
            // Like the store's writer thread: a server that cannot start threads cannot serve.
            .expect("start a thread pool");
        Self(Some(runtime))
    }

    /// Runs `work` on the pool; dropping the returned future (the request went away or
    /// timed out) cancels the work at its next await.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let runtime = self.0.as_ref().expect("runtime present until drop");
        let mut task = AbortOnDrop(runtime.spawn(work));
        (&mut task.0).await
    }
}

impl Drop for Pool {
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
    use std::time::Duration;

    fn outer() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn work_runs_on_the_pool_at_its_priority_and_pools_stop_inside_a_runtime() {
        let own = niceness_of_this_thread().unwrap();
        let lowered = niceness_of(Priority::Background).unwrap();
        assert!(lowered > own || own == MAX_NICE);
        outer().block_on(async {
            let interactive = Pool::start("vigil-test-read", 1, Priority::Interactive);
            let background = Pool::start("vigil-test-ingest", 1, Priority::Background);
            async fn on(pool: &Pool) -> Result<(Option<String>, i32), tokio::task::JoinError> {
                pool.run(async {
                    (
                        std::thread::current().name().map(str::to_owned),
                        niceness_of_this_thread().unwrap(),
                    )
                })
                .await
            }
            assert_eq!(
                on(&interactive).await.unwrap(),
                (Some("vigil-test-read".to_owned()), own)
            );
            assert_eq!(
                on(&background).await.unwrap(),
                (Some("vigil-test-ingest".to_owned()), lowered)
            );
            // The blocking pool of a background pool is background too, started by a thread
            // already lowered: not lowered twice.
            let blocking = background
                .run(async {
                    tokio::task::spawn_blocking(|| niceness_of_this_thread().unwrap())
                        .await
                        .unwrap()
                })
                .await
                .unwrap();
            assert_eq!(blocking, lowered);
            // An interactive pool started from a background thread does not inherit its
            // priority (given back where the system lets a process raise it: as root).
            let nested = background
                .run(async {
                    let pool = Pool::start("vigil-test-nested", 1, Priority::Interactive);
                    on(&pool).await.unwrap().1
                })
                .await
                .unwrap();
            let privileged = rustix::process::geteuid().is_root();
            assert_eq!(nested, if privileged { own } else { lowered });
            // Dropped on a runtime thread, as the server does at shutdown: must not panic.
            drop(interactive);
            drop(background);
        });
        // Only the pool's threads were lowered, never the caller's.
        assert_eq!(niceness_of_this_thread().unwrap(), own);
    }

    #[test]
    fn dropping_the_wait_cancels_the_work() {
        outer().block_on(async {
            let pool = Pool::start("vigil-test-cancel", 1, Priority::Background);
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let waited = tokio::time::timeout(
                Duration::from_millis(20),
                pool.run(async move {
                    // Holds `tx` until cancelled; `rx` then sees it dropped.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    drop(tx);
                }),
            )
            .await;
            assert!(waited.is_err(), "the hour-long work was still running");
            // Aborted, the work drops `tx` at once; still running, it would hold it an hour.
            let dropped = tokio::time::timeout(Duration::from_secs(5), rx).await;
            assert!(
                matches!(dropped, Ok(Err(_))),
                "the work went on after its caller stopped waiting"
            );
        });
    }
}
