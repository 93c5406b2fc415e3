//! Minified frames to original ones with the project's uploaded source maps: file, line,
//! column and function name (recovered from the map's names and the minified script), and
//! lines of source context when the map carries its sources. A frame that stays minified
//! says why. Parsed maps are kept in a cache bounded in bytes.

use crate::fetch::{Fetched, MapFetcher};
use crate::normalize_debug_id;
use serde::Serialize;
use sourcemap::{DecodedMap, SourceMap, SourceView};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_model::ProjectId;

/// Lines of source shown on each side of a frame's line.
pub const CONTEXT_LINES: u32 = 5;
/// Longest context line kept, in characters: a minified line is a whole bundle.
pub const MAX_CONTEXT_LINE_CHARS: usize = 200;

/// Where a bundle's files are found: the source-map index and its files.
pub trait MapSource: Send + Sync {
    /// The newest bundle uploaded with this debug id in the project.
    fn by_debug_id(&self, project: ProjectId, debug_id: &str) -> Result<Option<Bundle>, String>;
    /// The bundle of the release uploaded under the first of `urls` that has one.
    fn by_url(
        &self,
        project: ProjectId,
        release: &str,
        urls: &[&str],
    ) -> Result<Option<Bundle>, String>;
    /// Whether the release has any source map.
    fn release_has_maps(&self, project: ProjectId, release: &str) -> Result<bool, String>;
    /// The bytes of an uploaded file.
    fn read(&self, project: ProjectId, file: &str) -> Result<Vec<u8>, String>;
}

/// A bundle as the symbolicator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The URL it was uploaded under.
    pub url: String,
    /// The map's file, when uploaded.
    pub map_file: Option<String>,
    /// The minified script's file, when uploaded.
    pub source_file: Option<String>,
}

/// Where a minified frame came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapped {
    /// The original file, as the map names it.
    pub file: String,
    /// The original function name, when the map and script tell it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// 1-based line in the original file.
    pub line: u32,
    /// 1-based column in the original file.
    pub column: u32,
    /// Lines around it, when the map holds the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

/// Source lines around a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    /// The 1-based line number of `lines[0]`.
    pub start_line: u32,
    /// The lines, each cut at [`MAX_CONTEXT_LINE_CHARS`].
    pub lines: Vec<String>,
}

/// Why a frame stays minified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmapped {
    /// A stable code: `no_release`, `no_maps_for_release`, `no_map_for_file`,
    /// `map_malformed`, `not_in_map`, `no_location`, `not_a_script`, `lookup_failed`,
    /// `fetch_pending`, `fetch_failed`.
    pub code: &'static str,
    /// The reason in words, naming the release and file.
    pub reason: String,
}

impl Unmapped {
    fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// A parsed map with the minified script it belongs to.
pub(crate) struct LoadedMap {
    map: SourceMap,
    script: Option<SourceView>,
    weight: usize,
}

struct CacheEntry {
    map: Result<Arc<LoadedMap>, String>,
    last_used: u64,
}

/// Parsed maps by (project, file or URL), least recently used out first once over budget.
pub(crate) struct MapCache {
    entries: HashMap<(ProjectId, String), CacheEntry>,
    weight: usize,
    clock: u64,
    budget: usize,
}

impl MapCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            entries: HashMap::new(),
            weight: 0,
            clock: 0,
            budget,
        }
    }

    pub(crate) fn get(
        &mut self,
        key: &(ProjectId, String),
    ) -> Option<Result<Arc<LoadedMap>, String>> {
        self.clock += 1;
        let now = self.clock;
        self.entries.get_mut(key).map(|e| {
            e.last_used = now;
            e.map.clone()
        })
    }

    /// Keeps a map (or why it failed) unless it alone is over budget, then drops the least
    /// recently used entries until the cache is within it.
    pub(crate) fn insert(&mut self, key: (ProjectId, String), map: Result<Arc<LoadedMap>, String>) {
        let weight_of = |m: &Result<Arc<LoadedMap>, String>| m.as_ref().map_or(64, |l| l.weight);
        let weight = weight_of(&map);
        if weight > self.budget {
            return;
        }
        self.clock += 1;
        let last_used = self.clock;
        if let Some(old) = self.entries.insert(key, CacheEntry { map, last_used }) {
            self.weight -= weight_of(&old.map);
        }
        self.weight += weight;
        while self.weight > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.weight -= weight_of(&e.map);
            }
        }
    }
}

