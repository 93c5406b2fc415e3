//! How an [`Event`] is read from JSON without serde's buffering.
//!
//! An event is its common fields (`ts`, `view_id`, `page_url`) and a body chosen by its
//! `type`, which may come anywhere in the object. Derived, that is a flattened internally
//! tagged enum: serde copies every key and value of the event into its own `Content` tree
//! (a `String` per key and per string), then copies the body's part again to find the tag,
//! and only then builds the body. That was the largest single item of intake's JSON time.
//! Here the event's object is walked once: the common fields and the tag are read as they
//! come, every other value is kept as the slice of the body it occupies (`RawValue`, no
//! copy), and the body's own derived `Deserialize` (which still denies unknown keys) reads
//! those slices once the tag is known. Errors say the same as the derived ones did.

use crate::events::{
    Action, Anr, AppStart, Crash, Custom, ErrorEvent, Event, EventBody, LongTask, Request,
    Resource, ResourceError, Route, ScreenLoad, View, Vital,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The `type` values, in the order of [`EventBody`]'s variants.
const TYPES: &[&str] = &[
    "view",
    "vital",
    "resource",
    "resource_error",
    "long_task",
    "error",
    "request",
    "action",
    "route",
    "custom",
    "app_start",
    "screen_load",
    "crash",
    "anr",
];

/// More keys than any event type has; past it the event is refused before it is read.
const MAX_BODY_KEYS: usize = 64;

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut ts: Option<i64> = None;
        let mut view_id: Option<Option<String>> = None;
        let mut page_url: Option<Option<String>> = None;
        let mut kind: Option<Cow<'de, str>> = None;
        // The body's keys and the slices of their values; a view with its timings has ~20.
        let mut rest: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::with_capacity(24);
        while let Some(key) = map.next_key_seed(Text)? {
            match key.as_ref() {
                "ts" => set(&mut ts, "ts", map.next_value()?)?,
                "view_id" => set(&mut view_id, "view_id", map.next_value()?)?,
                "page_url" => set(&mut page_url, "page_url", map.next_value()?)?,
                "type" => set(&mut kind, "type", map.next_value_seed(Text)?)?,
                // The body's derived reader refuses unknown and repeated keys; the cap only
                // bounds what is kept before it runs (no body type has this many fields).
                _ if rest.len() == MAX_BODY_KEYS => {
                    return Err(de::Error::custom(format_args!(
                        "an event has more than {MAX_BODY_KEYS} fields"
                    )));
                }
                _ => rest.push((key, map.next_value()?)),
            }
        }
        let ts = ts.ok_or_else(|| de::Error::missing_field("ts"))?;
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        let fields = Fields {
            pairs: &rest,
            next: 0,
        };
        let body = match kind.as_ref() {
            "view" => View::deserialize(fields).map(EventBody::View),
            "vital" => Vital::deserialize(fields).map(EventBody::Vital),
            "resource" => Resource::deserialize(fields).map(EventBody::Resource),
            "resource_error" => ResourceError::deserialize(fields).map(EventBody::ResourceError),
            "long_task" => LongTask::deserialize(fields).map(EventBody::LongTask),
            "error" => ErrorEvent::deserialize(fields).map(EventBody::Error),
            "request" => Request::deserialize(fields).map(EventBody::Request),
            "action" => Action::deserialize(fields).map(EventBody::Action),
            "route" => Route::deserialize(fields).map(EventBody::Route),
            "custom" => Custom::deserialize(fields).map(EventBody::Custom),
            "app_start" => AppStart::deserialize(fields).map(EventBody::AppStart),
            "screen_load" => ScreenLoad::deserialize(fields).map(EventBody::ScreenLoad),
            "crash" => Crash::deserialize(fields).map(EventBody::Crash),
            "anr" => Anr::deserialize(fields).map(EventBody::Anr),
            other => return Err(de::Error::unknown_variant(other, TYPES)),
        }
        .map_err(|e| de::Error::custom(without_position(&e)))?;
        Ok(Event {
            ts,
            view_id: view_id.flatten(),
            page_url: page_url.flatten(),
            body,
        })
    }
}

/// Sets a field read once; a second occurrence is an error, as with derived structs.
fn set<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

/// An error from reading a kept slice names a place inside that slice, which means nothing
/// to the sender; the outer reader adds the place in the body.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if e.line() == 0 {
        return text;
    }
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A string, borrowed from the body when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The body's keys and kept values, read as a map by the body's derived `Deserialize`.
#[derive(Clone, Copy)]
struct Fields<'a, 'de> {
    pairs: &'a [(Cow<'de, str>, &'de RawValue)],
    next: usize,
}

impl<'de> Deserializer<'de> for Fields<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for Fields<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, _)) = self.pairs.get(self.next) else {
            return Ok(None);
        };
        let key = match key {
            Cow::Borrowed(k) => seed.deserialize(de::value::BorrowedStrDeserializer::new(k)),
            Cow::Owned(k) => seed.deserialize(de::value::StrDeserializer::new(k)),
        };
        key.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let Some(&(_, raw)) = self.pairs.get(self.next) else {
            return Err(de::Error::custom("a value was asked for without its key"));
        };
        self.next += 1;
        seed.deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len() - self.next)
    }
}
