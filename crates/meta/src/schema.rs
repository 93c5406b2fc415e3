//! The schema and its numbered migrations, on SQLite (`PRAGMA user_version`) and on
//! PostgreSQL (the `vigil_meta_version` table). Both walk the same numbered steps to the same
//! tables, each in its types: SQLite's `INTEGER` is PostgreSQL's `BIGINT`, `REAL` is `DOUBLE
//! PRECISION`, an `AUTOINCREMENT` key an identity column, a `COLLATE NOCASE` email `CITEXT`,
//! and `api_tokens` has an explicit `rowid` (SQLite's implicit one is its id).

use crate::MetaError;
use rusqlite::{Connection, Transaction, TransactionBehavior};

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
pub(crate) fn to_v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
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

/// Version 2: error tracking. The index of uploaded source maps (one row per bundle URL and
/// release: the map and the minified script, both optional until uploaded, as files named
/// by their SHA-256 in the data folder's `sourcemaps/p<project>/`); the state of error
/// groups (unresolved, resolved, ignored); per project error settings (critical pages,
/// noise filters) as one JSON document, whose missing keys take their defaults.
pub(crate) fn to_v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE sourcemaps (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             release TEXT NOT NULL,
             url TEXT NOT NULL,
             debug_id TEXT,
             map_file TEXT,
             map_bytes INTEGER NOT NULL DEFAULT 0,
             source_file TEXT,
             source_bytes INTEGER NOT NULL DEFAULT 0,
             uploaded_at INTEGER NOT NULL DEFAULT (unixepoch()),
             UNIQUE (project_id, release, url)
         );
         CREATE INDEX sourcemaps_by_debug_id ON sourcemaps (project_id, debug_id);
         CREATE TABLE error_groups (
             project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             fingerprint TEXT NOT NULL,
             state TEXT NOT NULL DEFAULT 'unresolved',
             in_next_release INTEGER NOT NULL DEFAULT 0,
             resolved_at INTEGER,
             releases_before TEXT NOT NULL DEFAULT '[]',
             updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
             PRIMARY KEY (project_id, fingerprint)
         );
         CREATE TABLE error_settings (
             project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
             settings TEXT NOT NULL
         );
         CREATE TABLE error_filter_counts (
             project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             day INTEGER NOT NULL,
             reason TEXT NOT NULL,
             count INTEGER NOT NULL,
             PRIMARY KEY (project_id, day, reason)
         );",
    )
}

/// Version 3: alerts. Rules (their definition is JSON, checked by `vigil-alerts`; `version`
/// counts edits, so an evaluation of an older definition is not recorded over a newer
/// one), the state of each segment a rule evaluated, mutes of one segment, every state
/// transition, and the notifications sent for them with each delivery attempt. Times are
/// ms since the epoch.
pub(crate) fn to_v3(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE alert_rules (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             definition TEXT NOT NULL,
             version INTEGER NOT NULL DEFAULT 1,
             muted_until INTEGER,
             created_at INTEGER NOT NULL,
             updated_at INTEGER NOT NULL
         );
         CREATE INDEX alert_rules_by_project ON alert_rules (project_id);
         CREATE TABLE alert_segments (
             rule_id INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
             segment TEXT NOT NULL,
             state TEXT NOT NULL,
             breaches INTEGER NOT NULL,
             since INTEGER NOT NULL,
             value REAL,
             samples INTEGER NOT NULL,
             evaluated_at INTEGER NOT NULL,
             PRIMARY KEY (rule_id, segment)
         );
         CREATE TABLE alert_mutes (
             rule_id INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
             segment TEXT NOT NULL,
             until INTEGER NOT NULL,
             PRIMARY KEY (rule_id, segment)
         );
         CREATE TABLE alert_transitions (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             rule_id INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
             segment TEXT NOT NULL,
             from_state TEXT NOT NULL,
             to_state TEXT NOT NULL,
             value REAL,
             threshold REAL NOT NULL,
             samples INTEGER NOT NULL,
             window_from INTEGER NOT NULL,
             window_to INTEGER NOT NULL,
             at INTEGER NOT NULL,
             notified INTEGER NOT NULL
         );
         CREATE INDEX alert_transitions_by_rule ON alert_transitions (rule_id, at);
         CREATE TABLE alert_notifications (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             rule_id INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
             kind TEXT NOT NULL,
             channel TEXT NOT NULL,
             body TEXT NOT NULL,
             state TEXT NOT NULL,
             attempts INTEGER NOT NULL DEFAULT 0,
             next_attempt_at INTEGER NOT NULL,
             created_at INTEGER NOT NULL,
             last_error TEXT
         );
         CREATE INDEX alert_notifications_due ON alert_notifications (state, next_attempt_at);
         CREATE INDEX alert_notifications_by_rule ON alert_notifications (rule_id, id);
         CREATE TABLE alert_delivery_attempts (
             notification_id INTEGER NOT NULL REFERENCES alert_notifications(id) ON DELETE CASCADE,
             attempt INTEGER NOT NULL,
             at INTEGER NOT NULL,
             duration_ms INTEGER NOT NULL,
             status INTEGER,
             error TEXT,
             PRIMARY KEY (notification_id, attempt)
         );",
    )
}

