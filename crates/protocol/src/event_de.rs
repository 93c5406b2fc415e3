//! How an [`Event`] is read. The derived reader of a struct with a flattened, internally
//! tagged body first buffers every key and value of the object, then buffers the body's
//! again to find its `type`: two copies of each event, which cost more than the rest of
//! the parse. This reader takes the common fields (`ts`, `view_id`, `page_url`) as they
//! come, keeps aside only what precedes `type` (nothing, in the order the SDKs write), and
//! hands the rest of the object straight to the body's own reader.
//!
//! It answers as the derived reader did: the same messages for a missing, duplicate or
//! unknown field and an unknown type, and one position, the parser's.

use crate::Text;
use crate::events::*;
use serde::Deserialize;
use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use std::fmt;

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

/// A key or a string value: borrowed from the input when it holds no escape.
enum MaybeBorrowed<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl MaybeBorrowed<'_> {
    fn as_str(&self) -> &str {
        match self {
            MaybeBorrowed::Borrowed(s) => s,
            MaybeBorrowed::Owned(s) => s,
        }
    }
}

/// Reads a [`MaybeBorrowed`]; `expecting` names it in the message for anything but a string.
struct TextSeed(&'static str);

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = MaybeBorrowed<'de>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<MaybeBorrowed<'de>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = MaybeBorrowed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MaybeBorrowed<'de>, E> {
        Ok(MaybeBorrowed::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<MaybeBorrowed<'de>, E> {
        Ok(MaybeBorrowed::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<MaybeBorrowed<'de>, E> {
        Ok(MaybeBorrowed::Owned(v))
    }
}

/// The fields every event has, as they are found (also by [`crate::fast`]'s reader).
#[derive(Default)]
pub(crate) struct Common {
    pub(crate) ts: Option<i64>,
    pub(crate) view_id: Option<Option<Text>>,
    pub(crate) page_url: Option<Option<Text>>,
}

impl Common {
    /// Reads the value of `key` when it is a common field; false when it is not one.
    fn take<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
            slot: &mut Option<T>,
            name: &'static str,
            map: &mut A,
        ) -> Result<bool, A::Error> {
            if slot.is_some() {
                return Err(de::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value()?);
            Ok(true)
        }
        match key {
            "ts" => once(&mut self.ts, "ts", map),
            "view_id" => once(&mut self.view_id, "view_id", map),
            "page_url" => once(&mut self.page_url, "page_url", map),
            _ => Ok(false),
        }
    }
}

/// The rest of the event's object, as the body's reader sees it: first what was kept aside
/// before `type`, then the object's remaining keys without the common fields.
struct BodyFields<'c, 'de, A: MapAccess<'de>> {
    map: A,
    kept: std::vec::IntoIter<(String, serde_json::Value)>,
    kept_value: Option<serde_json::Value>,
    common: &'c mut Common,
    _input: std::marker::PhantomData<&'de ()>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for BodyFields<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if let Some((key, value)) = self.kept.next() {
            self.kept_value = Some(value);
            return seed.deserialize(StringDeserializer::new(key)).map(Some);
        }
        while let Some(key) = self.map.next_key_seed(TextSeed("a string key"))? {
            if key.as_str() == "type" {
                return Err(de::Error::duplicate_field("type"));
            }
            if self.common.take(key.as_str(), &mut self.map)? {
                continue;
            }
            return match key {
                MaybeBorrowed::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k)),
                MaybeBorrowed::Owned(k) => seed.deserialize(StringDeserializer::new(k)),
            }
            .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.kept_value.take() {
            // The value's own error has no position; the parser adds the object's.
            Some(value) => seed.deserialize(value).map_err(de::Error::custom),
            None => self.map.next_value_seed(seed),
        }
    }
}

/// Each `type` and its body: the dispatch and [`EventBody::KINDS`] from one list, which a
/// test holds equal to the derived schema's.
macro_rules! bodies {
    ($($kind:literal => $variant:ident,)*) => {
        impl EventBody {
            /// Every `type` tag, in declaration order.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];
        }

        fn read_body<'de, A: MapAccess<'de>>(
            kind: &str,
            fields: BodyFields<'_, 'de, A>,
        ) -> Result<EventBody, A::Error> {
            match kind {
                $($kind => Ok(EventBody::$variant(Deserialize::deserialize(
                    MapAccessDeserializer::new(fields),
                )?)),)*
                other => Err(de::Error::unknown_variant(other, EventBody::KINDS)),
            }
        }
    };
}

bodies! {
    "view" => View,
    "vital" => Vital,
    "resource" => Resource,
    "resource_error" => ResourceError,
    "long_task" => LongTask,
    "error" => Error,
    "request" => Request,
    "action" => Action,
    "route" => Route,
    "custom" => Custom,
    "app_start" => AppStart,
    "screen_load" => ScreenLoad,
    "crash" => Crash,
    "anr" => Anr,
    "jank" => Jank,
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut common = Common::default();
        let mut kept = Vec::new();
        let kind = loop {
            let Some(key) = map.next_key_seed(TextSeed("a string key"))? else {
                return Err(de::Error::missing_field("type"));
            };
            if key.as_str() == "type" {
                break map.next_value_seed(TextSeed("variant identifier"))?;
            }
            if !common.take(key.as_str(), &mut map)? {
                kept.push((key.as_str().to_owned(), map.next_value()?));
            }
        };
        let body = read_body(
            kind.as_str(),
            BodyFields {
                map,
                kept: kept.into_iter(),
                kept_value: None,
                common: &mut common,
                _input: std::marker::PhantomData,
            },
        )?;
        Ok(Event {
            ts: common.ts.ok_or_else(|| de::Error::missing_field("ts"))?,
            view_id: common.view_id.flatten(),
            page_url: common.page_url.flatten(),
            body,
        })
    }
}

/// Room a batch's events are read into at first: a typical batch of the browser agent.
pub(crate) const EVENTS_AT_FIRST: usize = 32;

/// Reads `Batch::events` into room for a typical batch at once. serde's own reader of a
/// sequence starts empty (JSON says nothing of its length), so the events of each batch
/// were moved four times as the vector doubled.
pub(crate) fn events<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Event>, D::Error> {
    struct Events;
    impl<'de> Visitor<'de> for Events {
        type Value = Vec<Event>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Event>, A::Error> {
            let mut events = Vec::with_capacity(EVENTS_AT_FIRST);
            while let Some(event) = seq.next_element()? {
                events.push(event);
            }
            Ok(events)
        }
    }
    deserializer.deserialize_seq(Events)
}
