//! Who is calling and what they may do.
//!
//! A caller is a secret API token (one project, with a scope: read, ingest-admin, admin) or a
//! signed-in user (a login session cookie, with a role in each of their projects: viewer,
//! member, owner). Every project route states what it needs by the type of its
//! [`ProjectAccess`] extractor (`ProjectAccess<ManageTokens>`); the table is in docs/api.md
//! and the test `crates/vigil/tests/access_matrix.rs` walks it. A project the caller cannot
//! see answers 404, like one that does not exist.
//!
//! The browser sends a cookie on its own, so a cookie-authenticated write must also show that
//! it comes from our page: same origin, a JSON body, and the login session's CSRF token.
//!
//! Metadata calls run on tokio's blocking pool (`with_meta`): a token or login-session check
//! is a SQLite read, and a write waits for its fsync; neither holds an async worker.

use crate::{ApiError, AppState};
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, Query, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use serde::Deserialize;
use std::marker::PhantomData;
use std::sync::Arc;
use vigil_meta::{LoginSession, Meta, MetaError, Project, Role, Scope};

/// The cookie that carries a login session (its name on the wire predates the split of the
/// words: it names a login session, not a monitored session).
pub const LOGIN_SESSION_COOKIE: &str = "vigil_session";

/// Runs metadata work on the blocking pool and maps its refusals to API errors. SQLite
/// reads take a connection of their own and writes wait for an fsync: either way not on an
/// async worker, which would stall every request scheduled on it.
pub(crate) async fn with_meta<T, F>(state: &Arc<AppState>, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Meta) -> Result<T, MetaError> + Send + 'static,
{
    let meta = state.meta.clone();
    match tokio::task::spawn_blocking(move || work(&meta)).await {
        Ok(result) => result.map_err(ApiError::from),
        // The panic goes on to the request's CatchPanicLayer, as if it had happened here.
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(ApiError::Internal(e.to_string())),
        },
    }
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

