//! Session replay segments (`docs/replay.md`): what the replay chunk uploads is checked
//! here, stored per session and day, and read back in `seq` order.
//!
//! Two layouts, one behaviour:
//!
//! - v1, the default: append files and byte-range indexes in the data folder's `replay/`
//!   (`files.rs` describes it). Data folders written by earlier releases read unchanged.
//! - v2: one immutable object per segment in a [`BlobStore`] that several servers share,
//!   an S3 bucket (`objects.rs` describes it).
//!
//! [`ReplayStore::new`] opens the first and [`ReplayStore::with_blobs`] the second; every
//! method answers the same on both.

mod files;
mod objects;
mod segment;

pub use files::IndexEntry;
pub use segment::{Mode, SegmentError, SegmentLimits, SegmentMeta, check_segment, valid_id};

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use vigil_blobs::BlobStore;

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
    /// The disk (or the object store) refused the write.
    #[error("replay storage failed: {0}")]
    Io(#[from] io::Error),
}

/// What a project's replay holds, for `vigil project list` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayUsage {
    /// Sessions (counted once per day they have replay on).
    pub session_days: u64,
    /// Stored bytes.
    pub bytes: u64,
}

/// Where the segments are.
enum Layout {
    Files(files::Files),
    Objects(objects::Objects),
}

/// Stored replay of every project.
pub struct ReplayStore {
    layout: Layout,
    /// Most stored (compressed) bytes per session.
    max_session_bytes: u64,
    locks: Vec<Mutex<()>>,
}

/// A checked, compressed segment on its way to storage.
pub(crate) struct Segment<'a> {
    seq: u32,
    start: i64,
    end: i64,
    raw_len: u32,
    /// crc32 of `stored`.
    crc: u32,
    /// The zstd bytes.
    stored: &'a [u8],
}

impl Segment<'_> {
    fn stored_len(&self) -> io::Result<u32> {
        u32::try_from(self.stored.len()).map_err(|_| io::Error::other("too big"))
    }
}

/// The day a `d<day>` folder name stands for.
fn day_of(name: &str) -> Option<i64> {
    name.strip_prefix('d')?.parse().ok()
}

/// Checks stored bytes against their checksum and decompresses them.
fn unpack(seq: u32, stored: &[u8], crc: u32, raw_len: u32) -> io::Result<Vec<u8>> {
    if crc32fast::hash(stored) != crc {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("replay segment {seq} fails its checksum"),
        ));
    }
    zstd::bulk::decompress(stored, raw_len as usize)
}

impl ReplayStore {
    /// Replay kept under `root` (the data folder's `replay/`) in layout v1, at most
    /// `max_session_bytes` stored per session.
    pub fn new(root: impl Into<PathBuf>, max_session_bytes: u64) -> ReplayStore {
        ReplayStore::with_layout(
            Layout::Files(files::Files::new(root.into())),
            max_session_bytes,
        )
    }

    /// Replay kept in a blob store (keys `replay/v2/…`) in layout v2, which several servers
    /// can share; at most `max_session_bytes` stored per session. Every method blocks on the
    /// store: call them from blocking threads, as with the local layout.
    pub fn with_blobs(blobs: Arc<dyn BlobStore>, max_session_bytes: u64) -> ReplayStore {
        ReplayStore::with_layout(
            Layout::Objects(objects::Objects::new(blobs)),
            max_session_bytes,
        )
    }

