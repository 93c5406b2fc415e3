//! Grouping: which errors are the same problem. Version 1 hashes the error type and the
//! in-app frames' file basename and function name (never line or column numbers, URLs or
//! query strings, which change with every deploy); the message, parameterised, only when no
//! in-app frame named anything. What went into the hash is kept beside it so the dashboard
//! can say why two errors share a group.

use crate::parameterize::parameterize;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The grouping algorithm's version, recorded with every fingerprint: a change to what is
/// hashed is a new version, and groups of different versions are never merged silently.
pub const GROUPING_VERSION: u32 = 1;

/// Most frames that take part in a fingerprint, innermost first: deep stacks differ in
/// their outer frames (framework and event-loop plumbing) more than in where they broke.
pub const MAX_GROUPING_FRAMES: usize = 25;

/// The placeholder for the collector's own fingerprint in a custom one.
pub const DEFAULT_PLACEHOLDER: &str = "{{ default }}";

/// A frame as grouping sees it: already symbolicated when a map resolved it.
#[derive(Debug, Clone, Copy)]
pub struct GroupingFrame<'a> {
    /// The file: an original source path, or the script URL when unmapped.
    pub file: Option<&'a str>,
    /// The function name, original when recovered.
    pub function: Option<&'a str>,
    /// Whether the frame is the application's own code.
    pub in_app: bool,
}

/// How a fingerprint was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The type and the in-app frames.
    InAppFrames,
    /// The type and the parameterised message: no in-app frame named a file or function.
    Message,
    /// The application's own fingerprint.
    Custom,
}

/// A frame's part of the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FramePart {
    /// File basename without its content hash.
    pub file: String,
    /// Function name without its receiver (`HTMLButtonElement.onClick` → `onClick`).
    pub function: String,
}

/// A fingerprint and what went into it (stored as the errors table's `grouping` column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grouping {
    /// The algorithm's version.
    pub version: u32,
    /// How it was made.
    pub method: Method,
    /// The error type (a part of every non-custom hash).
    pub error_type: String,
    /// The frames hashed, innermost first (method `in_app_frames`, or under a custom one
    /// that includes the default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<FramePart>,
    /// The parameterised message (method `message`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The application's parts (method `custom`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<String>,
    /// 32 hex digits.
    pub fingerprint: String,
}

