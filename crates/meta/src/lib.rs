//! Metadata in SQLite: projects, their public ingest keys and allowed origins, secret API
//! tokens (stored as SHA-256 hashes, each with a scope), retention, dashboard users with a
//! role per project, and invitations. Small, transactional, and separate from the event
//! store. The schema carries a version (`PRAGMA user_version`) and migrates in order.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

/// The longest email accepted anywhere (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// The longest password accepted: argon2 hashes any length, but a megabyte of password is
/// only a way to make the server work.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The shortest password accepted.
pub const MIN_PASSWORD_BYTES: usize = 8;

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

/// What a user may do in one project; each role can do everything the ones before it can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the project's data and settings.
    Viewer,
    /// Also lists, issues and revokes read API tokens.
    Member,
    /// Also changes settings, manages every token, members, roles and invitations.
    Owner,
}

/// What an API token may do in its project; each scope can do everything the ones before it can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Reads the project's data and settings.
    Read,
    /// Also replaces the allowed origins (what a deploy script needs).
    IngestAdmin,
    /// Also changes retention.
    Admin,
}

/// Text stored in SQLite for the two enums: the same names as in JSON.
macro_rules! sql_text_enum {
    ($t:ty { $($v:ident = $s:literal),* }) => {
        impl $t {
            /// The name stored and sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl std::str::FromStr for $t {
            type Err = MetaError;
            fn from_str(s: &str) -> Result<Self, MetaError> {
                match s {
                    $($s => Ok(Self::$v),)*
                    _ => Err(MetaError::Invalid(format!("unknown {} {s:?}", stringify!($t).to_lowercase()))),
                }
            }
        }
        impl rusqlite::types::FromSql for $t {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                v.as_str()?.parse().map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
        impl rusqlite::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
    };
}
sql_text_enum!(Role { Viewer = "viewer", Member = "member", Owner = "owner" });
sql_text_enum!(Scope { Read = "read", IngestAdmin = "ingest-admin", Admin = "admin" });

/// A secret API token as listed: never the token itself, which is shown once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Id, to revoke it by.
    pub id: i64,
    /// Its last four characters, to tell tokens apart.
    pub hint: String,
    /// What it may do.
    pub scope: Scope,
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

/// A user's place in one project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    /// The user's id.
    pub id: i64,
    /// Their login name.
    pub email: String,
    /// What they may do in the project.
    pub role: Role,
}

/// An invitation to a project, waiting for its secret link to be opened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invitation {
    /// Id, to revoke it by.
    pub id: i64,
    /// The project it opens.
    pub project_id: u32,
    /// Who may accept it (signed in as this email, or by choosing a password for it).
    pub email: String,
    /// The role given on acceptance.
    pub role: Role,
    /// When it was made, seconds since the epoch.
    pub created_at: i64,
    /// When it stops working, seconds since the epoch.
    pub expires_at: i64,
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
    /// The change would leave a project without an owner.
    #[error("a project keeps at least one owner")]
    LastOwner,
    /// The invited email already belongs to a member of the project.
    #[error("{0:?} is already a member of this project")]
    AlreadyMember(String),
    /// No invitation has this secret, or it expired or was used.
    #[error("no such invitation, or it expired or was used")]
    NoInvitation,
    /// The signed-in user is not the one invited.
    #[error("this invitation is for another email address")]
    WrongUser,
    /// A change raced another one (e.g. two acceptances creating the same account).
    #[error("{0}")]
    Conflict(String),
    /// The database was written by a newer Vigil.
    #[error("meta.db has schema version {found}; this vigil knows versions up to {known}")]
    TooNew {
        /// The database's version.
        found: u32,
        /// The newest version this code migrates to.
        known: u32,
    },
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

fn check_password(password: &str) -> Result<(), MetaError> {
    if (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        Ok(())
    } else {
        Err(MetaError::Invalid(format!(
            "a password needs {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes"
        )))
    }
}