    fn with_layout(layout: Layout, max_session_bytes: u64) -> ReplayStore {
        ReplayStore {
            layout,
            max_session_bytes,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
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
        let around = [day - 1, day, day + 1];
        let segments = match &self.layout {
            Layout::Files(f) => f.segments_on(project, &around, session)?,
            Layout::Objects(o) => o.segments_on(project, &around, session)?,
        };
        let mut held = 0u64;
        for (seq, stored_len) in segments {
            if seq == meta.seq {
                return Err(ReplayError::Duplicate(meta.seq));
            }
            held += stored_len;
        }
        let stored = zstd::bulk::compress(json, ZSTD_LEVEL)?;
        if held + stored.len() as u64 > self.max_session_bytes {
            return Err(ReplayError::SessionTooLarge {
                held,
                limit: self.max_session_bytes,
            });
        }
        let segment = Segment {
            seq: meta.seq,
            start: meta.start,
            end: meta.end,
            raw_len: u32::try_from(json.len()).map_err(|_| io::Error::other("too big"))?,
            crc: crc32fast::hash(&stored),
            stored: &stored,
        };
        match &self.layout {
            Layout::Files(f) => f.write(project, day, session, &segment)?,
            // another server stored this seq since the listing above
            Layout::Objects(o) => {
                if !o.write(project, day, session, &segment)? {
                    return Err(ReplayError::Duplicate(meta.seq));
                }
            }
        }
        Ok(())
    }

    /// Whether a session has any replay.
    pub fn has_replay(&self, project: u32, session: &str) -> io::Result<bool> {
        if !valid_id(session) {
            return Ok(false);
        }
        match &self.layout {
            Layout::Files(f) => f.has_replay(project, session),
            Layout::Objects(o) => o.has_replay(project, session),
        }
    }

    /// A session's segments, in `seq` order, as an iterator that reads (and checks) one
    /// segment at a time: a long session is never all in memory.
    pub fn read(&self, project: u32, session: &str) -> io::Result<SegmentReader> {
        if !valid_id(session) {
            return Ok(SegmentReader {
                inner: ReaderOf::Nothing,
            });
        }
        let inner = match &self.layout {
            Layout::Files(f) => ReaderOf::Files(f.read(project, session)?),
            Layout::Objects(o) => ReaderOf::Objects(o.read(project, session)?),
        };
        Ok(SegmentReader { inner })
    }

    /// The sessions with replay stored on the days from `from` to `to` (ms) and the day on
    /// either side (a segment is filed under the day it started), sorted.
    pub fn sessions_between(&self, project: u32, from: i64, to: i64) -> io::Result<Vec<String>> {
        let (first, last) = (from.div_euclid(DAY_MS) - 1, to.div_euclid(DAY_MS) + 1);
        let mut out = match &self.layout {
            Layout::Files(f) => f.sessions_on_days(project, first, last)?,
            Layout::Objects(o) => o.sessions_on_days(project, first, last)?,
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Deletes the days older than `keep_days` before `now_ms`. Returns the days deleted.
    pub fn apply_retention(&self, project: u32, keep_days: u32, now_ms: i64) -> io::Result<usize> {
        let oldest_kept = (now_ms - i64::from(keep_days) * DAY_MS).div_euclid(DAY_MS);
        match &self.layout {
            Layout::Files(f) => f.drop_days_before(project, oldest_kept),
            Layout::Objects(o) => o.drop_days_before(project, oldest_kept),
        }
    }

    /// Deletes every segment of a session. Returns the segments deleted.
    pub fn erase_session(&self, project: u32, session: &str) -> io::Result<u64> {
        if !valid_id(session) {
            return Ok(0);
        }
        let _guard = self.lock(session);
        match &self.layout {
            Layout::Files(f) => f.erase_session(project, session),
            Layout::Objects(o) => o.erase_session(project, session),
        }
    }

    /// Sessions-days and stored bytes of a project.
    pub fn usage(&self, project: u32) -> io::Result<ReplayUsage> {
        match &self.layout {
            Layout::Files(f) => f.usage(project),
            Layout::Objects(o) => o.usage(project),
        }
    }
}

/// Reads a session's segments one at a time, in `seq` order.
pub struct SegmentReader {
    inner: ReaderOf,
}

enum ReaderOf {
    /// An id that cannot name a session.
    Nothing,
    Files(files::Reader),
    Objects(objects::Reader),
}

impl Iterator for SegmentReader {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            ReaderOf::Nothing => None,
            ReaderOf::Files(r) => r.next_segment(),
            ReaderOf::Objects(r) => r.next_segment(),
        }
    }
}
