//! Layout v2, in a blob store shared by several servers (an S3 bucket):
//!
//! ```text
//! replay/v2/p<project>/d<days since 1970-01-01, UTC>/<session>/<seq, 10 digits>
//!     "VGRPLS\x02\0", start i64, end i64, raw length u32, crc32 of the zstd bytes u32
//!     (little endian), then the zstd bytes
//! ```
//!
//! An object store has no append, so each segment is one immutable object, written with
//! "create only if absent": of two servers storing the same `seq` one wins and the other
//! reports a duplicate, without any lock between them. An object is whole or absent, so
//! there is no torn write to recover from. The zero-padded `seq` makes the keys list in
//! order. Retention deletes a day's prefix; erasure a session's prefix on each day.
//!
//! The per-session byte limit is checked by listing the session's objects: two servers
//! appending to one session at the same moment can both pass it, by a segment each.

use crate::{ReplayUsage, Segment, day_of, unpack};
use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;
use vigil_blobs::{BlobEntry, BlobStore};

const MAGIC: &[u8; 8] = b"VGRPLS\x02\0";
/// Magic, start, end, raw length, crc.
const HEADER: usize = 8 + 8 + 8 + 4 + 4;
const ROOT: &str = "replay/v2";

/// Replay in layout v2 in a blob store.
pub(crate) struct Objects {
    blobs: Arc<dyn BlobStore>,
}

fn project_prefix(project: u32) -> String {
    format!("{ROOT}/p{project}")
}

fn day_prefix(project: u32, day: i64) -> String {
    format!("{ROOT}/p{project}/d{day}")
}

fn session_prefix(project: u32, day: i64, session: &str) -> String {
    format!("{ROOT}/p{project}/d{day}/{session}")
}

/// The `seq` a segment's key ends in.
fn seq_of(key: &str) -> Option<u32> {
    let last = key.rsplit('/').next()?;
    (last.len() == 10 && last.bytes().all(|b| b.is_ascii_digit()))
        .then(|| last.parse().ok())
        .flatten()
}

impl Objects {
    pub(crate) fn new(blobs: Arc<dyn BlobStore>) -> Objects {
        Objects { blobs }
    }

    /// The days a project has replay on, in order.
    fn days(&self, project: u32) -> io::Result<Vec<i64>> {
        let mut days: Vec<i64> = self
            .blobs
            .folders(&project_prefix(project))?
            .iter()
            .filter_map(|name| day_of(name))
            .collect();
        days.sort_unstable();
        Ok(days)
    }

    /// A session's objects filed under each of `days` (listed concurrently), with their
    /// `seq`.
    fn objects_on(
        &self,
        project: u32,
        days: &[i64],
        session: &str,
    ) -> io::Result<Vec<Vec<(u32, BlobEntry)>>> {
        let prefixes: Vec<String> = days
            .iter()
            .map(|&day| session_prefix(project, day, session))
            .collect();
        Ok(self
            .blobs
            .list_each(&prefixes)?
            .into_iter()
            .map(|entries| {
                entries
                    .into_iter()
                    .filter_map(|e| seq_of(&e.key).map(|seq| (seq, e)))
                    .collect()
            })
            .collect())
    }

    /// `(seq, stored bytes)` of a session's segments filed under `days`.
    pub(crate) fn segments_on(
        &self,
        project: u32,
        days: &[i64],
        session: &str,
    ) -> io::Result<Vec<(u32, u64)>> {
        Ok(self
            .objects_on(project, days, session)?
            .into_iter()
            .flatten()
            .map(|(seq, e)| (seq, e.size.saturating_sub(HEADER as u64)))
            .collect())
    }

