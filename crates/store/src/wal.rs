//! The write-ahead log: CRC-checked frames in numbered segment files. A frame is
//! `len: u32 | crc32(seq ‖ payload): u32 | seq: u64 | payload`, little-endian. A torn or
//! corrupt frame ends a segment: everything before it is whole, and nothing after it was
//! ever acknowledged, because acknowledgement waits for the fsync that covers the frame.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const HEADER: usize = 16;
/// Largest payload a frame may carry; a longer length field means corruption.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// An open segment being appended to.
pub struct WalWriter {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
    /// Length of the durable, whole-frame prefix of the file.
    len: u64,
    /// A failed write may have left part of a frame behind `len`; it must be cut off
    /// before anything else is appended, or replay would stop at it and lose what follows.
    torn: bool,
}

impl WalWriter {
    /// Creates a new segment whose first frame will carry `first_seq`. The file is always a
    /// new one: a segment can be closed before any frame reached it, and the next one then
    /// starts at the same sequence number, so a counter after it keeps names unique (and
    /// name order equal to write order).
    pub fn create(dir: &Path, first_seq: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        for n in 0u32.. {
            let path = dir.join(format!("{first_seq:020}-{n:06}.wal"));
            match OpenOptions::new().create_new(true).append(true).open(&path) {
                Ok(file) => {
                    sync_dir(dir)?;
                    return Ok(Self {
                        file,
                        path,
                        buf: Vec::with_capacity(1 << 20),
                        len: 0,
                        torn: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("u32 suffixes exhausted")
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a frame to the pending group; nothing is written until [`WalWriter::commit`].
    pub fn push(&mut self, seq: u64, payload: &[u8]) {
        put_frame(&mut self.buf, seq, payload);
    }

    /// Writes the pending group with one write and makes it durable with one fdatasync.
    /// On failure (a full disk, say) the group is dropped and the file is cut back to its
    /// last whole frame, now or before the next write, so a failed group never leaves a
    /// torn frame in front of later, acknowledged ones.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.cut_torn_tail().and_then(|()| {
            self.torn = true;
            self.file.write_all(&self.buf)?;
            self.file.sync_data()
        });
        match result {
            Ok(()) => {
                self.torn = false;
                self.len += self.buf.len() as u64;
            }
            Err(_) => {
                // Best effort now; retried before the next write if it fails.
                let _ = self.cut_torn_tail();
            }
        }
        self.buf.clear();
        result
    }

    fn cut_torn_tail(&mut self) -> io::Result<()> {
        if self.torn {
            self.file.set_len(self.len)?;
            self.file.sync_data()?;
            self.torn = false;
        }
        Ok(())
    }
}

/// Makes a directory's entries (new, renamed or removed files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// One frame read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Sequence number.
    pub seq: u64,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Reads a segment's whole frames. Returns them and the length of the valid prefix, so the
/// caller can cut off a torn tail.
pub fn read_segment(path: &Path) -> io::Result<(Vec<Frame>, u64)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    Ok(parse_frames(&bytes))
}

/// One frame as it is written to a segment.
pub fn encode_frame(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    put_frame(&mut out, seq, payload);
    out
}

/// Appends one frame to `out`: a group's frames go straight into its buffer.
fn put_frame(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(payload);
    out.reserve(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The whole frames at the start of a segment's bytes, and the length of that prefix.
/// Never fails: whatever the bytes, reading stops at the first frame that is not whole.
pub fn parse_frames(bytes: &[u8]) -> (Vec<Frame>, u64) {
    let mut frames = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        if len > MAX_PAYLOAD || bytes.len() - at - HEADER < len {
            break;
        }
        let body = &bytes[at + 8..at + HEADER + len];
        if crc32fast::hash(body) != crc {
            break;
        }
        let seq = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
        frames.push(Frame {
            seq,
            payload: body[8..].to_vec(),
        });
        at += HEADER + len;
    }
    (frames, at as u64)
}

/// Segments in a directory, oldest first.
pub fn list_segments(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "wal") {
                    paths.push(path);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    paths.sort();
    Ok(paths)
}

/// Reads every segment, cutting any torn tail off its file so later appends and replays
/// start from whole frames. Returns each segment with its frames, oldest first.
pub fn replay(dir: &Path) -> io::Result<Vec<(PathBuf, Vec<Frame>)>> {
    let mut out = Vec::new();
    for path in list_segments(dir)? {
        let (frames, valid) = read_segment(&path)?;
        if fs::metadata(&path)?.len() > valid {
            tracing::warn!(path = %path.display(), valid, "cutting torn tail off write-ahead log");
            OpenOptions::new().write(true).open(&path)?.set_len(valid)?;
        }
        out.push((path, frames));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_frames(dir: &Path) -> Vec<Frame> {
        replay(dir)
            .unwrap()
            .into_iter()
            .flat_map(|(_, f)| f)
            .collect()
    }

    fn write_all(dir: &Path, payloads: &[Vec<u8>], group: usize) -> PathBuf {
        let mut w = WalWriter::create(dir, 1).unwrap();
        for (i, chunk) in payloads.chunks(group.max(1)).enumerate() {
            for (j, p) in chunk.iter().enumerate() {
                w.push((i * group.max(1) + j + 1) as u64, p);
            }
            w.commit().unwrap();
        }
        w.path().to_owned()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever prefix of the file survives a crash, replay returns exactly the frames
        /// that are wholly inside it, in order, and nothing else.
        #[test]
        fn replay_after_truncation_returns_whole_frames(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..40),
            group in 1usize..8,
            cut in any::<prop::sample::Index>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = write_all(dir.path(), &payloads, group);
            let full = fs::metadata(&path).unwrap().len();
            let keep = cut.index(full as usize + 1) as u64;
            OpenOptions::new().write(true).open(&path).unwrap().set_len(keep).unwrap();
            let frames = all_frames(dir.path());
            let mut offset = 0u64;
            let mut expected = 0usize;
            for p in &payloads {
                offset += (HEADER + p.len()) as u64;
                if offset <= keep { expected += 1 } else { break }
            }
            prop_assert_eq!(frames.len(), expected);
            for (i, f) in frames.iter().enumerate() {
                prop_assert_eq!(f.seq, i as u64 + 1);
                prop_assert_eq!(&f.payload, &payloads[i]);
            }
            // The torn tail is gone, so a second replay agrees and appends start clean.
            let again = all_frames(dir.path());
            prop_assert_eq!(again, frames);
        }

        /// A flipped byte never yields a wrong frame: replay stops at the damaged frame.
        #[test]
        fn corruption_is_detected(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 1..20),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = write_all(dir.path(), &payloads, 3);
            let mut bytes = fs::read(&path).unwrap();
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            fs::write(&path, &bytes).unwrap();
            let frames = all_frames(dir.path());
            for (k, f) in frames.iter().enumerate() {
                prop_assert_eq!(&f.payload, &payloads[k]);
            }
            let mut start = 0usize;
            for p in payloads.iter().take(frames.len()) { start += HEADER + p.len(); }
            prop_assert!(start <= i, "replay returned a frame past the corrupt byte");
        }
    }
}
