//! Metadata: projects, their public ingest keys and allowed origins, secret API tokens
//! (stored as SHA-256 hashes, each with a scope), retention, dashboard users with a role per
//! project, invitations, error triage, source maps' index and alerts. Small, transactional,
//! and separate from the event store: in SQLite by default (a file in the data folder), or
//! in PostgreSQL when several instances share it. The schema carries a version and migrates
//! in order on both (`schema.rs`).

use connections::Connections;
use db::{Inner, Q};
use std::path::Path;

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
        impl $crate::db::ToValue for $t {
            fn to_value(&self) -> $crate::db::Value {
                $crate::db::Value::Text(self.as_str().to_owned())
            }
        }
        impl $crate::db::FromValue for $t {
            fn from_value(v: &$crate::db::Value) -> Result<Self, String> {
                match v {
                    $crate::db::Value::Text(s) => s.parse().map_err(|e: MetaError| e.to_string()),
                    other => Err(format!("expected text, found {other:?}")),
                }
            }
        }
    };
}

mod alerts;
mod connections;
pub(crate) mod db;
mod errors;
mod invitations;
mod leases;
mod members;
mod postgres_pool;
mod projects;
mod schema;
mod secrets;
mod sourcemaps;
#[cfg(any(test, feature = "test-server"))]
pub mod testing;
mod tokens;
mod users;

pub use alerts::{
    AlertState, DeliveryAttempt, DeliveryOutcome, DeliveryState, MAX_ALERT_RULES, NewNotification,
    Notification, SegmentState, StoredRule, Transition,
};
pub use db::DbError;
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
    /// The database failed.
    #[error("metadata database: {0}")]
    Database(DbError),
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
    #[error(
        "the metadata database has schema version {found}; this vigil knows versions up to {known}"
    )]
    TooNew {
        /// The database's version.
        found: u32,
        /// The newest version this code migrates to.
        known: u32,
    },
}

/// The metadata database. Reads never wait for a write (see `connections.rs`).
pub struct Meta {
    backend: Backend,
}

enum Backend {
    Sqlite(Connections),
    Postgres(postgres_pool::Pool),
}

/// A transaction-scoped advisory lock every PostgreSQL write takes first: one write at a
/// time across instances, as SQLite's `BEGIN IMMEDIATE` gives one process (the number is
/// arbitrary, Vigil's own).
const WRITE_LOCK: i64 = 0x5649_4749_4c4d; // "VIGILM"

impl Meta {
    /// Opens or creates the SQLite database file, migrating it to the current schema version.
    pub fn open(path: &Path) -> Result<Meta, MetaError> {
        Ok(Meta {
            backend: Backend::Sqlite(Connections::open(path, schema::migrate_sqlite)?),
        })
    }

    /// Connects to a PostgreSQL database (`postgres://user:password@host:port/database`),
    /// creating or migrating Vigil's tables in it.
    pub fn connect(url: &str) -> Result<Meta, MetaError> {
        let pool = postgres_pool::Pool::new(url)?;
        schema::migrate_postgres(&mut *pool.get()?)?;
        Ok(Meta {
            backend: Backend::Postgres(pool),
        })
    }

    /// `postgres` or `sqlite`, for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Runs `f` on a connection of the caller's own that only reads and never waits for a
    /// write in progress.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Q<'_>) -> Result<T, MetaError>,
    ) -> Result<T, MetaError> {
        match &self.backend {
            Backend::Sqlite(conns) => {
                let conn = conns.reader()?;
                f(&mut Q {
                    inner: Inner::Sqlite(&conn),
                })
            }
            Backend::Postgres(pool) => {
                let mut client = pool.get()?;
                let tx = client.build_transaction().read_only(true).start()?;
                in_postgres_transaction(tx, f)
            }
        }
    }

    /// Runs `f` as one transaction holding the database's write lock from its start;
    /// committed when `f` answers `Ok`, rolled back otherwise.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Q<'_>) -> Result<T, MetaError>,
    ) -> Result<T, MetaError> {
        match &self.backend {
            Backend::Sqlite(conns) => {
                let mut conn = conns.writer();
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = f(&mut Q {
                    inner: Inner::Sqlite(&tx),
                })?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres(pool) => {
                let mut client = pool.get()?;
                let mut tx = client.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
                in_postgres_transaction(tx, f)
            }
        }
    }
}

/// Runs `f` in a PostgreSQL transaction, committed when `f` answers `Ok` (dropped, so
/// rolled back, otherwise).
fn in_postgres_transaction<T>(
    tx: postgres::Transaction<'_>,
    f: impl FnOnce(&mut Q<'_>) -> Result<T, MetaError>,
) -> Result<T, MetaError> {
    let mut q = Q {
        inner: Inner::Postgres(tx),
    };
    let out = f(&mut q)?;
    if let Inner::Postgres(tx) = q.inner {
        tx.commit()?;
    }
    Ok(out)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether a constraint refused the change (a name taken, a row gone).
fn is_constraint(e: &MetaError) -> bool {
    matches!(e, MetaError::Database(d) if d.is_constraint())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new database: in SQLite in a folder of its own, or with `VIGIL_TEST_META=postgres`
    /// (as `make test` runs this suite a second time) on a PostgreSQL server of its own. The
    /// first value keeps the folder or the server until dropped.
    pub(crate) fn open() -> (Box<dyn std::any::Any>, Meta) {
        if std::env::var("VIGIL_TEST_META").as_deref() == Ok("postgres") {
            let server = crate::testing::Postgres::start();
            let meta = Meta::connect(&server.create_database("vigil")).unwrap();
            assert_eq!(meta.backend_name(), "postgres");
            (Box::new(server), meta)
        } else {
            let dir = tempfile::tempdir().unwrap();
            let meta = Meta::open(&dir.path().join("meta.db")).unwrap();
            (Box::new(dir), meta)
        }
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
