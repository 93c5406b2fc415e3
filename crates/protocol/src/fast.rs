//! A reader of the batches the SDKs send, straight from the bytes into the typed values,
//! beside the pre-scan and serde. Under `callgrind`, reading `vigil bench ingest`'s batches
//! took 7,900 instructions per event that way (2,400 of them the pre-scan, most of the rest
//! serde's visitors and buffered keys), a fifth of all the server did per event.
//!
//! It reads only what it is sure of and answers `None` for anything else: an unknown or
//! duplicate key, a missing field, a `null` where serde wants a value, an escape in a key
//! or of a surrogate in a value, a number with an exponent, more than 15 digits before its point or 22 after it,
//! a negative integer, an error event, a limit of [`ScanLimits`] reached. The caller then
//! runs the pre-scan and serde, which say what is wrong or read what this reader leaves to
//! them; so what a body means and how it is refused are serde's, whichever reader took it.
//! The tests hold the two readers to the same values on generated batches and on bodies
//! broken byte by byte.
//!
//! A field added to one of the types read here must be added below too, or every body
//! that carries it takes the slower path (`fixtures_take_the_fast_path` notices when the
//! field's fixture has it).

use crate::event_de::Common;
use crate::events::*;
use crate::scan::ScanLimits;
use crate::text::Text;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The deepest nesting this reader reaches: batch, events, event, a crash's frames, a frame.
const DEPTH: usize = 5;

/// Reads `text` as a batch, or `None` when it is not sure it reads it as serde does.
pub(crate) fn read_batch(text: &str, limits: &ScanLimits) -> Option<Batch> {
    // Numbers below 10^15 are then within the limit without a look at their value.
    if limits.max_depth < DEPTH || limits.max_number < crate::scan::MAX_NUMBER {
        return None;
    }
    let mut c = Cursor {
        text,
        bytes: text.as_bytes(),
        at: 0,
        limits,
    };
    c.ws();
    let batch = Batch::read(&mut c)?;
    c.ws();
    (c.at == c.bytes.len()).then_some(batch)
}

struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    limits: &'a ScanLimits,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// JSON's whitespace.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at.checked_add(word.len())?;
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `null`, consumed, or nothing consumed.
    fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal(b"null").is_some()
    }

    /// A key: a string without escapes or control characters, within the length limit.
    /// Keys are short: a byte loop ends before a vectorised search has set up (`memchr2`
    /// and a check for control characters took 25% more instructions over `vigil bench
    /// ingest`'s batches), and before eight bytes at a time pay off ([`plain_len`] took 15%
    /// more for keys; it serves values).
    fn str(&mut self) -> Option<&'a str> {
        self.plain(|rest| rest.iter().position(|&b| ENDS_PLAIN_TEXT[usize::from(b)]))
    }

    /// A string without escapes or control characters, within the length limit; `find`
    /// says where the first byte that ends plain text is.
    #[inline]
    fn plain(&mut self, find: impl Fn(&[u8]) -> Option<usize>) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.bytes.get(start..)?;
        let len = find(rest)?;
        if rest[len] != b'"' || len > self.limits.max_string_bytes {
            return None;
        }
        self.at = start + len + 1;
        // A quote is ASCII, so both ends are on characters of the checked text.
        self.text.get(start..start + len)
    }

    /// A string value with its escapes decoded as serde_json decodes them. A `\\u` escape
    /// of a surrogate (half of a character beyond the first 65,536) is left to serde. The
    /// length limit counts the bytes as written, as the pre-scan does. Borrowed from the
    /// body when it holds no escape (almost every string), so each reader copies it once,
    /// into its own form. Inlined into each reader: called, it cost 0.4% of the server's
    /// instructions during ingest.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let quote = self.at;
        if let Some(plain) = self.plain(plain_len) {
            return Some(Cow::Borrowed(plain));
        }
        // Not a plain string: read it again from its quote, if it has one.
        self.at = quote;
        self.eat(b'"')?;
        let start = self.at;
        let mut out = String::new();
        let mut run = start;
        loop {
            let rest = self.bytes.get(self.at..)?;
            self.at += plain_len(rest)?;
            match self.bytes[self.at] {
                b'"' => {
                    out.push_str(self.text.get(run..self.at)?);
                    self.at += 1;
                    return (self.at - 1 - start <= self.limits.max_string_bytes)
                        .then_some(Cow::Owned(out));
                }
                b'\\' => {
                    out.push_str(self.text.get(run..self.at)?);
                    let escape = *self.bytes.get(self.at + 1)?;
                    self.at += 2;
                    out.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.bytes.get(self.at..self.at + 4)?;
                            let code = hex.iter().try_fold(0u32, |code, &b| {
                                Some(code * 16 + char::from(b).to_digit(16)?)
                            })?;
                            self.at += 4;
                            char::from_u32(code)?
                        }
                        _ => return None,
                    });
                    run = self.at;
                }
                _ => return None,
            }
        }
    }

    /// Digits from here on, appended to `value`: how many, and the value; `None` where
    /// serde_json's integer would overflow (it then reads the number another way).
    fn run_of_digits(&mut self, mut value: u64) -> Option<(usize, u64)> {
        let start = self.at;
        // Eight digits at a time while there are (a time in ms has thirteen, a browser's
        // timing often sixteen): the digit loop was 2.4% of the server's instructions.
        while let Some(eight) = self.bytes.get(self.at..self.at + 8).and_then(eight_digits) {
            value = value.checked_mul(100_000_000)?.checked_add(eight)?;
            self.at += 8;
        }
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.at += 1;
        }
        Some((self.at - start, value))
    }

    /// A number without exponent, as `(negative, its digits as an integer, how many of
    /// them follow the point)`. At most 15 digits before the point, so it is within the
    /// pre-scan's limit (checked in [`read_batch`]), and 22 after it, so the power of ten
    /// it is divided by is exact.
    fn digits(&mut self) -> Option<(bool, u64, usize)> {
        let negative = self.eat(b'-').is_some();
        let start = self.at;
        let (whole, mut value) = self.run_of_digits(0)?;
        if whole == 0 || whole > 15 || (whole > 1 && self.bytes[start] == b'0') {
            return None;
        }
        let mut fraction = 0;
        if self.peek() == Some(b'.') {
            self.at += 1;
            (fraction, value) = self.run_of_digits(value)?;
            if fraction == 0 || fraction >= POW10.len() {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            return None;
        }
        Some((negative, value, fraction))
    }

    /// A number as serde_json reads one into an `f64` (without its `float_roundtrip`
    /// feature, which this workspace does not turn on): the digits as an integer, converted
    /// to `f64`, divided by the power of ten of the fraction, then negated for a minus (so
    /// `-0` is `-0.0`, as serde_json makes it too).
    fn f64(&mut self) -> Option<f64> {
        let (negative, digits, fraction) = self.digits()?;
        let value = digits as f64 / POW10[fraction];
        Some(if negative { -value } else { value })
    }

    /// An integer field: serde refuses a fraction there, and a negative number is left to
    /// it (every integer field but `ts` refuses one, and `ts` is checked for its range).
    fn integer(&mut self) -> Option<u64> {
        match self.digits()? {
            (false, value, 0) => Some(value),
            _ => None,
        }
    }

    /// An object's next key and its colon; `None` inside the option at its end. `first`
    /// says no key was read in it yet.
    fn key(&mut self, first: &mut bool) -> Option<Option<&'a str>> {
        self.ws();
        match self.peek()? {
            b'}' => {
                self.at += 1;
                return Some(None);
            }
            b',' if !*first => {
                self.at += 1;
                self.ws();
            }
            _ if *first => {}
            _ => return None,
        }
        *first = false;
        let key = self.str()?;
        // Compact JSON (what the agent sends) has the colon right after the key.
        if self.peek() == Some(b':') {
            self.at += 1;
        } else {
            self.ws();
            self.eat(b':')?;
        }
        self.ws();
        Some(Some(key))
    }
}