/// Groups one error.
pub fn group(
    error_type: &str,
    message: &str,
    frames: &[GroupingFrame<'_>],
    custom: &[String],
) -> Grouping {
    let mut parts: Vec<FramePart> = Vec::new();
    for f in frames.iter().filter(|f| f.in_app) {
        let file = f.file.map(file_key).unwrap_or_default();
        let function = f.function.map(function_key).unwrap_or_default();
        if file.is_empty() && function.is_empty() {
            continue;
        }
        let part = FramePart { file, function };
        // Recursion repeats a frame; its depth is not part of the problem.
        if parts.last() != Some(&part) {
            parts.push(part);
        }
        if parts.len() == MAX_GROUPING_FRAMES {
            break;
        }
    }
    let (method, message, hashed) = if parts.is_empty() {
        let message = parameterize(message);
        let hashed = vec![format!("message:{message}")];
        (Method::Message, Some(message), hashed)
    } else {
        let hashed = parts
            .iter()
            .map(|p| format!("frame:{}:{}", p.file, p.function))
            .collect();
        (Method::InAppFrames, None, hashed)
    };
    let default = hash(std::iter::once(format!("type:{error_type}")).chain(hashed));
    if custom.is_empty() {
        return Grouping {
            version: GROUPING_VERSION,
            method,
            error_type: error_type.to_owned(),
            frames: parts,
            message,
            custom: Vec::new(),
            fingerprint: default,
        };
    }
    let keeps_default = custom.iter().any(|c| c.trim() == DEFAULT_PLACEHOLDER);
    let fingerprint = hash(
        std::iter::once("custom".to_owned()).chain(custom.iter().map(|c| {
            if c.trim() == DEFAULT_PLACEHOLDER {
                format!("default:{default}")
            } else {
                format!("part:{c}")
            }
        })),
    );
    Grouping {
        version: GROUPING_VERSION,
        method: Method::Custom,
        error_type: error_type.to_owned(),
        frames: if keeps_default { parts } else { Vec::new() },
        message: if keeps_default { message } else { None },
        custom: custom.to_vec(),
        fingerprint,
    }
}

fn hash(parts: impl Iterator<Item = String>) -> String {
    let mut h = Sha256::new();
    h.update(format!("vigil-grouping-v{GROUPING_VERSION}").as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file's part of a fingerprint: its basename, without query, fragment or the content
/// hash bundlers put in names (`cart.9f2c1e7a.js`, `cart-9f2c1e.js` → `cart.js`).
pub fn file_key(file: &str) -> String {
    let path = file.split(['?', '#']).next().unwrap_or(file);
    let base = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let (stem, ext) = match base.rsplit_once('.') {
        Some((stem, ext)) if !ext.is_empty() => (stem, Some(ext)),
        _ => (base, None),
    };
    let kept: Vec<&str> = stem
        .split(['.', '-', '_'])
        .filter(|piece| !is_content_hash(piece))
        .collect();
    let stem = if kept.is_empty() {
        stem.to_owned()
    } else {
        kept.join("-")
    };
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem,
    }
}

/// A piece of a file name that is a content hash: 6 or more hex digits with a digit in
/// them, or 8 or more letters and digits mixed with no run of 4 lowercase letters
/// (base32/base64 hashes such as `DFB4KQ2Z`, but not `Base64Encoder`).
fn is_content_hash(piece: &str) -> bool {
    let digits = piece.bytes().filter(u8::is_ascii_digit).count();
    let wordlike = piece
        .as_bytes()
        .windows(4)
        .any(|w| w.iter().all(u8::is_ascii_lowercase));
    (piece.len() >= 6 && digits > 0 && piece.bytes().all(|b| b.is_ascii_hexdigit()))
        || (piece.len() >= 8
            && digits > 0
            && digits < piece.len()
            && !wordlike
            && piece.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A function's part of a fingerprint: the name without receiver or engine decoration, so
/// Chrome's `HTMLButtonElement.onClick`, Firefox's `onClick/<` and Safari's `onClick` agree.
pub fn function_key(function: &str) -> String {
    let f = function.trim();
    let f = f.strip_prefix("async ").unwrap_or(f);
    let f = f.strip_prefix("new ").unwrap_or(f);
    let f = f
        .trim_end_matches("/<")
        .trim_end_matches('<')
        .trim_end_matches('*');
    let f = f.rsplit('/').next().unwrap_or(f);
    let f = f.rsplit('.').next().unwrap_or(f);
    if f == "<anonymous>" || f == "?" {
        String::new()
    } else {
        f.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame<'a>(file: &'a str, function: &'a str) -> GroupingFrame<'a> {
        GroupingFrame {
            file: Some(file),
            function: Some(function),
            in_app: true,
        }
    }

    #[test]
    fn file_keys_drop_paths_queries_and_content_hashes() {
        assert_eq!(
            file_key("https://a.example/assets/cart.9f2c1e7a.js?v=3#x"),
            "cart.js"
        );
        assert_eq!(
            file_key("https://a.example/assets/cart-9f2c1e.js"),
            "cart.js"
        );
        assert_eq!(file_key("webpack:///src/checkout/cart.ts"), "cart.ts");
        assert_eq!(file_key("main.DFB4KQ2Z.js"), "main.js");
        assert_eq!(file_key("use-cart.ts"), "use-cart.ts");
        assert_eq!(file_key("Base64Encoder.js"), "Base64Encoder.js");
        assert_eq!(file_key("decade.js"), "decade.js");
        assert_eq!(file_key("https://a.example/"), "");
    }

    #[test]
    fn function_keys_agree_across_engines() {
        for f in [
            "HTMLButtonElement.onClick",
            "onClick/<",
            "onClick",
            "async onClick",
        ] {
            assert_eq!(function_key(f), "onClick", "{f}");
        }
        assert_eq!(function_key("new Cart"), "Cart");
    }

    #[test]
    fn line_numbers_urls_and_messages_do_not_split_a_group() {
        let a = group(
            "TypeError",
            "Cannot read properties of undefined (reading 'sku')",
            &[
                frame("https://a.example/cart.1a2b3c.js", "addLine"),
                frame(
                    "https://a.example/cart.1a2b3c.js",
                    "HTMLButtonElement.onClick",
                ),
            ],
            &[],
        );
        let b = group(
            "TypeError",
            "can't access property \"sku\", line is undefined",
            &[
                frame("https://b.example/cart.9f9f9f.js?x", "addLine"),
                frame("https://b.example/cart.9f9f9f.js", "onClick/<"),
            ],
            &[],
        );
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.method, Method::InAppFrames);
        assert_eq!(a.frames.len(), 2);
        assert_eq!(a.fingerprint.len(), 32);
    }

    #[test]
    fn type_and_frames_tell_errors_apart() {
        let base = group("TypeError", "m", &[frame("cart.js", "addLine")], &[]);
        assert_ne!(
            base.fingerprint,
            group("RangeError", "m", &[frame("cart.js", "addLine")], &[]).fingerprint
        );
        assert_ne!(
            base.fingerprint,
            group("TypeError", "m", &[frame("cart.js", "removeLine")], &[]).fingerprint
        );
        assert_ne!(
            base.fingerprint,
            group("TypeError", "m", &[frame("checkout.js", "addLine")], &[]).fingerprint
        );
    }

    #[test]
    fn the_message_counts_only_without_in_app_frames_and_is_parameterised() {
        let vendor = GroupingFrame {
            file: Some("https://cdn.example/vendor.js"),
            function: Some("x"),
            in_app: false,
        };
        let a = group("Error", "Order 31 failed", &[vendor], &[]);
        let b = group("Error", "Order 7720 failed", &[], &[]);
        assert_eq!(a.method, Method::Message);
        assert_eq!(a.message.as_deref(), Some("Order <int> failed"));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(
            a.fingerprint,
            group("Error", "Payment failed", &[], &[]).fingerprint
        );
    }

    #[test]
    fn recursion_depth_does_not_split_a_group() {
        let deep: Vec<_> = std::iter::repeat_n(frame("tree.js", "walk"), 40).collect();
        let shallow: Vec<_> = std::iter::repeat_n(frame("tree.js", "walk"), 3).collect();
        assert_eq!(
            group("RangeError", "", &deep, &[]).fingerprint,
            group("RangeError", "", &shallow, &[]).fingerprint
        );
    }

    #[test]
    fn a_custom_fingerprint_regroups_and_may_extend_the_default() {
        let frames = [frame("cart.js", "addLine")];
        let custom =
            |parts: &[&str]| -> Vec<String> { parts.iter().map(|p| (*p).to_owned()).collect() };
        let plain = group("TypeError", "m", &frames, &[]);
        let own = group("TypeError", "m", &frames, &custom(&["payments"]));
        let other = group("RangeError", "x", &[], &custom(&["payments"]));
        assert_eq!(own.method, Method::Custom);
        assert_eq!(
            own.fingerprint, other.fingerprint,
            "only the custom parts count"
        );
        assert_ne!(own.fingerprint, plain.fingerprint);
        let extended = group(
            "TypeError",
            "m",
            &frames,
            &custom(&["payments", DEFAULT_PLACEHOLDER]),
        );
        let extended_other = group(
            "TypeError",
            "m",
            &[frame("cart.js", "removeLine")],
            &custom(&["payments", DEFAULT_PLACEHOLDER]),
        );
        assert_ne!(extended.fingerprint, extended_other.fingerprint);
        assert_eq!(extended.frames.len(), 1);
    }
}
