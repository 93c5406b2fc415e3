//! Blobs as files under a folder: a key is the file's path relative to it.

use crate::{BlobEntry, BlobError, BlobStore, check_key, check_prefix};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Tells apart the temporary files of concurrent writes of one process; the process id
/// tells apart processes.
static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// How often a write is retried when a concurrent delete removed its emptied folder in
/// between creating the folder and renaming the file into it.
const WRITE_ATTEMPTS: usize = 4;

/// Blobs kept as files under one folder, each written whole (temporary file, fsync,
/// rename, folder fsync) so a crash leaves the old file or the new one.
///
/// A folder that a delete leaves empty is removed, as S3 has no empty folders. Unlike S3,
/// one key cannot be both a blob and a folder (`a` and `a/b`): the second write fails.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// The blobs under `root`, created on the first write if missing.
    pub fn new(root: impl Into<PathBuf>) -> LocalBlobs {
        LocalBlobs { root: root.into() }
    }

    /// The folder the keys are relative to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn folder(&self, prefix: &str) -> Result<PathBuf, BlobError> {
        check_prefix(prefix)?;
        Ok(if prefix.is_empty() {
            self.root.clone()
        } else {
            self.root.join(prefix)
        })
    }

    /// Writes `bytes` to `key`, replacing or only when absent; `Ok(false)` when absent was
    /// asked and the file exists.
    fn write(&self, key: &str, bytes: &[u8], replace: bool) -> Result<bool, BlobError> {
        let path = self.path(key)?;
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            unreachable!("a checked key has a parent folder and a file name");
        };
        let mut attempt = 1;
        loop {
            create_dirs(dir)?;
            match write_in(dir, &name.to_string_lossy(), &path, bytes, replace) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < WRITE_ATTEMPTS => {
                    attempt += 1;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Removes `dir` and its parents up to the root while they are empty.
    fn prune(&self, mut dir: &Path) {
        while dir != self.root && dir.starts_with(&self.root) && fs::remove_dir(dir).is_ok() {
            match dir.parent() {
                Some(parent) => dir = parent,
                None => break,
            }
        }
    }
}

/// One attempt of [`LocalBlobs::write`] in an existing folder.
fn write_in(dir: &Path, name: &str, path: &Path, bytes: &[u8], replace: bool) -> io::Result<bool> {
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT_TMP.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = File::create_new(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    let placed = written.and_then(|()| {
        if replace {
            fs::rename(&tmp, path).map(|()| true)
        } else {
            // A hard link fails when the name exists, so of two racing writers one wins,
            // and the name never shows a partial file.
            match fs::hard_link(&tmp, path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        }
    });
    if !(replace && placed.is_ok()) {
        let _ = fs::remove_file(&tmp);
    }
    if placed? {
        sync_dir(dir)?;
        return Ok(true);
    }
    Ok(false)
}

/// Creates `dir` and its missing parents, syncing each parent that gained an entry so the
/// new folders survive a crash.
fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.exists() {
        missing.push(d);
        match d.parent() {
            Some(parent) => d = parent,
            None => break,
        }
    }
    fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether a file operation failed because nothing is there as a file or folder: the path
/// or one of its parents is missing, or is the other kind (a key where a folder is, or a
/// folder where a key is); for a key store, absent.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::IsADirectory | io::ErrorKind::NotADirectory
    )
}

/// The entries of a folder that can be keys (temporary dot files are not), with their
/// metadata; nothing when the folder is missing or is a file.
fn key_entries(dir: &Path) -> io::Result<Vec<(String, PathBuf, fs::Metadata)>> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if check_key(&name).is_err() {
            continue;
        }
        // gone since the listing: a concurrent delete
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        out.push((name, entry.path(), meta));
    }
    Ok(out)
}

/// Every blob under `dir`, keyed `key_prefix/…`.
fn walk(dir: &Path, key_prefix: &str, out: &mut Vec<BlobEntry>) -> io::Result<()> {
    for (name, path, meta) in key_entries(dir)? {
        let key = crate::join_key(key_prefix, &name);
        if meta.is_dir() {
            walk(&path, &key, out)?;
        } else if meta.is_file() {
            out.push(BlobEntry {
                key,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

/// Whether a blob is anywhere under `dir`.
fn holds_a_blob(dir: &Path) -> io::Result<bool> {
    for (_, path, meta) in key_entries(dir)? {
        if meta.is_file() || (meta.is_dir() && holds_a_blob(&path)?) {
            return Ok(true);
        }
    }
    Ok(false)
}

impl BlobStore for LocalBlobs {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError> {
        self.write(key, bytes, true).map(|_| ())
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, BlobError> {
        self.write(key, bytes, false)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match fs::read(self.path(key)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>, BlobError> {
        let mut out = Vec::new();
        walk(&self.folder(prefix)?, prefix, &mut out)?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn folders(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let mut out = Vec::new();
        for (name, path, meta) in key_entries(&self.folder(prefix)?)? {
            if meta.is_dir() && holds_a_blob(&path)? {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(dir) = path.parent() {
            // an erasure stays erased across a crash
            sync_dir(dir)?;
            self.prune(dir);
        }
        Ok(())
    }

    fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        if prefix.is_empty() {
            return Err(BlobError::InvalidKey {
                key: String::new(),
                reason: "deleting everything is refused",
            });
        }
        let dir = self.folder(prefix)?;
        let held = self.list(prefix)?.len() as u64;
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => {
                return Ok(0);
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
            self.prune(parent);
        }
        Ok(held)
    }
}
