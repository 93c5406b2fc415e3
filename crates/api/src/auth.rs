//! Who is reading: a secret API token (one project), or a logged-in user (a session cookie,
//! the projects they belong to, and a CSRF token on every state-changing or POST request).

use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use vigil_meta::{LoginSession, Project};

/// The cookie that carries a login session.
pub const SESSION_COOKIE: &str = "vigil_session";
/// How long a login lasts.
const SESSION_TTL_SECS: i64 = 7 * 24 * 3600;

fn internal(e: vigil_meta::MetaError) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            pair.trim()
                .strip_prefix(name)?
                .strip_prefix('=')
                .map(str::to_owned)
        })
}

fn session_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, LoginSession)>, ApiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .meta
        .session(&token)
        .map_err(internal)?
        .map(|s| (token, s)))
}

fn check_csrf(session: &LoginSession, headers: &HeaderMap) -> Result<(), ApiError> {
    let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    if sent == Some(session.csrf_token.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Csrf)
    }
}

/// The project a request may read: the token's, or — for a logged-in user — the one named
/// by `project` if the user belongs to it. A project the user does not belong to is
/// answered like one that does not exist.
pub fn reader(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    project: Option<u32>,
) -> Result<Project, ApiError> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let p = state
            .meta
            .project_by_token(token.trim())
            .map_err(internal)?
            .ok_or(ApiError::Unauthorized)?;
        return match project {
            Some(id) if id != p.id => Err(ApiError::NotFound),
            _ => Ok(p),
        };
    }
    let session = user_session(state, method, headers)?;
    let id =
        project.ok_or_else(|| ApiError::InvalidQuery("name the project: ?project=<id>".into()))?;
    member_project(state, &session, id)
}

/// The logged-in user's session, CSRF-checked unless the request only reads.
fn user_session(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<LoginSession, ApiError> {
    let (_, session) = session_of(state, headers)?.ok_or(ApiError::Unauthorized)?;
    if method != Method::GET {
        check_csrf(&session, headers)?;
    }
    Ok(session)
}

/// Project `id` for a logged-in member (not for API tokens), CSRF-checked on writes.
fn member(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    id: u32,
) -> Result<Project, ApiError> {
    member_project(state, &user_session(state, method, headers)?, id)
}

/// Project `id` if the user belongs to it; otherwise it does not exist for them.
fn member_project(state: &AppState, session: &LoginSession, id: u32) -> Result<Project, ApiError> {
    state
        .meta
        .user_projects(session.user.id)
        .map_err(internal)?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    email: String,
    password: String,
}

fn me_body(state: &AppState, session: &LoginSession) -> Result<serde_json::Value, ApiError> {
    let projects = state
        .meta
        .user_projects(session.user.id)
        .map_err(internal)?;
    Ok(
        serde_json::json!({ "user": session.user, "projects": projects, "csrf_token": session.csrf_token }),
    )
}

fn set_cookie(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    // Secure when the client reached us over TLS (a proxy in front says so).
    let tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        == Some("https");
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie is ascii")
}

/// `POST /api/v1/login`.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let creds: Credentials =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    if let Err(wait) = state.login_throttle.attempt(&creds.email) {
        return Err(ApiError::TooManyAttempts(wait.as_secs().max(1)));
    }
    let email = creds.email.clone();
    let meta = state.clone();
    // Argon2 is deliberately slow: keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        meta.meta
            .login(&creds.email, &creds.password, SESSION_TTL_SECS)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(internal)?;
    let Some((token, session)) = result else {
        return Err(ApiError::InvalidCredentials);
    };
    state.login_throttle.succeeded(&email);
    let mut response = Json(me_body(&state, &session)?).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&headers, &token, SESSION_TTL_SECS),
    );
    Ok(response)
}

/// `POST /api/v1/logout`.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (token, session) = session_of(&state, &headers)?.ok_or(ApiError::Unauthorized)?;
    check_csrf(&session, &headers)?;
    state.meta.logout(&token).map_err(internal)?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&headers, "", 0));
    Ok(response)
}

