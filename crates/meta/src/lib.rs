//! Metadata in SQLite: projects, their public ingest keys and allowed origins, secret API
//! tokens (stored as SHA-256 hashes, each with a scope), retention, dashboard users with a
//! role per project, and invitations. Small, transactional, and separate from the event
//! store. The schema carries a version (`PRAGMA user_version`) and migrates in order.

use connections::{Connections, Reader};
use std::path::Path;
use std::sync::MutexGuard;

/// The longest email accepted anywhere (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// The longest password accepted: argon2 hashes any length, but a megabyte of password is
/// only a way to make the server work.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The shortest password accepted.
pub const MIN_PASSWORD_BYTES: usize = 8;

/// Text stored in SQLite for the role and scope enums: the same names as in JSON.
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

mod alerts;
mod connections;
mod errors;
mod invitations;
mod members;
mod projects;
mod schema;
mod secrets;
mod sourcemaps;
mod tokens;
mod users;

pub use alerts::{
    AlertState, DeliveryAttempt, DeliveryOutcome, DeliveryState, MAX_ALERT_RULES, NewNotification,
    Notification, SegmentState, StoredRule, Transition,
};
pub use errors::{
    ErrorSettings, FilteredCount, GroupState, GroupStatus, IgnoreRule, MAX_RELEASES_BEFORE,
};
pub use invitations::Invitation;
pub use members::{Member, Role};
pub use projects::Project;
pub use schema::SCHEMA_VERSION;
pub use sourcemaps::{BundleFile, SourceMapEntry, SourceMapTotals, UploadedFile};
pub use tokens::{Scope, TokenInfo};
pub use users::{LoginSession, User};

sql_text_enum!(Role { Viewer = "viewer", Member = "member", Owner = "owner" });
sql_text_enum!(Scope { Read = "read", IngestAdmin = "ingest-admin", Admin = "admin" });

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

/// The metadata database. Reads never wait for a write (see `connections.rs`).
pub struct Meta {
    conns: Connections,
}

impl Meta {
    /// Opens or creates the database file, migrating it to the current schema version.
    pub fn open(path: &Path) -> Result<Meta, MetaError> {
        Ok(Meta {
            conns: Connections::open(path, schema::migrate)?,
        })
    }

    /// The connection that writes.
    fn writer(&self) -> MutexGuard<'_, rusqlite::Connection> {
        self.conns.writer()
    }

    /// A connection of the caller's own to read with.
    fn reader(&self) -> Result<Reader<'_>, MetaError> {
        self.conns.reader()
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new database in a folder of its own.
    pub(crate) fn open() -> (tempfile::TempDir, Meta) {
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
}