/// The number eight ASCII digits make, or `None` when a byte is not a digit; each digit is
/// a byte of one number, and the check and the sum work on all eight at once.
#[inline]
fn eight_digits(bytes: &[u8]) -> Option<u64> {
    let word = u64::from_le_bytes(<[u8; 8]>::try_from(bytes).ok()?);
    const NIBBLES: u64 = u64::from_le_bytes([0xf0; 8]);
    // A digit's high nibble is 3, and adding 6 to its low one carries into it for none.
    let high = word & NIBBLES;
    let carried = (word.wrapping_add(u64::from_le_bytes([0x06; 8])) & NIBBLES) >> 4;
    if high | carried != u64::from_le_bytes([0x33; 8]) {
        return None;
    }
    // Pairs of digits, then fours, then all eight (the first digit is the lowest byte).
    let digits = word & u64::from_le_bytes([0x0f; 8]);
    let pairs = (digits.wrapping_mul(10 << 8 | 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let fours = (pairs.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_ffff_0000_ffff;
    Some(fours.wrapping_mul(10_000 << 32 | 1) >> 32)
}

/// Where the first byte that ends plain text ([`ENDS_PLAIN_TEXT`]) is in `bytes`, if one
/// is. Eight bytes are looked at together, as one number: a byte of each kind shows as a
/// zero byte of a difference, and the lowest such byte is exact. For string values it took
/// a fifth fewer instructions than the byte loop (`make bench-instructions`: reading them
/// 51.5M → 40.7M per 100,000 events); keys keep the loop (see `Cursor::str`).
#[inline]
fn plain_len(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // A high bit in each byte of `v` below `n` (n ≤ 0x80); exact up to the lowest one.
    let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v & HIGHS;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(eight) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(eight);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = below(quote, 1) | below(backslash, 1) | below(word, 0x20);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    rest.iter()
        .position(|&b| ENDS_PLAIN_TEXT[usize::from(b)])
        .map(|len| at + len)
}

/// The bytes that end a run of plain text in a string: its closing quote, an escape, a
/// control character (an error). One look-up a byte instead of three comparisons.
static ENDS_PLAIN_TEXT: [bool; 256] = {
    let mut ends = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        ends[b] = true;
        b += 1;
    }
    ends[b'"' as usize] = true;
    ends[b'\\' as usize] = true;
    ends
};

/// Powers of ten as far as `f64` holds them exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A value this reader can take, and what serde makes of its key's absence.
trait Read: Sized {
    fn read(c: &mut Cursor<'_>) -> Option<Self>;

    /// The value of a missing key: required (`None`) unless the type says otherwise.
    fn absent() -> Option<Self> {
        None
    }
}

impl Read for String {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.string().map(Cow::into_owned)
    }
}

impl Read for Text {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.string().map(Text::from)
    }
}

impl Read for f64 {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.f64()
    }
}

impl Read for i64 {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.integer()?.try_into().ok()
    }
}

impl Read for u32 {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.integer()?.try_into().ok()
    }
}

impl Read for u16 {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.integer()?.try_into().ok()
    }
}

impl Read for bool {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        match c.peek()? {
            b't' => c.literal(b"true").map(|()| true),
            _ => c.literal(b"false").map(|()| false),
        }
    }
}

/// serde takes a missing `Option` as `None`, and `null` too.
impl<T: Read> Read for Option<T> {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        if c.null() {
            return Some(None);
        }
        T::read(c).map(Some)
    }

    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// What a list holds: how much room a list takes at first, and whether the list is required
/// (else serde's `#[serde(default)]`, which every list of the protocol but the events has).
trait Element: Read {
    const AT_FIRST: usize = 0;
    const REQUIRED: bool = false;
}

impl Element for String {}
impl Element for Frame {}

impl<T: Element> Read for Vec<T> {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.eat(b'[')?;
        let mut out = Vec::with_capacity(T::AT_FIRST);
        c.ws();
        if c.eat(b']').is_some() {
            return Some(out);
        }
        loop {
            out.push(T::read(c)?);
            c.ws();
            if c.eat(b']').is_some() {
                return Some(out);
            }
            c.eat(b',')?;
            c.ws();
        }
    }

    fn absent() -> Option<Self> {
        (!T::REQUIRED).then(Vec::new)
    }
}

/// Flat attributes (`#[serde(default)]` everywhere): serde's untagged `Scalar` takes a
/// boolean, then a number, then a string; a later duplicate key replaces the earlier.
impl Read for BTreeMap<String, Scalar> {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.eat(b'{')?;
        let mut out = BTreeMap::new();
        let mut first = true;
        while let Some(key) = c.key(&mut first)? {
            let value = match c.peek()? {
                b't' | b'f' => Scalar::Bool(bool::read(c)?),
                b'"' => Scalar::String(String::read(c)?),
                _ => Scalar::Number(c.f64()?),
            };
            out.insert(key.to_owned(), value);
        }
        Some(out)
    }

    fn absent() -> Option<Self> {
        Some(BTreeMap::new())
    }
}

