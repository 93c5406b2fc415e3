//! Sign-in throttling: after too many wrong passwords for one email, that email is refused
//! for a while, even with the right password, so a password cannot be guessed online. An
//! attempt counts when it starts (argon2 takes a while), so parallel guesses count too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong passwords allowed per email within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// How long failures are remembered, and how long a locked email waits.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Emails remembered at most; past this, expired entries are dropped first, then the oldest.
const MAX_TRACKED: usize = 100_000;

/// Failed sign-ins per email (lowercased).
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// Starts an attempt for `email`: counted at once, or refused with the time left to wait.
    pub fn attempt(&self, email: &str) -> Result<(), Duration> {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, first)| first.elapsed() < WINDOW);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let entry = map
            .entry(email.to_lowercase())
            .or_insert((0, Instant::now()));
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
        self.failures
            .lock()
            .expect("throttle lock")
            .remove(&email.to_lowercase());
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
            assert!(t.attempt("ann@example.com").is_ok());
        }
        let left = t.attempt("ANN@example.com").expect_err("locked");
        assert!(left > WINDOW - Duration::from_secs(5) && left <= WINDOW);
        assert!(
            t.attempt("bob@example.com").is_ok(),
            "other emails are not affected"
        );
    }
}
