//! Remembered results of the scrubbers and the URL templater. A site's events repeat the
//! same few hundred URLs and selectors (its assets in every page view, its API endpoints in
//! every session), and scrubbing or templating one took 350–1,100 instructions each time:
//! 4.5% of the server's instructions during ingest. A lookup takes about a hundred.
//!
//! What a memo holds is bounded whatever its inputs: inputs longer than [`MAX_INPUT`] are
//! computed every time, and a generation that reaches [`GENERATION_BYTES`] becomes the
//! previous one (the one before it dropped), so at most two generations' bytes are held.
//! An input seen in the previous generation moves to the current one: what keeps coming
//! stays, what came once ages out. The hasher is seeded per process, so inputs cannot be
//! chosen to collide.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

/// Inputs longer than this are not remembered: a long URL or message is rarely repeated,
/// and each would take a large share of a generation.
pub(crate) const MAX_INPUT: usize = 512;
/// Bytes of inputs and changed results (plus a fixed cost per entry) one generation holds.
pub(crate) const GENERATION_BYTES: usize = 256 * 1024;
/// What an entry costs beyond its text: the map's slot and two boxes' headers, about.
const ENTRY_OVERHEAD: usize = 64;

/// An input's result: `None` when it is the input itself (the common case, which then
/// borrows the caller's text instead of copying).
type Entries = HashMap<Box<str>, Option<Box<str>>, foldhash::fast::RandomState>;

#[derive(Default)]
struct Generations {
    current: Entries,
    previous: Entries,
    current_bytes: usize,
}

impl Generations {
    fn insert(&mut self, input: &str, result: Option<Box<str>>) {
        let bytes = input.len() + result.as_ref().map_or(0, |r| r.len()) + ENTRY_OVERHEAD;
        if self.current_bytes + bytes > GENERATION_BYTES {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        self.current_bytes += bytes;
        self.current.insert(input.into(), result);
    }
}

/// One function's remembered results (see the module's documentation).
pub(crate) struct Memo {
    generations: LazyLock<Mutex<Generations>>,
}

impl Memo {
    pub(crate) const fn new() -> Memo {
        Memo {
            generations: LazyLock::new(|| Mutex::new(Generations::default())),
        }
    }

    /// `compute(input)`, remembered: the same input gives what `compute` gave it.
    pub(crate) fn get<'a>(
        &self,
        input: &'a str,
        compute: impl FnOnce(&'a str) -> Cow<'a, str>,
    ) -> Cow<'a, str> {
        if input.len() > MAX_INPUT {
            return compute(input);
        }
        // A poisoned lock still guards whole entries: each change is one insert or swap.
        let mut generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = generations.current.get(input) {
            return remembered(input, found.as_deref());
        }
        if let Some(found) = generations.previous.remove(input) {
            let result = remembered(input, found.as_deref());
            generations.insert(input, found);
            return result;
        }
        // Computed without the lock held: another thread's lookups need not wait for it.
        drop(generations);
        let result = compute(input);
        let kept = match &result {
            Cow::Owned(changed) if changed != input => Some(changed.as_str().into()),
            _ => None,
        };
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(input, kept);
        result
    }

    /// Bytes the memo holds by its own count (both generations, entries' overhead included).
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        let generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = |entries: &Entries| -> usize {
            entries
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD)
                .sum()
        };
        count(&generations.current) + count(&generations.previous)
    }

    /// Whether `input` is remembered.
    #[cfg(test)]
    pub(crate) fn holds(&self, input: &str) -> bool {
        let generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        generations.current.contains_key(input) || generations.previous.contains_key(input)
    }
}

fn remembered<'a>(input: &'a str, result: Option<&str>) -> Cow<'a, str> {
    match result {
        None => Cow::Borrowed(input),
        Some(changed) => Cow::Owned(changed.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shouted(text: &str) -> Cow<'_, str> {
        if text.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(text.to_ascii_uppercase())
        } else {
            Cow::Borrowed(text)
        }
    }

    #[test]
    fn a_remembered_result_is_what_the_computation_gave() {
        let memo = Memo::new();
        let calls = std::cell::Cell::new(0);
        let counted = |text| {
            calls.set(calls.get() + 1);
            shouted(text)
        };
        for _ in 0..3 {
            assert_eq!(memo.get("abc/1", counted), "ABC/1");
            assert!(matches!(memo.get("ABC/1", counted), Cow::Borrowed("ABC/1")));
        }
        assert_eq!(calls.get(), 2, "each input computed once");
        // Unchanged text is remembered as unchanged and given back borrowed, not copied.
        assert!(matches!(memo.get("ABC/1", shouted), Cow::Borrowed(_)));
    }

    #[test]
    fn long_inputs_are_computed_every_time_and_never_held() {
        let memo = Memo::new();
        let long = "a".repeat(MAX_INPUT + 1);
        assert_eq!(memo.get(&long, shouted), long.to_ascii_uppercase());
        assert!(!memo.holds(&long));
        assert_eq!(memo.held_bytes(), 0);
        let longest = "b".repeat(MAX_INPUT);
        assert_eq!(memo.get(&longest, shouted), longest.to_ascii_uppercase());
        assert!(memo.holds(&longest));
    }

    /// The attack: every request brings new, long inputs whose results differ from them.
    #[test]
    fn inputs_never_seen_twice_hold_at_most_two_generations() {
        let memo = Memo::new();
        let mut most = 0;
        for i in 0..20_000 {
            let input = format!("{i:0>500}x");
            assert_eq!(memo.get(&input, shouted), input.to_ascii_uppercase());
            most = most.max(memo.held_bytes());
        }
        assert!(most <= 2 * GENERATION_BYTES, "held {most} bytes");
        assert!(
            most > GENERATION_BYTES,
            "the previous generation is kept: {most}"
        );
        assert!(!memo.holds(&format!("{:0>500}x", 0)), "the oldest aged out");
    }

    #[test]
    fn what_keeps_coming_outlives_the_generations_it_spans() {
        let memo = Memo::new();
        for i in 0..20_000 {
            memo.get(&format!("{i:0>500}"), shouted);
            memo.get("https://example.com/app.js", shouted);
        }
        assert!(memo.holds("https://example.com/app.js"));
    }
}
