//! The manifest: which Parquet segments exist and how far the write-ahead log has been
//! flushed into them. It is replaced atomically (write, fsync, rename, fsync the folder), so
//! a crash leaves either the old or the new one, never a mix.

use crate::wal::sync_dir;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use vigil_model::ProjectId;

const FILE: &str = "manifest.json";

/// The manifest format this build writes. Version 0 is the unversioned format of the
/// first releases, the same fields without `version`; it is read as it is. Version 2: view
/// segments may hold vitals folded into their rows ([`crate::fold`]), which a version-1
/// reader would not see, so it must refuse the folder; this build reads 0, 1 and 2 alike
/// (a segment without folded columns simply has none). Version 3: a vital's value is kept
/// at 0.0001 instead of 0.001; the store rewrites the segments of an older folder when it
/// opens it ([`crate::migrate`]). Version 4: the folder may hold `spans` and `logs`
/// segments, which an older release would neither read nor keep under retention, so it
/// must refuse the folder; this build reads version 3 as it is. Version 5: the folder may
/// hold `janks` segments (mobile), for the same reason; version 4 reads as it is. Version 6:
/// segments may hold view ids relative to their session's ([`crate::view_ids`]), which an
/// older release would read as ids of their own, so it must refuse the folder; whole ids
/// read back as they are, so version 5 reads as it is. Version 7: view segments store some
/// timings as differences ([`crate::deltas`]); the store rewrites the view segments of an
/// older folder when it opens it ([`crate::migrate`]). Version 8: segments store page URLs
/// without their path ([`crate::page_urls`]), which an older release would read as they
/// are, so it must refuse the folder; whole URLs read back as they are, so the store
/// rewrites only the segments of an older folder holding a URL with a mark of that form.
/// Segments keep their rows grouped by hour, device and country, no longer in time order;
/// no reader depends on the order, so that needed no version. Version 9: segments store
/// session ids of the agent's form relative to their row's time ([`crate::session_ids`]);
/// as for version 8, an older release must refuse the folder, and the store rewrites only
/// the segments of an older folder holding a session id with a mark of that form.
pub const MANIFEST_VERSION: u32 = 9;

/// One Parquet segment: a table's rows of one project and one UTC day, in the order of
/// `segment::RowOrder` (by hour, device and place, then time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentFile {
    /// Owner.
    pub project: ProjectId,
    /// Table name.
    pub table: String,
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Path relative to the data folder.
    pub path: String,
    /// Row count.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
    /// Earliest `ts`.
    pub min_ts: i64,
    /// Latest `ts`.
    pub max_ts: i64,
}

/// The store's durable index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_VERSION`] when written by this build; 0 when absent).
    #[serde(default)]
    pub version: u32,
    /// Every log frame up to this sequence number is in the segments.
    pub flushed_seq: u64,
    /// Next number for a segment file name.
    pub next_file_id: u64,
    /// The live segments.
    pub files: Vec<SegmentFile>,
}

impl Manifest {
    /// Reads the manifest of a data folder, or an empty one for a new folder.
    pub fn load(dir: &Path) -> io::Result<Manifest> {
        let manifest: Manifest = match fs::read(dir.join(FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("manifest: {e}"))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(e) => return Err(e),
        };
        if manifest.version > MANIFEST_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "manifest version {} was written by a newer vigil (this one reads up to {MANIFEST_VERSION})",
                    manifest.version
                ),
            ));
        }
        Ok(manifest)
    }

    /// Replaces the manifest atomically and durably.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{FILE}.tmp"));
        let mut f = fs::File::create(&tmp)?;
        let current = Manifest {
            version: MANIFEST_VERSION,
            ..self.clone()
        };
        f.write_all(&serde_json::to_vec(&current).map_err(io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(FILE))?;
        sync_dir(dir)
    }
}

/// The UTC day of a timestamp in ms, as `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
pub fn day_of(ts_ms: i64) -> String {
    let z = ts_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_764_000_000_000), "2025-11-24");
        assert_eq!(day_of(951_782_400_000), "2000-02-29");
        assert_eq!(day_of(-1), "1969-12-31");
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Manifest::default());
        let m = Manifest {
            version: MANIFEST_VERSION,
            flushed_seq: 7,
            next_file_id: 3,
            files: vec![],
        };
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
    }

    /// A manifest from before versions (the first releases wrote exactly this) still opens
    /// and answers the same; one from a newer release is refused rather than misread.
    #[test]
    fn unversioned_manifests_open_and_newer_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{"flushed_seq":42,"next_file_id":2,"files":[{"project":1,"table":"views","day":"2025-11-24","path":"segments/p1/2025-11-24/views-0000000001.parquet","rows":10,"bytes":999,"min_ts":1764000000000,"max_ts":1764000009000}]}"#;
        fs::write(dir.path().join(FILE), old).unwrap();
        let m = Manifest::load(dir.path()).unwrap();
        assert_eq!((m.version, m.flushed_seq, m.files.len()), (0, 42, 1));
        assert_eq!(m.files[0].rows, 10);
        m.save(dir.path()).unwrap();
        assert_eq!(
            Manifest::load(dir.path()).unwrap().version,
            MANIFEST_VERSION
        );

        fs::write(
            dir.path().join(FILE),
            old.replacen('{', r#"{"version":99,"#, 1),
        )
        .unwrap();
        let err = Manifest::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("newer vigil"), "{err}");
    }
}
