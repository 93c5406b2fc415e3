//! PII scrubbing and URL normalisation. Scrubbing happens before anything is written, so
//! the store never holds what it removes.

use crate::memo::Memo;
use regex::Regex;
use std::borrow::Cow;
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
    scrubbed_message(text).into_owned()
}

/// [`scrub_message`], borrowing the text when nothing in it is replaced (most text: rows
/// are built from it without a copy). Remembered (see [`crate::memo`]).
pub fn scrubbed_message(text: &str) -> Cow<'_, str> {
    static MESSAGES: Memo = Memo::new();
    MESSAGES.get(text, message_scrubbed)
}

/// [`scrubbed_message`], computed.
fn message_scrubbed(text: &str) -> Cow<'_, str> {
    // Each pattern runs only on text that holds what it cannot match without: an email
    // an `@`, a token `eyJ`, a card number 13 digits. A replacement adds none of them, so
    // deciding on the text as it came skips no match.
    static TOKEN_START: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new("eyJ"));
    let bytes = text.as_bytes();
    let email = memchr::memchr(b'@', bytes).is_some();
    let token = TOKEN_START.find(bytes).is_some();
    let card = bytes.iter().filter(|b| b.is_ascii_digit()).count() >= 13;
    // A pattern that matches nothing leaves the text borrowed: no copy.
    let mut text = Cow::Borrowed(text);
    if email && let Cow::Owned(replaced) = EMAIL.replace_all(&text, "[email]") {
        text = Cow::Owned(replaced);
    }
    if token && let Cow::Owned(replaced) = JWT.replace_all(&text, "[token]") {
        text = Cow::Owned(replaced);
    }
    if card {
        // Runs of digits that fail Luhn (ids, phone-like numbers) stay: only when a card
        // was found is the new text kept.
        let mut found = false;
        let replaced = CARD.replace_all(&text, |c: &regex::Captures<'_>| {
            let digits: Vec<u8> = c[0].bytes().filter(u8::is_ascii_digit).collect();
            if luhn_valid(&digits) {
                found = true;
                "[card]".to_owned()
            } else {
                c[0].to_owned()
            }
        });
        if found {
            text = Cow::Owned(replaced.into_owned());
        }
    }
    text
}

/// [`SECRET_PARAMS`] by their length: a part of a parameter name is compared with the few
/// names as long as it (none for most), not with all of them (a quarter of URL scrubbing's
/// instructions).
static SECRET_PARAMS_BY_LENGTH: LazyLock<Vec<Vec<&'static [u8]>>> = LazyLock::new(|| {
    let longest = SECRET_PARAMS.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut by_length = vec![Vec::new(); longest + 1];
    for name in SECRET_PARAMS {
        by_length[name.len()].push(name.as_bytes());
    }
    by_length
});

fn is_secret_param(name: &str) -> bool {
    let by_length = &*SECRET_PARAMS_BY_LENGTH;
    let secret = |part: &[u8]| {
        by_length
            .get(part.len())
            .is_some_and(|names| names.iter().any(|s| s.eq_ignore_ascii_case(part)))
    };
    let name = name.as_bytes();
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len()
            && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    secret(name)
        || name.split(|b| matches!(b, b'_' | b'-' | b'.')).any(secret)
        || ends_with("token")
        || ends_with("password")
}

/// Whether any `name=value` pair of a query or fragment has a secret name.
fn has_secret_param(params: &str) -> bool {
    split_by_byte(params, b'&')
        .any(|pair| split_at_byte(pair, b'=').is_some_and(|(name, _)| is_secret_param(name)))
}