/// The live login session the request's cookie names, with the cookie value.
pub(crate) async fn login_session_of(
    state: &Arc<AppState>,
    headers: &HeaderMap,
) -> Result<Option<(String, LoginSession)>, ApiError> {
    let Some(value) = cookie(headers, LOGIN_SESSION_COOKIE) else {
        return Ok(None);
    };
    let key = value.clone();
    let found = with_meta(state, move |meta| meta.login_session(&key)).await?;
    Ok(found.map(|s| (value, s)))
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

fn check_csrf(login_session: &LoginSession, headers: &HeaderMap) -> Result<(), ApiError> {
    let sent = headers
        .get("x-csrf-token")
        .map_or(&[][..], HeaderValue::as_bytes);
    if same_secret(sent, login_session.csrf_token.as_bytes()) {
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
pub(crate) fn forwarded_https(headers: &HeaderMap) -> bool {
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

/// What a browser request that changes state, or opens a login session, must show besides
/// the cookie.
pub(crate) fn check_browser_write(headers: &HeaderMap) -> Result<(), ApiError> {
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
/// login session cookie, with the same-origin, JSON and CSRF checks on writes.
async fn credential(
    state: &Arc<AppState>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Credential, ApiError> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let token = token.trim().to_owned();
        let (project, scope) = with_meta(state, move |meta| meta.token(&token))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        return Ok(Credential::Token(project, scope));
    }
    let (value, login_session) = login_session_of(state, headers)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !is_read(method) {
        check_browser_write(headers)?;
        check_csrf(&login_session, headers)?;
    }
    Ok(Credential::User(value, login_session))
}

fn tokens_refused() -> ApiError {
    ApiError::Forbidden("api tokens cannot do this; sign in to the dashboard".into())
}

/// A signed-in user (API tokens refused), with the browser checks on writes.
pub struct SignedIn {
    /// The login session cookie's value.
    pub cookie: String,
    /// The login session it names.
    pub login_session: LoginSession,
}

impl SignedIn {
    /// Checks the request's login session as the extractor does.
    pub(crate) async fn check(
        state: &Arc<AppState>,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        match credential(state, method, headers).await? {
            Credential::User(cookie, login_session) => Ok(Self {
                cookie,
                login_session,
            }),
            Credential::Token(..) => Err(tokens_refused()),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        Self::check(state, &parts.method, &parts.headers).await
    }
}

/// What a route needs of its caller in a project: the least role of a user, and the least
/// scope of a token (`None`: tokens are refused).
pub trait Need: Send + Sync + 'static {
    /// The least role of a signed-in user.
    const ROLE: Role;
    /// The least scope of an API token; `None` refuses tokens.
    const SCOPE: Option<Scope>;
}

macro_rules! needs {
    ($($(#[$doc:meta])* $name:ident = $role:ident, $scope:expr;)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl Need for $name {
            const ROLE: Role = Role::$role;
            const SCOPE: Option<Scope> = $scope;
        }
    )*};
}

needs! {
    /// Reading data and settings: everyone of the project.
    Read = Viewer, Some(Scope::Read);
    /// Seeing who has access: users of the project, not scripts.
    SeeMembers = Viewer, None;
    /// Managing API tokens: members (read tokens) and owners (any).
    ManageTokens = Member, None;
    /// Members, roles and invitations: owners.
    ManageMembers = Owner, None;
    /// Allowed origins and retention: owners, and ingest-admin (origins) or admin tokens.
    ChangeSettings = Owner, Some(Scope::IngestAdmin);
    /// Erasing a user's or a monitored session's data: owners and admin tokens.
    Erase = Owner, Some(Scope::Admin);
    /// Uploading and deleting source maps: members (a developer's release) and
    /// ingest-admin or admin tokens (a release script's).
    ManageSourceMaps = Member, Some(Scope::IngestAdmin);
    /// Resolving, ignoring and reopening error groups: members, and ingest-admin or admin
    /// tokens (a release script resolving what it fixed).
    TriageErrors = Member, Some(Scope::IngestAdmin);
    /// Creating, changing, muting, testing and deleting alert rules: members, and admin
    /// tokens (rules send requests to the URLs they name).
    ManageAlerts = Member, Some(Scope::Admin);
}

/// Who acts on a project, once the route's needs are met.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// An API token with this scope.
    Token(Scope),
    /// A signed-in user with this role.
    User(Role),
}

/// The project a request acts on, if the caller may do there what `N` says: for a token its
/// own project (a project named in the request must be it), for a signed-in user the project
/// named by the path's `{id}` or by `?project=`, which they must belong to (else 404).
pub struct ProjectAccess<N> {
    /// The project.
    pub project: Project,
    /// Who acts on it.
    pub actor: Actor,
    need: PhantomData<N>,
}

#[derive(Deserialize)]
struct ProjectParam {
    project: Option<u32>,
}

/// The project a request names: the path's `{id}`, else `?project=`.
async fn named_project(parts: &mut Parts) -> Result<Option<u32>, ApiError> {
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(params) => {
            if let Some((_, raw)) = params.iter().find(|(name, _)| *name == "id") {
                return raw
                    .parse()
                    .map(Some)
                    .map_err(|_| ApiError::InvalidRequest(format!("{raw:?} is not a project id")));
            }
        }
        // A route without parameters.
        Err(RawPathParamsRejection::MissingPathParams(_)) => {}
        Err(e) => return Err(ApiError::InvalidRequest(e.body_text())),
    }
    let Query(param) = Query::<ProjectParam>::try_from_uri(&parts.uri)
        .map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    Ok(param.project)
}

impl<N: Need> FromRequestParts<Arc<AppState>> for ProjectAccess<N> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let id = named_project(parts).await?;
        let (project, actor) = match credential(state, &parts.method, &parts.headers).await? {
            Credential::Token(project, scope) => {
                if id.is_some_and(|id| id != project.id) {
                    return Err(ApiError::NotFound);
                }
                match N::SCOPE {
                    None => return Err(tokens_refused()),
                    Some(least) if scope < least => {
                        return Err(ApiError::Forbidden(format!(
                            "this needs an api token with the {} scope",
                            least.as_str()
                        )));
                    }
                    Some(_) => (project, Actor::Token(scope)),
                }
            }
            Credential::User(_, login_session) => {
                let id = id.ok_or_else(|| {
                    ApiError::InvalidRequest("name the project: ?project=<id>".into())
                })?;
                let user = login_session.user.id;
                let (project, role) = with_meta(state, move |meta| meta.membership(user, id))
                    .await?
                    .ok_or(ApiError::NotFound)?;
                if role < N::ROLE {
                    return Err(ApiError::Forbidden(format!(
                        "this needs the {} role in the project",
                        N::ROLE.as_str()
                    )));
                }
                (project, Actor::User(role))
            }
        };
        Ok(Self {
            project,
            actor,
            need: PhantomData,
        })
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
}
