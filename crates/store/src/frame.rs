//! The payload of a log frame: one batch's [`Rows`].
//!
//! Every payload starts with its format. Format 1 (before [`Rows`]) is the JSON of an
//! enriched wire batch, recognised by its `{`, and read by `vigil_model::legacy`. Formats 2
//! and 3 are the rows' own encoding ([`vigil_model::ROWS_FORMAT`]), written as the intake
//! built it; it names tables and columns instead of wire fields, so renaming or removing a
//! wire field never makes a log unreadable. Format 3 keeps a vital's value at 0.0001 where
//! format 2 kept 0.001; format-2 frames are rescaled as they are read. Format 4 may hold
//! spans and logs, which a format-3 reader would skip, and format 5 mobile janks, which a
//! format-4 reader would skip. Format 6 writes a batch's context once for all its tables;
//! frames of formats 3 to 5 read as they are.

use vigil_model::{ROWS_FORMAT, Rows};

/// The format this build writes.
pub const FRAME_FORMAT: u8 = ROWS_FORMAT;
/// The first byte of a format-1 (JSON) payload.
const LEGACY_JSON: u8 = b'{';

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Written by a newer release in a format this build does not know.
    Newer(u8),
    /// Damaged or malformed.
    Bad(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Newer(format) => write!(
                f,
                "log frame format {format} is newer than this build reads (up to {FRAME_FORMAT})"
            ),
            FrameError::Bad(why) => write!(f, "unreadable log frame: {why}"),
        }
    }
}

/// Reads a payload of any format this build knows.
pub fn decode(payload: &[u8]) -> Result<Rows, FrameError> {
    match payload.first() {
        Some(&(2..=FRAME_FORMAT)) => Rows::from_encoded(payload).map_err(FrameError::Bad),
        Some(&LEGACY_JSON) => {
            vigil_model::legacy::rows_of_v1_frame(payload).map_err(FrameError::Bad)
        }
        // Formats 7 to 122 are for later releases; other first bytes are damage.
        Some(&other) if other > FRAME_FORMAT && other < LEGACY_JSON => {
            Err(FrameError::Newer(other))
        }
        Some(&other) => Err(FrameError::Bad(format!("unknown log frame format {other}"))),
        None => Err(FrameError::Bad("empty log frame".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_model::conformance::session_batch;

    #[test]
    fn rows_survive_the_log() {
        let rows = session_batch(7, "s-1", "ann", 1_800_000_000_000, 5);
        let back = decode(rows.encoded()).unwrap();
        assert_eq!(back, rows);
        assert_eq!(back.batches(), rows.batches());
        // The context is written once per column, not once per row. A client span row
        // carries its own ids, name and URL (about 180 bytes), none of them context.
        let json_like: usize = rows
            .tables()
            .iter()
            .map(|(t, n)| n * if t.is_event() { 100 } else { 200 })
            .sum();
        assert!(
            rows.encoded().len() < json_like,
            "{} bytes",
            rows.encoded().len()
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_or_valid_rows_never_a_panic() {
        let rows = session_batch(1, "s", "u", 1_800_000_000_000, 2);
        let bytes = rows.encoded();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 1..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.to_vec();
                b[i] ^= 1 << bit;
                if let Ok(rows) = decode(&b) {
                    // What reads back builds batches of its tables' schemas.
                    for (table, batch) in rows.batches() {
                        assert_eq!(batch.schema(), table.schema());
                    }
                }
            }
        }
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let err = decode(&[9, 0, 0]).unwrap_err();
        assert_eq!(err, FrameError::Newer(9));
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
