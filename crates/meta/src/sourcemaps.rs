//! The index of uploaded source maps: per project, release and bundle URL, the map's and
//! the minified script's file names (their SHA-256), sizes and debug id. The files live in
//! the data folder; `vigil-errors` writes and reads them.

use crate::db::Row;
use crate::{Meta, MetaError, params};

/// One uploaded bundle: its source map, its minified script, or both.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceMapEntry {
    /// Id, to delete it by.
    pub id: i64,
    /// The release it belongs to.
    pub release: String,
    /// The bundle's URL: absolute, or `~/path` for any host.
    pub url: String,
    /// The debug id shared by the bundle and its map, lowercase with dashes.
    pub debug_id: Option<String>,
    /// The map's file name, when uploaded.
    pub map_file: Option<String>,
    /// The map's size.
    pub map_bytes: i64,
    /// The minified script's file name, when uploaded.
    pub source_file: Option<String>,
    /// The script's size.
    pub source_bytes: i64,
    /// When last uploaded, seconds since the epoch.
    pub uploaded_at: i64,
}

/// Which of a bundle's two files an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleFile {
    /// The source map.
    Map,
    /// The minified script.
    Source,
}

/// A file of a bundle, as written to the data folder.
#[derive(Debug, Clone, Copy)]
pub struct UploadedFile<'a> {
    /// Which of the bundle's files.
    pub kind: BundleFile,
    /// Its file name in the project's folder.
    pub name: &'a str,
    /// Its size.
    pub bytes: i64,
    /// The debug id it names.
    pub debug_id: Option<&'a str>,
}

const COLUMNS: &str = "id, release, url, debug_id, map_file, map_bytes, source_file, \
                       source_bytes, uploaded_at";

fn row_to_entry(r: &Row) -> Result<SourceMapEntry, MetaError> {
    Ok(SourceMapEntry {
        id: r.get(0)?,
        release: r.get(1)?,
        url: r.get(2)?,
        debug_id: r.get(3)?,
        map_file: r.get(4)?,
        map_bytes: r.get(5)?,
        source_file: r.get(6)?,
        source_bytes: r.get(7)?,
        uploaded_at: r.get(8)?,
    })
}

/// Per project, what its uploads hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceMapTotals {
    /// Bundles indexed.
    pub bundles: i64,
    /// Releases with at least one.
    pub releases: i64,
    /// Bytes of maps and scripts.
    pub bytes: i64,
}

