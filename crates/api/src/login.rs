//! Signing in and out: login, logout, `me`, password changes, and accepting an invitation
//! (which signs the invitee in). Sign-ins are throttled per email and their argon2 work runs
//! in a few slots ([`crate::LoginThrottle`]). A login session is a dashboard user's cookie,
//! never a monitored user's session (those are read in [`crate::read`]).

use crate::access::{SignedIn, check_browser_write, forwarded_https, login_session_of, with_meta};
use crate::throttle::HashingError;
use crate::{ApiError, AppState};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use vigil_meta::{LoginSession, MAX_EMAIL_BYTES, MAX_PASSWORD_BYTES};

/// How long a login session lasts.
const LOGIN_SESSION_TTL_SECS: i64 = 7 * 24 * 3600;
/// The largest body of a sign-in, password or invitation request: a few fields of bounded size.
const AUTH_BODY_LIMIT: usize = 8 * 1024;

/// Sign-in, sign-out, the signed-in user, password changes, and invitation links.
pub fn router() -> Router<Arc<AppState>> {
    // Sign-in, password and invitation bodies are a few short fields: a small limit keeps a
    // megabyte email from reaching the throttle or argon2.
    let small = || DefaultBodyLimit::max(AUTH_BODY_LIMIT);
    Router::new()
        .route("/api/v1/login", post(login).layer(small()))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/password", post(change_password).layer(small()))
        .route(
            "/api/v1/invitations/lookup",
            post(lookup_invitation).layer(small()),
        )
        .route(
            "/api/v1/invitations/accept",
            post(accept_invitation).layer(small()),
        )
}

/// A body as JSON of `T`, strictly: an error names what is wrong with it.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::InvalidBody(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

/// Bounds what one sign-in can make the server do, before anything is looked up.
fn check_sizes(email: &str, password: &str) -> Result<(), ApiError> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(ApiError::InvalidBody(format!(
            "an email has at most {MAX_EMAIL_BYTES} bytes"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::InvalidBody(format!(
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

/// The `me` answer: the user, their projects with their role in each, and the CSRF token.
async fn me_body(
    state: &Arc<AppState>,
    login_session: &LoginSession,
) -> Result<serde_json::Value, ApiError> {
    let user = login_session.user.id;
    let projects: Vec<serde_json::Value> =
        with_meta(state, move |meta| meta.user_projects_with_roles(user))
            .await?
            .into_iter()
            .map(|(p, role)| {
                let mut v = serde_json::to_value(p).expect("serialisable");
                v["role"] = role.as_str().into();
                v
            })
            .collect();
    Ok(serde_json::json!({
        "user": login_session.user, "projects": projects, "csrf_token": login_session.csrf_token,
    }))
}

fn set_cookie(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = if forwarded_https(headers) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        crate::access::LOGIN_SESSION_COOKIE
    ))
    .expect("cookie is ascii")
}

/// The `me` answer with a new login session's cookie.
async fn signed_in(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    cookie: &str,
    login_session: &LoginSession,
) -> Result<Response, ApiError> {
    let mut response = Json(me_body(state, login_session).await?).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(headers, cookie, LOGIN_SESSION_TTL_SECS),
    );
    Ok(response)
}

/// `POST /api/v1/login`.
async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Login CSRF: a page elsewhere must not sign a visitor in to an account of its choosing.
    check_browser_write(&headers)?;
    let creds: Credentials = parse_body(&body)?;
    check_sizes(&creds.email, &creds.password)?;
    let email = creds.email.clone();
    let result = password_work(&state, &email, move |st| {
        st.meta
            .login(&creds.email, &creds.password, LOGIN_SESSION_TTL_SECS)
    })
    .await??;
    let Some((cookie, login_session)) = result else {
        return Err(ApiError::InvalidCredentials);
    };
    state.login_throttle.succeeded(&email);
    signed_in(&state, &headers, &cookie, &login_session).await
}

/// `POST /api/v1/logout`.
async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Result<Response, ApiError> {
    with_meta(&state, move |meta| meta.logout(&signed_in.cookie)).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&headers, "", 0));
    Ok(response)
}

/// `GET /api/v1/me`: the user, their projects with their role in each, and the CSRF token
/// for later writes.
async fn me(State(state): State<Arc<AppState>>, signed_in: SignedIn) -> Result<Response, ApiError> {
    Ok(Json(me_body(&state, &signed_in.login_session).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/v1/me/password`: the signed-in user changes their password; their other
/// login sessions end. Wrong current passwords count toward the sign-in throttle.
async fn change_password(
    State(state): State<Arc<AppState>>,
    signed_in: SignedIn,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let change: PasswordChange = parse_body(&body)?;
    check_sizes("", &change.current)?;
    check_sizes("", &change.new)?;
    let SignedIn {
        cookie,
        login_session,
    } = signed_in;
    let user = login_session.user.clone();
    let changed = password_work(&state, &user.email, move |st| {
        st.meta
            .change_password(user.id, &change.current, &change.new, &cookie)
    })
    .await??;
    if !changed {
        return Err(ApiError::InvalidCredentials);
    }
    state.login_throttle.succeeded(&login_session.user.email);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationSecret {
    secret: String,
}

/// `POST /api/v1/invitations/lookup` `{"secret"}`: what an invitation link offers, for the
/// page that accepts it. Nothing about the invited email's account is said.
async fn lookup_invitation(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let InvitationSecret { secret } = parse_body(&body)?;
    let (invitation, project) = with_meta(&state, move |meta| meta.invitation(&secret))
        .await?
        .ok_or(ApiError::NoInvitation)?;
    Ok(Json(serde_json::json!({
        "project": {"id": project.id, "name": project.name},
        "email": invitation.email, "role": invitation.role, "expires_at": invitation.expires_at,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Acceptance {
    secret: String,
    #[serde(default)]
    password: Option<String>,
}

/// `POST /api/v1/invitations/accept` `{"secret", "password"?}`. Signed in as the invited
/// email: accepts. Signed out, with a password: a new email gets an account with it; an
/// existing account must give its own (a sign-in, throttled like one). Either way a login
/// session is open afterwards; the answer is the `me` body. Here rather than with members:
/// accepting is signing in.
async fn accept_invitation(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    check_browser_write(&headers)?;
    let acceptance: Acceptance = parse_body(&body)?;
    if login_session_of(&state, &headers).await?.is_some() {
        let signed_in = SignedIn::check(&state, &method, &headers).await?;
        let (secret, user) = (acceptance.secret, signed_in.login_session.user.clone());
        with_meta(&state, move |meta| {
            meta.accept_invitation_as(&secret, &user)
        })
        .await?;
        return Ok(Json(me_body(&state, &signed_in.login_session).await?).into_response());
    }
    let password = acceptance.password.ok_or_else(|| {
        ApiError::InvalidBody("sign in, or choose a password: {\"password\"}".into())
    })?;
    let secret = acceptance.secret;
    let lookup = secret.clone();
    let (invitation, _) = with_meta(&state, move |meta| meta.invitation(&lookup))
        .await?
        .ok_or(ApiError::NoInvitation)?;
    check_sizes(&invitation.email, &password)?;
    let result = password_work(&state, &invitation.email, move |st| {
        st.meta
            .accept_invitation_with_password(&secret, &password, LOGIN_SESSION_TTL_SECS)
    })
    .await??;
    let Some((cookie, login_session)) = result else {
        return Err(ApiError::InvalidCredentials);
    };
    state.login_throttle.succeeded(&invitation.email);
    signed_in(&state, &headers, &cookie, &login_session).await
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
