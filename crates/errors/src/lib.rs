//! JavaScript errors made useful: raw stacks parsed in every engine's format, minified
//! frames symbolicated with the project's uploaded source maps, frames marked in-app or
//! not, and a fingerprint that groups the same problem whatever the page, browser, line
//! number or deploy. Runs between intake's parse and the rows; the results are the errors
//! table's `frames`, `fingerprint`, `grouping`, `culprit`, `symbolication` and `causes`.

mod fetch;
mod fingerprint;
mod in_app;
mod mobile;
mod noise;
mod parameterize;
mod stack;
mod symbolicate;
mod uploads;

pub use fetch::{FetchConfig, MapFetcher, origin_of};
pub use fingerprint::{
    DEFAULT_PLACEHOLDER, FramePart, GROUPING_VERSION, Grouping, GroupingFrame, Method, file_key,
    function_key, group,
};
pub use in_app::{is_extension_url, path_is_in_app, script_is_in_app};
pub use mobile::{analyse_crash, mobile_frame_in_app, parse_mobile_stack};
pub use noise::{is_critical, matches, noise_reason};
pub use parameterize::parameterize;
pub use stack::{MAX_FRAMES, parse_stack};
pub use symbolicate::{
    Bundle, Context, FrameLocation, MapSource, Mapped, Symbolicator, Unmapped, parse_map,
};
pub use uploads::{
    SourceMapStore, UploadError, UploadLimits, check_bundle_url, check_release, script_debug_id,
};

use serde::Serialize;
use vigil_model::{ErrorAnalysis, ProjectId, scrub_url};
use vigil_protocol::{ErrorEvent, Event, EventBody, Frame};

/// Frames symbolicated per error (innermost first); the rest are kept as received.
pub const MAX_SYMBOLICATED_FRAMES: usize = 50;
/// Frames given source context per error, in-app ones first: context is the bulk of a
/// stored error.
pub const MAX_CONTEXT_FRAMES: usize = 8;

/// A debug id in one form: lowercase UUID with dashes, or `None` when it is not one.
pub fn normalize_debug_id(id: &str) -> Option<String> {
    let head = id
        .get(..36)
        .filter(|h| h.len() == 36 && h.as_bytes()[8] == b'-')
        .unwrap_or(id);
    let hex: String = head.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// What the page tells about where its own scripts come from.
#[derive(Debug, Clone, Default)]
pub struct PageContext<'a> {
    /// The release the batch names.
    pub release: &'a str,
    /// The page's URL.
    pub page_url: &'a str,
    /// Hosts of the project's allowed origins: scripts from them are the site's own.
    pub trusted_hosts: &'a [String],
    /// When the project fetches its pages' own source maps: the origins scripts and maps
    /// may be fetched from.
    pub fetch_origins: Option<&'a [String]>,
}

/// A frame as stored: as received, plus where a map placed it or why none did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredFrame {
    /// The function name as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The script URL as received (scrubbed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The application's own code.
    pub in_app: bool,
    /// The original location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped: Option<Mapped>,
    /// Why it has no original location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmapped: Option<Unmapped>,
}

#[derive(Serialize)]
struct StoredCause {
    error_type: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack: Option<String>,
    frames: Vec<StoredFrame>,
}

/// Analyses the errors of batches: symbolication (when a symbolicator is given) and
/// grouping.
#[derive(Default)]
pub struct ErrorProcessor {
    symbolicator: Option<Symbolicator>,
}

impl ErrorProcessor {
    /// A processor symbolicating with `symbolicator`; without one, frames stay as received
    /// (the demo generator, tests).
    pub fn new(symbolicator: Option<Symbolicator>) -> Self {
        Self { symbolicator }
    }

    /// The symbolicator, when there is one.
    pub fn symbolicator(&self) -> Option<&Symbolicator> {
        self.symbolicator.as_ref()
    }

    /// Whether a batch has errors or crashes to analyse.
    pub fn has_errors(events: &[Event]) -> bool {
        events
            .iter()
            .any(|e| matches!(e.body, EventBody::Error(_) | EventBody::Crash(_)))
    }

