//! Layout v1, in a local folder (the data folder's `replay/`):
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

use crate::{ReplayUsage, Segment, day_of, unpack};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const DATA_MAGIC: &[u8; 8] = b"VGRPLD\x01\0";
const INDEX_MAGIC: &[u8; 8] = b"VGRPLI\x01\0";
/// seq u32, stored length u32, raw length u32, crc32 of the stored bytes u32, offset u64,
/// start i64, end i64 (little endian).
const RECORD: usize = 40;

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

/// Replay in layout v1 under a folder.
pub(crate) struct Files {
    root: PathBuf,
}

impl Files {
    pub(crate) fn new(root: PathBuf) -> Files {
        Files { root }
    }

    fn project_dir(&self, project: u32) -> PathBuf {
        self.root.join("v1").join(format!("p{project}"))
    }

    fn day_dir(&self, project: u32, day: i64) -> PathBuf {
        self.project_dir(project).join(format!("d{day}"))
    }

    /// `(seq, stored bytes)` of a session's segments filed under `days`.
    pub(crate) fn segments_on(
        &self,
        project: u32,
        days: &[i64],
        session: &str,
    ) -> io::Result<Vec<(u32, u64)>> {
        let mut out = Vec::new();
        for &day in days {
            out.extend(
                read_index(&self.day_dir(project, day), session)?
                    .into_iter()
                    .map(|e| (e.seq, u64::from(e.stored_len))),
            );
        }
        Ok(out)
    }

    /// Writes a segment (checked, not a duplicate, within the limit) under its day.
    pub(crate) fn write(
        &self,
        project: u32,
        day: i64,
        session: &str,
        segment: &Segment,
    ) -> io::Result<()> {
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
        data.write_all(segment.stored)?;
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
            seq: segment.seq,
            stored_len: segment.stored_len()?,
            raw_len: segment.raw_len,
            crc: segment.crc,
            offset,
            start: segment.start,
            end: segment.end,
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
        for dir in self.day_dirs(project)? {
            for e in read_index(&dir, session)? {
                out.push((dir.clone(), e));
            }
        }
        out.sort_by_key(|(_, e)| e.seq);
        Ok(out)
    }

    pub(crate) fn has_replay(&self, project: u32, session: &str) -> io::Result<bool> {
        for dir in self.day_dirs(project)? {
            if paths(&dir, session).1.exists() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(crate) fn read(&self, project: u32, session: &str) -> io::Result<Reader> {
        Ok(Reader {
            session: session.to_owned(),
            entries: self.entries(project, session)?.into_iter(),
            open: None,
        })
    }

    pub(crate) fn sessions_on_days(
        &self,
        project: u32,
        first: i64,
        last: i64,
    ) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for dir in self.day_dirs(project)? {
            if !day_folder(&dir).is_some_and(|d| d >= first && d <= last) {
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
        Ok(out)
    }

    pub(crate) fn drop_days_before(&self, project: u32, oldest_kept: i64) -> io::Result<usize> {
        let mut dropped = 0;
        for dir in self.day_dirs(project)? {
            if day_folder(&dir).is_some_and(|d| d < oldest_kept) {
                fs::remove_dir_all(&dir)?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    pub(crate) fn erase_session(&self, project: u32, session: &str) -> io::Result<u64> {
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

    pub(crate) fn usage(&self, project: u32) -> io::Result<ReplayUsage> {
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
                .filter_map(|p| day_folder(&p).map(|d| (d, p)))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        out.sort();
        Ok(out.into_iter().map(|(_, p)| p).collect())
    }
}

fn day_folder(dir: &Path) -> Option<i64> {
    day_of(dir.file_name()?.to_str()?)
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

/// Reads a session's segments one at a time, in `seq` order, keeping the day's data file
/// open between segments.
pub(crate) struct Reader {
    session: String,
    entries: std::vec::IntoIter<(PathBuf, IndexEntry)>,
    open: Option<(PathBuf, File)>,
}

impl Reader {
    pub(crate) fn next_segment(&mut self) -> Option<io::Result<Vec<u8>>> {
        let (dir, entry) = self.entries.next()?;
        Some(self.read_one(&dir, &entry))
    }

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
        unpack(entry.seq, &stored, entry.crc, entry.raw_len)
    }
}
