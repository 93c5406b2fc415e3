//! Session replay segments (`docs/replay.md`): what the replay chunk uploads is checked
//! here, stored append-only per session and day, and read back in `seq` order.
//!
//! Layout, under the data folder's `replay/`:
//!
//! ```text
//! v1/p<project>/d<days since 1970-01-01, UTC>/<session>.data   "VGRPLD\x01\0" + zstd frames
//! v1/p<project>/d<…>/<session>.idx                             "VGRPLI\x01\0" + 40-byte records
//! ```
//!
//! A session's segments go into one file per day, not one file per segment (small-file
//! writes are what made replay storage expensive elsewhere), and not into the event tables'
//! columns. The index holds each segment's byte range, so a read seeks, never scans. An
//! append writes the segment, syncs it, then appends its index record and syncs that: the
//! index names only bytes that are on disk, and a crash between the two leaves bytes that no
//! record names (the next append writes after them). A torn last record is ignored on read
//! and cut off before the next append. Retention drops whole day folders; erasure deletes a
//! session's files.

mod segment;

pub use segment::{Mode, SegmentError, SegmentLimits, SegmentMeta, check_segment, valid_id};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

const DATA_MAGIC: &[u8; 8] = b"VGRPLD\x01\0";
const INDEX_MAGIC: &[u8; 8] = b"VGRPLI\x01\0";
/// seq u32, stored length u32, raw length u32, crc32 of the stored bytes u32, offset u64,
/// start i64, end i64 (little endian).
const RECORD: usize = 40;
/// zstd level: replay JSON is repetitive; level 3 keeps an upload's cost to a few ms.
const ZSTD_LEVEL: i32 = 3;
const DAY_MS: i64 = 86_400_000;
/// Appends of one session are serialised by one of these locks (chosen by a hash of the
/// session), so the number of locks is fixed whatever sessions an attacker invents.
const LOCK_STRIPES: usize = 64;

/// Why a segment was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The segment itself is malformed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// The session already has a segment with this number.
    #[error("session already has segment {0}")]
    Duplicate(u32),
    /// The session holds as much replay as it may.
    #[error("session already holds {held} bytes of replay, the limit is {limit}")]
    SessionTooLarge {
        /// Stored bytes of the session (both days a session can span).
        held: u64,
        /// The limit.
        limit: u64,
    },
    /// The disk refused the write.
    #[error("replay storage failed: {0}")]
    Io(#[from] io::Error),
}

/// Stored replay of every project.
pub struct ReplayStore {
    root: PathBuf,
    /// Most stored (compressed) bytes per session.
    max_session_bytes: u64,
    locks: Vec<Mutex<()>>,
}

/// One stored segment's place in its session's data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// The segment's number within the session.
    pub seq: u32,
    /// Bytes stored (zstd).
    pub stored_len: u32,
    /// Bytes of the segment's JSON.
    pub raw_len: u32,
    crc: u32,
    offset: u64,
    /// First event, ms since the epoch.
    pub start: i64,
    /// Last event, ms since the epoch.
    pub end: i64,
}

impl IndexEntry {
    fn encode(&self) -> [u8; RECORD] {
        let mut out = [0u8; RECORD];
        out[0..4].copy_from_slice(&self.seq.to_le_bytes());
        out[4..8].copy_from_slice(&self.stored_len.to_le_bytes());
        out[8..12].copy_from_slice(&self.raw_len.to_le_bytes());
        out[12..16].copy_from_slice(&self.crc.to_le_bytes());
        out[16..24].copy_from_slice(&self.offset.to_le_bytes());
        out[24..32].copy_from_slice(&self.start.to_le_bytes());
        out[32..40].copy_from_slice(&self.end.to_le_bytes());
        out
    }

    fn decode(b: &[u8]) -> IndexEntry {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(x)
        };
        IndexEntry {
            seq: u32_at(0),
            stored_len: u32_at(4),
            raw_len: u32_at(8),
            crc: u32_at(12),
            offset: u64_at(16),
            start: u64_at(24) as i64,
            end: u64_at(32) as i64,
        }
    }
}

/// What a project's replay holds, for `vigil project list` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayUsage {
    /// Sessions (counted once per day they have replay on).
    pub session_days: u64,
    /// Stored bytes.
    pub bytes: u64,
}

