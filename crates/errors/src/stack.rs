//! Raw stack strings to frames, for the three engines' formats: V8 (Chrome, Edge, Node:
//! `    at fn (url:1:2)`), SpiderMonkey (Firefox: `fn@url:1:2`) and JavaScriptCore (Safari:
//! `fn@url:1:2`, `url:1:2`, `[native code]`). The collector parses a stack itself when the
//! SDK sent none of its frames, so an SDK that sends only `stack` still groups by frames.

use vigil_protocol::{Frame, Text};

/// Most frames taken from one stack: the innermost ones matter, and a stack overflow's
/// thousands of repeated frames must not cost a row thousands of entries.
pub const MAX_FRAMES: usize = 100;

/// The frames of a raw stack, innermost first; lines that are not frames (the message,
/// `[native code]`) are skipped.
pub fn parse_stack(stack: &str) -> Vec<Frame> {
    stack
        .lines()
        .filter_map(parse_line)
        .take(MAX_FRAMES)
        .collect()
}

fn parse_line(line: &str) -> Option<Frame> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("at ") {
        return parse_v8(rest);
    }
    parse_gecko_jsc(line)
}

/// `fn (location)`, `location`, `async fn (location)`, `new Foo (location)`, and eval frames
/// `eval (eval at fn (url:1:2), <anonymous>:3:4)`, whose script is the outer location.
fn parse_v8(rest: &str) -> Option<Frame> {
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let (function, location) = match rest.strip_suffix(')').and_then(|r| r.split_once(" (")) {
        Some((function, location)) => (Some(function), location),
        None => (None, rest),
    };
    let location = match location.strip_prefix("eval at ") {
        // `eval at fn (url:1:2), <anonymous>:3:4`: the script is the one that called eval.
        Some(eval) => eval
            .split_once(" (")
            .and_then(|(_, l)| l.split_once(')'))
            .map_or(eval, |(l, _)| l),
        None => location,
    };
    let (file, line, column) = split_location(location)?;
    Some(Frame {
        function: function
            .map(|f| f.strip_prefix("new ").unwrap_or(f))
            .filter(|f| !f.is_empty() && *f != "<anonymous>")
            .map(Text::from),
        file: Some(file.into()),
        line,
        column,
    })
}

/// `fn@url:1:2` (Firefox, Safari), `@url:1:2`, `url:1:2` (Safari's anonymous frames), and
/// Firefox's eval frames `fn@url line 2 > eval:1:3`.
fn parse_gecko_jsc(line: &str) -> Option<Frame> {
    let (function, location) = match line.split_once('@') {
        Some((function, location)) => (function, location),
        None => ("", line),
    };
    let location = location.split(" line ").next().unwrap_or(location);
    let (file, line_no, column) = split_location(location)?;
    if line_no.is_none() && !file.contains("://") {
        // Not a frame: a message line, `[native code]`, `global code`.
        return None;
    }
    let function = function
        .trim_end_matches("/<")
        .trim_end_matches('<')
        .trim_end_matches('*');
    let function = function.rsplit("/<").next().unwrap_or(function);
    let function = function.rsplit('/').next().unwrap_or(function);
    Some(Frame {
        function: (!function.is_empty() && function != "global code" && function != "module code")
            .then(|| function.into()),
        file: Some(file.into()),
        line: line_no,
        column,
    })
}

