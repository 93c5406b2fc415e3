//! Mobile crashes: Android (JVM) stack traces, and Apple stacks in the three forms apps
//! send them (MetricKit's call-stack tree in Apple's JSON, OpenTelemetry Swift's flattened
//! form of it, and the numbered lines of an Apple crash report), parsed into frames; frames
//! marked in-app unless they belong to the platform or a well-known library; and the same
//! fingerprint as JavaScript errors: the type and the innermost in-app frames, else the
//! parameterised message.

use crate::fingerprint::{GroupingFrame, group};
use crate::stack::MAX_FRAMES;
use crate::{StoredFrame, culprit};
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;
use vigil_model::ErrorAnalysis;
use vigil_protocol::{Crash, Frame};

/// Packages of the JVM, Android, Kotlin and common libraries: not the application's code.
const JVM_LIBRARY_PREFIXES: &[&str] = &[
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "android.",
    "androidx.",
    "com.android.",
    "dalvik.",
    "libcore.",
    "kotlin.",
    "kotlinx.",
    "com.google.android.",
    "com.google.firebase.",
    "okhttp3.",
    "okio.",
    "retrofit2.",
    "io.opentelemetry.",
    "io.reactivex.",
    "com.squareup.",
    "org.jetbrains.",
    "org.chromium.",
    "com.facebook.react.",
];

/// Apple's frameworks that crash reports name without a `.dylib` or `lib` prefix.
const APPLE_SYSTEM_BINARIES: &[&str] = &[
    "UIKitCore",
    "UIKit",
    "Foundation",
    "CoreFoundation",
    "GraphicsServices",
    "QuartzCore",
    "SwiftUI",
    "SwiftUICore",
    "CFNetwork",
    "WebKit",
    "JavaScriptCore",
    "CoreData",
    "AVFoundation",
    "Combine",
    "FrontBoardServices",
    "BaseBoard",
    "RunningBoardServices",
    "CoreGraphics",
    "CoreText",
    "ImageIO",
    "MapKit",
    "Security",
    "Network",
    "StoreKit",
    "CloudKit",
    "Metal",
    "UIFoundation",
    "AppKit",
    "dyld",
];

/// `at com.shop.CartActivity.onCreate(CartActivity.kt:42)`, or the same without `at` (how
/// `StackTraceElement.toString()` prints, as the Android SDK's ANR stacks are).
static JVM_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:at\s+)?([A-Za-z_$][\w$.<>/-]*)\((.*)\)$").expect("valid pattern")
});

/// `3   MyShop   0x0000000102a4c1f4 CartViewController.buy() + 120 (Cart.swift:42)`.
static APPLE_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d+\s+(\S+)\s+0x[0-9a-fA-F]+\s+(.+?)(?:\s+\+\s+\d+)?(?:\s+\(([^():]+):(\d+)\))?$")
        .expect("valid pattern")
});

/// The frames of a mobile stack, innermost first, in whichever of the formats above it is.
pub fn parse_mobile_stack(stack: &str) -> Vec<Frame> {
    let trimmed = stack.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str::<Value>(trimmed)
            .map(|tree| apple_tree_frames(&tree))
            .unwrap_or_default();
    }
    let mut frames = Vec::new();
    for line in stack.lines().map(str::trim) {
        // The outermost exception's frames; its causes' traces follow `Caused by:`.
        if line.starts_with("Caused by:") {
            break;
        }
        if let Some(frame) = jvm_frame(line).or_else(|| apple_frame(line)) {
            frames.push(frame);
            if frames.len() == MAX_FRAMES {
                break;
            }
        }
    }
    frames
}

fn jvm_frame(line: &str) -> Option<Frame> {
    let c = JVM_FRAME.captures(line)?;
    let function = c.get(1)?.as_str();
    let location = c.get(2)?.as_str();
    let (file, line) = match location.rsplit_once(':') {
        Some((file, line)) => (file, line.parse().ok()),
        None => (location, None),
    };
    let file = match file {
        "Native Method" | "Unknown Source" | "SourceFile" | "" => None,
        f => Some(f.into()),
    };
    Some(Frame {
        function: Some(function.into()),
        file,
        line,
        column: None,
    })
}