impl ReplayStore {
    /// Replay kept under `root` (the data folder's `replay/`), at most `max_session_bytes`
    /// stored per session.
    pub fn new(root: impl Into<PathBuf>, max_session_bytes: u64) -> ReplayStore {
        ReplayStore {
            root: root.into(),
            max_session_bytes,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn project_dir(&self, project: u32) -> PathBuf {
        self.root.join("v1").join(format!("p{project}"))
    }

    fn day_dir(&self, project: u32, day: i64) -> PathBuf {
        self.project_dir(project).join(format!("d{day}"))
    }

    fn lock(&self, session: &str) -> MutexGuard<'_, ()> {
        // FNV-1a: stable and cheap; the stripe only has to spread sessions.
        let h = session.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        self.locks[(h % LOCK_STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores one checked segment (its JSON as uploaded) durably: when this returns `Ok` a
    /// crash does not lose it.
    pub fn append(&self, project: u32, meta: &SegmentMeta, json: &[u8]) -> Result<(), ReplayError> {
        let session = meta.session_id.as_str();
        // checked already by `check_segment`; again here because it becomes a file name
        if !valid_id(session) {
            return Err(SegmentError::InvalidId("session_id").into());
        }
        let day = meta.start.div_euclid(DAY_MS);
        let _guard = self.lock(session);
        // A session lasts at most a few hours, so it spans this day and the one before.
        let mut held = 0u64;
        for d in [day - 1, day, day + 1] {
            for e in read_index(&self.day_dir(project, d), session)? {
                if e.seq == meta.seq {
                    return Err(ReplayError::Duplicate(meta.seq));
                }
                held += u64::from(e.stored_len);
            }
        }
        let stored = zstd::bulk::compress(json, ZSTD_LEVEL)?;
        if held + stored.len() as u64 > self.max_session_bytes {
            return Err(ReplayError::SessionTooLarge {
                held,
                limit: self.max_session_bytes,
            });
        }
        let dir = self.day_dir(project, day);
        if !dir.exists() {
            fs::create_dir_all(&dir)?;
            sync_dir(&dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let (data_path, index_path) = paths(&dir, session);
        let created = !data_path.exists();
        let mut data = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&data_path)?;
        if data.metadata()?.len() == 0 {
            data.write_all(DATA_MAGIC)?;
        }
        let offset = data.metadata()?.len();
        data.write_all(&stored)?;
        data.sync_data()?;
        let mut index = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&index_path)?;
        let len = index.metadata()?.len();
        let whole = if len < INDEX_MAGIC.len() as u64 {
            index.set_len(0)?;
            index.write_all(INDEX_MAGIC)?;
            INDEX_MAGIC.len() as u64
        } else {
            // a record torn by a crash is cut off, so records stay aligned
            let whole = len - (len - INDEX_MAGIC.len() as u64) % RECORD as u64;
            if whole != len {
                index.set_len(whole)?;
            }
            whole
        };
        let entry = IndexEntry {
            seq: meta.seq,
            stored_len: u32::try_from(stored.len()).map_err(|_| io::Error::other("too big"))?,
            raw_len: u32::try_from(json.len()).map_err(|_| io::Error::other("too big"))?,
            crc: crc32fast::hash(&stored),
            offset,
            start: meta.start,
            end: meta.end,
        };
        index.seek(SeekFrom::Start(whole))?;
        index.write_all(&entry.encode())?;
        index.sync_data()?;
        if created {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// The index of every stored segment of a session, in `seq` order, with the day folder
    /// each is in.
    fn entries(&self, project: u32, session: &str) -> io::Result<Vec<(PathBuf, IndexEntry)>> {
        let mut out = Vec::new();
        if !valid_id(session) {
            return Ok(out);
        }
        for dir in self.day_dirs(project)? {
            for e in read_index(&dir, session)? {
                out.push((dir.clone(), e));
            }
        }
        out.sort_by_key(|(_, e)| e.seq);
        Ok(out)
    }

    /// Whether a session has any replay.
    pub fn has_replay(&self, project: u32, session: &str) -> io::Result<bool> {
        if !valid_id(session) {
            return Ok(false);
        }
        for dir in self.day_dirs(project)? {
            if paths(&dir, session).1.exists() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A session's segments, in `seq` order, as an iterator that reads (and checks) one
    /// segment at a time: a long session is never all in memory.
    pub fn read(&self, project: u32, session: &str) -> io::Result<SegmentReader> {
        Ok(SegmentReader {
            session: session.to_owned(),
            entries: self.entries(project, session)?.into_iter(),
            open: None,
        })
    }

    /// The sessions with replay stored on the days from `from` to `to` (ms) and the day on
    /// either side (a segment is filed under the day it started), sorted.
    pub fn sessions_between(&self, project: u32, from: i64, to: i64) -> io::Result<Vec<String>> {
        let (first, last) = (from.div_euclid(DAY_MS) - 1, to.div_euclid(DAY_MS) + 1);
        let mut out = Vec::new();
        for dir in self.day_dirs(project)? {
            if !day_of(&dir).is_some_and(|d| d >= first && d <= last) {
                continue;
            }
            for f in fs::read_dir(&dir)? {
                let path = f?.path();
                if path.extension().is_some_and(|x| x == "idx")
                    && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                {
                    out.push(stem.to_owned());
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Deletes day folders older than `keep_days` before `now_ms`. Returns the folders
    /// deleted.
    pub fn apply_retention(&self, project: u32, keep_days: u32, now_ms: i64) -> io::Result<usize> {
        let oldest_kept = (now_ms - i64::from(keep_days) * DAY_MS).div_euclid(DAY_MS);
        let mut dropped = 0;
        for dir in self.day_dirs(project)? {
            if day_of(&dir).is_some_and(|d| d < oldest_kept) {
                fs::remove_dir_all(&dir)?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Deletes every segment of a session. Returns the segments deleted.
    pub fn erase_session(&self, project: u32, session: &str) -> io::Result<u64> {
        if !valid_id(session) {
            return Ok(0);
        }
        let _guard = self.lock(session);
        let mut removed = 0u64;
        for dir in self.day_dirs(project)? {
            let (data, index) = paths(&dir, session);
            removed += read_index(&dir, session)?.len() as u64;
            for f in [index, data] {
                match fs::remove_file(&f) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    /// Sessions-days and stored bytes of a project.
    pub fn usage(&self, project: u32) -> io::Result<ReplayUsage> {
        let mut usage = ReplayUsage::default();
        for dir in self.day_dirs(project)? {
            for f in fs::read_dir(&dir)? {
                let f = f?;
                if f.path().extension().is_some_and(|x| x == "data") {
                    usage.session_days += 1;
                    usage.bytes += f.metadata()?.len();
                }
            }
        }
        Ok(usage)
    }

    fn day_dirs(&self, project: u32) -> io::Result<Vec<PathBuf>> {
        let mut out: Vec<(i64, PathBuf)> = match fs::read_dir(self.project_dir(project)) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter_map(|p| day_of(&p).map(|d| (d, p)))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        out.sort();
        Ok(out.into_iter().map(|(_, p)| p).collect())
    }
}

fn day_of(dir: &Path) -> Option<i64> {
    dir.file_name()?.to_str()?.strip_prefix('d')?.parse().ok()
}

fn paths(dir: &Path, session: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{session}.data")),
        dir.join(format!("{session}.idx")),
    )
}

/// A session's index records in one day folder (none when it has no file there).
fn read_index(dir: &Path, session: &str) -> io::Result<Vec<IndexEntry>> {
    let bytes = match fs::read(paths(dir, session).1) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if bytes.len() < INDEX_MAGIC.len() {
        return Ok(Vec::new());
    }
    if &bytes[..INDEX_MAGIC.len()] != INDEX_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "replay index of an unknown format (written by a newer release?)",
        ));
    }
    Ok(bytes[INDEX_MAGIC.len()..]
        .chunks_exact(RECORD)
        .map(IndexEntry::decode)
        .collect())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads a session's segments one at a time, in `seq` order.
pub struct SegmentReader {
    session: String,
    entries: std::vec::IntoIter<(PathBuf, IndexEntry)>,
    open: Option<(PathBuf, File)>,
}

impl Iterator for SegmentReader {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (dir, entry) = self.entries.next()?;
        Some(self.read_one(&dir, &entry))
    }
}

impl SegmentReader {
    fn read_one(&mut self, dir: &Path, entry: &IndexEntry) -> io::Result<Vec<u8>> {
        let data_path = paths(dir, &self.session).0;
        let file = match &mut self.open {
            Some((p, f)) if *p == data_path => f,
            _ => {
                let mut f = File::open(&data_path)?;
                let mut magic = [0u8; 8];
                f.read_exact(&mut magic)?;
                if &magic != DATA_MAGIC {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "replay data of an unknown format (written by a newer release?)",
                    ));
                }
                &mut self.open.insert((data_path, f)).1
            }
        };
        file.seek(SeekFrom::Start(entry.offset))?;
        let mut stored = vec![0u8; entry.stored_len as usize];
        file.read_exact(&mut stored)?;
        if crc32fast::hash(&stored) != entry.crc {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("replay segment {} fails its checksum", entry.seq),
            ));
        }
        zstd::bulk::decompress(&stored, entry.raw_len as usize)
    }
}