/// Lookups of the index, remembered for a few seconds: every error of a page names the same
/// scripts, and a burst of errors should not be a burst of index reads.
struct LookupCache {
    entries: HashMap<LookupKey, (Instant, Result<Bundle, Unmapped>)>,
}

#[derive(Hash, PartialEq, Eq)]
struct LookupKey {
    project: ProjectId,
    release: String,
    url: String,
    debug_id: Option<String>,
}

/// How long an index lookup is remembered: a new upload applies within this time.
const LOOKUP_TTL: Duration = Duration::from_secs(5);
/// Most remembered lookups; past it the memory is dropped (a flood of made-up URLs costs
/// index reads, never memory).
const MAX_LOOKUPS: usize = 4096;

/// Symbolicates frames with one data folder's maps.
pub struct Symbolicator {
    source: Arc<dyn MapSource>,
    maps: Mutex<MapCache>,
    lookups: Mutex<LookupCache>,
    fetcher: Option<Arc<MapFetcher>>,
}

/// The outcome for one frame.
pub type FrameOutcome = Result<Mapped, Unmapped>;

/// The location of a frame to symbolicate.
#[derive(Debug, Clone, Copy)]
pub struct FrameLocation<'a> {
    /// The script URL.
    pub file: &'a str,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column.
    pub column: Option<u32>,
    /// The minified function name, to recover the original one.
    pub function: Option<&'a str>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Symbolicator {
    /// A symbolicator whose cache of parsed maps holds about `budget` bytes.
    pub fn new(source: Arc<dyn MapSource>, budget: usize) -> Self {
        Self {
            source,
            maps: Mutex::new(MapCache::new(budget)),
            lookups: Mutex::new(LookupCache {
                entries: HashMap::new(),
            }),
            fetcher: None,
        }
    }

    /// Fetches pages' own maps with this fetcher, for projects that allow it.
    pub fn with_fetcher(mut self, fetcher: Arc<MapFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Bytes the cached maps are estimated to hold.
    pub fn cached_bytes(&self) -> usize {
        lock(&self.maps).weight
    }

    /// Forgets remembered index lookups (after an upload or a deletion in this process).
    pub fn forget_lookups(&self) {
        lock(&self.lookups).entries.clear();
    }

    /// Symbolicates one frame of an error of `release`, with the debug id its script
    /// registered, if any.
    /// `fetch_origins`: when the project fetches its pages' own maps, the origins the
    /// scripts and maps may come from.
    pub fn symbolicate(
        &self,
        project: ProjectId,
        release: &str,
        debug_id: Option<&str>,
        frame: FrameLocation<'_>,
        fetch_origins: Option<&[String]>,
    ) -> FrameOutcome {
        if !(frame.file.starts_with("http://") || frame.file.starts_with("https://")) {
            return Err(Unmapped::new(
                "not_a_script",
                format!("{} is not a script URL", short(frame.file)),
            ));
        }
        let (Some(line), Some(column)) = (frame.line, frame.column) else {
            return Err(Unmapped::new(
                "no_location",
                "the frame has no line and column",
            ));
        };
        let bundle = match self.find_bundle(project, release, debug_id, frame.file) {
            Ok(bundle) => bundle,
            Err(u)
                if matches!(
                    u.code,
                    "no_release" | "no_maps_for_release" | "no_map_for_file"
                ) =>
            {
                let (Some(fetcher), Some(origins)) = (&self.fetcher, fetch_origins) else {
                    return Err(u);
                };
                let script = strip_query(frame.file);
                return match fetcher.get(project, script, origins) {
                    Fetched::Map(map) => resolve(&map, line, column, frame.function).ok_or_else(|| {
                        Unmapped::new(
                            "not_in_map",
                            format!("line {line}, column {column} is not in the fetched source map of {script}"),
                        )
                    }),
                    Fetched::Pending => Err(Unmapped::new(
                        "fetch_pending",
                        format!("{} ({}); its source map is being fetched for the errors after this one", u.reason, script),
                    )),
                    Fetched::Failed(reason) => Err(Unmapped::new(
                        "fetch_failed",
                        format!("{}; fetching the page's own map failed: {reason}", u.reason),
                    )),
                };
            }
            Err(u) => return Err(u),
        };
        let Some(map_file) = &bundle.map_file else {
            return Err(Unmapped::new(
                "no_map_for_file",
                format!(
                    "only the script was uploaded for {}, not its source map",
                    bundle.url
                ),
            ));
        };
        let loaded = self
            .load(project, map_file, bundle.source_file.as_deref())
            .map_err(|e| {
                Unmapped::new(
                    "map_malformed",
                    format!("the source map for {} cannot be read: {e}", bundle.url),
                )
            })?;
        resolve(&loaded, line, column, frame.function).ok_or_else(|| {
            Unmapped::new(
                "not_in_map",
                format!(
                    "line {line}, column {column} is not in the source map of {}",
                    bundle.url
                ),
            )
        })
    }

    fn find_bundle(
        &self,
        project: ProjectId,
        release: &str,
        debug_id: Option<&str>,
        file: &str,
    ) -> Result<Bundle, Unmapped> {
        let url = strip_query(file);
        let key = LookupKey {
            project,
            release: release.to_owned(),
            url: url.to_owned(),
            debug_id: debug_id.map(str::to_owned),
        };
        if let Some((at, found)) = lock(&self.lookups).entries.get(&key)
            && at.elapsed() < LOOKUP_TTL
        {
            return found.clone();
        }
        let found = self.look_up(project, release, debug_id, url);
        if matches!(&found, Err(u) if u.code == "lookup_failed") {
            return found;
        }
        let mut lookups = lock(&self.lookups);
        if lookups.entries.len() >= MAX_LOOKUPS {
            lookups.entries.clear();
        }
        lookups.entries.insert(key, (Instant::now(), found.clone()));
        found
    }

    fn look_up(
        &self,
        project: ProjectId,
        release: &str,
        debug_id: Option<&str>,
        url: &str,
    ) -> Result<Bundle, Unmapped> {
        let failed = |e: String| {
            Unmapped::new(
                "lookup_failed",
                format!("the source-map index cannot be read: {e}"),
            )
        };
        if let Some(id) = debug_id.and_then(normalize_debug_id)
            && let Some(bundle) = self.source.by_debug_id(project, &id).map_err(failed)?
        {
            return Ok(bundle);
        }
        if release.is_empty() {
            return Err(Unmapped::new(
                "no_release",
                match debug_id {
                    Some(id) => {
                        format!("no source map has debug id {id}, and the event names no release")
                    }
                    None => "the event names no release and its script registered no debug id"
                        .to_owned(),
                },
            ));
        }
        let tilde = tilde_url(url);
        let candidates: Vec<&str> = std::iter::once(url).chain(tilde.as_deref()).collect();
        if let Some(bundle) = self
            .source
            .by_url(project, release, &candidates)
            .map_err(failed)?
        {
            return Ok(bundle);
        }
        if self
            .source
            .release_has_maps(project, release)
            .map_err(failed)?
        {
            Err(Unmapped::new(
                "no_map_for_file",
                format!(
                    "release {release} has no source map for {}",
                    tilde.as_deref().unwrap_or(url)
                ),
            ))
        } else {
            Err(Unmapped::new(
                "no_maps_for_release",
                format!("no source maps were uploaded for release {release}"),
            ))
        }
    }

    fn load(
        &self,
        project: ProjectId,
        map_file: &str,
        source_file: Option<&str>,
    ) -> Result<Arc<LoadedMap>, String> {
        let key = (project, map_file.to_owned());
        if let Some(found) = lock(&self.maps).get(&key) {
            return found;
        }
        // Parsed outside the lock: a large map takes a while, and other maps' frames need
        // not wait for it.
        let loaded = self.parse(project, map_file, source_file).map(Arc::new);
        lock(&self.maps).insert(key, loaded.clone());
        loaded
    }

    fn parse(
        &self,
        project: ProjectId,
        map_file: &str,
        source_file: Option<&str>,
    ) -> Result<LoadedMap, String> {
        let bytes = self.source.read(project, map_file)?;
        let script = match source_file {
            Some(f) => Some(
                String::from_utf8(self.source.read(project, f)?)
                    .map_err(|_| "the minified script is not UTF-8".to_owned())?,
            ),
            None => None,
        };
        load_map(&bytes, script)
    }
}