fn apple_frame(line: &str) -> Option<Frame> {
    let c = APPLE_FRAME.captures(line)?;
    let binary = c.get(1)?.as_str();
    let symbol = c.get(2)?.as_str().trim();
    // The file is the binary, or `binary/source` when the report names the source file, so
    // the binary stays for in-app marking and the source's name for grouping.
    let file = match c.get(3) {
        Some(source) => format!("{binary}/{}", source.as_str()),
        None => binary.to_owned(),
    };
    Some(Frame {
        // An unsymbolicated frame names only its binary and an address.
        function: (!symbol.starts_with("0x") && symbol != binary).then(|| symbol.into()),
        file: Some(file.into()),
        line: c.get(4).and_then(|l| l.as_str().parse().ok()),
        column: None,
    })
}

/// A MetricKit call-stack tree: the crashed (attributed) thread's frames, innermost first.
/// Apple nests each caller under `subFrames`; OpenTelemetry Swift flattens them into
/// `callStackFrames` with `offsetAddress`.
fn apple_tree_frames(tree: &Value) -> Vec<Frame> {
    let tree = tree.get("callStackTree").unwrap_or(tree);
    let Some(stacks) = tree.get("callStacks").and_then(Value::as_array) else {
        return Vec::new();
    };
    let Some(stack) = stacks
        .iter()
        .find(|s| s.get("threadAttributed").and_then(Value::as_bool) == Some(true))
        .or(stacks.first())
    else {
        return Vec::new();
    };
    let mut frames = Vec::new();
    let mut push = |f: &Value, offset_key: &str| {
        let binary = f.get("binaryName").and_then(Value::as_str).unwrap_or("?");
        let offset = f.get(offset_key).and_then(Value::as_u64);
        frames.push(Frame {
            function: offset.map(|o| format!("0x{o:x}").into()),
            file: Some(binary.into()),
            line: None,
            column: None,
        });
    };
    if let Some(flat) = stack.get("callStackFrames").and_then(Value::as_array) {
        for f in flat.iter().take(MAX_FRAMES) {
            push(f, "offsetAddress");
        }
        return frames;
    }
    // Apple's tree: every root frame and its chain of callers, depth first, iteratively.
    let mut pending: Vec<&Value> = stack
        .get("callStackRootFrames")
        .and_then(Value::as_array)
        .map(|roots| roots.iter().rev().collect())
        .unwrap_or_default();
    let mut taken = 0;
    while let Some(f) = pending.pop() {
        push(f, "offsetIntoBinaryTextSegment");
        taken += 1;
        if taken == MAX_FRAMES {
            break;
        }
        if let Some(subs) = f.get("subFrames").and_then(Value::as_array) {
            pending.extend(subs.iter().rev());
        }
    }
    frames
}

/// Whether a mobile frame is the application's code: a JVM frame outside the platform's
/// and well-known libraries' packages, or an Apple frame outside the system's binaries.
pub fn mobile_frame_in_app(frame: &Frame) -> bool {
    let function = frame.function.as_deref().unwrap_or_default();
    let file = frame.file.as_deref().unwrap_or_default();
    // Apple frames name their binary (`MyShop`, `UIKitCore`, `libdyld.dylib`, or
    // `MyShop/Cart.swift` with the source); JVM frames name a source file (`Cart.kt`) or none.
    let apple = file.contains('/')
        || (!file.is_empty() && (!file.contains('.') || file.ends_with(".dylib")));
    if apple {
        return !is_apple_system_binary(file.split('/').next().unwrap_or(file));
    }
    !JVM_LIBRARY_PREFIXES.iter().any(|p| function.starts_with(p))
}

fn is_apple_system_binary(binary: &str) -> bool {
    binary.ends_with(".dylib")
        || binary.starts_with("lib")
        || APPLE_SYSTEM_BINARIES.contains(&binary)
}