/// `url:line:col`, `url:line` or `url`; `native`, `<anonymous>` and empty locations are not
/// files.
fn split_location(location: &str) -> Option<(&str, Option<u32>, Option<u32>)> {
    let location = location.trim();
    if location.is_empty()
        || location == "native"
        || location == "<anonymous>"
        || location.starts_with('[')
    {
        return None;
    }
    let number = |s: &str| s.parse::<u32>().ok();
    if let Some((head, last)) = location.rsplit_once(':')
        && let Some(last) = number(last)
    {
        if let Some((file, line)) = head.rsplit_once(':')
            && let Some(line) = number(line)
        {
            return Some((file, Some(line), Some(last)));
        }
        return Some((head, Some(last), None));
    }
    Some((location, None, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: Option<&str>, file: &str, line: u32, column: u32) -> Frame {
        Frame {
            function: function.map(vigil_protocol::Text::from),
            file: Some(file.into()),
            line: Some(line),
            column: Some(column),
        }
    }

    #[test]
    fn v8_frames_with_and_without_names_async_constructors_and_eval() {
        let stack = "TypeError: Cannot read properties of undefined (reading 'sku')\n    \
            at addLine (https://shop.example.com/assets/cart.js:1:18342)\n    \
            at HTMLButtonElement.onClick (https://shop.example.com/assets/cart.js:1:20117)\n    \
            at async load (https://shop.example.com/a.js:3:4)\n    \
            at new Cart (https://shop.example.com/a.js:5:6)\n    \
            at Array.forEach (<anonymous>)\n    \
            at eval (eval at run (https://shop.example.com/e.js:7:8), <anonymous>:1:1)\n    \
            at https://shop.example.com/assets/vendor.js:2:99812";
        assert_eq!(
            parse_stack(stack),
            vec![
                frame(
                    Some("addLine"),
                    "https://shop.example.com/assets/cart.js",
                    1,
                    18342
                ),
                frame(
                    Some("HTMLButtonElement.onClick"),
                    "https://shop.example.com/assets/cart.js",
                    1,
                    20117
                ),
                frame(Some("load"), "https://shop.example.com/a.js", 3, 4),
                frame(Some("Cart"), "https://shop.example.com/a.js", 5, 6),
                frame(Some("eval"), "https://shop.example.com/e.js", 7, 8),
                frame(None, "https://shop.example.com/assets/vendor.js", 2, 99812),
            ]
        );
    }

    #[test]
    fn firefox_frames_with_nested_anonymous_functions_and_eval() {
        let stack = "addLine@https://shop.example.com/assets/cart.js:1:18342\n\
            onClick/<@https://shop.example.com/assets/cart.js:1:20117\n\
            @https://shop.example.com/assets/vendor.js:2:99812\n\
            run@https://shop.example.com/e.js line 2 > eval:1:3\n";
        assert_eq!(
            parse_stack(stack),
            vec![
                frame(
                    Some("addLine"),
                    "https://shop.example.com/assets/cart.js",
                    1,
                    18342
                ),
                frame(
                    Some("onClick"),
                    "https://shop.example.com/assets/cart.js",
                    1,
                    20117
                ),
                frame(None, "https://shop.example.com/assets/vendor.js", 2, 99812),
                Frame {
                    function: Some("run".into()),
                    file: Some("https://shop.example.com/e.js".into()),
                    line: None,
                    column: None,
                },
            ]
        );
    }

    #[test]
    fn safari_frames_skip_native_code_and_name_global_code_as_no_function() {
        let stack = "addLine@https://shop.example.com/assets/cart.js:1:18342\n\
            [native code]\n\
            https://shop.example.com/assets/cart.js:1:20117\n\
            global code@https://shop.example.com/index.html:9:10";
        assert_eq!(
            parse_stack(stack),
            vec![
                frame(
                    Some("addLine"),
                    "https://shop.example.com/assets/cart.js",
                    1,
                    18342
                ),
                frame(None, "https://shop.example.com/assets/cart.js", 1, 20117),
                frame(None, "https://shop.example.com/index.html", 9, 10),
            ]
        );
    }

    #[test]
    fn message_lines_and_garbage_are_not_frames() {
        assert!(parse_stack("Error: boom\nsomething happened: really").is_empty());
        assert!(parse_stack("").is_empty());
        let huge = "at f (https://a.example/x.js:1:1)\n".repeat(10_000);
        assert_eq!(parse_stack(&huge).len(), MAX_FRAMES);
    }
}
