//! One way to run SQL on either database: SQLite (the default, a file in the data folder) or
//! PostgreSQL (`[meta] url`, shared by several instances).
//!
//! Statements are written once, in the dialect both accept (`?1` placeholders, `ON CONFLICT`,
//! `RETURNING`); the few SQLite spellings PostgreSQL lacks are translated here (`?N` to `$N`,
//! `unixepoch()`). Values cross as [`Value`]s, the types SQLite has; on PostgreSQL a parameter
//! takes the type the server inferred for it (so a `NULL` is a typed null).
//!
//! Every operation is a read ([`crate::Meta::read`]) or a write ([`crate::Meta::write`]). A
//! write is one transaction that holds the database's single write lock from its start:
//! SQLite's `BEGIN IMMEDIATE`, or on PostgreSQL a transaction-scoped advisory lock, so a write
//! that reads then writes (the last owner check, an invitation's acceptance) sees no other
//! write between the two, whichever instance runs it.

use crate::MetaError;
use std::fmt;

/// A value as stored: SQLite's types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Something that can be bound to a statement's parameter.
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

/// Something a column can be read as.
pub(crate) trait FromValue: Sized {
    fn from_value(v: &Value) -> Result<Self, String>;
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self, String> {
                match v {
                    Value::Int(i) => <$t>::try_from(*i).map_err(|_| format!("{i} is out of range for {}", stringify!($t))),
                    other => Err(format!("expected an integer, found {other:?}")),
                }
            }
        }
    )*};
}
int_value!(i64, i32, u32, u16, u8, usize);

impl ToValue for u64 {
    fn to_value(&self) -> Value {
        // Counters and sizes stay far below 2^63; saturate rather than wrap.
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl FromValue for u64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Int(i) => u64::try_from(*i).map_err(|_| format!("{i} is negative")),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i != 0),
            other => Err(format!("expected a boolean, found {other:?}")),
        }
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Real(r) => Ok(*r),
            Value::Int(i) => Ok(*i as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Parameters of a statement: `params![a, b]`.
#[macro_export]
#[doc(hidden)]
macro_rules! params {
    () => { &[] as &[&dyn $crate::db::ToValue] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::db::ToValue),+] as &[&dyn $crate::db::ToValue] };
}

/// One row of an answer.
pub(crate) struct Row(Vec<Value>);

impl Row {
    /// Column `i` (from 0) as a `T`.
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> Result<T, MetaError> {
        let v = self
            .0
            .get(i)
            .ok_or_else(|| MetaError::Database(DbError::other(format!("no column {i}"))))?;
        T::from_value(v)
            .map_err(|e| MetaError::Database(DbError::other(format!("column {i}: {e}"))))
    }
}

/// What went wrong in the database.
#[derive(Debug)]
pub struct DbError {
    kind: DbErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DbErrorKind {
    /// A `UNIQUE`, `PRIMARY KEY`, `FOREIGN KEY` or `CHECK` constraint refused the change.
    Constraint,
    /// `query_row` found no row.
    NoRow,
    Other,
}

impl DbError {
    pub(crate) fn other(message: String) -> DbError {
        DbError {
            kind: DbErrorKind::Other,
            message,
        }
    }

    /// Whether a constraint refused the change (a name taken, a row gone).
    pub(crate) fn is_constraint(&self) -> bool {
        self.kind == DbErrorKind::Constraint
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        let kind = match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                DbErrorKind::Constraint
            }
            rusqlite::Error::QueryReturnedNoRows => DbErrorKind::NoRow,
            _ => DbErrorKind::Other,
        };
        DbError {
            kind,
            message: format!("sqlite: {e}"),
        }
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        // Class 23: integrity constraint violation.
        let kind = match e.code() {
            Some(code) if code.code().starts_with("23") => DbErrorKind::Constraint,
            _ => DbErrorKind::Other,
        };
        // The server's message and detail, not only "db error".
        let message = match e.as_db_error() {
            Some(db) => format!("postgresql: {}", db.message()),
            None => format!("postgresql: {e}"),
        };
        DbError { kind, message }
    }
}