/// Version 4: leases. Work that one instance of several does at a time (evaluating alerts
/// and delivering their notifications) is done by the holder of its lease, which it renews;
/// times are ms since the epoch.
pub(crate) fn to_v4(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE leases (
             name TEXT PRIMARY KEY,
             holder TEXT NOT NULL,
             expires_at INTEGER NOT NULL
         );",
    )
}

/// Version 5 orders text bytewise on PostgreSQL, as SQLite always has; SQLite has nothing
/// to change.
fn to_v5(_tx: &Transaction<'_>) -> rusqlite::Result<()> {
    Ok(())
}

/// Migration `i` takes a database from version `i` to `i + 1`. Append only: a released
/// migration never changes, so every database walks the same steps.
const MIGRATIONS: &[fn(&Transaction<'_>) -> rusqlite::Result<()>] =
    &[to_v1, to_v2, to_v3, to_v4, to_v5];

/// The schema version this code writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings a database (new, unversioned or older) to [`SCHEMA_VERSION`], one migration per
/// transaction, so a crash leaves it at a whole version.
pub(crate) fn migrate_sqlite(conn: &mut Connection) -> Result<(), MetaError> {
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

/// PostgreSQL's spelling of versions 1 to 5: the same tables and columns as SQLite's
/// `SCHEMA_V0` + `to_v1` … `to_v5`. Append only, as `MIGRATIONS`.
const POSTGRES_MIGRATIONS: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS citext;
     CREATE TABLE projects (
         id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         public_key TEXT NOT NULL UNIQUE,
         allowed_origins TEXT NOT NULL DEFAULT '[\"*\"]',
         retention_days BIGINT NOT NULL DEFAULT 90,
         created_at BIGINT NOT NULL DEFAULT (CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))
     );
     CREATE TABLE users (
         id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
         email CITEXT NOT NULL UNIQUE,
         password_hash TEXT NOT NULL,
         created_at BIGINT NOT NULL DEFAULT (CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))
     );
     CREATE TABLE memberships (
         user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
         project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
         role TEXT NOT NULL DEFAULT 'viewer',
         PRIMARY KEY (user_id, project_id)
     );
     CREATE TABLE login_sessions (
         token_hash TEXT PRIMARY KEY,
         user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
         csrf_token TEXT NOT NULL,
         expires_at BIGINT NOT NULL
     );
     CREATE TABLE api_tokens (
         rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,
         token_hash TEXT PRIMARY KEY,
         project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
         created_at BIGINT NOT NULL DEFAULT (CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)),
         hint TEXT NOT NULL DEFAULT '',
         scope TEXT NOT NULL DEFAULT 'read'
     );
     CREATE TABLE invitations (
         id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
         project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
         email CITEXT NOT NULL,
         role TEXT NOT NULL,
         secret_hash TEXT NOT NULL UNIQUE,
         created_at BIGINT NOT NULL DEFAULT (CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)),
         expires_at BIGINT NOT NULL,
         UNIQUE (project_id, email)
     );",
    "CREATE TABLE sourcemaps (
         id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
         project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
         release TEXT NOT NULL,
         url TEXT NOT NULL,
         debug_id TEXT,
         map_file TEXT,
         map_bytes BIGINT NOT NULL DEFAULT 0,
         source_file TEXT,
         source_bytes BIGINT NOT NULL DEFAULT 0,
         uploaded_at BIGINT NOT NULL DEFAULT (CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)),
         UNIQUE (project_id, release, url)
     );
     CREATE INDEX sourcemaps_by_debug_id ON sourcemaps (project_id, debug_id);
     CREATE TABLE error_groups (
         project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
         fingerprint TEXT NOT NULL,
         state TEXT NOT NULL DEFAULT 'unresolved',
         in_next_release BIGINT NOT NULL DEFAULT 0,
         resolved_at BIGINT,
         releases_before TEXT NOT NULL DEFAULT '[]',
         updated_at BIGINT NOT NULL DEFAULT (CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)),
         PRIMARY KEY (project_id, fingerprint)
     );
     CREATE TABLE error_settings (
         project_id BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
         settings TEXT NOT NULL
     );
     CREATE TABLE error_filter_counts (
         project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
         day BIGINT NOT NULL,
         reason TEXT NOT NULL,
         count BIGINT NOT NULL,
         PRIMARY KEY (project_id, day, reason)
     );",
    "CREATE TABLE alert_rules (
         id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
         project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
         definition TEXT NOT NULL,
         version BIGINT NOT NULL DEFAULT 1,
         muted_until BIGINT,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL
     );
     CREATE INDEX alert_rules_by_project ON alert_rules (project_id);
     CREATE TABLE alert_segments (
         rule_id BIGINT NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
         segment TEXT NOT NULL,
         state TEXT NOT NULL,
         breaches BIGINT NOT NULL,
         since BIGINT NOT NULL,
         value DOUBLE PRECISION,
         samples BIGINT NOT NULL,
         evaluated_at BIGINT NOT NULL,
         PRIMARY KEY (rule_id, segment)
     );
     CREATE TABLE alert_mutes (
         rule_id BIGINT NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
         segment TEXT NOT NULL,
         until BIGINT NOT NULL,
         PRIMARY KEY (rule_id, segment)
     );
     CREATE TABLE alert_transitions (
         id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
         rule_id BIGINT NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
         segment TEXT NOT NULL,
         from_state TEXT NOT NULL,
         to_state TEXT NOT NULL,
         value DOUBLE PRECISION,
         threshold DOUBLE PRECISION NOT NULL,
         samples BIGINT NOT NULL,
         window_from BIGINT NOT NULL,
         window_to BIGINT NOT NULL,
         at BIGINT NOT NULL,
         notified BIGINT NOT NULL
     );
     CREATE INDEX alert_transitions_by_rule ON alert_transitions (rule_id, at);
     CREATE TABLE alert_notifications (
         id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
         rule_id BIGINT NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
         kind TEXT NOT NULL,
         channel TEXT NOT NULL,
         body TEXT NOT NULL,
         state TEXT NOT NULL,
         attempts BIGINT NOT NULL DEFAULT 0,
         next_attempt_at BIGINT NOT NULL,
         created_at BIGINT NOT NULL,
         last_error TEXT
     );
     CREATE INDEX alert_notifications_due ON alert_notifications (state, next_attempt_at);
     CREATE INDEX alert_notifications_by_rule ON alert_notifications (rule_id, id);
     CREATE TABLE alert_delivery_attempts (
         notification_id BIGINT NOT NULL REFERENCES alert_notifications(id) ON DELETE CASCADE,
         attempt BIGINT NOT NULL,
         at BIGINT NOT NULL,
         duration_ms BIGINT NOT NULL,
         status BIGINT,
         error TEXT,
         PRIMARY KEY (notification_id, attempt)
     );",
    "CREATE TABLE leases (
         name TEXT PRIMARY KEY,
         holder TEXT NOT NULL,
         expires_at BIGINT NOT NULL
     );",
    // Every text column compares bytewise (`COLLATE "C"`), as in SQLite: a database made
    // with a language's collation (en_US.UTF-8, ICU) would otherwise order names, releases
    // and segments differently from SQLite, and from another database. CITEXT keeps its
    // case folding and compares the folded text bytewise, as SQLite's NOCASE does.
    "DO $$
     DECLARE c record;
     BEGIN
         FOR c IN
             SELECT table_name, column_name, udt_name FROM information_schema.columns
             WHERE table_schema = current_schema() AND udt_name IN ('text', 'citext')
                 AND table_name <> 'vigil_meta_version'
         LOOP
             EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE %s COLLATE \"C\"',
                            c.table_name, c.column_name, c.udt_name);
         END LOOP;
     END $$;",
];

