//! Who is calling and what they may do.
//!
//! A caller is a secret API token (one project, with a scope: read, ingest-admin, admin) or a
//! logged-in user (a session cookie, with a role in each of their projects: viewer, member,
//! owner). Every route states what it needs ([`Needs`]); the table is in docs/api.md and the
//! test `crates/vigil/tests/access_matrix.rs` walks it. A project the caller cannot see
//! answers 404, like one that does not exist.
//!
//! The browser sends a cookie on its own, so a cookie-authenticated write must also show that
//! it comes from our page: same origin, a JSON body, and the session's CSRF token.

use crate::throttle::HashingError;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use vigil_meta::{
    LoginSession, MAX_EMAIL_BYTES, MAX_PASSWORD_BYTES, MetaError, Project, Role, Scope,
};

/// The cookie that carries a login session.
pub const SESSION_COOKIE: &str = "vigil_session";
/// How long a login lasts.
const SESSION_TTL_SECS: i64 = 7 * 24 * 3600;
/// How long an invitation link works.
const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;
/// The largest body of a sign-in, password or invitation request: a few fields of bounded size.
pub(crate) const AUTH_BODY_LIMIT: usize = 8 * 1024;

fn internal(e: MetaError) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// Meta's refusals become the client's errors; anything else is ours.
fn refused(e: MetaError) -> ApiError {
    match e {
        MetaError::Duplicate(_)
        | MetaError::LastOwner
        | MetaError::AlreadyMember(_)
        | MetaError::Conflict(_) => ApiError::Conflict(e.to_string()),
        MetaError::Invalid(m) => ApiError::InvalidQuery(m),
        MetaError::NoInvitation => ApiError::NoInvitation,
        MetaError::WrongUser => ApiError::Forbidden(e.to_string()),
        other => internal(other),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::InvalidQuery(e.to_string()))
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
        .login_session(&token)
        .map_err(internal)?
        .map(|s| (token, s)))
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

fn check_csrf(session: &LoginSession, headers: &HeaderMap) -> Result<(), ApiError> {
    let sent = headers
        .get("x-csrf-token")
        .map_or(&[][..], HeaderValue::as_bytes);
    if same_secret(sent, session.csrf_token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Csrf)
    }
}

/// The first value of a header that proxies may repeat or list (`a, b`).
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let v = headers.get(name)?.to_str().ok()?;
    Some(v.split(',').next().unwrap_or("").trim())
}

