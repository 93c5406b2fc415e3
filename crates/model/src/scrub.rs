//! PII scrubbing and URL normalisation. Scrubbing happens before anything is written, so
//! the store never holds what it removes.

use regex::Regex;
use std::sync::LazyLock;

/// Query parameter names whose values are secrets or personal data, matched
/// case-insensitively against the whole name or a `_`/`-` separated part of it.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "email",
    "mail",
    "session",
    "sessionid",
    "sid",
    "auth",
    "authorization",
    "key",
    "apikey",
    "signature",
    "sig",
    "code",
    "jwt",
    "otp",
    "ssn",
    "phone",
    "credential",
    "credentials",
];

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("email regex")
});
// 13 to 19 digits, optionally grouped by spaces or dashes; Luhn decides.
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:\d[ \-]?){12,18}\d\b").expect("card regex"));
static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*").expect("jwt regex")
});

fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Replaces emails, payment card numbers (Luhn-checked) and JWTs in free text.
pub fn scrub_message(text: &str) -> String {
    if !text
        .bytes()
        .any(|b| b == b'@' || b.is_ascii_digit() || b == b'e')
    {
        return text.to_owned();
    }
    let text = EMAIL.replace_all(text, "[email]");
    let text = JWT.replace_all(&text, "[token]");
    CARD.replace_all(&text, |c: &regex::Captures<'_>| {
        let digits: Vec<u8> = c[0].bytes().filter(u8::is_ascii_digit).collect();
        if luhn_valid(&digits) {
            "[card]".to_owned()
        } else {
            c[0].to_owned()
        }
    })
    .into_owned()
}

fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAMS.contains(&lower.as_str())
        || lower
            .split(['_', '-', '.'])
            .any(|part| SECRET_PARAMS.contains(&part))
        || lower.ends_with("token")
        || lower.ends_with("password")
}

fn scrub_params(params: &str) -> String {
    params
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Scrubs a URL: secret query and fragment parameters lose their values, and emails, cards
/// and tokens anywhere in it are replaced.
pub fn scrub_url(url: &str) -> String {
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let mut out = path.to_owned();
    if let Some(q) = query {
        out.push('?');
        out.push_str(&scrub_params(q));
    }
    if let Some(f) = fragment {
        out.push('#');
        if f.contains('=') {
            out.push_str(&scrub_params(f))
        } else {
            out.push_str(f)
        }
    }
    scrub_message(&out)
}

fn template_segment(seg: &str) -> Option<&'static str> {
    if seg.is_empty() {
        return None;
    }
    let all_digits = seg.bytes().all(|b| b.is_ascii_digit());
    if all_digits {
        return Some(":id");
    }
    let is_uuid = seg.len() == 36
        && seg.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    if is_uuid {
        return Some(":uuid");
    }
    let hex = seg.len() >= 12 && seg.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        return Some(":hash");
    }
    let digits = seg.bytes().filter(u8::is_ascii_digit).count();
    let token_like = seg.len() >= 16
        && digits >= 3
        && seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if token_like {
        return Some(":token");
    }
    if seg.contains('@') {
        return Some(":email");
    }
    None
}

/// Groups URLs by endpoint: origin kept, query and fragment dropped, and path segments that
/// are ids (`123`, UUIDs, hashes, tokens, emails) replaced by placeholders:
/// `https://api.example.com/users/123?x=1` → `https://api.example.com/users/:id`.
pub fn template_url(url: &str) -> String {
    let no_fragment = url.split('#').next().unwrap_or(url);
    let no_query = no_fragment.split('?').next().unwrap_or(no_fragment);
    let (origin, path) = match no_query.split_once("://") {
        Some((scheme, rest)) => match rest.find('/') {
            Some(i) => (format!("{scheme}://{}", &rest[..i]), &rest[i..]),
            None => (format!("{scheme}://{rest}"), "/"),
        },
        None => (String::new(), no_query),
    };
    let templated: Vec<&str> = path
        .split('/')
        .map(|seg| template_segment(seg).unwrap_or(seg))
        .collect();
    format!("{origin}{}", templated.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs shaped to make a backtracking engine explode, at the protocol's longest
    /// string. The `regex` crate matches in linear time, so each finishes at once; a change
    /// to an engine that backtracks would hang here instead of passing.
    #[test]
    fn adversarial_strings_at_the_size_limit_are_scrubbed() {
        let n = 16 * 1024;
        let inputs = [
            "a.".repeat(n / 2),
            format!("{}@", "a.".repeat(n / 2 - 1)),
            "1 ".repeat(n / 2),
            "1-".repeat(n / 2) + "x",
            "?token=".repeat(n / 7),
            format!("eyJ{}.", "a".repeat(n - 4)),
            "%".repeat(n),
        ];
        for input in &inputs {
            let message = scrub_message(input);
            let url = scrub_url(input);
            assert!(message.len() <= input.len() + 64, "{}", &message[..40]);
            assert!(url.len() <= input.len() * 2 + 64, "{}", &url[..40]);
        }
        // A run of digit groups long enough to be a card number is still caught inside it.
        assert!(!scrub_message(&"4111 1111 1111 1111 ".repeat(800)).contains("4111"));
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(!luhn_valid(b"4111111111111112"));
    }

    #[test]
    fn scrubbing_snapshot() {
        let cases = [
            "https://shop.example.com/checkout?step=2&token=abc123&utm_source=mail",
            "https://shop.example.com/login?email=ann@example.com&next=/cart",
            "https://app.example.com/cb#access_token=eyJhbGciOi.eyJzdWIiOi.sig&state=1",
            "https://x.example/reset?user_password=hunter2&api_key=K&page=3",
            "https://x.example/u/ann.lee@example.org/profile",
            "https://x.example/search?q=shoes&sessionId=77&code=XYZ",
        ];
        let messages = [
            "Payment failed for card 4111 1111 1111 1111 of bob@example.com",
            "Order 1234567890123 shipped",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc rejected",
            "TypeError: Cannot read properties of undefined (reading 'x')",
        ];
        let out: Vec<String> = cases
            .iter()
            .map(|c| scrub_url(c))
            .chain(messages.iter().map(|m| scrub_message(m)))
            .collect();
        insta::assert_yaml_snapshot!(out);
    }

    #[test]
    fn templates() {
        assert_eq!(
            template_url("https://api.example.com/users/123/orders?x=1"),
            "https://api.example.com/users/:id/orders"
        );
        assert_eq!(
            template_url("/api/items/550e8400-e29b-41d4-a716-446655440000"),
            "/api/items/:uuid"
        );
        assert_eq!(
            template_url("https://cdn.example.com/a/3f2a9c0b1d4e5f60.js"),
            "https://cdn.example.com/a/3f2a9c0b1d4e5f60.js"
        );
        assert_eq!(
            template_url("https://cdn.example.com/b/3f2a9c0b1d4e5f60"),
            "https://cdn.example.com/b/:hash"
        );
        assert_eq!(template_url("https://example.com"), "https://example.com/");
    }
}
