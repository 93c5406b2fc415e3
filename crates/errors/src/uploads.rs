//! Uploaded source maps and minified scripts: checked, stored under their SHA-256
//! (`sourcemaps/p<project>/<sha256>.map|.js`), indexed in meta.db per project, release and
//! bundle URL. The files are in the data folder by default, or in a blob store that
//! several servers share (an S3 bucket) under the same keys. A file is stored whole
//! (in a folder: temporary name, fsync, rename) before the index names it, so the index
//! never names a missing or partial file.

use crate::normalize_debug_id;
use crate::symbolicate::{Bundle, MapSource, parse_map};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use vigil_blobs::{BlobStore, LocalBlobs, join_key};
use vigil_meta::{BundleFile, Meta, MetaError, SourceMapEntry, UploadedFile};
use vigil_model::ProjectId;

/// Bounds on uploads.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Largest source map.
    pub max_map_bytes: usize,
    /// Largest minified script.
    pub max_source_bytes: usize,
    /// Most bytes of maps and scripts one project keeps.
    pub max_project_bytes: i64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_map_bytes: 64 << 20,
            max_source_bytes: 32 << 20,
            max_project_bytes: 4 << 30,
        }
    }
}

/// Why an upload was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Over a size limit.
    #[error("the {what} has {bytes} bytes; the limit is {limit}")]
    TooLarge {
        /// `source map` or `script`.
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The project's uploads would pass their quota.
    #[error(
        "the project's source maps would hold {bytes} bytes; the limit is {limit}: delete old releases first"
    )]
    QuotaExceeded {
        /// What they would hold.
        bytes: i64,
        /// The limit.
        limit: i64,
    },
    /// Not a source map.
    #[error("not a valid source map: {0}")]
    MalformedMap(String),
    /// A script that is not UTF-8 text.
    #[error("the script is not UTF-8 text")]
    ScriptNotText,
    /// The map and the script name different debug ids.
    #[error("debug id {new} differs from the {existing} already uploaded for this bundle")]
    DebugIdMismatch {
        /// The id in this upload.
        new: String,
        /// The id the bundle has.
        existing: String,
    },
    /// A bad release or URL.
    #[error("{0}")]
    Invalid(String),
    /// The files could not be written.
    #[error("cannot store the file: {0}")]
    Io(#[from] std::io::Error),
    /// The index could not be written.
    #[error(transparent)]
    Meta(#[from] MetaError),
}

impl UploadError {
    /// A stable code for API answers.
    pub fn code(&self) -> &'static str {
        match self {
            UploadError::TooLarge { .. } => "too_large",
            UploadError::QuotaExceeded { .. } => "quota_exceeded",
            UploadError::MalformedMap(_) => "invalid_sourcemap",
            UploadError::ScriptNotText => "invalid_script",
            UploadError::DebugIdMismatch { .. } => "debug_id_mismatch",
            UploadError::Invalid(_) => "invalid_upload",
            UploadError::Io(_) | UploadError::Meta(_) => "internal",
        }
    }

    /// Whether the client is at fault (a 4xx) rather than the server.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, UploadError::Io(_) | UploadError::Meta(_))
    }
}

/// The uploaded source maps of one data folder (or of the servers sharing a blob store).
pub struct SourceMapStore {
    meta: Arc<Meta>,
    blobs: Arc<dyn BlobStore>,
    /// The folder of `blobs` that holds the project folders: `""` when `blobs` is the
    /// data folder's `sourcemaps/` itself.
    folder: &'static str,
    limits: UploadLimits,
}

/// Checks a release name: 1 to 200 characters, no control characters.
pub fn check_release(release: &str) -> Result<(), UploadError> {
    if release.is_empty() || release.chars().count() > 200 || release.chars().any(char::is_control)
    {
        return Err(UploadError::Invalid(format!(
            "release {release:?} must be 1 to 200 characters without control characters"
        )));
    }
    Ok(())
}