    /// Writes a segment (checked, within the limit) under its day; `Ok(false)` when the
    /// session already has this `seq` there.
    pub(crate) fn write(
        &self,
        project: u32,
        day: i64,
        session: &str,
        segment: &Segment,
    ) -> io::Result<bool> {
        let mut object = Vec::with_capacity(HEADER + segment.stored.len());
        object.extend_from_slice(MAGIC);
        object.extend_from_slice(&segment.start.to_le_bytes());
        object.extend_from_slice(&segment.end.to_le_bytes());
        object.extend_from_slice(&segment.raw_len.to_le_bytes());
        object.extend_from_slice(&segment.crc.to_le_bytes());
        object.extend_from_slice(segment.stored);
        let key = format!(
            "{}/{:010}",
            session_prefix(project, day, session),
            segment.seq
        );
        Ok(self.blobs.put_if_absent(&key, &object)?)
    }

    pub(crate) fn has_replay(&self, project: u32, session: &str) -> io::Result<bool> {
        let days = self.days(project)?;
        Ok(self
            .objects_on(project, &days, session)?
            .iter()
            .any(|day| !day.is_empty()))
    }

    pub(crate) fn read(&self, project: u32, session: &str) -> io::Result<Reader> {
        let days = self.days(project)?;
        let mut keys: Vec<(u32, String)> = self
            .objects_on(project, &days, session)?
            .into_iter()
            .flatten()
            .map(|(seq, e)| (seq, e.key))
            .collect();
        keys.sort_by_key(|(seq, _)| *seq);
        Ok(Reader {
            blobs: self.blobs.clone(),
            keys: keys.into_iter(),
        })
    }

    pub(crate) fn sessions_on_days(
        &self,
        project: u32,
        first: i64,
        last: i64,
    ) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for day in self.days(project)? {
            if day >= first && day <= last {
                out.extend(self.blobs.folders(&day_prefix(project, day))?);
            }
        }
        Ok(out)
    }

    pub(crate) fn drop_days_before(&self, project: u32, oldest_kept: i64) -> io::Result<usize> {
        let mut dropped = 0;
        for day in self.days(project)? {
            if day < oldest_kept {
                self.blobs.delete_prefix(&day_prefix(project, day))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    pub(crate) fn erase_session(&self, project: u32, session: &str) -> io::Result<u64> {
        let days = self.days(project)?;
        let found = self.objects_on(project, &days, session)?;
        let mut removed = 0;
        for (day, objects) in days.iter().zip(found) {
            if !objects.is_empty() {
                removed += self
                    .blobs
                    .delete_prefix(&session_prefix(project, *day, session))?;
            }
        }
        Ok(removed)
    }

    pub(crate) fn usage(&self, project: u32) -> io::Result<ReplayUsage> {
        let prefix = project_prefix(project);
        let mut session_days = BTreeSet::new();
        let mut bytes = 0;
        for e in self.blobs.list(&prefix)? {
            // `d<day>/<session>/<seq>` below the project
            let mut parts = e.key[prefix.len() + 1..].split('/');
            if let (Some(day), Some(session)) = (parts.next(), parts.next()) {
                session_days.insert((day.to_owned(), session.to_owned()));
                bytes += e.size;
            }
        }
        Ok(ReplayUsage {
            session_days: session_days.len() as u64,
            bytes,
        })
    }
}

/// Reads a session's segments one object at a time, in `seq` order.
pub(crate) struct Reader {
    blobs: Arc<dyn BlobStore>,
    keys: std::vec::IntoIter<(u32, String)>,
}

impl Reader {
    pub(crate) fn next_segment(&mut self) -> Option<io::Result<Vec<u8>>> {
        let (seq, key) = self.keys.next()?;
        Some(self.read_one(seq, &key))
    }

    fn read_one(&self, seq: u32, key: &str) -> io::Result<Vec<u8>> {
        let Some(object) = self.blobs.get(key)? else {
            // erased or dropped by retention since the listing
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("replay segment {seq} was deleted while being read"),
            ));
        };
        if object.len() < HEADER || &object[..MAGIC.len()] != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("replay segment {seq} of an unknown format (written by a newer release?)"),
            ));
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([object[i], object[i + 1], object[i + 2], object[i + 3]]);
        // start and end (bytes 8..24) are for tools that read the bucket; a read needs
        // only the length and checksum
        let (raw_len, crc) = (u32_at(24), u32_at(28));
        unpack(seq, &object[HEADER..], crc, raw_len)
    }
}
