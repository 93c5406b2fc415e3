//! A single pass over raw JSON bytes that enforces structural limits before the typed parse,
//! so that a deeply nested or huge-string body costs one linear scan and no allocation.

/// Structural limits for one body.
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    /// Deepest nesting of objects and arrays (the batch itself is depth 1).
    pub max_depth: usize,
    /// Longest string, counted in raw (escaped) bytes between the quotes.
    pub max_string_bytes: usize,
    /// Largest magnitude of any number. Numbers are stored as 64-bit fixed point (up to
    /// three decimals), so larger ones could not be kept exactly; refusing them at the door
    /// keeps every stored value and every sum of them meaningful.
    pub max_number: f64,
}

impl Default for ScanLimits {
    fn default() -> Self {
        // Depth 6 fits batch → events → error → breadcrumbs → breadcrumb → data; 16 KiB fits
        // a long minified stack trace, which the agent truncates to that size.
        Self {
            max_depth: 6,
            max_string_bytes: 16 * 1024,
            max_number: MAX_NUMBER,
        }
    }
}

/// Default largest magnitude of a number: 10^15 (a timestamp in ms is about 1.8 × 10^12),
/// which at three decimals stays far inside an i64.
pub const MAX_NUMBER: f64 = 1e15;

/// A structural limit the body breaks.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScanError {
    /// Nesting deeper than allowed.
    #[error("json nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A string longer than allowed.
    #[error("a string of {got} bytes at byte {at} is longer than the limit of {limit}")]
    StringTooLong {
        /// Where the string starts.
        at: usize,
        /// Its raw length so far.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// A number too large to be stored exactly.
    #[error("the number {number} at byte {at} is beyond ±{limit:e}")]
    NumberOutOfRange {
        /// Where the number starts.
        at: usize,
        /// The number as written (cut to 40 bytes).
        number: String,
        /// The limit.
        limit: f64,
    },
}

impl ScanError {
    /// Stable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            ScanError::TooDeep(_) => "too_deep",
            ScanError::StringTooLong { .. } => "string_too_long",
            ScanError::NumberOutOfRange { .. } => "number_out_of_range",
        }
    }
}