impl From<rusqlite::Error> for MetaError {
    fn from(e: rusqlite::Error) -> MetaError {
        MetaError::Database(e.into())
    }
}

impl From<postgres::Error> for MetaError {
    fn from(e: postgres::Error) -> MetaError {
        MetaError::Database(e.into())
    }
}

/// A connection in a read or a write: where statements run.
pub(crate) struct Q<'a> {
    pub(crate) inner: Inner<'a>,
}

pub(crate) enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(postgres::Transaction<'a>),
}

impl Q<'_> {
    /// Runs a statement; the number of rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &[&dyn ToValue]) -> Result<u64, MetaError> {
        match &mut self.inner {
            Inner::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                bind_sqlite(&mut stmt, params)?;
                Ok(stmt.raw_execute()? as u64)
            }
            Inner::Postgres(tx) => {
                let stmt = tx.prepare(&postgres_sql(sql))?;
                let bound = bind_postgres(stmt.params(), params)?;
                Ok(tx.execute(&stmt, &as_refs(&bound))?)
            }
        }
    }

    /// Every row of a query.
    pub(crate) fn rows(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
    ) -> Result<Vec<Row>, MetaError> {
        match &mut self.inner {
            Inner::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                bind_sqlite(&mut stmt, params)?;
                let columns = stmt.column_count();
                let mut rows = stmt.raw_query();
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut values = Vec::with_capacity(columns);
                    for i in 0..columns {
                        values.push(match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => Value::Null,
                            rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                            rusqlite::types::ValueRef::Real(r) => Value::Real(r),
                            rusqlite::types::ValueRef::Text(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                        });
                    }
                    out.push(Row(values));
                }
                Ok(out)
            }
            Inner::Postgres(tx) => {
                let stmt = tx.prepare(&postgres_sql(sql))?;
                let bound = bind_postgres(stmt.params(), params)?;
                let rows = tx.query(&stmt, &as_refs(&bound))?;
                rows.iter().map(postgres_row).collect()
            }
        }
    }

    /// The rows of a query, each made into a `T`.
    pub(crate) fn query_map<T>(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnMut(&Row) -> Result<T, MetaError>,
    ) -> Result<Vec<T>, MetaError> {
        self.rows(sql, params)?.iter().map(f).collect()
    }

    /// The first row of a query made into a `T`, if there is one.
    pub(crate) fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row) -> Result<T, MetaError>,
    ) -> Result<Option<T>, MetaError> {
        self.rows(sql, params)?.first().map(f).transpose()
    }

    /// The first row of a query made into a `T`; an error when there is none.
    pub(crate) fn query_row<T>(
        &mut self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row) -> Result<T, MetaError>,
    ) -> Result<T, MetaError> {
        self.query_opt(sql, params, f)?.ok_or_else(|| {
            MetaError::Database(DbError {
                kind: DbErrorKind::NoRow,
                message: "the query returned no row".into(),
            })
        })
    }
}

fn bind_sqlite(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: &[&dyn ToValue],
) -> Result<(), MetaError> {
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(MetaError::Database(DbError::other(format!(
            "the statement takes {expected} parameters, {} given",
            params.len()
        ))));
    }
    for (i, p) in params.iter().enumerate() {
        let v = match p.to_value() {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(i),
            Value::Real(r) => rusqlite::types::Value::Real(r),
            Value::Text(t) => rusqlite::types::Value::Text(t),
            Value::Blob(b) => rusqlite::types::Value::Blob(b),
        };
        stmt.raw_bind_parameter(i + 1, v)?;
    }
    Ok(())
}

