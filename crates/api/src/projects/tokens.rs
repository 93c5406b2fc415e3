//! A project's secret API tokens: listed by hint, issued with a scope, revoked at once.
//! Members handle read tokens; only owners handle tokens that can change settings.

use super::deleted;
use crate::access::{Actor, ManageTokens, ProjectAccess, with_meta};
use crate::login::parse_body;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use vigil_meta::{Role, Scope};

/// Only owners handle tokens that can change settings.
fn check_token_scope(actor: Actor, scope: Scope) -> Result<(), ApiError> {
    match actor {
        Actor::User(role) if scope > Scope::Read && role < Role::Owner => Err(ApiError::Forbidden(
            format!("only owners issue or revoke {} tokens", scope.as_str()),
        )),
        _ => Ok(()),
    }
}

/// `GET /api/v1/projects/{id}/tokens`: the project's API tokens (never the secrets).
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageTokens>,
) -> Result<Response, ApiError> {
    let id = access.project.id;
    let tokens = with_meta(&state, move |meta| meta.tokens(id)).await?;
    Ok(Json(serde_json::json!({ "tokens": tokens })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default = "read_scope")]
    scope: Scope,
}

fn read_scope() -> Scope {
    Scope::Read
}

/// `POST /api/v1/projects/{id}/tokens` (`{"scope"}` optional, read by default): a new API
/// token, shown only this once.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageTokens>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let new: NewToken = if body.is_empty() {
        NewToken { scope: Scope::Read }
    } else {
        parse_body(&body)?
    };
    check_token_scope(access.actor, new.scope)?;
    let (id, scope) = (access.project.id, new.scope);
    let (token_id, token) =
        with_meta(&state, move |meta| meta.create_scoped_token(id, scope)).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": token_id, "token": token, "scope": new.scope })),
    )
        .into_response())
}

/// `DELETE /api/v1/projects/{id}/tokens/{token_id}`: revokes a token at once (the next
/// request that carries it is refused: nothing caches tokens).
pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    Path((_, token_id)): Path<(u32, i64)>,
    access: ProjectAccess<ManageTokens>,
) -> Result<Response, ApiError> {
    let id = access.project.id;
    let scope = with_meta(&state, move |meta| meta.token_scope(id, token_id))
        .await?
        .ok_or(ApiError::NotFound)?;
    check_token_scope(access.actor, scope)?;
    deleted(with_meta(&state, move |meta| meta.revoke_token(id, token_id)).await?)
}
