//! Blobs (session-replay segments, uploaded source maps) behind one blocking interface, so
//! the stores above them do not care where the bytes live:
//!
//! - [`LocalBlobs`]: a folder of the data folder, the default; a key is a relative path,
//!   so the files are where the folder layout has always had them.
//! - [`S3Blobs`]: an S3-compatible object store (through `object_store`), which several
//!   `vigil serve` instances share.
//!
//! A key is a relative path of `/`-separated segments of `A-Z a-z 0-9 . _ -`, none empty
//! and none starting with a dot: it cannot climb out of its folder, and the local store's
//! temporary files (dot files) are never keys. A prefix names a folder: `a/b` holds
//! `a/b/c` and `a/b/c/d`, not `a/bc` nor `a/b` itself, on both stores alike.
//!
//! The interface is blocking because its callers already run on blocking threads (the
//! replay and source-map stores are called from `spawn_blocking`).

mod local;
mod s3;
#[cfg(feature = "test-server")]
pub mod testing;

pub use local::LocalBlobs;
pub use s3::{S3Blobs, S3Config};

use std::io;

/// Longest key accepted; S3 allows 1,024 bytes and the prefix of an [`S3Config`] counts.
pub const MAX_KEY_BYTES: usize = 900;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A key or prefix outside the allowed shape (see the crate documentation).
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The local disk refused.
    #[error("blob storage failed: {0}")]
    Io(#[from] io::Error),
    /// The object store refused or could not be reached.
    #[error("object store failed: {0}")]
    Store(#[from] object_store::Error),
    /// The configuration cannot make a store.
    #[error("invalid object store configuration: {0}")]
    Config(String),
}

impl From<BlobError> for io::Error {
    fn from(e: BlobError) -> io::Error {
        let kind = match &e {
            BlobError::Io(inner) => inner.kind(),
            BlobError::InvalidKey { .. } | BlobError::Config(_) => io::ErrorKind::InvalidInput,
            BlobError::Store(object_store::Error::NotFound { .. }) => io::ErrorKind::NotFound,
            BlobError::Store(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// One stored blob, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// Its full key (not relative to the prefix listed).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A store of immutable-by-convention blobs under keys. Every method blocks.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing what was there. Durable when it returns `Ok`,
    /// and readers see the old blob or the new one, never part of one.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError>;

    /// Stores `bytes` under `key` unless something is there already: `Ok(false)` then,
    /// and the existing blob is untouched. Of two racing calls exactly one gets `true`.
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, BlobError>;

    /// The blob under `key`, `None` when there is none.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;

    /// Every blob under the folder `prefix` (`""`: all of them), at any depth, sorted by
    /// key.
    fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>, BlobError>;

    /// [`BlobStore::list`] of each prefix, in the same order. S3 asks concurrently, so a
    /// look into many folders costs about one round trip.
    fn list_each(&self, prefixes: &[String]) -> Result<Vec<Vec<BlobEntry>>, BlobError> {
        prefixes.iter().map(|p| self.list(p)).collect()
    }

    /// The names of the folders directly in the folder `prefix` that hold a blob, sorted.
    /// One request on S3 instead of listing every blob below.
    fn folders(&self, prefix: &str) -> Result<Vec<String>, BlobError>;

    /// Deletes the blob under `key`; a missing one is not an error.
    fn delete(&self, key: &str) -> Result<(), BlobError>;

    /// Deletes every blob under the folder `prefix` and returns how many there were. The
    /// empty prefix is refused: nothing deletes a whole store by accident.
    fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError>;
}

/// Checks that `key` names a blob (see the crate documentation for the shape).
pub fn check_key(key: &str) -> Result<(), BlobError> {
    let invalid = |reason| {
        Err(BlobError::InvalidKey {
            key: key.chars().take(200).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("it is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return invalid("it is longer than 900 bytes");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return invalid("it is absolute or has an empty segment");
        }
        if segment.starts_with('.') {
            return invalid("a segment starts with a dot");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return invalid("only A-Z, a-z, 0-9, '.', '_', '-' and '/' between segments");
        }
    }
    Ok(())
}

/// Checks a prefix: empty (the whole store) or shaped like a key.
pub fn check_prefix(prefix: &str) -> Result<(), BlobError> {
    if prefix.is_empty() {
        Ok(())
    } else {
        check_key(prefix)
    }
}

/// `prefix/name`, or `name` under the empty prefix.
pub fn join_key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_leave_their_folder_are_refused() {
        for good in [
            "a",
            "replay/v2/p1/d20454/s-1/0000000001",
            "sourcemaps/p3/ab12.map",
            "a.b_c-d",
        ] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        let long = "a".repeat(MAX_KEY_BYTES + 1);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            ".hidden",
            "a/.tmp",
            "a\\b",
            "a b",
            "é",
            "a\0b",
            "C:x",
            long.as_str(),
        ] {
            assert!(
                matches!(check_key(bad), Err(BlobError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("a/").is_err());
        assert_eq!(join_key("", "x"), "x");
        assert_eq!(join_key("a/b", "x"), "a/b/x");
    }

    #[test]
    fn errors_become_io_errors_of_the_right_kind() {
        let bad: io::Error = check_key("..").unwrap_err().into();
        assert_eq!(bad.kind(), io::ErrorKind::InvalidInput);
        let disk: io::Error = BlobError::Io(io::Error::from(io::ErrorKind::StorageFull)).into();
        assert_eq!(disk.kind(), io::ErrorKind::StorageFull);
    }
}
