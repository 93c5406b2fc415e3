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

/// A secret API token as listed: never the token itself, which is shown once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Id, to revoke it by.
    pub id: i64,
    /// Its last four characters, to tell tokens apart.
    pub hint: String,
    /// When it was issued, seconds since the epoch.
    pub created_at: i64,
}

/// A person who logs in to the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Numeric id.
    pub id: i64,
    /// Login name.
    pub email: String,
}

/// A logged-in browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    /// Whose session it is.
    pub user: User,
    /// The token that state-changing requests must echo in `X-CSRF-Token`.
    pub csrf_token: String,
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

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn hash_password(password: &str) -> Result<String, MetaError> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| MetaError::Invalid(format!("cannot hash password: {e}")))
}

fn password_matches(password: &str, stored: &str) -> bool {
    use argon2::password_hash::{PasswordVerifier, phc::PasswordHash};
    PasswordHash::new(stored).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
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
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE IF NOT EXISTS memberships (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id)
);
CREATE TABLE IF NOT EXISTS login_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    expires_at INTEGER NOT NULL
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
        // Databases made before tokens had a hint gain the column (old tokens show none).
        let has_hint: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('api_tokens') WHERE name = 'hint'",
            [],
            |r| r.get(0),
        )?;
        if !has_hint {
            conn.execute_batch("ALTER TABLE api_tokens ADD COLUMN hint TEXT NOT NULL DEFAULT ''")?;
        }
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
            "INSERT INTO api_tokens (token_hash, project_id, hint) VALUES (?1, ?2, ?3)",
            params![hash_token(&token), project_id, &token[token.len() - 4..]],
        )?;
        Ok(token)
    }

    /// A project's API tokens, oldest first.
    pub fn tokens(&self, project_id: u32) -> Result<Vec<TokenInfo>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let mut stmt = conn.prepare(
            "SELECT rowid, hint, created_at FROM api_tokens WHERE project_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([project_id], |r| {
            Ok(TokenInfo {
                id: r.get(0)?,
                hint: r.get(1)?,
                created_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes one of a project's API tokens; false when it has no such token.
    pub fn revoke_token(&self, project_id: u32, token_id: i64) -> Result<bool, MetaError> {
        let n = self.conn.lock().expect("meta lock").execute(
            "DELETE FROM api_tokens WHERE project_id = ?1 AND rowid = ?2",
            params![project_id, token_id],
        )?;
        Ok(n > 0)
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

impl Meta {
    /// Creates a user (argon2id password hash) or, when the email exists, sets its password.
    pub fn upsert_user(&self, email: &str, password: &str) -> Result<User, MetaError> {
        if !email.contains('@') || password.len() < 8 {
            return Err(MetaError::Invalid(
                "a user needs an email and a password of 8+ characters".into(),
            ));
        }
        let hash = hash_password(password)?;
        let conn = self.conn.lock().expect("meta lock");
        conn.execute(
            "INSERT INTO users (email, password_hash) VALUES (?1, ?2)
             ON CONFLICT(email) DO UPDATE SET password_hash = excluded.password_hash",
            params![email, hash],
        )?;
        let id = conn.query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
            r.get(0)
        })?;
        Ok(User {
            id,
            email: email.to_owned(),
        })
    }

    /// A user by email (any case), if one exists.
    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(
                "SELECT id, email FROM users WHERE email = ?1",
                [email],
                |r| {
                    Ok(User {
                        id: r.get(0)?,
                        email: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Creates a user with a generated password, returned only this once.
    pub fn create_user_with_password(&self, email: &str) -> Result<(User, String), MetaError> {
        let password = random_hex(9)?;
        if self.user_by_email(email)?.is_some() {
            return Err(MetaError::Invalid(format!(
                "a user {email:?} already exists"
            )));
        }
        Ok((self.upsert_user(email, &password)?, password))
    }

    /// The members of a project, by email.
    pub fn members(&self, project_id: u32) -> Result<Vec<User>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let mut stmt = conn.prepare(
            "SELECT u.id, u.email FROM users u JOIN memberships m ON m.user_id = u.id
             WHERE m.project_id = ?1 ORDER BY u.email",
        )?;
        let rows = stmt.query_map([project_id], |r| {
            Ok(User {
                id: r.get(0)?,
                email: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Takes a user's access to a project away; false when they had none.
    pub fn remove_member(&self, user_id: i64, project_id: u32) -> Result<bool, MetaError> {
        let n = self.conn.lock().expect("meta lock").execute(
            "DELETE FROM memberships WHERE user_id = ?1 AND project_id = ?2",
            params![user_id, project_id],
        )?;
        Ok(n > 0)
    }

    /// Lets a user read a project.
    pub fn add_member(&self, user_id: i64, project_id: u32) -> Result<(), MetaError> {
        self.conn.lock().expect("meta lock").execute(
            "INSERT OR IGNORE INTO memberships (user_id, project_id) VALUES (?1, ?2)",
            params![user_id, project_id],
        )?;
        Ok(())
    }

    /// The projects a user belongs to.
    pub fn user_projects(&self, user_id: i64) -> Result<Vec<Project>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let mut stmt = conn.prepare(&format!(
            "{SELECT} WHERE id IN (SELECT project_id FROM memberships WHERE user_id = ?1) ORDER BY id"
        ))?;
        let rows = stmt.query_map([user_id], row_to_project)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks a password; on success opens a session and returns its secret cookie value.
    pub fn login(
        &self,
        email: &str,
        password: &str,
        ttl_secs: i64,
    ) -> Result<Option<(String, LoginSession)>, MetaError> {
        let found: Option<(i64, String, String)> = self
            .conn
            .lock()
            .expect("meta lock")
            .query_row(
                "SELECT id, email, password_hash FROM users WHERE email = ?1",
                [email],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        // Verify even for unknown emails so both cases take the same time.
        static DUMMY: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| hash_password("not a real password").unwrap_or_default());
        let ok = password_matches(
            password,
            found.as_ref().map_or(DUMMY.as_str(), |f| f.2.as_str()),
        );
        let Some((id, email, _)) = found.filter(|_| ok) else {
            return Ok(None);
        };
        let token = format!("vs_{}", random_hex(24)?);
        let csrf = random_hex(16)?;
        self.conn.lock().expect("meta lock").execute(
            "INSERT INTO login_sessions (token_hash, user_id, csrf_token, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![hash_token(&token), id, csrf, now_secs() + ttl_secs],
        )?;
        Ok(Some((
            token,
            LoginSession {
                user: User { id, email },
                csrf_token: csrf,
            },
        )))
    }

    /// Changes a user's password if `current` is right; ends their other sessions (all but
    /// the one named by `keep`). False when `current` is wrong.
    pub fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        keep: &str,
    ) -> Result<bool, MetaError> {
        if new.len() < 8 {
            return Err(MetaError::Invalid(
                "the new password needs 8+ characters".into(),
            ));
        }
        let stored: String = self.conn.lock().expect("meta lock").query_row(
            "SELECT password_hash FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )?;
        if !password_matches(current, &stored) {
            return Ok(false);
        }
        let hash = hash_password(new)?;
        let conn = self.conn.lock().expect("meta lock");
        conn.execute(
            "UPDATE users SET password_hash = ?1 WHERE id = ?2",
            params![hash, user_id],
        )?;
        conn.execute(
            "DELETE FROM login_sessions WHERE user_id = ?1 AND token_hash <> ?2",
            params![user_id, hash_token(keep)],
        )?;
        Ok(true)
    }

    /// The live session a cookie value names.
    pub fn session(&self, token: &str) -> Result<Option<LoginSession>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(
                "SELECT u.id, u.email, s.csrf_token FROM login_sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![hash_token(token), now_secs()],
                |r| Ok(LoginSession { user: User { id: r.get(0)?, email: r.get(1)? }, csrf_token: r.get(2)? }),
            )
            .optional()?)
    }

    /// Ends a session.
    pub fn logout(&self, token: &str) -> Result<(), MetaError> {
        self.conn.lock().expect("meta lock").execute(
            "DELETE FROM login_sessions WHERE token_hash = ?1",
            [hash_token(token)],
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

    #[test]
    fn users_log_in_and_see_their_projects_only() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.db")).unwrap();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        meta.create_project("b", &[], 30).unwrap();
        let user = meta
            .upsert_user("ann@example.com", "correct horse")
            .unwrap();
        meta.add_member(user.id, a.id).unwrap();
        assert_eq!(meta.user_projects(user.id).unwrap(), vec![a]);
        assert!(
            meta.login("ann@example.com", "wrong horse", 60)
                .unwrap()
                .is_none()
        );
        assert!(
            meta.login("bob@example.com", "correct horse", 60)
                .unwrap()
                .is_none()
        );
        let (token, session) = meta
            .login("ann@example.com", "correct horse", 60)
            .unwrap()
            .unwrap();
        assert_eq!(meta.session(&token).unwrap(), Some(session));
        meta.logout(&token).unwrap();
        assert_eq!(meta.session(&token).unwrap(), None);
        let (expired, _) = meta
            .login("ann@example.com", "correct horse", -1)
            .unwrap()
            .unwrap();
        assert_eq!(meta.session(&expired).unwrap(), None);
        let stored: String = meta
            .conn
            .lock()
            .unwrap()
            .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
    }
}