impl Meta {
    /// Records an uploaded file of a bundle, replacing the same kind of file uploaded before
    /// for the same release and URL. Returns the entry and the file it replaced, which the
    /// caller removes when nothing else names it.
    pub fn put_sourcemap_file(
        &self,
        project_id: u32,
        release: &str,
        url: &str,
        upload: &UploadedFile<'_>,
    ) -> Result<(SourceMapEntry, Option<String>), MetaError> {
        let UploadedFile {
            kind,
            name: file,
            bytes,
            debug_id,
        } = *upload;
        let (file_col, bytes_col) = match kind {
            BundleFile::Map => ("map_file", "map_bytes"),
            BundleFile::Source => ("source_file", "source_bytes"),
        };
        self.write(|q| {
            let before: Option<(i64, Option<String>)> = q.query_opt(
                &format!(
                    "SELECT id, {file_col} FROM sourcemaps WHERE project_id = ?1 AND release = ?2 AND url = ?3"
                ),
                params![project_id, release, url],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (id, replaced) = match before {
                Some((id, old)) => {
                    q.execute(
                        &format!(
                            "UPDATE sourcemaps SET {file_col} = ?1, {bytes_col} = ?2, \
                             debug_id = COALESCE(?3, debug_id), uploaded_at = unixepoch() WHERE id = ?4"
                        ),
                        params![file, bytes, debug_id, id],
                    )?;
                    (id, old.filter(|old| old != file))
                }
                None => {
                    let id: i64 = q.query_row(
                        &format!(
                            "INSERT INTO sourcemaps (project_id, release, url, debug_id, {file_col}, {bytes_col}) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id"
                        ),
                        params![project_id, release, url, debug_id, file, bytes],
                        |r| r.get(0),
                    )?;
                    (id, None)
                }
            };
            let entry = q.query_row(
                &format!("SELECT {COLUMNS} FROM sourcemaps WHERE id = ?1"),
                params![id],
                row_to_entry,
            )?;
            Ok((entry, replaced))
        })
    }

    /// A project's uploads, newest release first, then by URL.
    pub fn sourcemaps(&self, project_id: u32) -> Result<Vec<SourceMapEntry>, MetaError> {
        self.read(|q| {
            q.query_map(
                &format!(
                    "SELECT {COLUMNS} FROM sourcemaps WHERE project_id = ?1 \
                     ORDER BY uploaded_at DESC, release DESC, url"
                ),
                params![project_id],
                row_to_entry,
            )
        })
    }

    /// The newest bundle uploaded with this debug id in the project.
    pub fn sourcemap_by_debug_id(
        &self,
        project_id: u32,
        debug_id: &str,
    ) -> Result<Option<SourceMapEntry>, MetaError> {
        self.read(|q| {
            q.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM sourcemaps WHERE project_id = ?1 AND debug_id = ?2 \
                     AND map_file IS NOT NULL ORDER BY uploaded_at DESC, id DESC LIMIT 1"
                ),
                params![project_id, debug_id],
                row_to_entry,
            )
        })
    }

    /// The bundle of a release uploaded under the first of `urls` that has one.
    pub fn sourcemap_by_url(
        &self,
        project_id: u32,
        release: &str,
        urls: &[&str],
    ) -> Result<Option<SourceMapEntry>, MetaError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM sourcemaps WHERE project_id = ?1 AND release = ?2 AND url = ?3"
        );
        self.read(|q| {
            for url in urls {
                if let Some(entry) =
                    q.query_opt(&sql, params![project_id, release, url], row_to_entry)?
                {
                    return Ok(Some(entry));
                }
            }
            Ok(None)
        })
    }

    /// Whether a release of the project has any source map.
    pub fn release_has_sourcemaps(
        &self,
        project_id: u32,
        release: &str,
    ) -> Result<bool, MetaError> {
        self.read(|q| {
            q.query_row(
                "SELECT EXISTS (SELECT 1 FROM sourcemaps WHERE project_id = ?1 AND release = ?2 \
                 AND map_file IS NOT NULL)",
                params![project_id, release],
                |r| r.get(0),
            )
        })
    }

    /// Removes an upload; returns it (its files are the caller's to remove when nothing
    /// else names them), or `None` when the project has no such id.
    pub fn delete_sourcemap(
        &self,
        project_id: u32,
        id: i64,
    ) -> Result<Option<SourceMapEntry>, MetaError> {
        // It reads, then writes: the write lock first, so another process's write in
        // between makes it wait instead of fail.
        self.write(|q| {
            let entry = q.query_opt(
                &format!("SELECT {COLUMNS} FROM sourcemaps WHERE project_id = ?1 AND id = ?2"),
                params![project_id, id],
                row_to_entry,
            )?;
            if entry.is_some() {
                q.execute("DELETE FROM sourcemaps WHERE id = ?1", params![id])?;
            }
            Ok(entry)
        })
    }

    /// Whether any upload of the project still names this file.
    pub fn sourcemap_file_in_use(&self, project_id: u32, file: &str) -> Result<bool, MetaError> {
        self.read(|q| {
            q.query_row(
                "SELECT EXISTS (SELECT 1 FROM sourcemaps WHERE project_id = ?1 \
                 AND (map_file = ?2 OR source_file = ?2))",
                params![project_id, file],
                |r| r.get(0),
            )
        })
    }

    /// How many bundles, releases and bytes a project's uploads hold.
    pub fn sourcemap_totals(&self, project_id: u32) -> Result<SourceMapTotals, MetaError> {
        self.read(|q| {
            q.query_row(
                "SELECT COUNT(*), COUNT(DISTINCT release), \
                 COALESCE(CAST(SUM(map_bytes + source_bytes) AS BIGINT), 0) \
                 FROM sourcemaps WHERE project_id = ?1",
                params![project_id],
                |r| {
                    Ok(SourceMapTotals {
                        bundles: r.get(0)?,
                        releases: r.get(1)?,
                        bytes: r.get(2)?,
                    })
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{BundleFile, UploadedFile};
    use crate::tests::open;

    #[test]
    fn uploads_replace_by_release_and_url_and_are_found_by_url_or_debug_id() {
        let (_dir, meta) = open();
        let (p, _) = meta.create_project("shop", &[], 30).unwrap();
        let (q, _) = meta.create_project("other", &[], 30).unwrap();
        let id = "c6f1e0a4-5b7d-4e2a-9f13-8d2b6a0c4e51";
        let (first, replaced) = meta
            .put_sourcemap_file(
                p.id,
                "1.0",
                "~/app.js",
                &UploadedFile {
                    kind: BundleFile::Map,
                    name: "aaa.map",
                    bytes: 10,
                    debug_id: Some(id),
                },
            )
            .unwrap();
        assert_eq!(replaced, None);
        let (with_source, _) = meta
            .put_sourcemap_file(
                p.id,
                "1.0",
                "~/app.js",
                &UploadedFile {
                    kind: BundleFile::Source,
                    name: "bbb.js",
                    bytes: 20,
                    debug_id: None,
                },
            )
            .unwrap();
        assert_eq!(with_source.id, first.id);
        assert_eq!(
            with_source.debug_id.as_deref(),
            Some(id),
            "a later file keeps the id"
        );
        let (_, replaced) = meta
            .put_sourcemap_file(
                p.id,
                "1.0",
                "~/app.js",
                &UploadedFile {
                    kind: BundleFile::Map,
                    name: "ccc.map",
                    bytes: 11,
                    debug_id: Some(id),
                },
            )
            .unwrap();
        assert_eq!(replaced.as_deref(), Some("aaa.map"));
        assert!(!meta.sourcemap_file_in_use(p.id, "aaa.map").unwrap());
        assert!(meta.sourcemap_file_in_use(p.id, "ccc.map").unwrap());

        let found = meta
            .sourcemap_by_url(p.id, "1.0", &["https://x/app.js", "~/app.js"])
            .unwrap()
            .unwrap();
        assert_eq!(found.map_file.as_deref(), Some("ccc.map"));
        assert_eq!(found.source_file.as_deref(), Some("bbb.js"));
        assert!(
            meta.sourcemap_by_url(p.id, "2.0", &["~/app.js"])
                .unwrap()
                .is_none()
        );
        assert!(
            meta.sourcemap_by_url(q.id, "1.0", &["~/app.js"])
                .unwrap()
                .is_none()
        );
        assert_eq!(
            meta.sourcemap_by_debug_id(p.id, id).unwrap().unwrap().id,
            first.id
        );
        assert!(
            meta.sourcemap_by_debug_id(q.id, id).unwrap().is_none(),
            "never another project's"
        );
        assert!(meta.release_has_sourcemaps(p.id, "1.0").unwrap());
        assert!(!meta.release_has_sourcemaps(p.id, "2.0").unwrap());
        let totals = meta.sourcemap_totals(p.id).unwrap();
        assert_eq!((totals.bundles, totals.releases, totals.bytes), (1, 1, 31));

        assert!(meta.delete_sourcemap(q.id, first.id).unwrap().is_none());
        assert_eq!(
            meta.delete_sourcemap(p.id, first.id).unwrap().unwrap().id,
            first.id
        );
        assert!(meta.sourcemaps(p.id).unwrap().is_empty());
    }
}