/// Checks a bundle URL: `~/path` (any host) or an absolute http(s) URL, without query,
/// whitespace or control characters, at most 2,048 bytes.
pub fn check_bundle_url(url: &str) -> Result<(), UploadError> {
    let shaped = url.starts_with("~/") || url.starts_with("http://") || url.starts_with("https://");
    if !shaped
        || url.len() > 2048
        || url.contains(['?', '#'])
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(UploadError::Invalid(format!(
            "url {:?} must be `~/path` or an http(s) URL without query or spaces, at most 2,048 bytes",
            url.chars().take(100).collect::<String>()
        )));
    }
    Ok(())
}

/// The debug id a script names in its `//# debugId=` comment (bundlers put it near the
/// end, beside `//# sourceMappingURL=`).
pub fn script_debug_id(script: &str) -> Option<String> {
    let mut tail_start = script.len().saturating_sub(4096);
    while !script.is_char_boundary(tail_start) {
        tail_start -= 1;
    }
    script[tail_start..]
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("//# debugId="))
        .and_then(|id| normalize_debug_id(id.trim()))
}

impl SourceMapStore {
    /// The store of a data folder's `sourcemaps/` folder and meta.db.
    pub fn new(meta: Arc<Meta>, dir: PathBuf, limits: UploadLimits) -> Self {
        Self {
            meta,
            blobs: Arc::new(LocalBlobs::new(dir)),
            folder: "",
            limits,
        }
    }

