//! Script errors, with the breadcrumbs that led to them.

use super::{Page, event};
use crate::{ORIGIN, Rng};
use vigil_protocol::*;

/// (type, message, function, file) of the errors the demo shop throws.
const ERRORS: &[(&str, &str, &str, &str)] = &[
    (
        "TypeError",
        "Cannot read properties of undefined (reading 'price')",
        "renderPrice",
        "/assets/product-card.4f2a91.js",
    ),
    (
        "TypeError",
        "Failed to fetch",
        "loadRecommendations",
        "/assets/app.9c1e07.js",
    ),
    (
        "ReferenceError",
        "gtag is not defined",
        "trackEvent",
        "/assets/analytics.1b77d2.js",
    ),
    (
        "ChunkLoadError",
        "Loading chunk 412 failed.",
        "requireEnsure",
        "/assets/runtime.0aa1c3.js",
    ),
    (
        "Error",
        "ResizeObserver loop completed with undelivered notifications.",
        "observe",
        "/assets/vendor.5d8e44.js",
    ),
    (
        "SyntaxError",
        "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
        "parseCart",
        "/assets/cart.71c0fe.js",
    ),
    (
        "TypeError",
        "Cannot set properties of null (setting 'innerHTML')",
        "updateBadge",
        "/assets/header.e3b9a0.js",
    ),
];

/// Now and then (more often on slow devices) an error, carrying the breadcrumbs from before
/// it.
pub(super) fn script_error(r: &mut Rng, page: &Page, mut crumbs: Vec<Breadcrumb>) -> Option<Event> {
    if !r.chance(0.04 * page.session.dev.sqrt()) {
        return None;
    }
    let (kind, message, function, file) = ERRORS[r.below(ERRORS.len())];
    let line = 1 + r.below(3) as u32;
    let column = 100 + r.below(5000) as u32;
    let stack = format!(
        "{kind}: {message}\n    at {function} ({ORIGIN}{file}:{line}:{column})\n    at HTMLButtonElement.<anonymous> ({ORIGIN}/assets/app.9c1e07.js:1:4821)"
    );
    crumbs.sort_by_key(|c| c.ts);
    let at = page.t + 7000;
    Some(event(
        at,
        EventBody::Error(ErrorEvent {
            error_type: kind.into(),
            message: message.into(),
            stack: Some(stack.into()),
            frames: vec![
                Frame {
                    function: Some(function.into()),
                    file: Some(format!("{ORIGIN}{file}").into()),
                    line: Some(line),
                    column: Some(column),
                },
                Frame {
                    function: Some("HTMLButtonElement.<anonymous>".into()),
                    file: Some(format!("{ORIGIN}/assets/app.9c1e07.js").into()),
                    line: Some(1),
                    column: Some(4821),
                },
            ],
            handled: r.chance(0.2),
            source: Some(
                if kind == "ChunkLoadError" {
                    "unhandledrejection"
                } else {
                    "onerror"
                }
                .into(),
            ),
            breadcrumbs: crumbs.into_iter().filter(|c| c.ts <= at).collect(),
            ..ErrorEvent::default()
        }),
    ))
}