/// The fields of an object, each read once, unknown keys refused: a struct with
/// `deny_unknown_fields`. `read_fields` goes on from inside an object whose first keys
/// another reader took (an event's, before its body); `extra` may take a key the struct
/// does not have.
macro_rules! read_struct {
    ($ty:ident $([absent: $default:expr])? { $($field:ident $(= $key:literal)?),* $(,)? }) => {
        impl $ty {
            #[allow(unused_mut, unused_variables)]
            fn read_fields(
                c: &mut Cursor<'_>,
                mut first: bool,
                extra: &mut dyn FnMut(&str, &mut Cursor<'_>) -> Option<bool>,
            ) -> Option<Self> {
                $(let mut $field = None;)*
                while let Some(key) = c.key(&mut first)? {
                    match key {
                        $(read_struct!(@key $field $(= $key)?) => {
                            if $field.is_some() {
                                return None;
                            }
                            $field = Some(Read::read(c)?);
                        })*
                        other => {
                            if !extra(other, c)? {
                                return None;
                            }
                        }
                    }
                }
                Some($ty {
                    $($field: match $field {
                        Some(v) => v,
                        None => Read::absent()?,
                    },)*
                })
            }
        }

        impl Read for $ty {
            fn read(c: &mut Cursor<'_>) -> Option<Self> {
                c.eat(b'{')?;
                $ty::read_fields(c, true, &mut |_, _| Some(false))
            }

            $(fn absent() -> Option<Self> {
                Some($default)
            })?
        }
    };
    (@key $field:ident = $key:literal) => { $key };
    (@key $field:ident) => { stringify!($field) };
}

read_struct!(Batch {
    v,
    key,
    context,
    events
});
read_struct!(Context {
    session_id,
    view_id,
    agent,
    page_url,
    referrer,
    screen,
    viewport,
    connection,
    device_memory,
    user_id,
    release,
    environment,
    attributes,
    app,
    os,
    device,
    carrier,
    sample_rate,
});
read_struct!(Agent { name, version });
read_struct!(Size { width, height });
read_struct!(Connection {
    kind = "type",
    effective_type,
    rtt,
    downlink
});
read_struct!(App {
    name,
    version,
    build
});
read_struct!(Os { name, version });
read_struct!(Device {
    model,
    manufacturer,
    kind = "type"
});
read_struct!(View {
    navigation_type,
    timing,
    fcp,
    transfer_size,
    title,
    tbt,
    tti
});
read_struct!(NavigationTiming [absent: NavigationTiming::default()] {
    redirect,
    dns,
    tcp,
    tls,
    request,
    ttfb,
    download,
    dom_interactive,
    dom_content_loaded,
    dom_complete,
    load,
});
read_struct!(Vital {
    name,
    value,
    rating,
    attribution
});
read_struct!(Attribution [absent: Attribution::default()] {
    element,
    url,
    ttfb,
    load_delay,
    load_duration,
    render_delay,
    event_type,
    input_delay,
    processing,
    presentation_delay,
    script_url,
    script_duration,
    shift_time,
    load_state,
});
read_struct!(Resource {
    url,
    initiator,
    start,
    duration,
    dns,
    tcp,
    tls,
    ttfb,
    download,
    transfer_size,
    encoded_size,
    decoded_size,
    render_blocking,
    status,
});
read_struct!(Request {
    api,
    method,
    url,
    url_template,
    status,
    duration,
    dns,
    tcp,
    tls,
    ttfb,
    download,
    request_size,
    response_size,
    trace_id,
    span_id,
    trace_sampled,
    failure,
});
read_struct!(ResourceError { url, tag });
read_struct!(LongTask {
    kind,
    start,
    duration,
    blocking_duration,
    script_url,
    invoker,
    script_duration,
});
read_struct!(Route {
    from,
    to,
    new_view_id,
    trigger,
    duration
});
read_struct!(Custom {
    name,
    properties,
    value
});
read_struct!(AppStart {
    start_type,
    duration
});
read_struct!(ScreenLoad { screen, duration });
read_struct!(Crash {
    error_type,
    message,
    stack,
    frames
});
read_struct!(Frame {
    function,
    file,
    line,
    column
});
read_struct!(Anr { duration, stack });
read_struct!(Jank {
    frame_count,
    period,
    threshold
});
read_struct!(Action {
    action,
    selector,
    count,
    depth,
    form,
    fields,
    last_field,
});

impl Common {
    /// Reads `key`'s value when it is a common field (`Some(false)` when it is not one,
    /// `None` when it cannot be read or comes twice).
    fn read_field(&mut self, key: &str, c: &mut Cursor<'_>) -> Option<bool> {
        fn once<T: Read>(slot: &mut Option<T>, c: &mut Cursor<'_>) -> Option<bool> {
            if slot.is_some() {
                return None;
            }
            *slot = Some(T::read(c)?);
            Some(true)
        }
        match key {
            "ts" => once(&mut self.ts, c),
            "view_id" => once(&mut self.view_id, c),
            "page_url" => once(&mut self.page_url, c),
            _ => Some(false),
        }
    }
}

impl Read for Event {
    fn read(c: &mut Cursor<'_>) -> Option<Self> {
        c.eat(b'{')?;
        let mut common = Common::default();
        let mut first = true;
        // Only common fields may come before `type` here; serde keeps others aside.
        let kind = loop {
            let key = c.key(&mut first)??;
            if key == "type" {
                break c.str()?;
            }
            if !common.read_field(key, c)? {
                return None;
            }
        };
        let mut extra = |key: &str, c: &mut Cursor<'_>| common.read_field(key, c);
        let body = match kind {
            "view" => EventBody::View(View::read_fields(c, false, &mut extra)?),
            "vital" => EventBody::Vital(Vital::read_fields(c, false, &mut extra)?),
            "resource" => EventBody::Resource(Resource::read_fields(c, false, &mut extra)?),
            "request" => EventBody::Request(Request::read_fields(c, false, &mut extra)?),
            "action" => EventBody::Action(Action::read_fields(c, false, &mut extra)?),
            "resource_error" => {
                EventBody::ResourceError(ResourceError::read_fields(c, false, &mut extra)?)
            }
            "long_task" => EventBody::LongTask(LongTask::read_fields(c, false, &mut extra)?),
            "route" => EventBody::Route(Route::read_fields(c, false, &mut extra)?),
            "custom" => EventBody::Custom(Custom::read_fields(c, false, &mut extra)?),
            "app_start" => EventBody::AppStart(AppStart::read_fields(c, false, &mut extra)?),
            "screen_load" => EventBody::ScreenLoad(ScreenLoad::read_fields(c, false, &mut extra)?),
            "crash" => EventBody::Crash(Crash::read_fields(c, false, &mut extra)?),
            "anr" => EventBody::Anr(Anr::read_fields(c, false, &mut extra)?),
            "jank" => EventBody::Jank(Jank::read_fields(c, false, &mut extra)?),
            // Errors (frames, breadcrumbs, causes, debug ids) are left to serde: they go on
            // to symbolication and grouping, which cost far more than their parse.
            _ => return None,
        };
        Some(Event {
            ts: common.ts?,
            view_id: common.view_id.flatten(),
            page_url: common.page_url.flatten(),
            body,
        })
    }
}

/// The events of a batch, in room for a typical batch at once (as serde's reader here).
impl Element for Event {
    const AT_FIRST: usize = crate::event_de::EVENTS_AT_FIRST;
    const REQUIRED: bool = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan_json;

    /// A small deterministic generator: the same batches on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self) -> bool {
            self.next() & 1 == 0
        }
        /// Up to 40 characters: text kept inline (24 bytes at most) and on the heap.
        fn text(&mut self) -> Text {
            const CHARS: &[&str] = &[
                "a", "Z", "0", "/", ":", ".", "?", "=", "&", " ", "é", "€", "-", "_",
            ];
            (0..self.below(40))
                .map(|_| CHARS[self.below(CHARS.len() as u64) as usize])
                .collect::<String>()
                .into()
        }
        fn some_text(&mut self) -> Option<Text> {
            self.chance().then(|| self.text())
        }
        /// At most 14 digits with up to 4 after the point, as the browser agent writes a
        /// measurement, or a float of all its precision below 10^14.
        fn number(&mut self) -> f64 {
            let width = 1 + self.below(14) as u32;
            if self.chance() {
                return self.next() as f64 / u64::MAX as f64 * 10f64.powi(width as i32);
            }
            let digits = self.below(10u64.pow(width));
            let value = digits as f64 / 10f64.powi(self.below(5) as i32);
            if self.below(8) == 0 { -value } else { value }
        }
        fn some_number(&mut self) -> Option<f64> {
            self.chance().then(|| self.number())
        }
        fn some_u32(&mut self) -> Option<u32> {
            self.chance().then(|| self.next() as u32)
        }
    }

    fn body(r: &mut Rng) -> EventBody {
        match r.below(14) {
            0 => EventBody::View(View {
                navigation_type: r.some_text(),
                timing: NavigationTiming {
                    redirect: r.some_number(),
                    dns: r.some_number(),
                    tcp: r.some_number(),
                    tls: r.some_number(),
                    request: r.some_number(),
                    ttfb: r.some_number(),
                    download: r.some_number(),
                    dom_interactive: r.some_number(),
                    dom_content_loaded: r.some_number(),
                    dom_complete: r.some_number(),
                    load: r.some_number(),
                },
                fcp: r.some_number(),
                transfer_size: r.some_number(),
                title: r.some_text(),
                tbt: r.some_number(),
                tti: r.some_number(),
            }),
            1 => EventBody::Vital(Vital {
                name: r.text(),
                value: r.number(),
                rating: r.some_text(),
                attribution: Attribution {
                    element: r.some_text(),
                    url: r.some_text(),
                    ttfb: r.some_number(),
                    load_delay: r.some_number(),
                    load_duration: r.some_number(),
                    render_delay: r.some_number(),
                    event_type: r.some_text(),
                    input_delay: r.some_number(),
                    processing: r.some_number(),
                    presentation_delay: r.some_number(),
                    script_url: r.some_text(),
                    script_duration: r.some_number(),
                    shift_time: r.some_number(),
                    load_state: r.some_text(),
                },
            }),
            2 => EventBody::Resource(Resource {
                url: r.text(),
                initiator: r.text(),
                start: r.some_number(),
                duration: r.number(),
                dns: r.some_number(),
                tcp: r.some_number(),
                tls: r.some_number(),
                ttfb: r.some_number(),
                download: r.some_number(),
                transfer_size: r.some_number(),
                encoded_size: r.some_number(),
                decoded_size: r.some_number(),
                render_blocking: r.chance().then(|| r.chance()),
                status: r.chance().then(|| r.next() as u16),
            }),
            3 => EventBody::Request(Request {
                api: r.some_text(),
                method: r.text(),
                url: r.text(),
                url_template: r.some_text(),
                status: r.chance().then(|| r.next() as u16),
                duration: r.number(),
                dns: r.some_number(),
                tcp: r.some_number(),
                tls: r.some_number(),
                ttfb: r.some_number(),
                download: r.some_number(),
                request_size: r.some_number(),
                response_size: r.some_number(),
                trace_id: r.some_text(),
                span_id: r.some_text(),
                trace_sampled: r.chance().then(|| r.chance()),
                failure: r.some_text(),
            }),
            5 => EventBody::ResourceError(ResourceError {
                url: r.text(),
                tag: r.text(),
            }),
            6 => EventBody::LongTask(LongTask {
                kind: r.text(),
                start: r.some_number(),
                duration: r.number(),
                blocking_duration: r.some_number(),
                script_url: r.some_text(),
                invoker: r.some_text(),
                script_duration: r.some_number(),
            }),
            7 => EventBody::Route(Route {
                from: r.text(),
                to: r.text(),
                new_view_id: r.some_text(),
                trigger: r.some_text(),
                duration: r.some_number(),
            }),
            8 => EventBody::Custom(Custom {
                name: r.text(),
                properties: attributes(r),
                value: r.some_number(),
            }),
            9 => EventBody::AppStart(AppStart {
                start_type: r.text(),
                duration: r.number(),
            }),
            10 => EventBody::ScreenLoad(ScreenLoad {
                screen: r.text(),
                duration: r.number(),
            }),
            11 => EventBody::Crash(Crash {
                error_type: r.text(),
                message: r.text(),
                stack: r.some_text(),
                frames: (0..r.below(3))
                    .map(|_| Frame {
                        function: r.some_text(),
                        file: r.some_text(),
                        line: r.some_u32(),
                        column: r.some_u32(),
                    })
                    .collect(),
            }),
            12 => EventBody::Anr(Anr {
                duration: r.number(),
                stack: r.some_text(),
            }),
            13 => EventBody::Jank(Jank {
                frame_count: r.next() as u32,
                period: r.some_number(),
                threshold: r.some_number(),
            }),
            _ => EventBody::Action(Action {
                action: r.text(),
                selector: r.some_text(),
                count: r.some_u32(),
                depth: r.some_number(),
                form: r.some_text(),
                fields: (0..r.below(3)).map(|_| r.text().into()).collect(),
                last_field: r.some_text(),
            }),
        }
    }

    fn attributes(r: &mut Rng) -> BTreeMap<String, Scalar> {
        (0..r.below(3))
            .map(|_| {
                let value = match r.below(3) {
                    0 => Scalar::Bool(r.chance()),
                    1 => Scalar::Number(r.number()),
                    _ => Scalar::String(r.text().into()),
                };
                (r.text().into(), value)
            })
            .collect()
    }

    fn batch(r: &mut Rng) -> Batch {
        let attributes = attributes(r);
        let size = |r: &mut Rng| {
            r.chance().then(|| Size {
                width: r.next() as u32,
                height: r.next() as u32,
            })
        };
        Batch {
            v: 1,
            key: r.some_text(),
            context: Context {
                session_id: r.text(),
                view_id: r.some_text(),
                agent: Agent {
                    name: r.text(),
                    version: r.text(),
                },
                page_url: r.some_text(),
                referrer: r.some_text(),
                screen: size(r),
                viewport: size(r),
                connection: r.chance().then(|| Connection {
                    kind: r.some_text(),
                    effective_type: r.some_text(),
                    rtt: r.some_number(),
                    downlink: r.some_number(),
                }),
                device_memory: r.some_number(),
                user_id: r.some_text(),
                release: r.some_text(),
                environment: r.some_text(),
                attributes,
                app: r.chance().then(|| App {
                    name: r.text(),
                    version: r.text(),
                    build: r.some_text(),
                }),
                os: r.chance().then(|| Os {
                    name: r.text(),
                    version: r.text(),
                }),
                device: r.chance().then(|| Device {
                    model: r.text(),
                    manufacturer: r.some_text(),
                    kind: r.some_text(),
                }),
                carrier: r.some_text(),
                sample_rate: r.chance().then(|| r.below(1001) as f64 / 1000.0),
            },
            events: (0..1 + r.below(6))
                .map(|_| Event {
                    ts: r.below(2_000_000_000_000) as i64,
                    view_id: r.some_text(),
                    page_url: r.some_text(),
                    body: body(r),
                })
                .collect(),
        }
    }

    fn serde_reads(text: &str) -> Option<Batch> {
        scan_json(text.as_bytes(), &ScanLimits::default()).ok()?;
        serde_json::from_str(text).ok()
    }

    #[test]
    fn eight_digits_are_read_as_the_digit_loop_reads_them() {
        let by_digit = |bytes: &[u8]| {
            bytes.iter().try_fold(0u64, |v, &b| {
                b.is_ascii_digit().then(|| v * 10 + u64::from(b - b'0'))
            })
        };
        let mut r = Rng(0x0123_4567_89ab_cdef);
        for _ in 0..100_000 {
            let mut bytes: Vec<u8> = (0..8).map(|_| b'0' + r.below(10) as u8).collect();
            assert_eq!(eight_digits(&bytes), by_digit(&bytes), "{bytes:?}");
            // One byte that is not a digit, of any value, anywhere.
            bytes[r.below(8) as usize] = r.below(256) as u8;
            assert_eq!(eight_digits(&bytes), by_digit(&bytes), "{bytes:?}");
        }
        for (text, value) in [
            ("00000000", 0),
            ("99999999", 99_999_999),
            ("12345678", 12_345_678),
        ] {
            assert_eq!(eight_digits(text.as_bytes()), Some(value));
        }
        for near in [b'/', b':', b'0' + 0x80, b'9' + 0x10, b'0' - 0x10] {
            let mut bytes = *b"11111111";
            bytes[3] = near;
            assert_eq!(eight_digits(&bytes), None, "{bytes:?}");
        }
    }

    #[test]
    fn plain_text_ends_where_the_byte_by_byte_search_ends_it() {
        let by_byte = |bytes: &[u8]| bytes.iter().position(|&b| ENDS_PLAIN_TEXT[usize::from(b)]);
        // Every byte value at every place of strings of up to 20 bytes of plain text, some
        // with a second ending byte after the first.
        for len in 0..20 {
            for at in 0..=len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes.insert(at, b);
                    assert_eq!(plain_len(&bytes), by_byte(&bytes), "{bytes:?}");
                    bytes.push(b'"');
                    bytes.push(0x80);
                    assert_eq!(plain_len(&bytes), by_byte(&bytes), "{bytes:?}");
                }
            }
        }
        let mut r = Rng(0x5851_f42d_4c95_7f2d);
        for _ in 0..20_000 {
            let len = r.below(40);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match r.below(10) {
                    0 => b"\"\\\x01\x1f\x20\x7f\x80\xff"[r.below(8) as usize],
                    _ => b'a' + r.below(26) as u8,
                })
                .collect();
            assert_eq!(plain_len(&bytes), by_byte(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn generated_batches_read_as_serde_reads_them() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let text = serde_json::to_string(&batch(&mut r)).unwrap();
            let fast = read_batch(&text, &ScanLimits::default());
            assert!(fast.is_some(), "left to serde: {text}");
            assert_eq!(fast, serde_reads(&text), "{text}");
        }
    }

    #[test]
    fn broken_bodies_are_read_as_serde_reads_them_or_left_to_it() {
        const PIECES: &[&str] = &[
            "\"",
            "\\",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "null",
            "0",
            "-",
            ".",
            "e",
            "1",
            " ",
            "\"x\":1,",
            "\"ts\":1,",
            "\"type\":\"view\",",
            "\u{1}",
            "é",
            "true",
            "01",
            "1e3",
            "\"view_id\":null,",
            "\"type\":\"error\",",
        ];
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        let (mut taken, mut tried) = (0, 0);
        for _ in 0..4000 {
            let text = serde_json::to_string(&batch(&mut r)).unwrap();
            for _ in 0..8 {
                let mut bytes = text.clone().into_bytes();
                for _ in 0..1 + r.below(3) {
                    let at = r.below(bytes.len() as u64 + 1) as usize;
                    match r.below(3) {
                        0 => {
                            let end = (at + 1 + r.below(4) as usize).min(bytes.len());
                            bytes.drain(at.min(end)..end);
                        }
                        1 => {
                            let piece = PIECES[r.below(PIECES.len() as u64) as usize];
                            bytes.splice(at..at, piece.bytes());
                        }
                        _ => {
                            let from = r.below(bytes.len() as u64) as usize;
                            let piece: Vec<u8> = bytes[from..(from + 8).min(bytes.len())].to_vec();
                            bytes.splice(at..at, piece);
                        }
                    }
                }
                let Ok(broken) = String::from_utf8(bytes) else {
                    continue;
                };
                tried += 1;
                if let Some(fast) = read_batch(&broken, &ScanLimits::default()) {
                    taken += 1;
                    assert_eq!(Some(fast), serde_reads(&broken), "{broken}");
                }
            }
        }
        // Most edits break the body; some leave one the fast reader still takes.
        assert!(taken > 100 && taken < tried, "{taken} of {tried} taken");
    }

    #[test]
    fn what_it_is_not_sure_of_is_left_to_serde() {
        let ok = r#"{"v":1,"context":{"session_id":"s","agent":{"name":"a","version":"1"}},"events":[{"type":"action","ts":5,"action":"click"}]}"#;
        let limits = ScanLimits::default();
        assert!(read_batch(ok, &limits).is_some());
        for (from, to) in [
            (r#""action""#, r#""act\u0069on""#),         // an escape in a key
            (r#""click""#, r#""cl\ud83dick""#),          // a surrogate
            (r#""click""#, r#""cl\xick""#),              // an escape JSON does not have
            (r#""click""#, "\"cl\u{1}ick\""),            // a control character
            (r#""ts":5"#, r#""ts":-5"#),                 // a negative integer
            (r#""ts":5"#, r#""ts":5e0"#),                // an exponent
            (r#""ts":5"#, r#""ts":5.0"#),                // a fraction where serde wants an integer
            (r#""ts":5"#, r#""ts":05"#),                 // a leading zero
            (r#""ts":5"#, r#""ts":1234567890123456"#),   // 16 digits before a point
            (r#""ts":5,"#, r#""ts":5,"ts":6,"#),         // a duplicate
            (r#""ts":5,"#, r#""ts":5,"x":1,"#),          // an unknown key
            (r#""ts":5,"#, ""),                          // a missing field
            (r#""action":"click""#, r#""action":null"#), // null for a value
            (
                r#""type":"action","ts":5"#,
                r#""ts":5,"action":"click","type":"action""#,
            ), // body before type
            (r#""type":"action""#, r#""type":"error""#), // a type left to serde
            (r#""v":1,"#, r#""v":1,"v":1,"#),
            (r#"]}"#, r#"]} x"#), // trailing text
        ] {
            let body = ok.replacen(from, to, 1);
            assert_ne!(body, ok, "{from}");
            assert_eq!(read_batch(&body, &limits), None, "{body}");
        }
        // Escapes in values are decoded as serde decodes them.
        let escaped = ok.replace(r#""click""#, r#""c\"l\\i\/c\bk\f\n\r\t\u00e9\u0000""#);
        let fast = read_batch(&escaped, &limits);
        assert!(fast.is_some());
        assert_eq!(fast, serde_reads(&escaped));
        // Limits are checked as the pre-scan checks them.
        let tight = |f: fn(&mut ScanLimits)| {
            let mut limits = ScanLimits::default();
            f(&mut limits);
            read_batch(ok, &limits)
        };
        // The longest string is the key `session_id`.
        assert!(tight(|l| l.max_string_bytes = 10).is_some());
        assert_eq!(tight(|l| l.max_string_bytes = 9), None);
        assert_eq!(tight(|l| l.max_number = 4.0), None);
        assert_eq!(tight(|l| l.max_depth = 4), None);
        // Whitespace anywhere JSON allows it.
        let spaced = ok
            .replace(',', " ,\n")
            .replace(':', "\t: ")
            .replace('{', "{ ");
        assert_eq!(read_batch(&spaced, &limits), read_batch(ok, &limits));
    }

    #[test]
    fn fixtures_take_the_fast_path() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/fixtures/valid");
        for kind in [
            "view",
            "vital",
            "resource",
            "resource_error",
            "long_task",
            "request",
            "action",
            "route",
            "custom",
            "app_start",
            "screen_load",
            "crash",
            "anr",
            "jank",
        ] {
            let text = std::fs::read_to_string(dir.join(format!("{kind}.json"))).unwrap();
            let fast = read_batch(&text, &ScanLimits::default());
            assert!(fast.is_some(), "{kind}.json is left to serde");
            assert_eq!(fast, serde_reads(&text), "{kind}.json");
        }
    }
}
