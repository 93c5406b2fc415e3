//! What the user did on the page: clicks, frustration signals, scrolling and forms.

use super::{Page, event};
use crate::Rng;
use std::collections::BTreeMap;
use vigil_protocol::*;

const CLICK_TARGETS: [&str; 5] = [
    "a.nav-link",
    "button#add-to-cart",
    "div.product-card > a",
    "button.filter-toggle",
    "nav > ul > li:nth-child(2) > a",
];

/// The user's actions on the page, in the order the batch lists them. Clicks also become
/// breadcrumbs for an error later in the view.
pub(super) fn user_actions(
    r: &mut Rng,
    page: &Page,
    interacted: bool,
    end: i64,
    crumbs: &mut Vec<Breadcrumb>,
    events: &mut Vec<Event>,
) {
    if interacted {
        clicks(r, page, crumbs, events);
    }
    frustration(r, page, events);
    events.push(event(
        end,
        EventBody::Action(Action {
            action: "scroll".into(),
            depth: Some((r.unit() * 100.0).round()),
            ..Action::default()
        }),
    ));
    if page.is_checkout() {
        events.push(event(
            page.t + 4000,
            EventBody::Action(Action {
                action: "form_start".into(),
                form: Some("checkout".into()),
                fields: vec!["email".into()],
                ..Action::default()
            }),
        ));
    }
}

/// One to four clicks, seconds apart.
fn clicks(r: &mut Rng, page: &Page, crumbs: &mut Vec<Breadcrumb>, events: &mut Vec<Event>) {
    for k in 0..1 + r.below(4) {
        let selector = CLICK_TARGETS[r.below(CLICK_TARGETS.len())];
        let at = page.t + 3000 + k as i64 * 2500;
        crumbs.push(Breadcrumb {
            ts: at,
            category: "click".into(),
            message: selector.into(),
            data: BTreeMap::new(),
        });
        events.push(event(
            at,
            EventBody::Action(Action {
                action: "click".into(),
                selector: Some(selector.into()),
                ..Action::default()
            }),
        ));
    }
}

/// Rage clicks, commoner on slow devices, and dead clicks on an element that looks
/// clickable but is not.
fn frustration(r: &mut Rng, page: &Page, events: &mut Vec<Event>) {
    if r.chance(0.012 * page.session.dev) {
        events.push(event(
            page.t + 5000,
            EventBody::Action(Action {
                action: "rage_click".into(),
                selector: Some("button#apply-coupon".into()),
                count: Some(3 + r.below(4) as u32),
                ..Action::default()
            }),
        ));
    }
    if r.chance(0.02) {
        events.push(event(
            page.t + 6000,
            EventBody::Action(Action {
                action: "dead_click".into(),
                selector: Some("span.price-info".into()),
                ..Action::default()
            }),
        ));
    }
}