/// `text.split(byte)` for an ASCII `byte`, found by `memchr`: URLs are short, and a
/// `str` pattern's searcher cost more to set up than the search (URL templates and
/// scrubbing were 6% of the server's instructions during ingest).
pub(crate) fn split_by_byte(text: &str, byte: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match split_at_byte(current, byte) {
            Some((part, next)) => {
                rest = Some(next);
                Some(part)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// `text` before and after the first `byte` (an ASCII byte, so both are text).
pub(crate) fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = memchr::memchr(byte, text.as_bytes())?;
    Some((&text[..at], &text[at + 1..]))
}

/// Where the first `://` of `url` starts.
pub(crate) fn scheme_end(url: &str) -> Option<usize> {
    let bytes = url.as_bytes();
    memchr::memchr_iter(b':', bytes).find(|&i| bytes[i + 1..].starts_with(b"//"))
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
    scrubbed_url(url).into_owned()
}

/// [`scrub_url`], borrowing the URL when nothing in it is replaced.
///
/// Remembered (see [`crate::memo`]).
pub fn scrubbed_url(url: &str) -> Cow<'_, str> {
    static URLS: Memo = Memo::new();
    URLS.get(url, url_scrubbed)
}

/// [`scrubbed_url`], computed.
fn url_scrubbed(url: &str) -> Cow<'_, str> {
    let (rest, fragment) = match split_at_byte(url, b'#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let (path, query) = match split_at_byte(rest, b'?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    // Most URLs have no secret parameter; they are then the same after the parameters'
    // pass, which need not build them again.
    let secret_query = query.is_some_and(has_secret_param);
    let secret_fragment = fragment
        .is_some_and(|f| memchr::memchr(b'=', f.as_bytes()).is_some() && has_secret_param(f));
    if !secret_query && !secret_fragment {
        return message_scrubbed(url);
    }
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
    Cow::Owned(message_scrubbed(&out).into_owned())
}

fn template_segment(seg: &str) -> Option<&'static str> {
    let bytes = seg.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    // Each test stops at the first byte that fails it: most segments are words, which
    // fail the first three at their first letter.
    if bytes.iter().all(u8::is_ascii_digit) {
        return Some(":id");
    }
    let is_uuid = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    if is_uuid {
        return Some(":uuid");
    }
    if bytes.len() >= 12 && bytes.iter().all(u8::is_ascii_hexdigit) {
        return Some(":hash");
    }
    let token_like = bytes.len() >= 16
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && bytes.iter().filter(|b| b.is_ascii_digit()).count() >= 3;
    if token_like {
        return Some(":token");
    }
    if memchr::memchr(b'@', bytes).is_some() {
        return Some(":email");
    }
    None
}

/// Groups URLs by endpoint: origin kept, query and fragment dropped, and path segments that
/// are ids (`123`, UUIDs, hashes, tokens, emails) replaced by placeholders:
/// `https://api.example.com/users/123?x=1` → `https://api.example.com/users/:id`.
///
/// Remembered (see [`crate::memo`]).
pub fn template_url(url: &str) -> String {
    static TEMPLATES: Memo = Memo::new();
    TEMPLATES
        .get(url, |url| Cow::Owned(url_templated(url)))
        .into_owned()
}

/// [`template_url`], computed.
fn url_templated(url: &str) -> String {
    let end = memchr::memchr2(b'#', b'?', url.as_bytes()).unwrap_or(url.len());
    let no_query = &url[..end];
    // The origin as written, then the path (`/` when there is none).
    let (origin, path) = match scheme_end(no_query) {
        Some(scheme) => {
            let rest = &no_query[scheme + 3..];
            let host_end = memchr::memchr(b'/', rest.as_bytes()).unwrap_or(rest.len());
            (
                &no_query[..scheme + 3 + host_end],
                Some(&rest[host_end..])
                    .filter(|p| !p.is_empty())
                    .unwrap_or("/"),
            )
        }
        None => ("", no_query),
    };
    let mut out = String::with_capacity(origin.len() + path.len());
    out.push_str(origin);
    for (i, seg) in split_by_byte(path, b'/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(template_segment(seg).unwrap_or(seg));
    }
    out
}

