//! What Vigil creates in ClickHouse, for the version the server reports: one MergeTree table
//! per event table, partitioned by project and UTC day (retention drops partitions), ordered
//! by project, hour and time (a project's range scan reads one contiguous run), and a
//! `vigil_schema` table recording the schema version. Columns come from the model's
//! declarations, so a column added there is added to the server's table when Vigil starts.

use vigil_model::{Field, Kind, Table, Type};

/// The schema version this build creates. Version 1: every table of the model, columns
/// added as the model gains them.
pub const SCHEMA_VERSION: u32 = 1;

/// A ClickHouse server's version, as `SELECT version()` answers (`18.16.1`, `24.8.4.13`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    /// Major (the year, since 18).
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl ServerVersion {
    /// Parses `18.16.1`; `None` for anything else.
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(ServerVersion { major, minor })
    }

    fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ServerVersion { major, minor }
    }
}

/// What the server can do that the DDL uses when it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `LowCardinality(String)` for dimensions: experimental before 19.0, so left out there.
    pub low_cardinality: bool,
    /// Column codecs (`CODEC(Delta, ZSTD)` for times): from 19.10.
    pub codecs: bool,
}

impl Features {
    /// The features of a server version.
    pub fn of(version: ServerVersion) -> Features {
        Features {
            low_cardinality: version.at_least(19, 0),
            codecs: version.at_least(19, 10),
        }
    }
}

/// The column naming the shipped batch a row came in (`<instance>/<segment path>`; empty
/// for rows inserted directly): a batch whose insert was cut short is found and replaced,
/// and queries leave out the batches still in an instance's local store.
pub const BATCH_COLUMN: &str = "`vigil_batch`";

/// A column name, quoted.
pub fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The ClickHouse type of a column.
pub fn column_type(field: &Field, features: Features) -> String {
    let base = match field.ty {
        Type::Text if field.kind == Kind::Dimension && features.low_cardinality => {
            // LowCardinality wraps the Nullable, not the other way round.
            return if field.is_nullable() {
                "LowCardinality(Nullable(String))".into()
            } else {
                "LowCardinality(String)".into()
            };
        }
        Type::Text => "String",
        Type::Int | Type::Fixed(_) => "Int64",
        // No Bool type before 21.12: 0 or 1.
        Type::Bool => "UInt8",
    };
    if field.is_nullable() {
        format!("Nullable({base})")
    } else {
        base.to_owned()
    }
}

/// The column's definition in a `CREATE TABLE` or `ADD COLUMN`.
pub fn column_definition(field: &Field, features: Features) -> String {
    let codec = if features.codecs && field.name == "ts" {
        " CODEC(Delta, ZSTD)"
    } else {
        ""
    };
    format!(
        "{} {}{codec}",
        quoted(field.name),
        column_type(field, features)
    )
}

/// The suffix of a sharded table's part on each server: `views_local` beside the
/// Distributed `views` that inserts and queries go through.
pub const LOCAL_SUFFIX: &str = "_local";

/// `CREATE TABLE IF NOT EXISTS` for one table, named `name` (the table's own name, or its
/// local part's on a cluster).
pub fn create_table(database: &str, table: Table, name: &str, features: Features) -> String {
    let columns: Vec<String> = [
        "`project` UInt32".to_owned(),
        format!("{BATCH_COLUMN} String DEFAULT ''"),
    ]
    .into_iter()
    .chain(
        table
            .columns()
            .iter()
            .map(|f| column_definition(f, features)),
    )
    .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {}.{} ({}) ENGINE = MergeTree() \
         PARTITION BY (`project`, intDiv(`ts`, 86400000)) \
         ORDER BY (`project`, intDiv(`ts`, 3600000), `ts`)",
        quoted(database),
        quoted(name),
        columns.join(", ")
    )
}

/// The Distributed table over a table's local parts on the servers of `cluster`. Rows are
/// sharded by session where the table has a session id, so one session's rows live on one
/// shard; elsewhere at random.
pub fn create_distributed(database: &str, table: Table, cluster: &str) -> String {
    let local = format!("{}{LOCAL_SUFFIX}", table.name());
    let key = match table.column("session_id") {
        Some(f) if !f.is_nullable() => "cityHash64(`session_id`)",
        Some(_) => "cityHash64(ifNull(`session_id`, ''))",
        None => "rand()",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{name} AS {db}.{local_quoted} \
         ENGINE = Distributed({cluster}, {database}, {local}, {key})",
        db = quoted(database),
        name = quoted(table.name()),
        local_quoted = quoted(&local),
        cluster = string_literal(cluster),
        database = string_literal(database),
        local = string_literal(&local),
    )
}

/// A string literal.
pub fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The table that records which schema versions were applied.
pub fn create_schema_table(database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {}.`vigil_schema` (`version` UInt32, `applied_ms` Int64) ENGINE = TinyLog",
        quoted(database)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_pick_features() {
        let old = ServerVersion::parse("18.16.1").unwrap();
        assert_eq!(
            Features::of(old),
            Features {
                low_cardinality: false,
                codecs: false
            }
        );
        let new = ServerVersion::parse("24.8.4.13").unwrap();
        assert_eq!(
            Features::of(new),
            Features {
                low_cardinality: true,
                codecs: true
            }
        );
        assert!(ServerVersion::parse("v24").is_none());
    }

    #[test]
    fn the_ddl_follows_the_declarations_and_the_version() {
        let old = Features::of(ServerVersion::parse("18.16.1").unwrap());
        let sql = create_table("vigil", Table::Views, "views", old);
        assert!(sql.contains("`ts` Int64,"), "{sql}");
        assert!(sql.contains("`country` Nullable(String)"), "{sql}");
        assert!(
            !sql.contains("LowCardinality") && !sql.contains("CODEC"),
            "{sql}"
        );
        let new = Features::of(ServerVersion::parse("24.8.4.13").unwrap());
        let sql = create_table("vigil", Table::Views, "views", new);
        assert!(
            sql.contains("`country` LowCardinality(Nullable(String))"),
            "{sql}"
        );
        assert!(sql.contains("`ts` Int64 CODEC(Delta, ZSTD)"), "{sql}");
        // Every declared column, and the project.
        for f in Table::Views.columns() {
            assert!(sql.contains(&format!("`{}` ", f.name)), "{}: {sql}", f.name);
        }
        assert!(sql.starts_with(
            "CREATE TABLE IF NOT EXISTS `vigil`.`views` (`project` UInt32, `vigil_batch` String DEFAULT '', "
        ));
    }
}
