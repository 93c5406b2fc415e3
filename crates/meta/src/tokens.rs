//! Secret API tokens: stored as SHA-256, each with a scope in one project.

use crate::projects::row_to_project;
use crate::secrets::{hash_token, random_hex};
use crate::{Meta, MetaError, Project, params};

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

impl Meta {
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
        let id = self.write(|q| {
            q.query_row(
                "INSERT INTO api_tokens (token_hash, project_id, hint, scope) VALUES (?1, ?2, ?3, ?4) RETURNING rowid",
                params![
                    hash_token(&token),
                    project_id,
                    &token[token.len() - 4..],
                    scope
                ],
                |r| r.get(0),
            )
        })?;
        Ok((id, token))
    }

    /// A project's API tokens, oldest first.
    pub fn tokens(&self, project_id: u32) -> Result<Vec<TokenInfo>, MetaError> {
        self.read(|q| {
            q.query_map(
                "SELECT rowid, hint, scope, created_at FROM api_tokens WHERE project_id = ?1 ORDER BY rowid",
                params![project_id],
                |r| {
                    Ok(TokenInfo {
                        id: r.get(0)?,
                        hint: r.get(1)?,
                        scope: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
        })
    }

    /// The scope of one of a project's tokens, if it has that token.
    pub fn token_scope(&self, project_id: u32, token_id: i64) -> Result<Option<Scope>, MetaError> {
        self.read(|q| {
            q.query_opt(
                "SELECT scope FROM api_tokens WHERE project_id = ?1 AND rowid = ?2",
                params![project_id, token_id],
                |r| r.get(0),
            )
        })
    }

    /// Revokes one of a project's API tokens; false when it has no such token.
    pub fn revoke_token(&self, project_id: u32, token_id: i64) -> Result<bool, MetaError> {
        let n = self.write(|q| {
            q.execute(
                "DELETE FROM api_tokens WHERE project_id = ?1 AND rowid = ?2",
                params![project_id, token_id],
            )
        })?;
        Ok(n > 0)
    }

    /// The project a secret API token reads.
    pub fn project_by_token(&self, token: &str) -> Result<Option<Project>, MetaError> {
        Ok(self.token(token)?.map(|(p, _)| p))
    }

    /// The project a secret API token belongs to, and what the token may do there.
    pub fn token(&self, token: &str) -> Result<Option<(Project, Scope)>, MetaError> {
        self.read(|q| {
            q.query_opt(
                "SELECT p.id, p.name, p.public_key, p.allowed_origins, p.retention_days, t.scope
                 FROM api_tokens t JOIN projects p ON p.id = t.project_id WHERE t.token_hash = ?1",
                params![hash_token(token)],
                |r| Ok((row_to_project(r)?, r.get(5)?)),
            )
        })
    }
}
