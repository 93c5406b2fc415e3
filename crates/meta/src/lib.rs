//! Metadata in SQLite: projects, their public ingest keys and allowed origins, secret API
//! tokens (stored as SHA-256 hashes) and retention. Small, transactional, and separate from
//! the event store.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

/// A project: the unit of data ownership.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Project {
    /// Numeric id, the store's partition key.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Public ingest key (`pk_…`), safe to put in a web page.
    pub public_key: String,
    /// Origins allowed to send data from a browser; `*` allows any.
    pub allowed_origins: Vec<String>,
    /// Days of data kept.
    pub retention_days: u32,
}

impl Project {
    /// Whether a browser origin may send data to this project.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

/// Metadata failures.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// SQLite failed.
    #[error("metadata database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No randomness for keys.
    #[error("cannot read random bytes: {0}")]
    Random(#[from] std::io::Error),
    /// A name already taken.
    #[error("a project named {0:?} already exists")]
    Duplicate(String),
    /// Input that cannot be stored.
    #[error("{0}")]
    Invalid(String),
}

/// The metadata database.
pub struct Meta {
    conn: Mutex<Connection>,
}

fn random_hex(bytes: usize) -> Result<String, MetaError> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL UNIQUE,
    allowed_origins TEXT NOT NULL DEFAULT '[\"*\"]',
    retention_days INTEGER NOT NULL DEFAULT 90,
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);
";

fn row_to_project(row: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    let origins: String = row.get(3)?;
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
        public_key: row.get(2)?,
        allowed_origins: serde_json::from_str(&origins).unwrap_or_default(),
        retention_days: row.get(4)?,
    })
}

const SELECT: &str = "SELECT id, name, public_key, allowed_origins, retention_days FROM projects";

impl Meta {
    /// Opens or creates the database file.
    pub fn open(path: &Path) -> Result<Meta, MetaError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Meta {
            conn: Mutex::new(conn),
        })
    }

    /// Creates a project; returns it with a new secret API token, shown only this once.
    pub fn create_project(
        &self,
        name: &str,
        allowed_origins: &[String],
        retention_days: u32,
    ) -> Result<(Project, String), MetaError> {
        if name.trim().is_empty() {
            return Err(MetaError::Invalid("project name must not be empty".into()));
        }
        let origins = if allowed_origins.is_empty() {
            vec!["*".to_owned()]
        } else {
            allowed_origins.to_vec()
        };
        let public_key = format!("pk_{}", random_hex(12)?);
        let conn = self.conn.lock().expect("meta lock");
        let inserted = conn.execute(
            "INSERT INTO projects (name, public_key, allowed_origins, retention_days) VALUES (?1, ?2, ?3, ?4)",
            params![name, public_key, serde_json::to_string(&origins).expect("strings"), retention_days],
        );
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(MetaError::Duplicate(name.to_owned()));
            }
            other => other?,
        };
        let id = conn.last_insert_rowid() as u32;
        drop(conn);
        let token = self.create_token(id)?;
        let project = self.project_by_id(id)?.expect("just inserted");
        Ok((project, token))
    }

    /// Issues another secret API token for a project.
    pub fn create_token(&self, project_id: u32) -> Result<String, MetaError> {
        let token = format!("vt_{}", random_hex(24)?);
        self.conn.lock().expect("meta lock").execute(
            "INSERT INTO api_tokens (token_hash, project_id) VALUES (?1, ?2)",
            params![hash_token(&token), project_id],
        )?;
        Ok(token)
    }

    /// The project a public key belongs to.
    pub fn project_by_key(&self, public_key: &str) -> Result<Option<Project>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(
                &format!("{SELECT} WHERE public_key = ?1"),
                [public_key],
                row_to_project,
            )
            .optional()?)
    }

    /// The project a secret API token reads.
    pub fn project_by_token(&self, token: &str) -> Result<Option<Project>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(
                &format!(
                    "{SELECT} WHERE id = (SELECT project_id FROM api_tokens WHERE token_hash = ?1)"
                ),
                [hash_token(token)],
                row_to_project,
            )
            .optional()?)
    }

    /// A project by id.
    pub fn project_by_id(&self, id: u32) -> Result<Option<Project>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(&format!("{SELECT} WHERE id = ?1"), [id], row_to_project)
            .optional()?)
    }

    /// A project by name.
    pub fn project_by_name(&self, name: &str) -> Result<Option<Project>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(&format!("{SELECT} WHERE name = ?1"), [name], row_to_project)
            .optional()?)
    }

    /// Every project.
    pub fn projects(&self) -> Result<Vec<Project>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY id"))?;
        let rows = stmt.query_map([], row_to_project)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces a project's allowed origins.
    pub fn set_allowed_origins(&self, id: u32, origins: &[String]) -> Result<(), MetaError> {
        self.conn.lock().expect("meta lock").execute(
            "UPDATE projects SET allowed_origins = ?1 WHERE id = ?2",
            params![serde_json::to_string(origins).expect("strings"), id],
        )?;
        Ok(())
    }

    /// Sets a project's retention.
    pub fn set_retention_days(&self, id: u32, days: u32) -> Result<(), MetaError> {
        if days == 0 {
            return Err(MetaError::Invalid(
                "retention must be at least 1 day".into(),
            ));
        }
        self.conn.lock().expect("meta lock").execute(
            "UPDATE projects SET retention_days = ?1 WHERE id = ?2",
            params![days, id],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_find_their_own_project_only() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.db")).unwrap();
        let (a, token_a) = meta
            .create_project("a", &["https://a.example".into()], 30)
            .unwrap();
        let (b, token_b) = meta.create_project("b", &[], 90).unwrap();
        assert!(a.public_key.starts_with("pk_") && token_a.starts_with("vt_"));
        assert_eq!(
            meta.project_by_key(&a.public_key).unwrap().unwrap().id,
            a.id
        );
        assert_eq!(meta.project_by_token(&token_a).unwrap().unwrap().id, a.id);
        assert_eq!(meta.project_by_token(&token_b).unwrap().unwrap().id, b.id);
        assert!(meta.project_by_token("vt_nope").unwrap().is_none());
        assert!(meta.project_by_token(&a.public_key).unwrap().is_none());
        assert!(a.allows_origin("https://a.example") && !a.allows_origin("https://evil.example"));
        assert!(b.allows_origin("https://anything.example"));
        assert!(matches!(
            meta.create_project("a", &[], 1),
            Err(MetaError::Duplicate(_))
        ));
    }
}