/// URLs of every shape the byte searches above must agree with `str` patterns on: with and
/// without scheme, host, port, path, query and fragment; secret and plain parameters; id-like
/// segments; `://`, `?`, `#` and `@` in odd places; text that is not ASCII.
#[cfg(test)]
pub(crate) fn sample_urls(count: usize) -> Vec<String> {
    const SCHEMES: &[&str] = &["https://", "http://", "", "//", "mailto:", "a:b://", "x:/"];
    const HOSTS: &[&str] = &["ex.com", "a.b.c:8080", "", "user@host", "h?x", "日本.jp"];
    const SEGMENTS: &[&str] = &[
        "",
        "users",
        "123",
        "550e8400-e29b-41d4-a716-446655440000",
        "3f2a9c0b1d4e5f60",
        "abc_def-1234567890",
        "a@b.io",
        "é",
        "x:y",
        "a//b",
        // At the edges of the templates: 11 and 12 hex digits, 15 and 16 token characters
        // (2 and 3 digits), a UUID with a dash out of place.
        "3f2a9c0b1d4",
        "3f2a9c0b1d4e",
        "abc_def-1234567",
        "abcdefghijklm-12",
        "abcdefghijklm123",
        "550e8400-e29b-41d4-a716+446655440000",
    ];
    const PARAMS: &[&str] = &[
        "token",
        "ref",
        "utm_source",
        "api_key",
        "X-Auth",
        "page",
        "sessionId",
        "a.sig",
        "pwd",
        "PASS",
        "passwordx",
        "myToken",
        "code",
        "",
        "=",
        "a=b=c",
        "email",
    ];
    const FRAGMENTS: &[&str] = &[
        "",
        "#top",
        "#/cart?x=1",
        "#a=1&token=2",
        "#/p/42",
        "#",
        "#?",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut pick = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    (0..count)
        .map(|_| {
            let mut url = String::from(SCHEMES[pick(SCHEMES.len())]);
            url.push_str(HOSTS[pick(HOSTS.len())]);
            for _ in 0..pick(4) {
                url.push('/');
                url.push_str(SEGMENTS[pick(SEGMENTS.len())]);
            }
            for i in 0..pick(4) {
                url.push(if i == 0 { '?' } else { '&' });
                url.push_str(PARAMS[pick(PARAMS.len())]);
                if pick(3) > 0 {
                    url.push('=');
                    url.push_str(SEGMENTS[pick(SEGMENTS.len())]);
                }
            }
            url.push_str(FRAGMENTS[pick(FRAGMENTS.len())]);
            url
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `str`-pattern forms the byte searches replaced, as they were.
    mod reference {
        use super::super::{SECRET_PARAMS, scrub_message, scrubbed_message};
        use std::borrow::Cow;

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

        fn is_secret_param(name: &str) -> bool {
            let secret = |part: &str| SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(part));
            let ends_with = |suffix: &str| {
                name.len() >= suffix.len()
                    && name.as_bytes()[name.len() - suffix.len()..]
                        .eq_ignore_ascii_case(suffix.as_bytes())
            };
            secret(name)
                || name.split(['_', '-', '.']).any(secret)
                || ends_with("token")
                || ends_with("password")
        }

        fn has_secret_param(params: &str) -> bool {
            params.split('&').any(|pair| {
                pair.split_once('=')
                    .is_some_and(|(name, _)| is_secret_param(name))
            })
        }

        pub(super) fn scrubbed_url(url: &str) -> Cow<'_, str> {
            let (rest, fragment) = match url.split_once('#') {
                Some((r, f)) => (r, Some(f)),
                None => (url, None),
            };
            let (path, query) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            let secret_query = query.is_some_and(has_secret_param);
            let secret_fragment = fragment.is_some_and(|f| f.contains('=') && has_secret_param(f));
            if !secret_query && !secret_fragment {
                return scrubbed_message(url);
            }
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
            Cow::Owned(scrub_message(&out))
        }

        fn template_segment(seg: &str) -> Option<&'static str> {
            if seg.is_empty() {
                return None;
            }
            if seg.bytes().all(|b| b.is_ascii_digit()) {
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
            if seg.len() >= 12 && seg.bytes().all(|b| b.is_ascii_hexdigit()) {
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

        pub(super) fn template_url(url: &str) -> String {
            let no_fragment = url.split('#').next().unwrap_or(url);
            let no_query = no_fragment.split('?').next().unwrap_or(no_fragment);
            let (origin, path) = match no_query.split_once("://") {
                Some((scheme, rest)) => {
                    let host_end = rest.find('/').unwrap_or(rest.len());
                    let origin_end = scheme.len() + 3 + host_end;
                    (
                        &no_query[..origin_end],
                        rest.get(host_end..)
                            .filter(|p| !p.is_empty())
                            .unwrap_or("/"),
                    )
                }
                None => ("", no_query),
            };
            let mut out = String::with_capacity(origin.len() + path.len());
            out.push_str(origin);
            for (i, seg) in path.split('/').enumerate() {
                if i > 0 {
                    out.push('/');
                }
                out.push_str(template_segment(seg).unwrap_or(seg));
            }
            out
        }
    }

    #[test]
    fn every_secret_name_is_found_in_any_case_alone_or_as_a_part() {
        for name in SECRET_PARAMS {
            let upper = name.to_ascii_uppercase();
            for candidate in [
                name.to_string(),
                upper.clone(),
                format!("x_{name}"),
                format!("{upper}.y"),
                format!("a-{name}-b"),
            ] {
                assert!(is_secret_param(&candidate), "{candidate}");
            }
        }
        for plain in [
            "",
            "utm_source",
            "keys",
            "ke",
            "tokens",
            "sessionids",
            "a_b",
            "x-y.z",
        ] {
            assert!(!is_secret_param(plain), "{plain}");
        }
        // Longer than every secret name, but ending as two do.
        assert!(is_secret_param("myveryownaccesstoken") && is_secret_param("oldpassword"));
    }

    #[test]
    fn byte_searches_agree_with_the_str_patterns_they_replaced() {
        let urls = sample_urls(20_000);
        let mut secret = 0;
        for url in &urls {
            assert_eq!(template_url(url), reference::template_url(url), "{url}");
            let scrubbed = scrubbed_url(url);
            assert_eq!(scrubbed, reference::scrubbed_url(url), "{url}");
            secret += usize::from(scrubbed.contains("[redacted]"));
        }
        // The samples reach both sides of every decision.
        assert!(secret > 1_000 && secret < urls.len() - 1_000, "{secret}");
        let templated = urls
            .iter()
            .filter(|u| template_url(u).contains(":"))
            .count();
        assert!(templated > 1_000, "{templated}");
    }

    /// The memo's answers (every call after an input's first) are the computed ones.
    #[test]
    fn remembered_results_are_the_computed_ones() {
        let urls = sample_urls(500);
        let messages = [
            "mail bob@shop.example now",
            "4111 1111 1111 1111",
            "card 4111 1111 1111 1112 is not one",
            "token eyJhbGciOi.eyJzdWIi.sig here",
            "button#buy",
        ];
        for round in 0..3 {
            for url in &urls {
                assert_eq!(
                    template_url(url),
                    url_templated(url),
                    "{url}, round {round}"
                );
                assert_eq!(scrubbed_url(url), url_scrubbed(url), "{url}, round {round}");
                assert_eq!(
                    scrubbed_message(url),
                    message_scrubbed(url),
                    "{url}, round {round}"
                );
            }
            for message in messages {
                assert_eq!(scrubbed_message(message), message_scrubbed(message));
            }
        }
    }

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

    /// Each pattern runs only when the text holds what it needs; these sit at the edges.
    #[test]
    fn each_pattern_is_found_alone_and_beside_the_others() {
        // 13 digits, Luhn-valid: the shortest card; 12 digits are never one.
        assert_eq!(scrub_message("n 4222222222222 x"), "n [card] x");
        assert_eq!(scrub_message("n 422222222222 x"), "n 422222222222 x");
        // A token with no digit and no `@` anywhere.
        assert_eq!(scrub_message("t eyJhbG.eyJzdWI.sig"), "t [token]");
        assert_eq!(
            scrub_message("a@b.io eyJhbG.eyJzdWI.sig 4111111111111111"),
            "[email] [token] [card]"
        );
        assert_eq!(
            scrub_message("plain text, no match"),
            "plain text, no match"
        );
    }

    /// A URL without a secret parameter comes back as it was; names match whatever their
    /// case, whole, by a part, or by their ending.
    #[test]
    fn text_with_nothing_to_replace_is_lent_back_and_replaced_text_is_new() {
        for kept in [
            "TypeError: x is undefined at line 42",
            "card-like but short 1234 5678 9012",
            "no token eyJ here",
            "a@b",
        ] {
            assert!(
                matches!(scrubbed_message(kept), Cow::Borrowed(t) if t == kept),
                "{kept}"
            );
        }
        assert_eq!(
            scrubbed_message("mail bob@shop.example now"),
            "mail [email] now"
        );
        assert_eq!(scrubbed_message("4111 1111 1111 1111"), "[card]");
        for kept in [
            "https://x.example/a?q=shoes",
            "https://x.example/p/12345678901234",
        ] {
            assert!(
                matches!(scrubbed_url(kept), Cow::Borrowed(t) if t == kept),
                "{kept}"
            );
        }
        assert_eq!(
            scrubbed_url("https://x.example/a?token=abc&q=1"),
            "https://x.example/a?token=[redacted]&q=1"
        );
    }

    #[test]
    fn secret_parameters_are_found_in_any_case_and_other_urls_are_kept() {
        let kept = [
            "https://x.example/a?utm_source=mail&q=shoes#top",
            "https://x.example/a?&&=1&q#k=v&x",
            "/relative?tokenish=1",
        ];
        for url in kept {
            assert_eq!(scrub_url(url), url);
        }
        assert_eq!(
            scrub_url("/a?Access_TOKEN=1&X-Password=2&q=3#API.Key=4&é=5"),
            "/a?Access_TOKEN=[redacted]&X-Password=[redacted]&q=3#API.Key=[redacted]&é=5"
        );
        assert_eq!(scrub_url("/a#SessionId=9"), "/a#SessionId=[redacted]");
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
        for (url, template) in [
            ("https://example.com/", "https://example.com/"),
            ("https://example.com?id=7#top", "https://example.com/"),
            ("https://example.com/a//42/", "https://example.com/a//:id/"),
            ("items/42", "items/:id"),
            ("", ""),
        ] {
            assert_eq!(template_url(url), template, "{url}");
        }
    }
}
