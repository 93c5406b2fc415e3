//! Messages made comparable: the parts of a message that vary between occurrences of the
//! same error (numbers, ids, UUIDs, hex, emails, URLs, IP addresses, dates) are replaced by
//! placeholders before a message may take part in a fingerprint.

use regex::Regex;
use std::sync::LazyLock;

/// The replacements, in order: the wider patterns first, so a URL's digits or an email's
/// domain are not taken apart by the narrower ones.
static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\x22<>()]+", "<url>"),
        (r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b", "<email>"),
        (
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            "<uuid>",
        ),
        (
            r"\b\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?\b",
            "<date>",
        ),
        (r"\b\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\b", "<time>"),
        (r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", "<ip>"),
        (r"\b0[xX][0-9a-fA-F]+\b", "<hex>"),
        // Hex runs of 8 or more with a digit and a letter: hashes, object ids.
        (r"\b[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\b", "<hex>"),
        // Ids: a word of 6 or more with two digits or more (`ord_8f2k39`, `u48213`).
        (r"\b[A-Za-z_-]*\d[A-Za-z_-]*\d[\w-]*\b", "<id>"),
        (r"-?\b\d+\.\d+\b", "<float>"),
        (r"-?\b\d+\b", "<int>"),
    ]
    .into_iter()
    .map(|(p, r)| (Regex::new(p).expect("a valid pattern"), r))
    .collect()
});

/// The message with its variable parts replaced, at most 1 KiB of it considered (the rest
/// of a long message is data, not wording).
pub fn parameterize(message: &str) -> String {
    let mut end = message.len().min(1024);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = message[..end].to_owned();
    for (pattern, placeholder) in PATTERNS.iter() {
        if pattern.is_match(&out) {
            out = pattern
                .replace_all(&out, |caps: &regex::Captures<'_>| {
                    let m = &caps[0];
                    // The hex and id patterns need length: short words stay words.
                    if (*placeholder == "<hex>" && !m.starts_with("0x") && !m.starts_with("0X"))
                        && m.len() < 8
                        || *placeholder == "<id>" && m.len() < 6
                    {
                        m.to_owned()
                    } else {
                        (*placeholder).to_owned()
                    }
                })
                .into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parameterize;

    #[test]
    fn variable_parts_become_placeholders() {
        let cases = [
            ("Order 48213 not found", "Order <int> not found"),
            ("Took 12.75 s", "Took <float> s"),
            (
                "Failed to fetch https://api.example.com/v2/orders/7731?x=1",
                "Failed to fetch <url>",
            ),
            ("No user ana@example.com", "No user <email>"),
            (
                "Session 9b2f4c1e-6d3a-4f8e-b5a7-2c0d1e9f8a34 expired",
                "Session <uuid> expired",
            ),
            ("Object 5f3a9c2e81d4 is gone", "Object <hex> is gone"),
            ("At 0x7ffe12 we crashed", "At <hex> we crashed"),
            ("Expired 2026-11-30T10:15:00Z", "Expired <date>"),
            (
                "Expired on 2026-11-30 at 10:15",
                "Expired on <date> at <time>",
            ),
            ("Peer 10.0.12.7 refused", "Peer <ip> refused"),
            ("Order ord_8f2k39 failed", "Order <id> failed"),
        ];
        for (message, expected) in cases {
            assert_eq!(parameterize(message), expected, "{message}");
        }
    }

    #[test]
    fn words_stay_words() {
        for message in [
            "Cannot read properties of undefined (reading 'sku')",
            "cafe face bead",
            "utf8 decode failed",
            "Script error.",
        ] {
            assert_eq!(parameterize(message), message);
        }
    }

    #[test]
    fn same_error_different_values_give_the_same_text() {
        assert_eq!(
            parameterize("Cart 31 has 4 items, limit 3 (user u_48213)"),
            parameterize("Cart 7720 has 12 items, limit 3 (user u_99001)")
        );
    }

    #[test]
    fn long_messages_cut_on_a_character_boundary() {
        let message = "é".repeat(2000);
        assert!(parameterize(&message).len() <= 1024);
    }
}