    /// Analyses every error and crash event of a batch, by index.
    pub fn analyse_batch(
        &self,
        project: ProjectId,
        page: &PageContext<'_>,
        events: &[Event],
    ) -> Vec<(usize, ErrorAnalysis)> {
        events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.body {
                EventBody::Error(err) => Some((i, self.analyse(project, page, err))),
                EventBody::Crash(crash) => Some((i, analyse_crash(crash))),
                _ => None,
            })
            .collect()
    }

    /// Analyses one error.
    pub fn analyse(
        &self,
        project: ProjectId,
        page: &PageContext<'_>,
        e: &ErrorEvent,
    ) -> ErrorAnalysis {
        let frames = self.process_frames(project, page, e, &e.frames, e.stack.as_deref());
        let grouping_frames: Vec<GroupingFrame<'_>> = frames
            .iter()
            .map(|f| match &f.mapped {
                Some(m) => GroupingFrame {
                    file: Some(&m.file),
                    function: m.function.as_deref().or(f.function.as_deref()),
                    in_app: f.in_app,
                },
                None => GroupingFrame {
                    file: f.file.as_deref(),
                    function: f.function.as_deref(),
                    in_app: f.in_app,
                },
            })
            .collect();
        let grouping = group(&e.error_type, &e.message, &grouping_frames, &e.fingerprint);
        let causes: Vec<StoredCause> = e
            .causes
            .iter()
            .map(|c| StoredCause {
                error_type: c.error_type.to_string(),
                message: vigil_model::scrub_message(&c.message),
                stack: c.stack.as_deref().map(vigil_model::scrub_message),
                frames: self.process_frames(project, page, e, &[], c.stack.as_deref()),
            })
            .collect();
        ErrorAnalysis {
            fingerprint: grouping.fingerprint.clone(),
            grouping: serde_json::to_string(&grouping).unwrap_or_default(),
            culprit: culprit(&frames),
            symbolication: symbolication_status(&frames).to_owned(),
            frames: if frames.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&frames).unwrap_or_default()
            },
            causes: if causes.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&causes).unwrap_or_default()
            },
        }
    }

    fn process_frames(
        &self,
        project: ProjectId,
        page: &PageContext<'_>,
        e: &ErrorEvent,
        frames: &[Frame],
        stack: Option<&str>,
    ) -> Vec<StoredFrame> {
        let parsed;
        let frames = if frames.is_empty() {
            parsed = stack.map(parse_stack).unwrap_or_default();
            &parsed[..]
        } else {
            &frames[..frames.len().min(MAX_FRAMES)]
        };
        let page_host = vigil_model::host_of(page.page_url);
        let mut stored: Vec<StoredFrame> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let file = f.file.as_deref().unwrap_or_default();
                let script_in_app =
                    script_is_in_app(file, page_host.as_deref(), page.trusted_hosts);
                let outcome = match &self.symbolicator {
                    Some(s)
                        if i < MAX_SYMBOLICATED_FRAMES
                            && !is_extension_url(file)
                            && !file.is_empty() =>
                    {
                        let debug_id = e
                            .debug_ids
                            .get(file)
                            .or_else(|| {
                                e.debug_ids
                                    .get(file.split(['?', '#']).next().unwrap_or(file))
                            })
                            .map(String::as_str);
                        let location = FrameLocation {
                            file,
                            line: f.line,
                            column: f.column,
                            function: f.function.as_deref(),
                        };
                        // The map parser is not ours: a map it cannot handle must cost one
                        // frame its original location, never the request.
                        Some(
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                s.symbolicate(
                                    project,
                                    page.release,
                                    debug_id,
                                    location,
                                    page.fetch_origins,
                                )
                            }))
                            .unwrap_or_else(|_| {
                                Err(Unmapped {
                                    code: "map_malformed",
                                    reason: "the source map could not be applied to this frame"
                                        .into(),
                                })
                            }),
                        )
                    }
                    _ => None,
                };
                let (mapped, unmapped) = match outcome {
                    Some(Ok(m)) => (Some(m), None),
                    Some(Err(u)) => (None, Some(u)),
                    None => (None, None),
                };
                let in_app =
                    script_in_app && mapped.as_ref().is_none_or(|m| path_is_in_app(&m.file));
                StoredFrame {
                    function: f.function.as_deref().map(str::to_owned),
                    file: f.file.as_deref().map(scrub_url),
                    line: f.line,
                    column: f.column,
                    in_app,
                    mapped,
                    unmapped,
                }
            })
            .collect();
        // Source context for a few frames only, the application's first.
        let mut with_context: Vec<usize> = (0..stored.len())
            .filter(|&i| {
                stored[i]
                    .mapped
                    .as_ref()
                    .is_some_and(|m| m.context.is_some())
            })
            .collect();
        with_context.sort_by_key(|&i| !stored[i].in_app);
        // Past the first MAX_CONTEXT_FRAMES (in-app first), frames lose their context.
        let beyond = with_context.len().min(MAX_CONTEXT_FRAMES);
        for &i in &with_context[beyond..] {
            if let Some(m) = &mut stored[i].mapped {
                m.context = None;
            }
        }
        stored
    }
}

/// Where it happened: the innermost in-app frame (or the innermost frame), as
/// `function (file:line)` in original terms when mapped.
fn culprit(frames: &[StoredFrame]) -> String {
    let Some(f) = frames.iter().find(|f| f.in_app).or(frames.first()) else {
        return String::new();
    };
    let (function, file, line) = match &f.mapped {
        Some(m) => (
            m.function.as_deref().or(f.function.as_deref()),
            m.file.as_str(),
            Some(m.line),
        ),
        None => (
            f.function.as_deref(),
            f.file.as_deref().unwrap_or("?"),
            f.line,
        ),
    };
    let file = file.split(['?', '#']).next().unwrap_or(file);
    let base = file.rsplit('/').next().unwrap_or(file);
    let location = match line {
        Some(l) => format!("{base}:{l}"),
        None => base.to_owned(),
    };
    match function {
        Some(func) => format!("{func} ({location})"),
        None => location,
    }
}

fn symbolication_status(frames: &[StoredFrame]) -> &'static str {
    let tried = frames
        .iter()
        .filter(|f| {
            f.mapped.is_some()
                || f.unmapped
                    .as_ref()
                    .is_some_and(|u| u.code != "not_a_script")
        })
        .count();
    let mapped = frames.iter().filter(|f| f.mapped.is_some()).count();
    match (frames.len(), tried, mapped) {
        (0, _, _) => "no_frames",
        (_, t, m) if m > 0 && m == t => "mapped",
        (_, _, m) if m > 0 => "partial",
        _ => "unmapped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_ids_take_one_form() {
        let id = "c6f1e0a4-5b7d-4e2a-9f13-8d2b6a0c4e51";
        assert_eq!(normalize_debug_id(id).as_deref(), Some(id));
        assert_eq!(
            normalize_debug_id("C6F1E0A45B7D4E2A9F138D2B6A0C4E51").as_deref(),
            Some(id)
        );
        assert_eq!(
            normalize_debug_id("c6f1e0a4-5b7d-4e2a-9f13-8d2b6a0c4e51-1a").as_deref(),
            Some(id)
        );
        assert_eq!(normalize_debug_id("not-a-debug-id"), None);
    }
}