/// Frames, grouping and culprit of one crash: the SDK's frames when it sent them, else its
/// stack parsed.
pub fn analyse_crash(crash: &Crash) -> ErrorAnalysis {
    let frames: Vec<Frame> = if crash.frames.is_empty() {
        crash
            .stack
            .as_deref()
            .map(parse_mobile_stack)
            .unwrap_or_default()
    } else {
        crash.frames.iter().take(MAX_FRAMES).cloned().collect()
    };
    let stored: Vec<StoredFrame> = frames
        .iter()
        .map(|f| StoredFrame {
            in_app: mobile_frame_in_app(f),
            function: f.function.as_deref().map(str::to_owned),
            // React Native and web views put script URLs here.
            file: f.file.as_deref().map(vigil_model::scrub_url),
            line: f.line,
            column: f.column,
            mapped: None,
            unmapped: None,
        })
        .collect();
    let grouping_frames: Vec<GroupingFrame<'_>> = stored
        .iter()
        .map(|f| GroupingFrame {
            file: f.file.as_deref(),
            function: f.function.as_deref(),
            in_app: f.in_app,
        })
        .collect();
    let grouping = group(&crash.error_type, &crash.message, &grouping_frames, &[]);
    ErrorAnalysis {
        fingerprint: grouping.fingerprint.clone(),
        grouping: serde_json::to_string(&grouping).unwrap_or_default(),
        culprit: culprit(&stored),
        symbolication: if stored.is_empty() {
            "no_frames"
        } else {
            "unmapped"
        }
        .to_owned(),
        frames: if stored.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&stored).unwrap_or_default()
        },
        causes: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANDROID_CRASH: &str = "java.lang.IllegalStateException: cart is empty\n\
        \tat com.shop.cart.CartActivity.checkout(CartActivity.kt:88)\n\
        \tat com.shop.cart.CartActivity.onCreate$lambda$0(CartActivity.kt:41)\n\
        \tat android.view.View.performClick(View.java:7448)\n\
        \tat android.os.Handler.handleCallback(Handler.java:938)\n\
        \tat java.lang.reflect.Method.invoke(Native Method)\n\
        Caused by: java.io.IOException: closed\n\
        \tat okio.RealBufferedSource.read(RealBufferedSource.kt:5)\n\
        \t... 12 more\n";

    fn crash(error_type: &str, message: &str, stack: &str) -> Crash {
        Crash {
            error_type: error_type.into(),
            message: message.into(),
            stack: Some(stack.into()),
            frames: Vec::new(),
        }
    }

    #[test]
    fn jvm_stacks_parse_to_the_outermost_exceptions_frames() {
        let frames = parse_mobile_stack(ANDROID_CRASH);
        assert_eq!(frames.len(), 5, "{frames:?}");
        assert_eq!(
            frames[0].function.as_deref(),
            Some("com.shop.cart.CartActivity.checkout")
        );
        assert_eq!(frames[0].file.as_deref(), Some("CartActivity.kt"));
        assert_eq!(frames[0].line, Some(88));
        assert_eq!(frames[4].file, None, "Native Method is no file");
        let in_app: Vec<bool> = frames.iter().map(mobile_frame_in_app).collect();
        assert_eq!(in_app, [true, true, false, false, false]);
        // ANR stacks print StackTraceElements without `at`.
        let anr = parse_mobile_stack(
            "android.os.MessageQueue.nativePollOnce(Native Method)\ncom.shop.Sync.run(Sync.java:12)\n",
        );
        assert_eq!(anr.len(), 2);
        assert!(mobile_frame_in_app(&anr[1]) && !mobile_frame_in_app(&anr[0]));
    }

    #[test]
    fn the_same_crash_groups_together_across_lines_and_messages() {
        let a = analyse_crash(&crash(
            "java.lang.IllegalStateException",
            "cart is empty",
            ANDROID_CRASH,
        ));
        let moved = ANDROID_CRASH
            .replace(":88)", ":90)")
            .replace(":41)", ":43)");
        let b = analyse_crash(&crash(
            "java.lang.IllegalStateException",
            "cart 7 is empty",
            &moved,
        ));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(
            a.culprit,
            "com.shop.cart.CartActivity.checkout (CartActivity.kt:88)"
        );
        let other = analyse_crash(&crash(
            "java.lang.NullPointerException",
            "cart is empty",
            ANDROID_CRASH,
        ));
        assert_ne!(a.fingerprint, other.fingerprint, "the type is part of it");
        let grouping: Value = serde_json::from_str(&a.grouping).unwrap();
        assert_eq!(grouping["method"], "in_app_frames");
        assert_eq!(grouping["frames"][0]["function"], "checkout");
    }

    #[test]
    fn apple_trees_flat_stacks_and_report_lines_parse() {
        let tree = serde_json::json!({"callStackTree": {"callStackPerThread": true, "callStacks": [
            {"threadAttributed": false, "callStackRootFrames": [{"binaryName": "libsystem_kernel.dylib", "binaryUUID": "A", "offsetIntoBinaryTextSegment": 1}]},
            {"threadAttributed": true, "callStackRootFrames": [{"binaryName": "MyShop", "binaryUUID": "B", "offsetIntoBinaryTextSegment": 8180, "sampleCount": 1,
                "subFrames": [{"binaryName": "UIKitCore", "binaryUUID": "C", "offsetIntoBinaryTextSegment": 99,
                    "subFrames": [{"binaryName": "MyShop", "binaryUUID": "B", "offsetIntoBinaryTextSegment": 4096}]}]}]}
        ]}});
        let frames = parse_mobile_stack(&tree.to_string());
        let parts: Vec<(Option<&str>, Option<&str>, bool)> = frames
            .iter()
            .map(|f| {
                (
                    f.file.as_deref(),
                    f.function.as_deref(),
                    mobile_frame_in_app(f),
                )
            })
            .collect();
        assert_eq!(
            parts,
            [
                (Some("MyShop"), Some("0x1ff4"), true),
                (Some("UIKitCore"), Some("0x63"), false),
                (Some("MyShop"), Some("0x1000"), true)
            ]
        );
        let flat = serde_json::json!({"callStackPerThread": true, "callStacks": [{"threadAttributed": true, "callStackFrames": [
            {"binaryName": "MyShop", "binaryUUID": "B", "offsetAddress": 8180},
            {"binaryName": "libdyld.dylib", "binaryUUID": "D", "offsetAddress": 5}]}]});
        let flat = parse_mobile_stack(&flat.to_string());
        assert_eq!(flat.len(), 2);
        assert_eq!(flat[0].function.as_deref(), Some("0x1ff4"));
        assert!(!mobile_frame_in_app(&flat[1]));
        let report = "Thread 0 Crashed:\n\
            0   libswiftCore.dylib            0x00000001a1b2c3d4 _assertionFailure(_:_:file:line:flags:) + 300\n\
            1   MyShop                        0x0000000102a4c1f4 CartViewController.buy() + 120 (Cart.swift:42)\n\
            2   UIKitCore                     0x00000001a5b6c7d8 -[UIApplication sendAction:to:from:forEvent:] + 96\n";
        let frames = parse_mobile_stack(report);
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert_eq!(frames[1].file.as_deref(), Some("MyShop/Cart.swift"));
        assert_eq!(frames[1].line, Some(42));
        let marks: Vec<bool> = frames.iter().map(mobile_frame_in_app).collect();
        assert_eq!(marks, [false, true, false]);
        let analysis = analyse_crash(&crash("EXC_BREAKPOINT", "Fatal error", report));
        assert!(
            analysis.culprit.contains("Cart.swift:42"),
            "{}",
            analysis.culprit
        );
    }

    #[test]
    fn crashes_without_frames_group_by_message_and_garbage_is_no_frames() {
        let a = analyse_crash(&crash("SIGSEGV", "Segmentation fault 0x10", "not a stack"));
        let b = analyse_crash(&crash("SIGSEGV", "Segmentation fault 0x20", ""));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.symbolication, "no_frames");
        assert!(parse_mobile_stack("{not json").is_empty());
        assert!(parse_mobile_stack("{\"callStacks\": 3}").is_empty());
    }
}
