//! The states of one segment, as a pure function of its last state and what an evaluation
//! saw. The evaluator and the preview both step through it, so the preview says exactly
//! what the evaluator would have done.
//!
//! ok → pending (breaching, fewer evaluations in a row than the rule asks) → firing →
//! resolved (back past the recovery threshold, which sits on the good side of the
//! threshold: a value hovering at the threshold fires once and stays firing, it does not
//! flap). A segment with too few samples to judge keeps a firing state (nothing says it
//! recovered) and falls back from pending to ok.

use crate::rule::RuleDefinition;
use vigil_meta::AlertState;

/// What an evaluation saw of one segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The value, if it could be computed.
    pub value: Option<f64>,
    /// The samples behind it (the denominator of a ratio).
    pub samples: u64,
}

/// A segment's state between evaluations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Ok, pending or firing.
    pub state: AlertState,
    /// Evaluations in a row that breached.
    pub breaches: u32,
    /// When it entered its state, ms.
    pub since: i64,
}

impl Segment {
    /// A segment never seen before.
    pub fn new(at: i64) -> Self {
        Self {
            state: AlertState::Ok,
            breaches: 0,
            since: at,
        }
    }
}

/// One evaluation of one segment at `at`: its next state, and the transition if the state
/// changed (`resolved` for firing → ok).
pub fn step(
    rule: &RuleDefinition,
    prev: Segment,
    seen: Option<Observation>,
    at: i64,
) -> (Segment, Option<(AlertState, AlertState)>) {
    let judged = seen
        .filter(|o| o.samples >= rule.least_samples())
        .and_then(|o| o.value)
        .filter(|v| v.is_finite());
    let next = |state: AlertState, breaches: u32| {
        let since = if state == prev.state { prev.since } else { at };
        Segment {
            state,
            breaches,
            since,
        }
    };
    let (state, breaches) = match (prev.state, judged) {
        (AlertState::Firing, None) => (AlertState::Firing, prev.breaches),
        (_, None) => (AlertState::Ok, 0),
        (AlertState::Firing, Some(v)) if rule.recovered(v) => (AlertState::Ok, 0),
        (AlertState::Firing, Some(v)) => (
            AlertState::Firing,
            if rule.breaches(v) {
                prev.breaches.saturating_add(1)
            } else {
                prev.breaches
            },
        ),
        (_, Some(v)) if rule.breaches(v) => {
            let breaches = prev.breaches.saturating_add(1);
            if breaches >= rule.pending_evaluations {
                (AlertState::Firing, breaches)
            } else {
                (AlertState::Pending, breaches)
            }
        }
        (_, Some(_)) => (AlertState::Ok, 0),
    };
    let segment = next(state, breaches);
    let change = (state != prev.state).then(|| {
        let to = if prev.state == AlertState::Firing && state == AlertState::Ok {
            AlertState::Resolved
        } else {
            state
        };
        (prev.state, to)
    });
    (segment, change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertState::*;

    fn rule(pending: u32, min_samples: u64) -> RuleDefinition {
        serde_json::from_value(serde_json::json!({
            "name": "r", "metric": "lcp", "aggregation": "p75", "condition": "above",
            "threshold": 4000, "pending_evaluations": pending, "min_samples": min_samples
        }))
        .unwrap()
    }

    fn seen(value: f64, samples: u64) -> Option<Observation> {
        Some(Observation {
            value: Some(value),
            samples,
        })
    }

    /// The transitions of a run of observations.
    fn run(rule: &RuleDefinition, values: &[Option<Observation>]) -> Vec<(AlertState, AlertState)> {
        let mut s = Segment::new(0);
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let (next, change) = step(rule, s, *v, i as i64);
            s = next;
            out.extend(change);
        }
        out
    }

    #[test]
    fn fires_after_pending_evaluations_and_resolves_past_recovery() {
        let r = rule(2, 10);
        assert_eq!(
            run(
                &r,
                &[
                    seen(5000.0, 50),
                    seen(5000.0, 50),
                    seen(5000.0, 50),
                    seen(3000.0, 50)
                ]
            ),
            [(Ok, Pending), (Pending, Firing), (Firing, Resolved)]
        );
        // One breach, then fine: pending falls back, nothing fired.
        assert_eq!(
            run(&r, &[seen(5000.0, 50), seen(3000.0, 50)]),
            [(Ok, Pending), (Pending, Ok)]
        );
    }

    #[test]
    fn hovering_at_the_threshold_fires_once() {
        let r = rule(1, 10);
        let hover: Vec<_> = (0..20)
            .map(|i| seen(if i % 2 == 0 { 4050.0 } else { 3950.0 }, 50))
            .collect();
        assert_eq!(run(&r, &hover), [(Ok, Firing)]);
    }

    #[test]
    fn thin_segments_are_not_judged() {
        let r = rule(1, 30);
        assert!(run(&r, &[seen(99_999.0, 29), seen(99_999.0, 4)]).is_empty());
        // A firing segment whose traffic thins keeps firing: nothing says it recovered.
        assert_eq!(
            run(&r, &[seen(9000.0, 30), seen(100.0, 3), None]),
            [(Ok, Firing)]
        );
        // A count is judged whatever its size: zero events is a value.
        let counted: RuleDefinition = serde_json::from_value(serde_json::json!({
            "name": "r", "metric": "custom_events", "aggregation": "count",
            "condition": "below", "threshold": 1, "min_samples": 100
        }))
        .unwrap();
        assert_eq!(run(&counted, &[seen(0.0, 0)]), [(Ok, Firing)]);
    }
}