/// Checks depth and string lengths. Malformed JSON is left for the real parser to report;
/// this scan only needs to be right about well-formed input and never to panic.
pub fn scan_json(body: &[u8], limits: &ScanLimits) -> Result<(), ScanError> {
    let mut depth = 0usize;
    let mut i = 0usize;
    // A number of at most 15 digits before its fraction, without exponent, is below 10^15:
    // under the usual limit the common numbers (times, sizes, durations) need no parse.
    let short_numbers_fit = limits.max_number >= 1e15;
    while let Some(&byte) = body.get(i) {
        match byte {
            b'{' | b'[' => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(ScanError::TooDeep(limits.max_depth));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = i + 1;
                let end = string_end(body, start);
                let len = end - start;
                if len > limits.max_string_bytes {
                    return Err(ScanError::StringTooLong {
                        at: start,
                        got: len,
                        limit: limits.max_string_bytes,
                    });
                }
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i + 1 < body.len() && is_number_byte(body[i + 1]) {
                    i += 1;
                }
                check_number(&body[start..=i], start, limits, short_numbers_fit)?;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Bytes a JSON number is written with.
fn is_number_byte(b: u8) -> bool {
    matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
}

/// Where the string whose text begins at `start` ends: the index of its closing quote, or
/// the body's length when it has none. An escape steps over the byte after it.
fn string_end(body: &[u8], start: usize) -> usize {
    // Most strings of a batch are keys and short values: a byte loop reaches their end
    // before a vectorised search has set up. Criterion `scan/mixed_20_events` (the batch
    // `vigil bench ingest` sends): 2.73 µs with `memchr2` from each string's start,
    // 2.27–2.47 µs so.
    let short = body.len().min(start.saturating_add(SHORT_STRING));
    let mut j = start;
    while j < short {
        match body[j] {
            b'"' => return j,
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    end_by_search(body, j)
}

/// [`string_end`] from `from` on, with a vectorised search for the next quote or backslash.
fn end_by_search(body: &[u8], from: usize) -> usize {
    let mut j = from;
    while let Some(k) = body
        .get(j..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        j += k;
        if body[j] == b'"' {
            return j;
        }
        j += 2;
    }
    body.len()
}

/// Bytes of a string the scan looks at one by one before it searches for the end.
const SHORT_STRING: usize = 32;

/// Refuses a number token (as written, from `at`) beyond the limit.
fn check_number(
    token: &[u8],
    at: usize,
    limits: &ScanLimits,
    short_numbers_fit: bool,
) -> Result<(), ScanError> {
    let unsigned = token.strip_prefix(b"-").unwrap_or(token);
    let (whole, fraction) = match memchr::memchr(b'.', unsigned) {
        Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
        None => (unsigned, &b""[..]),
    };
    if short_numbers_fit && whole.len() < 16 && whole.iter().chain(fraction).all(u8::is_ascii_digit)
    {
        return Ok(());
    }
    // Malformed numbers are the parser's to report; only real ones are checked.
    let value = std::str::from_utf8(token)
        .ok()
        .and_then(|t| t.parse::<f64>().ok());
    match value {
        Some(v) if v.is_nan() || v.abs() > limits.max_number => Err(ScanError::NumberOutOfRange {
            at,
            number: String::from_utf8_lossy(&token[..token.len().min(40)]).into_owned(),
            limit: limits.max_number,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn depth_at_limit_passes_and_one_over_fails() {
        let limits = ScanLimits {
            max_depth: 3,
            max_string_bytes: 10,
            ..ScanLimits::default()
        };
        assert_eq!(scan_json(br#"{"a":[{"b":1}]}"#, &limits), Ok(()));
        assert_eq!(
            scan_json(br#"{"a":[{"b":[1]}]}"#, &limits),
            Err(ScanError::TooDeep(3))
        );
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let limits = ScanLimits {
            max_depth: 1,
            max_string_bytes: 100,
            ..ScanLimits::default()
        };
        assert_eq!(scan_json(br#"{"a":"[[[{{{\"]]"}"#, &limits), Ok(()));
    }

    #[test]
    fn string_at_limit_passes_and_one_over_fails() {
        let limits = ScanLimits {
            max_depth: 3,
            max_string_bytes: 4,
            ..ScanLimits::default()
        };
        assert_eq!(scan_json(br#"{"abcd":"wxyz"}"#, &limits), Ok(()));
        assert!(matches!(
            scan_json(br#"{"a":"vwxyz"}"#, &limits),
            Err(ScanError::StringTooLong {
                got: 5,
                limit: 4,
                ..
            })
        ));
    }

    #[test]
    fn numbers_past_the_limit_are_refused_wherever_they_are() {
        let limits = ScanLimits::default();
        for ok in [
            &br#"{"v":1e15,"w":-1000000000000000,"x":[1764000000000,0.5,-3]}"#[..],
            br#"{"v":999999999999999.999,"w":-999999999999999.5}"#,
            br#"{"a":"1e308 inside a string"}"#,
        ] {
            assert_eq!(
                scan_json(ok, &limits),
                Ok(()),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        for bad in [
            &br#"{"value":1e308}"#[..],
            br#"{"ts":9223372036854775807}"#,
            br#"[1000000000000001]"#,
            br#"{"a":{"b":-2e15}}"#,
            br#"{"a":1000000000000000.5}"#,
            br#"{"a":-1000000000000001.0}"#,
        ] {
            assert!(
                matches!(
                    scan_json(bad, &limits),
                    Err(ScanError::NumberOutOfRange { .. })
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_lower_number_limit_checks_short_integers_too() {
        let limits = ScanLimits {
            max_number: 1000.0,
            ..ScanLimits::default()
        };
        assert_eq!(scan_json(br#"{"a":1000,"b":-999}"#, &limits), Ok(()));
        for bad in [&br#"{"a":1001}"#[..], br#"{"a":1000.5}"#] {
            assert!(matches!(
                scan_json(bad, &limits),
                Err(ScanError::NumberOutOfRange { at: 5, .. })
            ));
        }
    }

    #[test]
    fn escaped_quotes_and_backslashes_stay_inside_their_string() {
        let limits = ScanLimits {
            max_depth: 2,
            max_string_bytes: 6,
            ..ScanLimits::default()
        };
        // `a\"b` is 6 raw bytes: an escaped backslash, then an escaped quote
        assert_eq!(scan_json(br#"{"k":"a\\\"b"}"#, &limits), Ok(()));
        assert!(matches!(
            scan_json(br#"{"k":"a\\\"bc"}"#, &limits),
            Err(ScanError::StringTooLong { at: 6, got: 7, .. })
        ));
        // a quote after an escaped backslash ends the string; brackets after it count
        assert_eq!(
            scan_json(br#"{"k":"\\","l":[[1]]}"#, &limits),
            Err(ScanError::TooDeep(2))
        );
    }

    #[test]
    fn unterminated_input_does_not_panic() {
        let limits = ScanLimits::default();
        for body in [&b"\"abc\\"[..], b"{\"", b"[[[", b"\\"] {
            let _ = scan_json(body, &limits);
        }
    }

    /// Bytes JSON is made of, and a few it is not, so that inputs hit every branch: strings
    /// shorter and longer than the byte loop looks at, escapes at its edge, numbers big and
    /// small, nesting, and malformed input.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let tokens: Vec<&[u8]> = vec![
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b"\\",
            b"\\\"",
            b":",
            b",",
            b"-",
            b"1e400",
            b"1234567890123456.5",
        ];
        let piece = prop_oneof![
            12 => proptest::sample::select(tokens).prop_map(<[u8]>::to_vec),
            1 => (0u64..u64::MAX).prop_map(|n| n.to_string().into_bytes()),
            1 => (0usize..80).prop_map(|n| vec![b'a'; n]),
            1 => proptest::collection::vec(any::<u8>(), 0..4),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The byte loop in front of the search changes nothing but speed: the scan first
        /// searched from each string's start.
        #[test]
        fn strings_end_where_a_search_from_their_start_says(body in jsonish()) {
            for start in 0..=body.len() + 1 {
                prop_assert_eq!(
                    string_end(&body, start),
                    end_by_search(&body, start),
                    "string from {}", start
                );
            }
        }

        #[test]
        fn the_scan_never_panics(
            body in jsonish(),
            max_depth in 1usize..6,
            max_string_bytes in 0usize..70,
            max_number in prop_oneof![Just(MAX_NUMBER), Just(1e3), Just(1e18)],
        ) {
            let limits = ScanLimits { max_depth, max_string_bytes, max_number };
            let _ = scan_json(&body, &limits);
        }
    }
}
