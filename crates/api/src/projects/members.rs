//! A project's members and their roles, and the invitations that make new members. Owners
//! manage them; a project always keeps an owner.

use super::{base_url, deleted};
use crate::access::{ManageMembers, ProjectAccess, SeeMembers, with_meta};
use crate::login::parse_body;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use vigil_meta::{MAX_EMAIL_BYTES, Role};

/// How long an invitation link works.
const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

/// `GET /api/v1/projects/{id}/members`: who can read the project, with their roles.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<SeeMembers>,
) -> Result<Response, ApiError> {
    let id = access.project.id;
    let members = with_meta(&state, move |meta| meta.members(id)).await?;
    Ok(Json(serde_json::json!({ "members": members })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    email: String,
    #[serde(default = "member_role")]
    role: Role,
}

fn member_role() -> Role {
    Role::Member
}

/// `POST /api/v1/projects/{id}/members`: invites an email. The answer is the invitation and
/// its one-time link, the same whether or not the email has an account (nothing about the
/// account is looked at); access starts when the invitee accepts.
pub(super) async fn invite(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    access: ProjectAccess<ManageMembers>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let new: NewMember = parse_body(&body)?;
    let email = new.email.trim().to_owned();
    if !email.contains('@')
        || email.len() > MAX_EMAIL_BYTES
        || email.chars().any(char::is_whitespace)
    {
        return Err(ApiError::InvalidBody(format!(
            "{email:?} is not an email address"
        )));
    }
    let id = access.project.id;
    let (invitation, secret) = with_meta(&state, move |meta| {
        meta.create_invitation(id, &email, new.role, INVITATION_TTL_SECS)
    })
    .await?;
    // The secret rides in the fragment, which browsers never send to a server or a proxy log.
    let link = format!("{}/invite#{secret}", base_url(&headers));
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "invitation": invitation, "link": link })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: Role,
}

/// `PUT /api/v1/projects/{id}/members/{user_id}`: changes a member's role; the last owner
/// stays an owner.
pub(super) async fn change_role(
    State(state): State<Arc<AppState>>,
    Path((_, user_id)): Path<(u32, i64)>,
    access: ProjectAccess<ManageMembers>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let change: RoleChange = parse_body(&body)?;
    let id = access.project.id;
    let member = with_meta(&state, move |meta| {
        if !meta.set_role(user_id, id, change.role)? {
            return Ok(None);
        }
        Ok(Some(
            meta.members(id)?.into_iter().find(|m| m.id == user_id),
        ))
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(Json(serde_json::json!({ "member": member })).into_response())
}

/// `DELETE /api/v1/projects/{id}/members/{user_id}`: takes access away at once; the last
/// owner cannot be removed.
pub(super) async fn remove(
    State(state): State<Arc<AppState>>,
    Path((_, user_id)): Path<(u32, i64)>,
    access: ProjectAccess<ManageMembers>,
) -> Result<Response, ApiError> {
    let id = access.project.id;
    deleted(with_meta(&state, move |meta| meta.remove_member(user_id, id)).await?)
}

/// `GET /api/v1/projects/{id}/invitations`: pending invitations (never their secrets).
pub(super) async fn list_invitations(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageMembers>,
) -> Result<Response, ApiError> {
    let id = access.project.id;
    let invitations = with_meta(&state, move |meta| meta.invitations(id)).await?;
    Ok(Json(serde_json::json!({ "invitations": invitations })).into_response())
}

/// `DELETE /api/v1/projects/{id}/invitations/{invitation_id}`: the link stops working.
pub(super) async fn revoke_invitation(
    State(state): State<Arc<AppState>>,
    Path((_, invitation_id)): Path<(u32, i64)>,
    access: ProjectAccess<ManageMembers>,
) -> Result<Response, ApiError> {
    let id = access.project.id;
    deleted(
        with_meta(&state, move |meta| {
            meta.revoke_invitation(id, invitation_id)
        })
        .await?,
    )
}