/// `GET /api/v1/me`: the user, their projects and the CSRF token for later writes.
pub(crate) async fn me(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, session) = session_of(&state, &headers)?.ok_or(ApiError::Unauthorized)?;
    Ok(Json(me_body(&state, &session)?).into_response())
}

/// A project's settings as the dashboard shows them, with the install snippet.
fn settings_body(project: &Project, headers: &HeaderMap) -> serde_json::Value {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let snippet = format!(
        "<script async src=\"{scheme}://{host}/agent/vigil.js\" data-key=\"{}\"></script>",
        project.public_key
    );
    serde_json::json!({
        "id": project.id, "name": project.name, "public_key": project.public_key,
        "allowed_origins": project.allowed_origins, "retention_days": project.retention_days,
        "snippet": snippet,
    })
}

/// `GET /api/v1/projects/{id}`.
pub(crate) async fn project_settings(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<u32>,
) -> Result<Response, ApiError> {
    let project = reader(&state, &method, &headers, Some(id))?;
    Ok(Json(settings_body(&project, &headers)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsChange {
    allowed_origins: Option<Vec<String>>,
    retention_days: Option<u32>,
}

/// `PUT /api/v1/projects/{id}`: allowed origins and retention (CSRF-checked for users).
pub(crate) async fn update_project(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<u32>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let project = reader(&state, &method, &headers, Some(id))?;
    let change: SettingsChange =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    if let Some(origins) = &change.allowed_origins {
        check_origins(origins)?;
        state
            .meta
            .set_allowed_origins(project.id, origins)
            .map_err(internal)?;
    }
    if let Some(days) = change.retention_days {
        state
            .meta
            .set_retention_days(project.id, days)
            .map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    }
    let updated = state
        .meta
        .project_by_id(project.id)
        .map_err(internal)?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(settings_body(&updated, &headers)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProject {
    name: String,
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default)]
    retention_days: Option<u32>,
}

fn check_origins(origins: &[String]) -> Result<(), ApiError> {
    let valid = |o: &String| o == "*" || o.starts_with("https://") || o.starts_with("http://");
    match origins.iter().find(|o| !valid(o)) {
        Some(bad) => Err(ApiError::InvalidQuery(format!(
            "origin {bad:?} must be * or start with http:// or https://"
        ))),
        None => Ok(()),
    }
}

/// `POST /api/v1/projects`: a logged-in user creates a project and becomes its member. The
/// answer carries its first API token, shown only this once. Tokens cannot create projects.
pub(crate) async fn create_project(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let session = user_session(&state, &method, &headers)?;
    let new: NewProject =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    check_origins(&new.allowed_origins)?;
    let retention = new.retention_days.unwrap_or(90);
    if retention == 0 {
        return Err(ApiError::InvalidQuery(
            "retention must be at least 1 day".into(),
        ));
    }
    let (project, token) = state
        .meta
        .create_project(new.name.trim(), &new.allowed_origins, retention)
        .map_err(|e| match e {
            vigil_meta::MetaError::Duplicate(_) => ApiError::Conflict(e.to_string()),
            vigil_meta::MetaError::Invalid(m) => ApiError::InvalidQuery(m),
            other => internal(other),
        })?;
    state
        .meta
        .add_member(session.user.id, project.id)
        .map_err(internal)?;
    let mut body = settings_body(&project, &headers);
    body["api_token"] = token.into();
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/projects/{id}/tokens`: the project's API tokens (never the secrets).
pub(crate) async fn list_tokens(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<u32>,
) -> Result<Response, ApiError> {
    let project = member(&state, &method, &headers, id)?;
    let tokens = state.meta.tokens(project.id).map_err(internal)?;
    Ok(Json(serde_json::json!({ "tokens": tokens })).into_response())
}

/// `POST /api/v1/projects/{id}/tokens`: a new API token, shown only this once.
pub(crate) async fn create_token(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<u32>,
) -> Result<Response, ApiError> {
    let project = member(&state, &method, &headers, id)?;
    let token = state.meta.create_token(project.id).map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "token": token })),
    )
        .into_response())
}

/// `DELETE /api/v1/projects/{id}/tokens/{token_id}`: revokes a token at once.
pub(crate) async fn revoke_token(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path((id, token_id)): axum::extract::Path<(u32, i64)>,
) -> Result<Response, ApiError> {
    let project = member(&state, &method, &headers, id)?;
    deleted(
        state
            .meta
            .revoke_token(project.id, token_id)
            .map_err(internal)?,
    )
}

/// `GET /api/v1/projects/{id}/members`: who can read the project.
pub(crate) async fn list_members(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<u32>,
) -> Result<Response, ApiError> {
    let project = member(&state, &method, &headers, id)?;
    let members = state.meta.members(project.id).map_err(internal)?;
    Ok(Json(serde_json::json!({ "members": members })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
    email: String,
}

/// `POST /api/v1/projects/{id}/members`: gives a user access. An unknown email becomes a new
/// user whose generated password is in the answer, only this once (Vigil sends no email).
pub(crate) async fn add_member(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<u32>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let project = member(&state, &method, &headers, id)?;
    let new: NewMember =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    let email = new.email.trim();
    if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err(ApiError::InvalidQuery(format!(
            "{email:?} is not an email address"
        )));
    }
    let existing = state.meta.user_by_email(email).map_err(internal)?;
    let (user, password) = match existing {
        Some(user) => (user, None),
        None => {
            let meta = state.clone();
            let email = email.to_owned();
            // Argon2 is deliberately slow: keep it off the async workers.
            let (user, password) =
                tokio::task::spawn_blocking(move || meta.meta.create_user_with_password(&email))
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?
                    .map_err(internal)?;
            (user, Some(password))
        }
    };
    state
        .meta
        .add_member(user.id, project.id)
        .map_err(internal)?;
    let status = if password.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(serde_json::json!({ "member": user, "password": password })),
    )
        .into_response())
}

/// `DELETE /api/v1/projects/{id}/members/{user_id}`: takes access away at once. Nobody
/// removes themselves, so a project always keeps the member who manages it.
pub(crate) async fn remove_member(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path((id, user_id)): axum::extract::Path<(u32, i64)>,
) -> Result<Response, ApiError> {
    let session = user_session(&state, &method, &headers)?;
    let project = member_project(&state, &session, id)?;
    if user_id == session.user.id {
        return Err(ApiError::Conflict(
            "you cannot remove yourself from a project".into(),
        ));
    }
    deleted(
        state
            .meta
            .remove_member(user_id, project.id)
            .map_err(internal)?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/v1/me/password`: the signed-in user changes their password; their other
/// sessions end. Wrong current passwords count toward the sign-in throttle.
pub(crate) async fn change_password(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (token, session) = session_of(&state, &headers)?.ok_or(ApiError::Unauthorized)?;
    check_csrf(&session, &headers)?;
    let change: PasswordChange =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    if let Err(wait) = state.login_throttle.attempt(&session.user.email) {
        return Err(ApiError::TooManyAttempts(wait.as_secs().max(1)));
    }
    let meta = state.clone();
    let user = session.user.clone();
    let changed = tokio::task::spawn_blocking(move || {
        meta.meta
            .change_password(user.id, &change.current, &change.new, &token)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| match e {
        vigil_meta::MetaError::Invalid(m) => ApiError::InvalidQuery(m),
        other => internal(other),
    })?;
    if !changed {
        return Err(ApiError::InvalidCredentials);
    }
    state.login_throttle.succeeded(&session.user.email);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The answer to a DELETE: 204 when something was removed, else 404.
fn deleted(removed: bool) -> Result<Response, ApiError> {
    if removed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}