thread_local! {
    /// argon2's 19 MiB of working memory, allocated once per thread and reused. Allocating it
    /// per hash (64-byte aligned, so glibc splits and fragments it) left up to three copies in
    /// each allocator arena the hashing threads touched: ~250 MiB after a few dozen sign-ins.
    /// The API hashes on a few long-lived threads, so sign-in memory stays threads × 19 MiB.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 in this thread's reusable working memory.
fn argon2_into(
    argon: &argon2::Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    ARGON2_MEMORY.with_borrow_mut(|memory| {
        let blocks = argon.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// An argon2id hash of `password` as a PHC string, with argon2's default (OWASP) parameters.
fn hash_password(password: &str) -> Result<String, MetaError> {
    use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
    use argon2::{Algorithm, Argon2, Params, Version};
    let failed = |e: String| MetaError::Invalid(format!("cannot hash password: {e}"));
    let mut salt = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut salt)?;
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon, password.as_bytes(), &salt, &mut out).map_err(|e| failed(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(e.to_string()))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(e.to_string()))?),
        hash: Some(Output::new(&out).map_err(|e| failed(e.to_string()))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches a stored PHC string (argon2 of any variant, version and
/// parameters it names), compared in constant time.
fn password_matches(password: &str, stored: &str) -> bool {
    use argon2::password_hash::phc::{Output, PasswordHash};
    use argon2::{Algorithm, Argon2, Params, Version};
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = phc.version.map(Version::try_from).transpose() else {
        return false;
    };
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut out = vec![0u8; expected.len()];
    argon2_into(&argon, password.as_bytes(), salt.as_ref(), &mut out).is_ok()
        // Output's equality is constant-time.
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Verifies against a real hash even for unknown emails, so both cases take the same time.
fn password_matches_or_dummy(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| hash_password("not a real password").unwrap_or_default());
    password_matches(password, stored.unwrap_or(DUMMY.as_str())) && stored.is_some()
}

fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// The schema as first released, before databases carried a version (`user_version` 0).
/// Databases of that time may also lack `api_tokens.hint`, which was added in place before
/// versions existed; migration 1 adds it where missing.
const SCHEMA_V0: &str = "
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

/// Version 1: roles, token scopes, invitations. Every existing member becomes an owner (they
/// could do everything before) and every existing token stays read-only (all they could do).
fn to_v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let has_hint: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('api_tokens') WHERE name = 'hint'",
        [],
        |r| r.get(0),
    )?;
    if !has_hint {
        tx.execute_batch("ALTER TABLE api_tokens ADD COLUMN hint TEXT NOT NULL DEFAULT ''")?;
    }
    // The column defaults to the least right; the owners are set explicitly.
    tx.execute_batch(
        "ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'viewer';
         UPDATE memberships SET role = 'owner';
         ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read';
         CREATE TABLE invitations (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             email TEXT NOT NULL COLLATE NOCASE,
             role TEXT NOT NULL,
             secret_hash TEXT NOT NULL UNIQUE,
             created_at INTEGER NOT NULL DEFAULT (unixepoch()),
             expires_at INTEGER NOT NULL,
             UNIQUE (project_id, email)
         );",
    )
}

/// Migration `i` takes a database from version `i` to `i + 1`. Append only: a released
/// migration never changes, so every database walks the same steps.
const MIGRATIONS: &[fn(&Transaction<'_>) -> rusqlite::Result<()>] = &[to_v1];

/// The schema version this code writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings a database (new, unversioned or older) to [`SCHEMA_VERSION`], one migration per
/// transaction, so a crash leaves it at a whole version.
fn migrate(conn: &mut Connection) -> Result<(), MetaError> {
    loop {
        // IMMEDIATE: another process (the CLI next to a running server) waits, then sees the
        // version this one wrote.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(MetaError::TooNew {
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version == 0 {
            tx.execute_batch(SCHEMA_V0)?;
        }
        MIGRATIONS[version as usize](&tx)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

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

const SELECT_INVITATION: &str =
    "SELECT id, project_id, email, role, created_at, expires_at FROM invitations";

fn row_to_invitation(r: &rusqlite::Row<'_>) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        id: r.get(0)?,
        project_id: r.get(1)?,
        email: r.get(2)?,
        role: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

/// Opens a login session for a user; its secret cookie value and CSRF token.
fn open_session(
    conn: &Connection,
    user_id: i64,
    ttl_secs: i64,
) -> Result<(String, String), MetaError> {
    let token = format!("vs_{}", random_hex(24)?);
    let csrf = random_hex(16)?;
    // Expired sessions are of no use; dropping them here keeps the table small.
    conn.execute(
        "DELETE FROM login_sessions WHERE expires_at <= ?1",
        [now_secs()],
    )?;
    conn.execute(
        "INSERT INTO login_sessions (token_hash, user_id, csrf_token, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash_token(&token), user_id, csrf, now_secs() + ttl_secs],
    )?;
    Ok((token, csrf))
}

/// Demotes or removes `user_id` only if the project keeps another owner.
fn keep_an_owner(tx: &Transaction<'_>, user_id: i64, project_id: u32) -> Result<(), MetaError> {
    let owners: i64 = tx.query_row(
        "SELECT COUNT(*) FROM memberships WHERE project_id = ?1 AND role = 'owner' AND user_id <> ?2",
        params![project_id, user_id],
        |r| r.get(0),
    )?;
    if owners == 0 {
        Err(MetaError::LastOwner)
    } else {
        Ok(())
    }
}

impl Meta {
    /// Opens or creates the database file, migrating it to the current schema version.
    pub fn open(path: &Path) -> Result<Meta, MetaError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Meta {
            conn: Mutex::new(conn),
        })
    }

    /// Creates a project; returns it with a new read API token, shown only this once.
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
            Err(e) if is_constraint(&e) => return Err(MetaError::Duplicate(name.to_owned())),
            other => other?,
        };
        let id = conn.last_insert_rowid() as u32;
        drop(conn);
        let token = self.create_token(id)?;
        let project = self.project_by_id(id)?.expect("just inserted");
        Ok((project, token))
    }

    /// Issues another read API token for a project.
    pub fn create_token(&self, project_id: u32) -> Result<String, MetaError> {
        Ok(self.create_scoped_token(project_id, Scope::Read)?.1)
    }

    /// Issues an API token with the given scope; its id and the token, shown only this once.
    pub fn create_scoped_token(
        &self,
        project_id: u32,
        scope: Scope,
    ) -> Result<(i64, String), MetaError> {
        let token = format!("vt_{}", random_hex(24)?);
        let conn = self.conn.lock().expect("meta lock");
        conn.execute(
            "INSERT INTO api_tokens (token_hash, project_id, hint, scope) VALUES (?1, ?2, ?3, ?4)",
            params![
                hash_token(&token),
                project_id,
                &token[token.len() - 4..],
                scope
            ],
        )?;
        Ok((conn.last_insert_rowid(), token))
    }

    /// A project's API tokens, oldest first.
    pub fn tokens(&self, project_id: u32) -> Result<Vec<TokenInfo>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let mut stmt = conn.prepare(
            "SELECT rowid, hint, scope, created_at FROM api_tokens WHERE project_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([project_id], |r| {
            Ok(TokenInfo {
                id: r.get(0)?,
                hint: r.get(1)?,
                scope: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The scope of one of a project's tokens, if it has that token.
    pub fn token_scope(&self, project_id: u32, token_id: i64) -> Result<Option<Scope>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(
                "SELECT scope FROM api_tokens WHERE project_id = ?1 AND rowid = ?2",
                params![project_id, token_id],
                |r| r.get(0),
            )
            .optional()?)
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
        Ok(self.token(token)?.map(|(p, _)| p))
    }

    /// The project a secret API token belongs to, and what the token may do there.
    pub fn token(&self, token: &str) -> Result<Option<(Project, Scope)>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(
                "SELECT p.id, p.name, p.public_key, p.allowed_origins, p.retention_days, t.scope
                 FROM api_tokens t JOIN projects p ON p.id = t.project_id WHERE t.token_hash = ?1",
                [hash_token(token)],
                |r| Ok((row_to_project(r)?, r.get(5)?)),
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
    /// The operator's path (`vigil user add`); the API invites instead.
    pub fn upsert_user(&self, email: &str, password: &str) -> Result<User, MetaError> {
        if !email.contains('@') || email.len() > MAX_EMAIL_BYTES {
            return Err(MetaError::Invalid(format!(
                "a user needs an email address of at most {MAX_EMAIL_BYTES} bytes"
            )));
        }
        check_password(password)?;
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

    /// The members of a project with their roles, by email.
    pub fn members(&self, project_id: u32) -> Result<Vec<Member>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let mut stmt = conn.prepare(
            "SELECT u.id, u.email, m.role FROM users u JOIN memberships m ON m.user_id = u.id
             WHERE m.project_id = ?1 ORDER BY u.email",
        )?;
        let rows = stmt.query_map([project_id], |r| {
            Ok(Member {
                id: r.get(0)?,
                email: r.get(1)?,
                role: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Takes a user's access to a project away; false when they had none. Refused for the
    /// project's last owner.
    pub fn remove_member(&self, user_id: i64, project_id: u32) -> Result<bool, MetaError> {
        let mut conn = self.conn.lock().expect("meta lock");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        keep_an_owner(&tx, user_id, project_id)?;
        let n = tx.execute(
            "DELETE FROM memberships WHERE user_id = ?1 AND project_id = ?2",
            params![user_id, project_id],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Changes a member's role; false when they are not a member. Refused when it would
    /// leave the project without an owner.
    pub fn set_role(&self, user_id: i64, project_id: u32, role: Role) -> Result<bool, MetaError> {
        let mut conn = self.conn.lock().expect("meta lock");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if role != Role::Owner {
            keep_an_owner(&tx, user_id, project_id)?;
        }
        let n = tx.execute(
            "UPDATE memberships SET role = ?1 WHERE user_id = ?2 AND project_id = ?3",
            params![role, user_id, project_id],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Makes a user an owner of a project (kept as it is if already a member): the path of
    /// the operator (`vigil user add`) and of a project's creator.
    pub fn add_member(&self, user_id: i64, project_id: u32) -> Result<(), MetaError> {
        self.conn.lock().expect("meta lock").execute(
            "INSERT OR IGNORE INTO memberships (user_id, project_id, role) VALUES (?1, ?2, 'owner')",
            params![user_id, project_id],
        )?;
        Ok(())
    }

    /// The projects a user belongs to.
    pub fn user_projects(&self, user_id: i64) -> Result<Vec<Project>, MetaError> {
        Ok(self
            .user_projects_with_roles(user_id)?
            .into_iter()
            .map(|(p, _)| p)
            .collect())
    }

    /// The projects a user belongs to, each with the user's role there.
    pub fn user_projects_with_roles(
        &self,
        user_id: i64,
    ) -> Result<Vec<(Project, Role)>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let mut stmt = conn.prepare(
            "SELECT p.id, p.name, p.public_key, p.allowed_origins, p.retention_days, m.role
             FROM projects p JOIN memberships m ON m.project_id = p.id
             WHERE m.user_id = ?1 ORDER BY p.id",
        )?;
        let rows = stmt.query_map([user_id], |r| Ok((row_to_project(r)?, r.get(5)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Project `project_id` and the user's role in it, if they belong to it.
    pub fn membership(
        &self,
        user_id: i64,
        project_id: u32,
    ) -> Result<Option<(Project, Role)>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        Ok(conn
            .query_row(
                "SELECT p.id, p.name, p.public_key, p.allowed_origins, p.retention_days, m.role
                 FROM projects p JOIN memberships m ON m.project_id = p.id
                 WHERE m.user_id = ?1 AND p.id = ?2",
                params![user_id, project_id],
                |r| Ok((row_to_project(r)?, r.get(5)?)),
            )
            .optional()?)
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
        let ok = password_matches_or_dummy(password, found.as_ref().map(|f| f.2.as_str()));
        let Some((id, email, _)) = found.filter(|_| ok) else {
            return Ok(None);
        };
        let (token, csrf) = open_session(&self.conn.lock().expect("meta lock"), id, ttl_secs)?;
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
        check_password(new)?;
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

/// Invitations: the only way the API gives someone access. Nothing about the invited email's
/// account is looked at when inviting, so the inviter learns nothing from the answer.
impl Meta {
    /// Invites `email` to a project with `role`; returns the invitation and its secret, shown
    /// only this once (the database keeps its SHA-256). A pending invitation of the same
    /// email to the same project is replaced, so its old link stops working.
    pub fn create_invitation(
        &self,
        project_id: u32,
        email: &str,
        role: Role,
        ttl_secs: i64,
    ) -> Result<(Invitation, String), MetaError> {
        let secret = format!("vi_{}", random_hex(16)?);
        let mut conn = self.conn.lock().expect("meta lock");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let member: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = ?1 AND u.email = ?2",
            params![project_id, email],
            |r| r.get(0),
        )?;
        if member {
            return Err(MetaError::AlreadyMember(email.to_owned()));
        }
        let now = now_secs();
        tx.execute(
            "DELETE FROM invitations WHERE expires_at <= ?1 OR (project_id = ?2 AND email = ?3)",
            params![now, project_id, email],
        )?;
        tx.execute(
            "INSERT INTO invitations (project_id, email, role, secret_hash, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                project_id,
                email,
                role,
                hash_token(&secret),
                now,
                now + ttl_secs
            ],
        )?;
        let invitation = tx.query_row(
            &format!("{SELECT_INVITATION} WHERE id = ?1"),
            [tx.last_insert_rowid()],
            row_to_invitation,
        )?;
        tx.commit()?;
        Ok((invitation, secret))
    }

    /// A project's pending invitations, oldest first.
    pub fn invitations(&self, project_id: u32) -> Result<Vec<Invitation>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let mut stmt = conn.prepare(&format!(
            "{SELECT_INVITATION} WHERE project_id = ?1 AND expires_at > ?2 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![project_id, now_secs()], row_to_invitation)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Withdraws a pending invitation; false when the project has no such invitation.
    pub fn revoke_invitation(&self, project_id: u32, id: i64) -> Result<bool, MetaError> {
        let n = self.conn.lock().expect("meta lock").execute(
            "DELETE FROM invitations WHERE project_id = ?1 AND id = ?2",
            params![project_id, id],
        )?;
        Ok(n > 0)
    }

    /// The live invitation a secret names, and its project.
    pub fn invitation(&self, secret: &str) -> Result<Option<(Invitation, Project)>, MetaError> {
        let conn = self.conn.lock().expect("meta lock");
        let found = conn
            .query_row(
                &format!("{SELECT_INVITATION} WHERE secret_hash = ?1 AND expires_at > ?2"),
                params![hash_token(secret), now_secs()],
                row_to_invitation,
            )
            .optional()?;
        let Some(invitation) = found else {
            return Ok(None);
        };
        let project = conn.query_row(
            &format!("{SELECT} WHERE id = ?1"),
            [invitation.project_id],
            row_to_project,
        )?;
        Ok(Some((invitation, project)))
    }

    /// Uses up the invitation `secret` names and makes `user_id` a member with its role (an
    /// existing membership keeps its role). Returns the project.
    fn consume_invitation(
        tx: &Transaction<'_>,
        secret: &str,
        user_id: i64,
        email: &str,
    ) -> Result<u32, MetaError> {
        let found: Option<(i64, u32, String, Role)> = tx
            .query_row(
                "SELECT id, project_id, email, role FROM invitations WHERE secret_hash = ?1 AND expires_at > ?2",
                params![hash_token(secret), now_secs()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (id, project_id, invited, role) = found.ok_or(MetaError::NoInvitation)?;
        // Same comparison as the users table's NOCASE collation.
        if !invited.eq_ignore_ascii_case(email) {
            return Err(MetaError::WrongUser);
        }
        tx.execute("DELETE FROM invitations WHERE id = ?1", [id])?;
        tx.execute(
            "INSERT OR IGNORE INTO memberships (user_id, project_id, role) VALUES (?1, ?2, ?3)",
            params![user_id, project_id, role],
        )?;
        Ok(project_id)
    }

    /// A signed-in user accepts an invitation addressed to their email.
    pub fn accept_invitation_as(&self, secret: &str, user: &User) -> Result<Project, MetaError> {
        let mut conn = self.conn.lock().expect("meta lock");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let project_id = Self::consume_invitation(&tx, secret, user.id, &user.email)?;
        let project = tx.query_row(
            &format!("{SELECT} WHERE id = ?1"),
            [project_id],
            row_to_project,
        )?;
        tx.commit()?;
        Ok(project)
    }

    /// Accepts an invitation without a session: a new email gets an account with `password`;
    /// an existing account must give its own password (this is then a sign-in). Opens a
    /// session; `None` when the password is not the existing account's.
    pub fn accept_invitation_with_password(
        &self,
        secret: &str,
        password: &str,
        ttl_secs: i64,
    ) -> Result<Option<(String, LoginSession)>, MetaError> {
        check_password(password)?;
        let (invitation, _) = self.invitation(secret)?.ok_or(MetaError::NoInvitation)?;
        let existing: Option<(i64, String, String)> = self
            .conn
            .lock()
            .expect("meta lock")
            .query_row(
                "SELECT id, email, password_hash FROM users WHERE email = ?1",
                [&invitation.email],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        // The slow part (argon2) runs before the transaction, which then re-checks everything.
        enum Account {
            Existing(User),
            New(String),
        }
        let account = match existing {
            Some((_, _, stored)) if !password_matches(password, &stored) => return Ok(None),
            Some((id, email, _)) => Account::Existing(User { id, email }),
            None => Account::New(hash_password(password)?),
        };
        let mut conn = self.conn.lock().expect("meta lock");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let user = match account {
            Account::Existing(user) => user,
            Account::New(hash) => {
                let inserted = tx.execute(
                    "INSERT INTO users (email, password_hash) VALUES (?1, ?2)",
                    params![invitation.email, hash],
                );
                match inserted {
                    Err(e) if is_constraint(&e) => {
                        return Err(MetaError::Conflict(
                            "an account with this email was just created; try again".into(),
                        ));
                    }
                    other => other?,
                };
                User {
                    id: tx.last_insert_rowid(),
                    email: invitation.email.clone(),
                }
            }
        };
        Self::consume_invitation(&tx, secret, user.id, &user.email)?;
        let (token, csrf) = open_session(&tx, user.id, ttl_secs)?;
        tx.commit()?;
        Ok(Some((
            token,
            LoginSession {
                user,
                csrf_token: csrf,
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Meta) {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.db")).unwrap();
        (dir, meta)
    }

    #[test]
    fn keys_and_tokens_find_their_own_project_only() {
        let (_dir, meta) = open();
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
    fn tokens_carry_their_scope_and_a_project_token_is_read_only() {
        let (_dir, meta) = open();
        let (a, first) = meta.create_project("a", &[], 30).unwrap();
        let (admin_id, admin) = meta.create_scoped_token(a.id, Scope::Admin).unwrap();
        assert_eq!(meta.token(&first).unwrap().unwrap().1, Scope::Read);
        assert_eq!(meta.token(&admin).unwrap().unwrap().1, Scope::Admin);
        let listed = meta.tokens(a.id).unwrap();
        assert_eq!(
            listed.iter().map(|t| t.scope).collect::<Vec<_>>(),
            [Scope::Read, Scope::Admin]
        );
        assert_eq!(listed[1].id, admin_id);
        assert_eq!(
            meta.token_scope(a.id, admin_id).unwrap(),
            Some(Scope::Admin)
        );
        assert!(Scope::Read < Scope::IngestAdmin && Scope::IngestAdmin < Scope::Admin);
        assert_eq!("ingest-admin".parse::<Scope>().unwrap(), Scope::IngestAdmin);
        assert!("root".parse::<Scope>().is_err());
    }

    #[test]
    fn users_log_in_and_see_their_projects_only() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        meta.create_project("b", &[], 30).unwrap();
        let user = meta
            .upsert_user("ann@example.com", "correct horse")
            .unwrap();
        meta.add_member(user.id, a.id).unwrap();
        assert_eq!(meta.user_projects(user.id).unwrap(), vec![a.clone()]);
        assert_eq!(
            meta.membership(user.id, a.id).unwrap(),
            Some((a, Role::Owner))
        );
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
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        // A standard PHC string: argon2's own verifier accepts it, and ours accepts argon2's.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let argon = argon2::Argon2::default();
        assert!(
            argon
                .verify_password(b"correct horse", stored.as_str())
                .is_ok()
        );
        assert!(
            argon
                .verify_password(b"wrong horse", stored.as_str())
                .is_err()
        );
        let theirs = argon.hash_password(b"their words").unwrap().to_string();
        assert!(password_matches("their words", &theirs));
        assert!(!password_matches("their word", &theirs));
        assert!(!password_matches(
            "their words",
            "$argon2id$v=19$m=19456,t=2,p=1$bm9zYWx0"
        ));
        assert!(
            meta.upsert_user("ann@example.com", &"x".repeat(MAX_PASSWORD_BYTES + 1))
                .is_err()
        );
    }

    #[test]
    fn a_project_always_keeps_an_owner() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        let ann = meta.upsert_user("ann@example.com", "password-1").unwrap();
        let bob = meta.upsert_user("bob@example.com", "password-2").unwrap();
        meta.add_member(ann.id, a.id).unwrap();
        assert!(matches!(
            meta.set_role(ann.id, a.id, Role::Member),
            Err(MetaError::LastOwner)
        ));
        assert!(matches!(
            meta.remove_member(ann.id, a.id),
            Err(MetaError::LastOwner)
        ));
        meta.add_member(bob.id, a.id).unwrap();
        assert!(meta.set_role(ann.id, a.id, Role::Viewer).unwrap());
        assert!(matches!(
            meta.remove_member(bob.id, a.id),
            Err(MetaError::LastOwner)
        ));
        assert!(meta.remove_member(ann.id, a.id).unwrap());
        assert!(!meta.remove_member(ann.id, a.id).unwrap(), "already gone");
        assert!(!meta.set_role(ann.id, a.id, Role::Owner).unwrap());
        assert_eq!(
            meta.members(a.id).unwrap(),
            [Member {
                id: bob.id,
                email: bob.email,
                role: Role::Owner
            }]
        );
    }

    #[test]
    fn an_invitation_opens_its_own_project_once_for_its_own_email() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        let (b, _) = meta.create_project("b", &[], 30).unwrap();
        let (inv_a, secret_a) = meta
            .create_invitation(a.id, "new@example.com", Role::Viewer, 3600)
            .unwrap();
        assert!(secret_a.starts_with("vi_"));
        assert_eq!(meta.invitations(a.id).unwrap(), [inv_a]);
        assert!(meta.invitations(b.id).unwrap().is_empty());
        let stored: String = meta
            .conn
            .lock()
            .unwrap()
            .query_row("SELECT secret_hash FROM invitations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, hash_token(&secret_a), "only the hash is kept");

        // A new email chooses its password; membership starts now, with the invited role.
        let (cookie, session) = meta
            .accept_invitation_with_password(&secret_a, "own password", 60)
            .unwrap()
            .unwrap();
        assert_eq!(meta.session(&cookie).unwrap(), Some(session.clone()));
        assert_eq!(
            meta.membership(session.user.id, a.id).unwrap().unwrap().1,
            Role::Viewer
        );
        assert!(matches!(
            meta.accept_invitation_with_password(&secret_a, "own password", 60),
            Err(MetaError::NoInvitation)
        ));

        // An invitation to b is for b only, and for its email only.
        let (_, secret_b) = meta
            .create_invitation(b.id, "NEW@example.com", Role::Member, 3600)
            .unwrap();
        let other = meta.upsert_user("other@example.com", "password-3").unwrap();
        assert!(matches!(
            meta.accept_invitation_as(&secret_b, &other),
            Err(MetaError::WrongUser)
        ));
        assert!(
            meta.accept_invitation_with_password(&secret_b, "not her password", 60)
                .unwrap()
                .is_none(),
            "an existing account is not given a new password"
        );
        assert_eq!(meta.membership(session.user.id, b.id).unwrap(), None);
        assert_eq!(
            meta.accept_invitation_as(&secret_b, &session.user)
                .unwrap()
                .id,
            b.id
        );
        assert_eq!(
            meta.membership(session.user.id, b.id).unwrap().unwrap().1,
            Role::Member
        );

        // Expired, replaced and revoked invitations do nothing; members are not invited.
        let (_, expired) = meta
            .create_invitation(a.id, "late@example.com", Role::Member, -1)
            .unwrap();
        assert!(meta.invitation(&expired).unwrap().is_none());
        let (_, old) = meta
            .create_invitation(a.id, "twice@example.com", Role::Member, 3600)
            .unwrap();
        let (again, _) = meta
            .create_invitation(a.id, "twice@example.com", Role::Owner, 3600)
            .unwrap();
        assert!(meta.invitation(&old).unwrap().is_none());
        assert!(meta.revoke_invitation(a.id, again.id).unwrap());
        assert!(!meta.revoke_invitation(a.id, again.id).unwrap());
        assert!(matches!(
            meta.create_invitation(a.id, "New@Example.com", Role::Member, 3600),
            Err(MetaError::AlreadyMember(_))
        ));
    }
}
