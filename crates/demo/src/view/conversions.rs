//! Business events: add to cart, checkout and signup.

use super::{Journey, Page, event};
use crate::Rng;
use std::collections::BTreeMap;
use vigil_protocol::*;

/// How much of the usual conversion a session keeps, given its slowest LCP so far: the
/// demo's point is that conversion falls as LCP rises (good, needs improvement, poor).
fn conversion_kept(worst_lcp: f64) -> f64 {
    if worst_lcp <= 2500.0 {
        1.0
    } else if worst_lcp <= 4000.0 {
        0.7
    } else {
        0.4
    }
}

/// Adds to cart on product pages, a checkout submitted (only with something in the cart)
/// or abandoned, and the odd signup; all rarer the slower the session has been.
pub(super) fn business_events(
    r: &mut Rng,
    page: &Page,
    journey: &mut Journey,
    end: i64,
    events: &mut Vec<Event>,
) {
    let keep = conversion_kept(journey.worst_lcp.max(page.lcp));
    if page.is_product() && r.chance(0.22 * keep) {
        journey.cart = true;
        events.push(add_to_cart(r, page));
    }
    if page.is_checkout() {
        checkout(r, page, journey.cart, keep, end, events);
    }
    if r.chance(0.02 * keep) {
        events.push(event(
            page.t + 8000,
            EventBody::Custom(Custom {
                name: "signup".into(),
                properties: BTreeMap::new(),
                value: None,
            }),
        ));
    }
}

fn add_to_cart(r: &mut Rng, page: &Page) -> Event {
    let mut props = BTreeMap::new();
    props.insert(
        "product_id".into(),
        Scalar::String(page.path.trim_start_matches("/products/").into()),
    );
    event(
        page.t + 9000,
        EventBody::Custom(Custom {
            name: "add_to_cart".into(),
            properties: props,
            value: Some((r.lognormal(45.0, 0.5) * 100.0).round() / 100.0),
        }),
    )
}

/// The checkout form submitted, with the purchase, or abandoned when the user leaves.
fn checkout(r: &mut Rng, page: &Page, cart: bool, keep: f64, end: i64, events: &mut Vec<Event>) {
    if cart && r.chance(0.55 * keep) {
        events.push(event(
            page.t + 12_000,
            EventBody::Action(Action {
                action: "form_submit".into(),
                form: Some("checkout".into()),
                fields: vec!["email".into(), "card".into(), "address".into()],
                ..Action::default()
            }),
        ));
        let mut props = BTreeMap::new();
        props.insert("currency".into(), Scalar::String("EUR".into()));
        events.push(event(
            page.t + 12_500,
            EventBody::Custom(Custom {
                name: "checkout".into(),
                properties: props,
                value: Some((r.lognormal(70.0, 0.6) * 100.0).round() / 100.0),
            }),
        ));
    } else {
        events.push(event(
            end,
            EventBody::Action(Action {
                action: "form_abandon".into(),
                form: Some("checkout".into()),
                fields: vec!["email".into(), "address".into()],
                last_field: Some("address".into()),
                ..Action::default()
            }),
        ));
    }
}
