//! Upgrades never strand data: a meta.db written before schema versions existed opens with
//! the current code and keeps its projects, users, memberships, sessions and tokens.

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};
use std::path::Path;
use vigil_meta::{Meta, MetaError, Role, SCHEMA_VERSION, Scope};

/// The CREATE statements of the code before versions (`user_version` 0), copied here so the
/// fixture stays what those releases wrote even when the crate's schema moves on.
const V0_SCHEMA: &str = "
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
/// What the last unversioned code ran after the CREATEs.
const V0_HINT: &str = "ALTER TABLE api_tokens ADD COLUMN hint TEXT NOT NULL DEFAULT ''";

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn argon2(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

/// Writes a v0 database: projects shop and blog, ann in both, bob in blog, a live session of
/// ann, a token per project (with a hint only when the database had the column).
fn write_v0(path: &Path, with_hint: bool) {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(V0_SCHEMA).unwrap();
    if with_hint {
        conn.execute_batch(V0_HINT).unwrap();
    }
    conn.execute_batch(
        "INSERT INTO projects (name, public_key, allowed_origins, retention_days)
           VALUES ('shop', 'pk_shop', '[\"https://shop.example\"]', 30), ('blog', 'pk_blog', '[\"*\"]', 90);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO users (email, password_hash) VALUES ('ann@example.com', ?1), ('bob@example.com', ?2)",
        params![argon2("ann password"), argon2("bob password")],
    )
    .unwrap();
    conn.execute_batch(
        "INSERT INTO memberships (user_id, project_id) VALUES (1, 1), (1, 2), (2, 2);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO login_sessions (token_hash, user_id, csrf_token, expires_at) VALUES (?1, 1, 'csrf1', unixepoch() + 3600)",
        [sha256_hex("vs_ann_session")],
    )
    .unwrap();
    for (token, project) in [("vt_shop_token_abcd", 1), ("vt_blog_token_wxyz", 2)] {
        if with_hint {
            conn.execute(
                "INSERT INTO api_tokens (token_hash, project_id, hint) VALUES (?1, ?2, ?3)",
                params![sha256_hex(token), project, &token[token.len() - 4..]],
            )
            .unwrap();
        } else {
            conn.execute(
                "INSERT INTO api_tokens (token_hash, project_id) VALUES (?1, ?2)",
                params![sha256_hex(token), project],
            )
            .unwrap();
        }
    }
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 0, "the fixture is unversioned");
}

fn user_version(path: &Path) -> u32 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn check_everything_kept(meta: &Meta, hints: bool) {
    let projects = meta.projects().unwrap();
    assert_eq!(
        projects
            .iter()
            .map(|p| (p.name.as_str(), p.public_key.as_str(), p.retention_days))
            .collect::<Vec<_>>(),
        [("shop", "pk_shop", 30), ("blog", "pk_blog", 90)]
    );
    assert_eq!(projects[0].allowed_origins, ["https://shop.example"]);

    // Members became owners: nobody lost a right.
    let ann = meta.user_by_email("ann@example.com").unwrap().unwrap();
    let bob = meta.user_by_email("bob@example.com").unwrap().unwrap();
    let roles = |id| {
        meta.user_projects_with_roles(id)
            .unwrap()
            .into_iter()
            .map(|(p, r)| (p.name, r))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        roles(ann.id),
        [
            ("shop".to_owned(), Role::Owner),
            ("blog".to_owned(), Role::Owner)
        ]
    );
    assert_eq!(roles(bob.id), [("blog".to_owned(), Role::Owner)]);

    // Passwords and the open session still work.
    assert!(
        meta.login("bob@example.com", "bob password", 60)
            .unwrap()
            .is_some()
    );
    let session = meta.login_session("vs_ann_session").unwrap().unwrap();
    assert_eq!(
        (session.user.id, session.csrf_token.as_str()),
        (ann.id, "csrf1")
    );

    // Tokens still read their project, and only read.
    let (shop, scope) = meta.token("vt_shop_token_abcd").unwrap().unwrap();
    assert_eq!((shop.name.as_str(), scope), ("shop", Scope::Read));
    let (blog, scope) = meta.token("vt_blog_token_wxyz").unwrap().unwrap();
    assert_eq!((blog.name.as_str(), scope), ("blog", Scope::Read));
    let listed = meta.tokens(shop.id).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].hint, if hints { "abcd" } else { "" });

    // The new tables work on the migrated database.
    let (_, secret) = meta
        .create_invitation(shop.id, "bob@example.com", Role::Viewer, 60)
        .unwrap();
    meta.accept_invitation_as(&secret, &bob).unwrap();
    assert_eq!(
        meta.membership(bob.id, shop.id).unwrap().unwrap().1,
        Role::Viewer
    );
}

#[test]
fn an_unversioned_database_of_the_current_release_opens_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    write_v0(&path, true);
    let meta = Meta::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    check_everything_kept(&meta, true);
    drop(meta);
    // Opening again is a no-op.
    let meta = Meta::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(meta.projects().unwrap().len(), 2);
}

#[test]
fn a_database_from_before_token_hints_opens_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    write_v0(&path, false);
    check_everything_kept(&Meta::open(&path).unwrap(), false);
}

#[test]
fn a_new_database_starts_at_the_current_version_and_a_newer_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    drop(Meta::open(&path).unwrap());
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    assert!(matches!(
        Meta::open(&path),
        Err(MetaError::TooNew { found, known }) if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION
    ));
}
