//! Sign-in limits. Two things bound what unauthenticated sign-ins can cost:
//!
//! - failed attempts per email: after too many, that email is refused for a while, even with
//!   the right password, so a password cannot be guessed online. An attempt counts when its
//!   hashing starts (argon2 takes a while), so parallel guesses count too. Emails are kept as
//!   a keyed 64-bit hash, so an entry has a fixed size whatever the email, and there are at
//!   most [`MAX_TRACKED`] of them.
//! - hashing slots: argon2 takes 19 MiB per hash, so only a few run at once, each on one of a
//!   few long-lived threads (the memory freed by one hash is reused by the next on the same
//!   thread instead of piling up in many threads' allocator arenas). A request that finds no
//!   free slot within [`HASH_WAIT`] is answered 503 at once.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Wrong passwords allowed per email within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// How long failures are remembered, and how long a locked email waits.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Emails remembered at most. Past this, expired entries are dropped first, then the oldest
/// entry that is not locked: a flood of fresh emails cannot push a locked email out early.
pub const MAX_TRACKED: usize = 100_000;
/// How long a sign-in waits for a hashing slot before the server answers 503 `busy`.
pub const HASH_WAIT: Duration = Duration::from_secs(2);

/// Why password work did not run.
#[derive(Debug, PartialEq, Eq)]
pub enum HashingError {
    /// No hashing slot freed up within [`HASH_WAIT`].
    Busy,
    /// The work panicked.
    Failed,
}

type Job = Box<dyn FnOnce() + Send>;

/// Failed sign-ins per email, and the slots that password hashing runs in.
pub struct LoginThrottle {
    failures: Mutex<HashMap<u64, (u32, Instant)>>,
    /// Random per process, so nobody can choose emails whose keys collide.
    keys: std::hash::RandomState,
    slots: Arc<Semaphore>,
    workers: usize,
    jobs: OnceLock<mpsc::Sender<Job>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_hashing_slots(cores.clamp(2, 4))
    }
}

impl LoginThrottle {
    /// A throttle whose password hashing runs at most `slots` at a time.
    pub fn with_hashing_slots(slots: usize) -> Self {
        Self {
            failures: Mutex::default(),
            keys: std::hash::RandomState::new(),
            slots: Arc::new(Semaphore::new(slots)),
            workers: slots,
            jobs: OnceLock::new(),
        }
    }

    fn key(&self, email: &str) -> u64 {
        self.keys.hash_one(email.trim().to_lowercase())
    }

    /// Whether `email` may try now, without counting an attempt: the time left if locked.
    pub fn check(&self, email: &str) -> Result<(), Duration> {
        let map = self.failures.lock().expect("throttle lock");
        match map.get(&self.key(email)) {
            Some(&(n, first)) if n >= MAX_FAILURES && first.elapsed() < WINDOW => {
                Err(WINDOW.saturating_sub(first.elapsed()))
            }
            _ => Ok(()),
        }
    }

    /// Starts an attempt for `email`: counted at once, or refused with the time left to wait.
    pub fn attempt(&self, email: &str) -> Result<(), Duration> {
        let key = self.key(email);
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            map.retain(|_, (_, first)| first.elapsed() < WINDOW);
            if map.len() >= MAX_TRACKED {
                let unlocked = map.iter().filter(|(_, v)| v.0 < MAX_FAILURES);
                let oldest = unlocked
                    .min_by_key(|(_, v)| v.1)
                    .or_else(|| map.iter().min_by_key(|(_, v)| v.1))
                    .map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        if entry.0 >= MAX_FAILURES {
            return Err(WINDOW.saturating_sub(entry.1.elapsed()));
        }
        entry.0 += 1;
        Ok(())
    }

    /// A successful sign-in forgets the email's failures.
    pub fn succeeded(&self, email: &str) {
        let key = self.key(email);
        self.failures.lock().expect("throttle lock").remove(&key);
    }

    /// Emails currently remembered.
    pub fn tracked(&self) -> usize {
        self.failures.lock().expect("throttle lock").len()
    }

    /// Runs password work (argon2) in a hashing slot on one of the hashing threads. Waits at
    /// most `HASH_WAIT` for a slot. The slot is held until the work ends, even if the
    /// caller stops waiting, so a client that hangs up cannot queue more work than slots.
    pub async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let permit = tokio::time::timeout(HASH_WAIT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| HashingError::Busy)?
            .expect("the semaphore is never closed");
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _slot = permit;
            let _ = done.send(work());
        });
        self.jobs
            .get_or_init(|| self.start_workers())
            .send(job)
            .map_err(|_| HashingError::Failed)?;
        result.await.map_err(|_| HashingError::Failed)
    }

    fn start_workers(&self) -> mpsc::Sender<Job> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..self.workers {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("vigil-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = rx.lock().expect("hashing queue").recv();
                        let Ok(job) = job else { return };
                        // A panic drops the job's reply channel (the caller answers 500) and
                        // must not take a hashing thread with it.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .expect("spawn a hashing thread");
        }
        tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_per_email_and_success_clears() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILURES {
            assert!(t.attempt("Ann@example.com").is_ok());
        }
        t.succeeded("ann@example.com");
        for _ in 0..MAX_FAILURES {
            assert!(t.check(" ann@example.com").is_ok());
            assert!(t.attempt("ann@example.com").is_ok());
        }
        let left = t.attempt("ANN@example.com").expect_err("locked");
        assert!(left > WINDOW - Duration::from_secs(5) && left <= WINDOW);
        assert!(t.check("ann@example.com").is_err());
        assert!(
            t.attempt("bob@example.com").is_ok(),
            "other emails are not affected"
        );
    }

    #[test]
    fn memory_is_bounded_whatever_the_emails() {
        let t = LoginThrottle::default();
        let huge = "x".repeat(100_000);
        for i in 0..MAX_TRACKED + 10 {
            // only the first email is long; each entry stays 8 bytes of key whatever it was
            let email = if i == 0 { huge.clone() } else { i.to_string() };
            assert!(t.attempt(&email).is_ok());
        }
        assert_eq!(t.tracked(), MAX_TRACKED);
    }

    #[test]
    fn a_flood_of_fresh_emails_does_not_unlock_an_email() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILURES {
            t.attempt("victim@example.com").unwrap();
        }
        for i in 0..MAX_TRACKED + 10 {
            t.attempt(&format!("fresh-{i}@example.com")).unwrap();
        }
        assert!(t.check("victim@example.com").is_err());
        assert!(t.attempt("victim@example.com").is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_slots_hash_at_once_and_the_rest_wait_or_are_busy() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let t = Arc::new(LoginThrottle::with_hashing_slots(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        // Each job waits until released, so the test decides when slots free up.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let (t, running, peak, gate) = (t.clone(), running.clone(), peak.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                t.hashing(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    gate.lock().unwrap().recv().unwrap();
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        while running.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        // Both slots are taken: a third caller gives up after HASH_WAIT.
        assert_eq!(t.hashing(|| ()).await, Err(HashingError::Busy));
        release.send(()).unwrap();
        release.send(()).unwrap();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(()));
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(t.hashing(|| 7).await, Ok(7));
        assert_eq!(
            t.hashing(|| -> u8 { panic!("boom") }).await,
            Err(HashingError::Failed)
        );
        assert_eq!(t.hashing(|| 8).await, Ok(8), "a panic keeps the threads");
    }
}
