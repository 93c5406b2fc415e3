/// Good and poor boundaries of one web vital, as web.dev publishes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalThresholds {
    /// Values up to this are good.
    pub good: f64,
    /// Values above this are poor; between the two, needs improvement.
    pub poor: f64,
}

/// The thresholds of a vital by its protocol name (`LCP`, `INP`, `CLS`, `FCP`, `TTFB`).
pub fn thresholds(name: &str) -> Option<VitalThresholds> {
    let (good, poor) = match name {
        "LCP" => (2500.0, 4000.0),
        "INP" => (200.0, 500.0),
        "CLS" => (0.1, 0.25),
        "FCP" => (1800.0, 3000.0),
        "TTFB" => (800.0, 1800.0),
        _ => return None,
    };
    Some(VitalThresholds { good, poor })
}

/// `good`, `needs-improvement` or `poor` for a value, as `web-vitals` rates it.
pub fn rate_vital(name: &str, value: f64) -> Option<&'static str> {
    let t = thresholds(name)?;
    Some(if value <= t.good {
        "good"
    } else if value <= t.poor {
        "needs-improvement"
    } else {
        "poor"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_belong_to_the_better_rating() {
        assert_eq!(rate_vital("LCP", 2500.0), Some("good"));
        assert_eq!(rate_vital("LCP", 2500.1), Some("needs-improvement"));
        assert_eq!(rate_vital("LCP", 4000.0), Some("needs-improvement"));
        assert_eq!(rate_vital("LCP", 4000.1), Some("poor"));
        assert_eq!(rate_vital("CLS", 0.1), Some("good"));
        assert_eq!(rate_vital("XYZ", 1.0), None);
    }
}