/// A map parsed and weighed, with its minified script when known. What a parsed map holds
/// is about its tokens (24 bytes each) and its sources' text; the script is kept whole.
pub(crate) fn load_map(bytes: &[u8], script: Option<String>) -> Result<LoadedMap, String> {
    let map = parse_map(bytes)?;
    let weight = map.get_token_count() as usize * 24
        + map.source_contents().flatten().map(str::len).sum::<usize>()
        + script.as_ref().map_or(0, String::len)
        + bytes.len() / 4;
    Ok(LoadedMap {
        map,
        script: script.map(SourceView::from_string),
        weight,
    })
}

/// Parses a map: a regular map, an index map (flattened) or a Hermes map.
pub fn parse_map(bytes: &[u8]) -> Result<SourceMap, String> {
    match sourcemap::decode_slice(bytes).map_err(|e| e.to_string())? {
        DecodedMap::Regular(map) => Ok(map),
        DecodedMap::Index(index) => index.flatten().map_err(|e| e.to_string()),
        DecodedMap::Hermes(hermes) => Ok((*hermes).clone()),
    }
}

fn resolve(
    loaded: &LoadedMap,
    line: u32,
    column: u32,
    minified_function: Option<&str>,
) -> Option<Mapped> {
    let map = &loaded.map;
    let (line0, col0) = (line.checked_sub(1)?, column.checked_sub(1)?);
    let token = map.lookup_token(line0, col0)?;
    // A token of another line is the end of the previous mapping, not this position.
    if token.get_dst_line() != line0 {
        return None;
    }
    let file = token.get_source()?.to_owned();
    let (src_line, src_col) = (token.get_src_line(), token.get_src_col());
    let function = minified_function.and_then(|f| {
        let name = f.rsplit('.').next().unwrap_or(f);
        loaded.script.as_ref().and_then(|script| {
            map.get_original_function_name(line0, col0, name, script)
                .or_else(|| nearest_binding_name(map, script, line0, col0, name))
                .map(str::to_owned)
        })
    });
    let context = map
        .get_source_view(token.get_src_id())
        .map(|view| context_of(view, src_line));
    Some(Mapped {
        file,
        function: function.or_else(|| {
            minified_function
                .filter(|f| !looks_minified(f))
                .map(str::to_owned)
        }),
        line: src_line.saturating_add(1),
        column: src_col.saturating_add(1),
        context,
    })
}