    /// The store of meta.db and a blob store (keys `sourcemaps/p<project>/<file>`; a
    /// [`LocalBlobs`] on the data folder holds the same files as [`SourceMapStore::new`]).
    /// Every method blocks on the store: call them from blocking threads.
    pub fn with_blobs(meta: Arc<Meta>, blobs: Arc<dyn BlobStore>, limits: UploadLimits) -> Self {
        Self {
            meta,
            blobs,
            folder: "sourcemaps",
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> UploadLimits {
        self.limits
    }

    fn key(&self, project: ProjectId, file: &str) -> String {
        join_key(self.folder, &format!("p{project}/{file}"))
    }

    /// Checks and stores one file of a bundle. A map must parse; a script must be text.
    /// Either may carry the bundle's debug id; two different ones are refused.
    pub fn upload(
        &self,
        project: ProjectId,
        release: &str,
        url: &str,
        kind: BundleFile,
        bytes: &[u8],
    ) -> Result<SourceMapEntry, UploadError> {
        check_release(release)?;
        check_bundle_url(url)?;
        let (debug_id, ext) = match kind {
            BundleFile::Map => {
                if bytes.len() > self.limits.max_map_bytes {
                    return Err(UploadError::TooLarge {
                        what: "source map",
                        bytes: bytes.len(),
                        limit: self.limits.max_map_bytes,
                    });
                }
                let map = parse_map(bytes).map_err(UploadError::MalformedMap)?;
                if map.get_token_count() == 0 {
                    return Err(UploadError::MalformedMap("it maps no positions".into()));
                }
                (
                    map.get_debug_id()
                        .and_then(|id| normalize_debug_id(&id.to_string())),
                    "map",
                )
            }
            BundleFile::Source => {
                if bytes.len() > self.limits.max_source_bytes {
                    return Err(UploadError::TooLarge {
                        what: "script",
                        bytes: bytes.len(),
                        limit: self.limits.max_source_bytes,
                    });
                }
                let text = std::str::from_utf8(bytes).map_err(|_| UploadError::ScriptNotText)?;
                (script_debug_id(text), "js")
            }
        };
        let existing = self.meta.sourcemap_by_url(project, release, &[url])?;
        if let (Some(new), Some(old)) = (
            &debug_id,
            existing.as_ref().and_then(|e| e.debug_id.as_ref()),
        ) && new != old
        {
            return Err(UploadError::DebugIdMismatch {
                new: new.clone(),
                existing: old.clone(),
            });
        }
        let replaced_bytes = existing.as_ref().map_or(0, |e| match kind {
            BundleFile::Map => e.map_bytes,
            BundleFile::Source => e.source_bytes,
        });
        let total =
            self.meta.sourcemap_totals(project)?.bytes - replaced_bytes + bytes.len() as i64;
        if total > self.limits.max_project_bytes {
            return Err(UploadError::QuotaExceeded {
                bytes: total,
                limit: self.limits.max_project_bytes,
            });
        }
        let name = self.write_file(project, bytes, ext)?;
        let (entry, replaced) = self.meta.put_sourcemap_file(
            project,
            release,
            url,
            &UploadedFile {
                kind,
                name: &name,
                bytes: bytes.len() as i64,
                debug_id: debug_id.as_deref(),
            },
        )?;
        if let Some(old) = replaced {
            self.remove_if_unused(project, &old);
        }
        Ok(entry)
    }

    /// A project's uploads.
    pub fn list(&self, project: ProjectId) -> Result<Vec<SourceMapEntry>, MetaError> {
        self.meta.sourcemaps(project)
    }

    /// Removes an upload and its files; `None` when the project has no such upload.
    pub fn delete(&self, project: ProjectId, id: i64) -> Result<Option<SourceMapEntry>, MetaError> {
        let entry = self.meta.delete_sourcemap(project, id)?;
        if let Some(e) = &entry {
            for f in [&e.map_file, &e.source_file].into_iter().flatten() {
                self.remove_if_unused(project, f);
            }
        }
        Ok(entry)
    }

    fn remove_if_unused(&self, project: ProjectId, file: &str) {
        match self.meta.sourcemap_file_in_use(project, file) {
            Ok(false) => {
                if let Err(e) = self.blobs.delete(&self.key(project, file)) {
                    tracing::warn!(error = %e, file, "cannot remove an unused source-map file");
                }
            }
            Ok(true) => {}
            Err(e) => tracing::warn!(error = %e, "cannot tell whether a source-map file is unused"),
        }
    }

    /// Stores a file under its content's SHA-256, whole or not at all.
    fn write_file(&self, project: ProjectId, bytes: &[u8], ext: &str) -> std::io::Result<String> {
        let digest = Sha256::digest(bytes);
        let name = format!(
            "{}.{ext}",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        // The name is the content, so a file already there is this one.
        self.blobs.put_if_absent(&self.key(project, &name), bytes)?;
        Ok(name)
    }
}

fn to_bundle(e: SourceMapEntry) -> Bundle {
    Bundle {
        url: e.url,
        map_file: e.map_file,
        source_file: e.source_file,
    }
}

impl MapSource for SourceMapStore {
    fn by_debug_id(&self, project: ProjectId, debug_id: &str) -> Result<Option<Bundle>, String> {
        self.meta
            .sourcemap_by_debug_id(project, debug_id)
            .map(|e| e.map(to_bundle))
            .map_err(|e| e.to_string())
    }

    fn by_url(
        &self,
        project: ProjectId,
        release: &str,
        urls: &[&str],
    ) -> Result<Option<Bundle>, String> {
        self.meta
            .sourcemap_by_url(project, release, urls)
            .map(|e| e.map(to_bundle))
            .map_err(|e| e.to_string())
    }

    fn release_has_maps(&self, project: ProjectId, release: &str) -> Result<bool, String> {
        self.meta
            .release_has_sourcemaps(project, release)
            .map_err(|e| e.to_string())
    }

    fn read(&self, project: ProjectId, file: &str) -> Result<Vec<u8>, String> {
        // Names come from the index, which only this module writes; still, never a path.
        if file.contains(['/', '\\']) || file.starts_with('.') {
            return Err(format!("{file:?} is not a file name"));
        }
        match self.blobs.get(&self.key(project, file)) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(format!("the uploaded file {file} is missing")),
            Err(e) => Err(e.to_string()),
        }
    }
}