/// The statement in PostgreSQL's spelling: `?N` and `?` placeholders as `$N` (outside
/// quoted text), `unixepoch()` as the epoch seconds.
pub(crate) fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    // An anonymous `?` is one more than the largest number before it, as in SQLite.
    let (mut in_text, mut in_ident, mut largest) = (false, false, 0u32);
    while let Some(c) = chars.next() {
        match c {
            '\'' if !in_ident => in_text = !in_text,
            '"' if !in_text => in_ident = !in_ident,
            '?' if !in_text && !in_ident => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    digits = (largest + 1).to_string();
                }
                largest = largest.max(digits.parse().unwrap_or(0));
                out.push('$');
                out.push_str(&digits);
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out.replace("unixepoch()", "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)")
}

type PgParam = Box<dyn postgres::types::ToSql + Sync>;

fn as_refs(bound: &[PgParam]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    bound.iter().map(|b| b.as_ref() as _).collect()
}

/// Each value as the type the server expects for its parameter.
fn bind_postgres(
    types: &[postgres::types::Type],
    params: &[&dyn ToValue],
) -> Result<Vec<PgParam>, MetaError> {
    use postgres::types::Type;
    if types.len() != params.len() {
        return Err(MetaError::Database(DbError::other(format!(
            "the statement takes {} parameters, {} given",
            types.len(),
            params.len()
        ))));
    }
    let mismatch = |ty: &Type, v: &Value| {
        MetaError::Database(DbError::other(format!(
            "cannot bind {v:?} to a {ty} parameter"
        )))
    };
    types
        .iter()
        .zip(params)
        .map(|(ty, p)| {
            let v = p.to_value();
            let out: PgParam = match (ty, &v) {
                (&Type::INT8, Value::Int(i)) => Box::new(*i),
                (&Type::INT8, Value::Null) => Box::new(None::<i64>),
                (&Type::INT4, Value::Int(i)) => {
                    Box::new(i32::try_from(*i).map_err(|_| mismatch(ty, &v))?)
                }
                (&Type::INT4, Value::Null) => Box::new(None::<i32>),
                (&Type::INT2, Value::Int(i)) => {
                    Box::new(i16::try_from(*i).map_err(|_| mismatch(ty, &v))?)
                }
                (&Type::INT2, Value::Null) => Box::new(None::<i16>),
                (&Type::BOOL, Value::Int(i)) => Box::new(*i != 0),
                (&Type::BOOL, Value::Null) => Box::new(None::<bool>),
                (&Type::FLOAT8, Value::Real(r)) => Box::new(*r),
                (&Type::FLOAT8, Value::Int(i)) => Box::new(*i as f64),
                (&Type::FLOAT8, Value::Null) => Box::new(None::<f64>),
                (&Type::BYTEA, Value::Blob(b)) => Box::new(b.clone()),
                (&Type::BYTEA, Value::Null) => Box::new(None::<Vec<u8>>),
                (_, Value::Text(t)) if is_text(ty) => Box::new(t.clone()),
                (_, Value::Null) if is_text(ty) => Box::new(None::<String>),
                // An untyped parameter (`SELECT ?1`) is text to the server.
                (_, Value::Int(i)) if is_text(ty) => Box::new(i.to_string()),
                _ => return Err(mismatch(ty, &v)),
            };
            Ok(out)
        })
        .collect()
}

fn is_text(ty: &postgres::types::Type) -> bool {
    use postgres::types::Type;
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || ty.name() == "citext"
}

fn postgres_row(row: &postgres::Row) -> Result<Row, MetaError> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let v = match *ty {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => row
                .try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(v.into())),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            _ if is_text(ty) => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
            _ => {
                return Err(MetaError::Database(DbError::other(format!(
                    "column {:?} has type {ty}, which Vigil does not read (cast it)",
                    column.name()
                ))));
            }
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            postgres_sql("SELECT '?1', \"a?\" FROM t WHERE a = ?1 AND b = ?12 AND c = ?"),
            "SELECT '?1', \"a?\" FROM t WHERE a = $1 AND b = $12 AND c = $13"
        );
        assert_eq!(
            postgres_sql("UPDATE t SET at = unixepoch()"),
            "UPDATE t SET at = CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)"
        );
    }
}
