//! Projects: name, public ingest key, allowed origins, retention.

use crate::db::Row;
use crate::secrets::random_hex;
use crate::{Meta, MetaError, is_constraint, params};

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

pub(crate) fn row_to_project(row: &Row) -> Result<Project, MetaError> {
    let origins: String = row.get(3)?;
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
        public_key: row.get(2)?,
        allowed_origins: serde_json::from_str(&origins).unwrap_or_default(),
        retention_days: row.get(4)?,
    })
}

pub(crate) const SELECT: &str =
    "SELECT id, name, public_key, allowed_origins, retention_days FROM projects";

impl Meta {
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
        let inserted = self.write(|q| {
            q.query_row(
                "INSERT INTO projects (name, public_key, allowed_origins, retention_days) VALUES (?1, ?2, ?3, ?4) RETURNING id",
                params![name, public_key, serde_json::to_string(&origins).expect("strings"), retention_days],
                |r| r.get::<u32>(0),
            )
        });
        let id = match inserted {
            Err(e) if is_constraint(&e) => return Err(MetaError::Duplicate(name.to_owned())),
            other => other?,
        };
        let token = self.create_token(id)?;
        let project = self.project_by_id(id)?.expect("just inserted");
        Ok((project, token))
    }

    /// The project a public key belongs to.
    pub fn project_by_key(&self, public_key: &str) -> Result<Option<Project>, MetaError> {
        self.read(|q| {
            q.query_opt(
                &format!("{SELECT} WHERE public_key = ?1"),
                params![public_key],
                row_to_project,
            )
        })
    }

    /// A project by id.
    pub fn project_by_id(&self, id: u32) -> Result<Option<Project>, MetaError> {
        self.read(|q| {
            q.query_opt(
                &format!("{SELECT} WHERE id = ?1"),
                params![id],
                row_to_project,
            )
        })
    }

    /// A project by name.
    pub fn project_by_name(&self, name: &str) -> Result<Option<Project>, MetaError> {
        self.read(|q| {
            q.query_opt(
                &format!("{SELECT} WHERE name = ?1"),
                params![name],
                row_to_project,
            )
        })
    }

    /// Every project.
    pub fn projects(&self) -> Result<Vec<Project>, MetaError> {
        self.read(|q| q.query_map(&format!("{SELECT} ORDER BY id"), params![], row_to_project))
    }

    /// Replaces a project's allowed origins.
    pub fn set_allowed_origins(&self, id: u32, origins: &[String]) -> Result<(), MetaError> {
        self.write(|q| {
            q.execute(
                "UPDATE projects SET allowed_origins = ?1 WHERE id = ?2",
                params![serde_json::to_string(origins).expect("strings"), id],
            )
        })?;
        Ok(())
    }

    /// Sets a project's retention.
    pub fn set_retention_days(&self, id: u32, days: u32) -> Result<(), MetaError> {
        if days == 0 {
            return Err(MetaError::Invalid(
                "retention must be at least 1 day".into(),
            ));
        }
        self.write(|q| {
            q.execute(
                "UPDATE projects SET retention_days = ?1 WHERE id = ?2",
                params![days, id],
            )
        })?;
        Ok(())
    }
}