/// Whether the client reached us over TLS, as the proxy nearest to it says.
fn forwarded_https(headers: &HeaderMap) -> bool {
    first_value(headers, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Refuses a request a browser sent from another site: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` whose host is not the one the request was sent to (`Host`, or the proxy's
/// `X-Forwarded-Host`, which a page cannot set on a cross-site request without a preflight
/// we never answer). Clients that send no `Origin` (scripts, curl) are not browsers.
fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    if first_value(headers, "sec-fetch-site").is_some_and(|s| s.eq_ignore_ascii_case("cross-site"))
    {
        return Err(ApiError::CrossOrigin);
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host);
    let matches = |name: header::HeaderName| {
        let host = first_value(headers, name.as_str());
        host.is_some_and(|h| origin_host.is_some_and(|o| o.eq_ignore_ascii_case(h)))
    };
    if matches(header::HOST) || matches(header::HeaderName::from_static("x-forwarded-host")) {
        Ok(())
    } else {
        Err(ApiError::CrossOrigin)
    }
}

/// Only JSON bodies: a cross-site HTML form can send text/plain or form encodings without a
/// preflight, never application/json.
fn check_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if media.is_some_and(|m| m.eq_ignore_ascii_case("application/json")) {
        Ok(())
    } else {
        Err(ApiError::NotJson)
    }
}

/// What a browser request that changes state, or opens a session, must show besides the cookie.
fn check_browser_write(headers: &HeaderMap) -> Result<(), ApiError> {
    check_same_origin(headers)?;
    check_json(headers)
}

fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// The credential a request carries, checked.
enum Credential {
    Token(Project, Scope),
    User(String, LoginSession),
}

/// A bearer token if one is sent (an unknown one is 401, never "no token"); otherwise the
/// session cookie, with the same-origin, JSON and CSRF checks on writes.
fn credential(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Credential, ApiError> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let (project, scope) = state
            .meta
            .token(token.trim())
            .map_err(internal)?
            .ok_or(ApiError::Unauthorized)?;
        return Ok(Credential::Token(project, scope));
    }
    let (token, session) = session_of(state, headers)?.ok_or(ApiError::Unauthorized)?;
    if !is_read(method) {
        check_browser_write(headers)?;
        check_csrf(&session, headers)?;
    }
    Ok(Credential::User(token, session))
}

/// The signed-in user (API tokens refused), with the browser checks on writes.
fn user_session(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(String, LoginSession), ApiError> {
    match credential(state, method, headers)? {
        Credential::User(token, session) => Ok((token, session)),
        Credential::Token(..) => Err(tokens_refused()),
    }
}

fn tokens_refused() -> ApiError {
    ApiError::Forbidden("api tokens cannot do this; sign in to the dashboard".into())
}

/// What a route needs of its caller in a project: the least role of a user, and the least
/// scope of a token (`None`: tokens are refused).
#[derive(Clone, Copy)]
pub(crate) struct Needs {
    role: Role,
    scope: Option<Scope>,
}

/// Reading data and settings: everyone of the project.
const READ: Needs = Needs {
    role: Role::Viewer,
    scope: Some(Scope::Read),
};
/// Seeing who has access: users of the project, not scripts.
const SEE_MEMBERS: Needs = Needs {
    role: Role::Viewer,
    scope: None,
};
/// Managing API tokens: members (read tokens) and owners (any).
const MANAGE_TOKENS: Needs = Needs {
    role: Role::Member,
    scope: None,
};
/// Members, roles and invitations: owners.
const MANAGE_MEMBERS: Needs = Needs {
    role: Role::Owner,
    scope: None,
};
/// Allowed origins and retention: owners, and ingest-admin (origins) or admin tokens.
const CHANGE_SETTINGS: Needs = Needs {
    role: Role::Owner,
    scope: Some(Scope::IngestAdmin),
};

/// Erasing a user's or a session's data: owners and admin tokens.
const ERASE: Needs = Needs {
    role: Role::Owner,
    scope: Some(Scope::Admin),
};

/// Who acts on a project, once the route's needs are met.
enum Actor {
    Token(Scope),
    User(Role),
}

/// Project `id` (for a token: its own, and `id` must name it if given) if the caller may do
/// what `needs` says there. A project the caller does not belong to is 404.
fn project_access(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    id: Option<u32>,
    needs: Needs,
) -> Result<(Project, Actor), ApiError> {
    match credential(state, method, headers)? {
        Credential::Token(project, scope) => {
            if id.is_some_and(|id| id != project.id) {
                return Err(ApiError::NotFound);
            }
            match needs.scope {
                None => Err(tokens_refused()),
                Some(least) if scope < least => Err(ApiError::Forbidden(format!(
                    "this needs an api token with the {} scope",
                    least.as_str()
                ))),
                Some(_) => Ok((project, Actor::Token(scope))),
            }
        }
        Credential::User(_, session) => {
            let id =
                id.ok_or_else(|| ApiError::InvalidQuery("name the project: ?project=<id>".into()))?;
            let (project, role) = state
                .meta
                .membership(session.user.id, id)
                .map_err(internal)?
                .ok_or(ApiError::NotFound)?;
            if role < needs.role {
                return Err(ApiError::Forbidden(format!(
                    "this needs the {} role in the project",
                    needs.role.as_str()
                )));
            }
            Ok((project, Actor::User(role)))
        }
    }
}

/// The project a request may read: the token's, or — for a logged-in user — the one named
/// by `project` if the user belongs to it (any role).
pub fn reader(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    project: Option<u32>,
) -> Result<Project, ApiError> {
    project_access(state, method, headers, project, READ).map(|(p, _)| p)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    email: String,
    password: String,
}

/// Bounds what one sign-in can make the server do, before anything is looked up.
fn check_sizes(email: &str, password: &str) -> Result<(), ApiError> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(ApiError::InvalidQuery(format!(
            "an email has at most {MAX_EMAIL_BYTES} bytes"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::InvalidQuery(format!(
            "a password has at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

fn too_many(wait: std::time::Duration) -> ApiError {
    ApiError::TooManyAttempts(wait.as_secs().max(1))
}

/// Runs a password check for `email` in a hashing slot: refused at once while the email is
/// locked, 503 when no slot frees up soon, and counted as an attempt when it starts.
async fn password_work<T: Send + 'static>(
    state: &Arc<AppState>,
    email: &str,
    work: impl FnOnce(&AppState) -> T + Send + 'static,
) -> Result<T, ApiError> {
    state.login_throttle.check(email).map_err(too_many)?;
    let (st, email) = (state.clone(), email.to_owned());
    let outcome = state
        .login_throttle
        .hashing(move || {
            st.login_throttle.attempt(&email)?;
            Ok(work(&st))
        })
        .await;
    match outcome {
        Ok(result) => result.map_err(too_many),
        Err(HashingError::Busy) => Err(ApiError::Busy(
            1,
            "the server is busy checking passwords; try again shortly".into(),
        )),
        Err(HashingError::Failed) => Err(ApiError::Internal("password check failed".into())),
    }
}

fn me_body(state: &AppState, session: &LoginSession) -> Result<serde_json::Value, ApiError> {
    let projects: Vec<serde_json::Value> = state
        .meta
        .user_projects_with_roles(session.user.id)
        .map_err(internal)?
        .into_iter()
        .map(|(p, role)| {
            let mut v = serde_json::to_value(p).expect("serialisable");
            v["role"] = role.as_str().into();
            v
        })
        .collect();
    Ok(
        serde_json::json!({ "user": session.user, "projects": projects, "csrf_token": session.csrf_token }),
    )
}

fn set_cookie(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = if forwarded_https(headers) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie is ascii")
}

/// The `me` answer with a new session's cookie.
fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    session: &LoginSession,
) -> Result<Response, ApiError> {
    let mut response = Json(me_body(state, session)?).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(headers, token, SESSION_TTL_SECS),
    );
    Ok(response)
}

/// `POST /api/v1/login`.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Login CSRF: a page elsewhere must not sign a visitor in to an account of its choosing.
    check_browser_write(&headers)?;
    let creds: Credentials = parse(&body)?;
    check_sizes(&creds.email, &creds.password)?;
    let email = creds.email.clone();
    let result = password_work(&state, &email, move |st| {
        st.meta
            .login(&creds.email, &creds.password, SESSION_TTL_SECS)
    })
    .await?
    .map_err(internal)?;
    let Some((token, session)) = result else {
        return Err(ApiError::InvalidCredentials);
    };
    state.login_throttle.succeeded(&email);
    signed_in(&state, &headers, &token, &session)
}

/// `POST /api/v1/logout`.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (token, _) = user_session(&state, &method, &headers)?;
    state.meta.logout(&token).map_err(internal)?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&headers, "", 0));
    Ok(response)
}

/// `GET /api/v1/me`: the user, their projects with their role in each, and the CSRF token
/// for later writes.
pub(crate) async fn me(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, session) = user_session(&state, &method, &headers)?;
    Ok(Json(me_body(&state, &session)?).into_response())
}

/// The scheme and host the client used, for links back to us.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if forwarded_https(headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// A project's settings as the dashboard shows them, with the install snippet.
fn settings_body(project: &Project, headers: &HeaderMap) -> serde_json::Value {
    let snippet = format!(
        "<script async src=\"{}/agent/vigil.js\" data-key=\"{}\"></script>",
        base_url(headers),
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
    Path(id): Path<u32>,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), READ)?;
    Ok(Json(settings_body(&project, &headers)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsChange {
    allowed_origins: Option<Vec<String>>,
    retention_days: Option<u32>,
}

/// `PUT /api/v1/projects/{id}`: allowed origins and retention. Owners, admin tokens, and
/// ingest-admin tokens for the origins only (retention deletes data).
pub(crate) async fn update_project(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<u32>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (project, actor) = project_access(&state, &method, &headers, Some(id), CHANGE_SETTINGS)?;
    let change: SettingsChange = parse(&body)?;
    if change.retention_days.is_some()
        && matches!(actor, Actor::Token(scope) if scope < Scope::Admin)
    {
        return Err(ApiError::Forbidden(
            "changing retention needs an api token with the admin scope".into(),
        ));
    }
    if let Some(origins) = &change.allowed_origins {
        check_origins(origins)?;
    }
    if let Some(days) = change.retention_days {
        state
            .meta
            .set_retention_days(project.id, days)
            .map_err(refused)?;
    }
    if let Some(origins) = &change.allowed_origins {
        state
            .meta
            .set_allowed_origins(project.id, origins)
            .map_err(internal)?;
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
pub(crate) struct ErasureRequest {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
}

/// `POST /api/v1/projects/{id}/erasure` `{"user_id"}` or `{"session_id"}`: deletes every
/// event of that user or session acknowledged so far, from every table and file (replaced
/// files are gone within seconds). Owners and admin tokens only.
pub(crate) async fn erase(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<u32>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), ERASE)?;
    let request: ErasureRequest = parse(&body)?;
    let valid = |v: &String| !v.is_empty() && v.len() <= 1024;
    let erasure = match (request.user_id, request.session_id) {
        (Some(user), None) if valid(&user) => vigil_store::Erasure::User(user),
        (None, Some(session)) if valid(&session) => vigil_store::Erasure::Session(session),
        _ => {
            return Err(ApiError::InvalidQuery(
                "name exactly one of user_id or session_id, 1 to 1024 bytes".into(),
            ));
        }
    };
    let report = state
        .store
        .erase(project.id, erasure)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(serde_json::json!({
        "rows_removed": report.rows_removed,
        "files_rewritten": report.files_rewritten,
        "files_deleted_within_seconds": vigil_store::ERASURE_GRACE.as_secs() + 5,
    }))
    .into_response())
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

/// `POST /api/v1/projects`: a logged-in user creates a project and becomes its owner. The
/// answer carries its first API token (read scope), shown only this once. Tokens cannot
/// create projects.
pub(crate) async fn create_project(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (_, session) = user_session(&state, &method, &headers)?;
    let new: NewProject = parse(&body)?;
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
        .map_err(refused)?;
    state
        .meta
        .add_member(session.user.id, project.id)
        .map_err(internal)?;
    let mut body = settings_body(&project, &headers);
    body["api_token"] = token.into();
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Only owners handle tokens that can change settings.
fn check_token_scope(actor: &Actor, scope: Scope) -> Result<(), ApiError> {
    match actor {
        Actor::User(role) if scope > Scope::Read && *role < Role::Owner => {
            Err(ApiError::Forbidden(format!(
                "only owners issue or revoke {} tokens",
                scope.as_str()
            )))
        }
        _ => Ok(()),
    }
}

/// `GET /api/v1/projects/{id}/tokens`: the project's API tokens (never the secrets).
pub(crate) async fn list_tokens(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), MANAGE_TOKENS)?;
    let tokens = state.meta.tokens(project.id).map_err(internal)?;
    Ok(Json(serde_json::json!({ "tokens": tokens })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    #[serde(default = "read_scope")]
    scope: Scope,
}

fn read_scope() -> Scope {
    Scope::Read
}

/// `POST /api/v1/projects/{id}/tokens` (`{"scope"}` optional, read by default): a new API
/// token, shown only this once.
pub(crate) async fn create_token(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<u32>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (project, actor) = project_access(&state, &method, &headers, Some(id), MANAGE_TOKENS)?;
    let new: NewToken = if body.is_empty() {
        NewToken { scope: Scope::Read }
    } else {
        parse(&body)?
    };
    check_token_scope(&actor, new.scope)?;
    let (token_id, token) = state
        .meta
        .create_scoped_token(project.id, new.scope)
        .map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": token_id, "token": token, "scope": new.scope })),
    )
        .into_response())
}

/// `DELETE /api/v1/projects/{id}/tokens/{token_id}`: revokes a token at once.
pub(crate) async fn revoke_token(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path((id, token_id)): Path<(u32, i64)>,
) -> Result<Response, ApiError> {
    let (project, actor) = project_access(&state, &method, &headers, Some(id), MANAGE_TOKENS)?;
    let scope = state
        .meta
        .token_scope(project.id, token_id)
        .map_err(internal)?
        .ok_or(ApiError::NotFound)?;
    check_token_scope(&actor, scope)?;
    deleted(
        state
            .meta
            .revoke_token(project.id, token_id)
            .map_err(internal)?,
    )
}

/// `GET /api/v1/projects/{id}/members`: who can read the project, with their roles.
pub(crate) async fn list_members(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), SEE_MEMBERS)?;
    let members = state.meta.members(project.id).map_err(internal)?;
    Ok(Json(serde_json::json!({ "members": members })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
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
pub(crate) async fn invite_member(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<u32>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), MANAGE_MEMBERS)?;
    let new: NewMember = parse(&body)?;
    let email = new.email.trim();
    if !email.contains('@')
        || email.len() > MAX_EMAIL_BYTES
        || email.chars().any(char::is_whitespace)
    {
        return Err(ApiError::InvalidQuery(format!(
            "{email:?} is not an email address"
        )));
    }
    let (invitation, secret) = state
        .meta
        .create_invitation(project.id, email, new.role, INVITATION_TTL_SECS)
        .map_err(refused)?;
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
pub(crate) struct RoleChange {
    role: Role,
}

/// `PUT /api/v1/projects/{id}/members/{user_id}`: changes a member's role; the last owner
/// stays an owner.
pub(crate) async fn change_role(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path((id, user_id)): Path<(u32, i64)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), MANAGE_MEMBERS)?;
    let change: RoleChange = parse(&body)?;
    if !state
        .meta
        .set_role(user_id, project.id, change.role)
        .map_err(refused)?
    {
        return Err(ApiError::NotFound);
    }
    let members = state.meta.members(project.id).map_err(internal)?;
    let member = members.into_iter().find(|m| m.id == user_id);
    Ok(Json(serde_json::json!({ "member": member })).into_response())
}

/// `DELETE /api/v1/projects/{id}/members/{user_id}`: takes access away at once; the last
/// owner cannot be removed.
pub(crate) async fn remove_member(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path((id, user_id)): Path<(u32, i64)>,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), MANAGE_MEMBERS)?;
    deleted(
        state
            .meta
            .remove_member(user_id, project.id)
            .map_err(refused)?,
    )
}

/// `GET /api/v1/projects/{id}/invitations`: pending invitations (never their secrets).
pub(crate) async fn list_invitations(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), MANAGE_MEMBERS)?;
    let invitations = state.meta.invitations(project.id).map_err(internal)?;
    Ok(Json(serde_json::json!({ "invitations": invitations })).into_response())
}

/// `DELETE /api/v1/projects/{id}/invitations/{invitation_id}`: the link stops working.
pub(crate) async fn revoke_invitation(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path((id, invitation_id)): Path<(u32, i64)>,
) -> Result<Response, ApiError> {
    let (project, _) = project_access(&state, &method, &headers, Some(id), MANAGE_MEMBERS)?;
    deleted(
        state
            .meta
            .revoke_invitation(project.id, invitation_id)
            .map_err(internal)?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvitationSecret {
    secret: String,
}

/// `POST /api/v1/invitations/lookup` `{"secret"}`: what an invitation link offers, for the
/// page that accepts it. Nothing about the invited email's account is said.
pub(crate) async fn lookup_invitation(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let InvitationSecret { secret } = parse(&body)?;
    let (invitation, project) = state
        .meta
        .invitation(&secret)
        .map_err(internal)?
        .ok_or(ApiError::NoInvitation)?;
    Ok(Json(serde_json::json!({
        "project": {"id": project.id, "name": project.name},
        "email": invitation.email, "role": invitation.role, "expires_at": invitation.expires_at,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Acceptance {
    secret: String,
    #[serde(default)]
    password: Option<String>,
}

/// `POST /api/v1/invitations/accept` `{"secret", "password"?}`. Signed in as the invited
/// email: accepts. Signed out, with a password: a new email gets an account with it; an
/// existing account must give its own (a sign-in, throttled like one). Either way a session
/// is open afterwards; the answer is the `me` body.
pub(crate) async fn accept_invitation(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    check_browser_write(&headers)?;
    let acceptance: Acceptance = parse(&body)?;
    if session_of(&state, &headers)?.is_some() {
        let (_, session) = user_session(&state, &method, &headers)?;
        state
            .meta
            .accept_invitation_as(&acceptance.secret, &session.user)
            .map_err(refused)?;
        return Ok(Json(me_body(&state, &session)?).into_response());
    }
    let password = acceptance.password.ok_or_else(|| {
        ApiError::InvalidQuery("sign in, or choose a password: {\"password\"}".into())
    })?;
    let (invitation, _) = state
        .meta
        .invitation(&acceptance.secret)
        .map_err(internal)?
        .ok_or(ApiError::NoInvitation)?;
    check_sizes(&invitation.email, &password)?;
    let secret = acceptance.secret;
    let result = password_work(&state, &invitation.email, move |st| {
        st.meta
            .accept_invitation_with_password(&secret, &password, SESSION_TTL_SECS)
    })
    .await?
    .map_err(refused)?;
    let Some((token, session)) = result else {
        return Err(ApiError::InvalidCredentials);
    };
    state.login_throttle.succeeded(&invitation.email);
    signed_in(&state, &headers, &token, &session)
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
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (token, session) = user_session(&state, &method, &headers)?;
    let change: PasswordChange = parse(&body)?;
    check_sizes("", &change.current)?;
    check_sizes("", &change.new)?;
    let user = session.user.clone();
    let changed = password_work(&state, &session.user.email, move |st| {
        st.meta
            .change_password(user.id, &change.current, &change.new, &token)
    })
    .await?
    .map_err(refused)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abcd", b"abcd"));
        assert!(!same_secret(b"abcd", b"abce"));
        assert!(!same_secret(b"abcd", b"abc"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn only_same_origin_browser_writes_pass() {
        let host = ("host", "vigil.example:8080");
        assert!(
            check_same_origin(&headers(&[host])).is_ok(),
            "no origin: not a browser"
        );
        assert!(
            check_same_origin(&headers(&[host, ("origin", "http://vigil.example:8080")])).is_ok()
        );
        assert!(check_same_origin(&headers(&[host, ("origin", "http://evil.example")])).is_err());
        assert!(check_same_origin(&headers(&[host, ("origin", "null")])).is_err());
        assert!(
            check_same_origin(&headers(&[
                ("host", "127.0.0.1:3000"),
                ("x-forwarded-host", "vigil.example"),
                ("origin", "https://vigil.example")
            ]))
            .is_ok(),
            "behind a proxy"
        );
        assert!(check_same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(
            check_json(&headers(&[(
                "content-type",
                "Application/JSON; charset=utf-8"
            )]))
            .is_ok()
        );
        assert!(check_json(&headers(&[("content-type", "text/plain")])).is_err());
        assert!(check_json(&headers(&[])).is_err());
    }

    #[test]
    fn the_first_forwarded_proto_decides_secure() {
        for (value, secure) in [
            ("https", true),
            ("HTTPS", true),
            ("https, http", true),
            (" Https ,http", true),
            ("http, https", false),
            ("http", false),
        ] {
            let cookie = set_cookie(&headers(&[("x-forwarded-proto", value)]), "v", 1);
            assert_eq!(
                cookie.to_str().unwrap().ends_with("; Secure"),
                secure,
                "{value}"
            );
        }
        assert!(
            !set_cookie(&headers(&[]), "v", 1)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}