/// The original name of the nearest earlier occurrence of the minified binding `name` that
/// the map names: every use of a binding maps to its one original name, so this recovers
/// the names of functions the map's `function` keyword heuristic misses (arrow functions and
/// function expressions assigned to a name).
fn nearest_binding_name<'m>(
    map: &'m SourceMap,
    script: &SourceView,
    line: u32,
    col: u32,
    name: &str,
) -> Option<&'m str> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
    {
        return None;
    }
    let count = map.get_token_count() as usize;
    // The index of the last token at or before (line, col).
    let end = partition_point(count, |i| {
        map.get_token(i)
            .is_some_and(|t| (t.get_dst_line(), t.get_dst_col()) <= (line, col))
    });
    (0..end).rev().take(4096).find_map(|i| {
        let t = map.get_token(i)?;
        let original = t.get_name()?;
        let text = script.get_line_slice(t.get_dst_line(), t.get_dst_col(), name.len() as u32)?;
        (text == name).then_some(original)
    })
}

fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn context_of(view: &SourceView, line0: u32) -> Context {
    let start = line0.saturating_sub(CONTEXT_LINES);
    let lines = (start..=line0.saturating_add(CONTEXT_LINES))
        .map_while(|i| view.get_line(i))
        .map(|l| l.chars().take(MAX_CONTEXT_LINE_CHARS).collect())
        .collect();
    Context {
        start_line: start + 1,
        lines,
    }
}

/// A name a minifier gave: one or two characters.
fn looks_minified(function: &str) -> bool {
    let name = function.rsplit('.').next().unwrap_or(function);
    name.len() <= 2
}

fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// `https://host/path` → `~/path`: a bundle uploaded for any host.
fn tilde_url(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = &rest[rest.find('/')?..];
    Some(format!("~{path}"))
}

fn short(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_match_with_and_without_host() {
        assert_eq!(
            tilde_url("https://a.example/static/js/app.js").as_deref(),
            Some("~/static/js/app.js")
        );
        assert_eq!(tilde_url("https://a.example"), None);
        assert_eq!(
            strip_query("https://a.example/app.js?v=3#x"),
            "https://a.example/app.js"
        );
    }
}
