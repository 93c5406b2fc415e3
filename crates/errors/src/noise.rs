//! Noise filters: errors a project never wants as groups. Browser extensions' errors (their
//! scripts run in the page), `Script error.` without a stack (a cross-origin script's error
//! with everything useful hidden by the browser), and the project's own rules on the
//! message or a URL. Filtered errors are counted, not stored.

use crate::in_app::is_extension_url;
use crate::stack::parse_stack;
use vigil_meta::ErrorSettings;
use vigil_protocol::ErrorEvent;

/// Why an error is dropped: `extension`, `script_error` or `rule:<index>`.
pub fn noise_reason(e: &ErrorEvent, page_url: &str, settings: &ErrorSettings) -> Option<String> {
    let parsed;
    let frames = if e.frames.is_empty() {
        parsed = e.stack.as_deref().map(parse_stack).unwrap_or_default();
        &parsed
    } else {
        &e.frames
    };
    let files = || frames.iter().filter_map(|f| f.file.as_deref());
    if settings.filter_extensions
        && (files().any(is_extension_url)
            || e.stack.as_deref().is_some_and(|s| {
                crate::in_app::EXTENSION_SCHEMES
                    .iter()
                    .any(|scheme| s.contains(scheme))
            }))
    {
        return Some("extension".into());
    }
    if settings.filter_script_error
        && frames.is_empty()
        && e.message
            .trim_end_matches('.')
            .trim()
            .eq_ignore_ascii_case("script error")
    {
        return Some("script_error".into());
    }
    settings
        .ignore_rules
        .iter()
        .position(|rule| match rule.field.as_str() {
            "message" => matches(&rule.pattern, &e.message),
            "url" => matches(&rule.pattern, page_url) || files().any(|f| matches(&rule.pattern, f)),
            _ => false,
        })
        .map(|i| format!("rule:{i}"))
}

/// A pattern with `*` wildcards matches the whole text; one without matches as a substring.
pub fn matches(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return text.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether a page path is one of the critical ones (`/checkout/*`, `/pay`).
pub fn is_critical(path: &str, critical_pages: &[String]) -> bool {
    critical_pages.iter().any(|p| {
        if p.contains('*') {
            matches(p, path)
        } else {
            p == path
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_meta::IgnoreRule;
    use vigil_protocol::Frame;

    fn error(message: &str, stack: Option<&str>, files: &[&str]) -> ErrorEvent {
        ErrorEvent {
            error_type: "Error".into(),
            message: message.into(),
            stack: stack.map(vigil_protocol::Text::from),
            frames: files
                .iter()
                .map(|f| Frame {
                    file: Some((*f).to_owned().into()),
                    line: Some(1),
                    column: Some(1),
                    function: None,
                })
                .collect(),
            ..ErrorEvent::default()
        }
    }

    #[test]
    fn extensions_script_errors_and_rules_are_noise() {
        let on = ErrorSettings::default();
        let page = "https://shop.example.com/cart";
        assert_eq!(
            noise_reason(
                &error("x", None, &["chrome-extension://abc/content.js"]),
                page,
                &on
            )
            .as_deref(),
            Some("extension")
        );
        assert_eq!(
            noise_reason(
                &error("x", Some("f@moz-extension://abc/a.js:1:2"), &[]),
                page,
                &on
            )
            .as_deref(),
            Some("extension")
        );
        assert_eq!(
            noise_reason(&error("Script error.", None, &[]), page, &on).as_deref(),
            Some("script_error")
        );
        assert_eq!(
            noise_reason(
                &error("Script error.", None, &["https://shop.example.com/a.js"]),
                page,
                &on
            ),
            None,
            "with a stack it says something"
        );
        assert_eq!(
            noise_reason(
                &error("boom", None, &["https://shop.example.com/a.js"]),
                page,
                &on
            ),
            None
        );

        let off = ErrorSettings {
            filter_extensions: false,
            filter_script_error: false,
            ignore_rules: vec![
                IgnoreRule {
                    field: "message".into(),
                    pattern: "ResizeObserver loop*".into(),
                },
                IgnoreRule {
                    field: "url".into(),
                    pattern: "googletagmanager.com".into(),
                },
            ],
            ..ErrorSettings::default()
        };
        assert_eq!(
            noise_reason(&error("Script error.", None, &[]), page, &off),
            None
        );
        assert_eq!(
            noise_reason(
                &error(
                    "ResizeObserver loop completed with undelivered notifications.",
                    None,
                    &[]
                ),
                page,
                &off
            )
            .as_deref(),
            Some("rule:0")
        );
        assert_eq!(
            noise_reason(
                &error("x", None, &["https://www.googletagmanager.com/gtm.js"]),
                page,
                &off
            )
            .as_deref(),
            Some("rule:1")
        );
    }

    #[test]
    fn wildcards_match_whole_texts() {
        assert!(matches("/checkout/*", "/checkout/pay"));
        assert!(!matches("/checkout/*", "/cart/checkout/pay"));
        assert!(matches("*timeout*", "Payment provider timeout after 10 s"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
        assert!(!matches("a*b*c", "a-c-b"));
        assert!(!matches("ab*ba", "aba"));
        assert!(is_critical("/checkout/pay", &["/checkout/*".into()]));
        assert!(is_critical("/pay", &["/pay".into()]));
        assert!(!is_critical("/payments", &["/pay".into()]));
    }
}