/// Brings a PostgreSQL database to [`SCHEMA_VERSION`], one migration per transaction under
/// an advisory lock, so instances starting together migrate once.
pub(crate) fn migrate_postgres(client: &mut postgres::Client) -> Result<(), MetaError> {
    const _: () = assert!(POSTGRES_MIGRATIONS.len() == MIGRATIONS.len());
    loop {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&crate::WRITE_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS vigil_meta_version (version BIGINT NOT NULL)",
        )?;
        let version: i64 = tx
            .query_opt("SELECT version FROM vigil_meta_version", &[])?
            .map_or(0, |r| r.get(0));
        let version = u32::try_from(version).unwrap_or(u32::MAX);
        if version > SCHEMA_VERSION {
            return Err(MetaError::TooNew {
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            tx.commit()?;
            return Ok(());
        }
        tx.batch_execute(POSTGRES_MIGRATIONS[version as usize])?;
        tx.execute("DELETE FROM vigil_meta_version", &[])?;
        tx.execute(
            "INSERT INTO vigil_meta_version (version) VALUES ($1)",
            &[&i64::from(version + 1)],
        )?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Meta;

    /// On a real PostgreSQL whatever `VIGIL_TEST_META` says: a database of an earlier
    /// version is migrated the rest of the way, and one of a newer version is refused.
    #[test]
    fn postgres_databases_migrate_from_earlier_versions_and_refuse_newer_ones() {
        let server = crate::testing::Postgres::start();
        let url = server.create_database("migrations");
        let meta = Meta::connect(&url).unwrap();
        let (project, _) = meta.create_project("kept", &[], 30).unwrap();
        drop(meta);
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let version = |client: &mut postgres::Client| -> i64 {
            client
                .query_one("SELECT version FROM vigil_meta_version", &[])
                .unwrap()
                .get(0)
        };
        assert_eq!(version(&mut client), i64::from(SCHEMA_VERSION));
        // Every text column orders bytewise (version 5).
        let collations: Vec<(String, Option<String>)> = client
            .query(
                "SELECT table_name || '.' || column_name, collation_name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND udt_name IN ('text', 'citext')",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert!(collations.len() > 20, "{collations:?}");
        for (column, collation) in &collations {
            assert_eq!(collation.as_deref(), Some("C"), "{column}");
        }
        // As a release before leases left it: version 3, no leases table.
        client
            .batch_execute("DROP TABLE leases; UPDATE vigil_meta_version SET version = 3")
            .unwrap();
        let meta = Meta::connect(&url).unwrap();
        assert_eq!(version(&mut client), i64::from(SCHEMA_VERSION));
        assert_eq!(meta.project_by_id(project.id).unwrap(), Some(project));
        assert!(
            meta.take_lease("alerts", "a", 0, 1).unwrap(),
            "the new table works"
        );
        drop(meta);
        client
            .execute(
                "UPDATE vigil_meta_version SET version = $1",
                &[&i64::from(SCHEMA_VERSION + 1)],
            )
            .unwrap();
        match Meta::connect(&url) {
            Err(MetaError::TooNew { found, known }) => {
                assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            Err(e) => panic!("expected TooNew, got {e}"),
            Ok(_) => panic!("a newer database was opened"),
        }
    }
}
