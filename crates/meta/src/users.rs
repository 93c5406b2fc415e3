//! Dashboard users (argon2id passwords) and their login sessions.

use crate::db::Q;
use crate::secrets::{
    check_password, hash_password, hash_token, password_matches, password_matches_or_dummy,
    random_hex,
};
use crate::{MAX_EMAIL_BYTES, Meta, MetaError, now_secs, params};

/// A person who logs in to the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Numeric id.
    pub id: i64,
    /// Login name.
    pub email: String,
}

/// A logged-in browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    /// Whose session it is.
    pub user: User,
    /// The token that state-changing requests must echo in `X-CSRF-Token`.
    pub csrf_token: String,
}

/// Opens a login session for a user; its secret cookie value and CSRF token.
pub(crate) fn open_session(
    q: &mut Q<'_>,
    user_id: i64,
    ttl_secs: i64,
) -> Result<(String, String), MetaError> {
    let token = format!("vs_{}", random_hex(24)?);
    let csrf = random_hex(16)?;
    // Expired sessions are of no use; dropping them here keeps the table small.
    q.execute(
        "DELETE FROM login_sessions WHERE expires_at <= ?1",
        params![now_secs()],
    )?;
    q.execute(
        "INSERT INTO login_sessions (token_hash, user_id, csrf_token, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash_token(&token), user_id, csrf, now_secs() + ttl_secs],
    )?;
    Ok((token, csrf))
}

/// The id, email and password hash of the user with this email (any case).
fn credentials(q: &mut Q<'_>, email: &str) -> Result<Option<(i64, String, String)>, MetaError> {
    q.query_opt(
        "SELECT id, email, password_hash FROM users WHERE email = ?1",
        params![email],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

impl Meta {
    /// Creates a user (argon2id password hash) or, when the email exists, sets its password.
    /// The operator's path (`vigil user add`); the API invites instead.
    pub fn upsert_user(&self, email: &str, password: &str) -> Result<User, MetaError> {
        if !email.contains('@') || email.len() > MAX_EMAIL_BYTES {
            return Err(MetaError::Invalid(format!(
                "a user needs an email address of at most {MAX_EMAIL_BYTES} bytes"
            )));
        }
        check_password(password)?;
        let hash = hash_password(password)?;
        let id = self.write(|q| {
            q.query_row(
                "INSERT INTO users (email, password_hash) VALUES (?1, ?2)
                 ON CONFLICT(email) DO UPDATE SET password_hash = excluded.password_hash RETURNING id",
                params![email, hash],
                |r| r.get(0),
            )
        })?;
        Ok(User {
            id,
            email: email.to_owned(),
        })
    }

    /// A user by email (any case), if one exists.
    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, MetaError> {
        self.read(|q| {
            q.query_opt(
                "SELECT id, email FROM users WHERE email = ?1",
                params![email],
                |r| {
                    Ok(User {
                        id: r.get(0)?,
                        email: r.get(1)?,
                    })
                },
            )
        })
    }

    /// Checks a password; on success opens a session and returns its secret cookie value.
    pub fn login(
        &self,
        email: &str,
        password: &str,
        ttl_secs: i64,
    ) -> Result<Option<(String, LoginSession)>, MetaError> {
        let found = self.read(|q| credentials(q, email))?;
        let ok = password_matches_or_dummy(password, found.as_ref().map(|f| f.2.as_str()));
        let Some((id, email, _)) = found.filter(|_| ok) else {
            return Ok(None);
        };
        let (token, csrf) = self.write(|q| open_session(q, id, ttl_secs))?;
        Ok(Some((
            token,
            LoginSession {
                user: User { id, email },
                csrf_token: csrf,
            },
        )))
    }

    /// Changes a user's password if `current` is right; ends their other sessions (all but
    /// the one named by `keep`). False when `current` is wrong.
    pub fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        keep: &str,
    ) -> Result<bool, MetaError> {
        check_password(new)?;
        let stored: String = self.read(|q| {
            q.query_row(
                "SELECT password_hash FROM users WHERE id = ?1",
                params![user_id],
                |r| r.get(0),
            )
        })?;
        if !password_matches(current, &stored) {
            return Ok(false);
        }
        let hash = hash_password(new)?;
        self.write(|q| {
            q.execute(
                "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                params![hash, user_id],
            )?;
            q.execute(
                "DELETE FROM login_sessions WHERE user_id = ?1 AND token_hash <> ?2",
                params![user_id, hash_token(keep)],
            )
        })?;
        Ok(true)
    }

    /// The live login session a cookie value names.
    pub fn login_session(&self, token: &str) -> Result<Option<LoginSession>, MetaError> {
        self.read(|q| {
            q.query_opt(
                "SELECT u.id, u.email, s.csrf_token FROM login_sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![hash_token(token), now_secs()],
                |r| Ok(LoginSession { user: User { id: r.get(0)?, email: r.get(1)? }, csrf_token: r.get(2)? }),
            )
        })
    }

    /// Ends a session.
    pub fn logout(&self, token: &str) -> Result<(), MetaError> {
        self.write(|q| {
            q.execute(
                "DELETE FROM login_sessions WHERE token_hash = ?1",
                params![hash_token(token)],
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::secrets::password_matches;
    use crate::tests::open;
    use crate::{MAX_PASSWORD_BYTES, Role};

    #[test]
    fn users_log_in_and_see_their_projects_only() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        meta.create_project("b", &[], 30).unwrap();
        let user = meta
            .upsert_user("ann@example.com", "correct horse")
            .unwrap();
        meta.add_member(user.id, a.id).unwrap();
        assert_eq!(meta.user_projects(user.id).unwrap(), vec![a.clone()]);
        assert_eq!(
            meta.membership(user.id, a.id).unwrap(),
            Some((a, Role::Owner))
        );
        assert!(
            meta.login("ann@example.com", "wrong horse", 60)
                .unwrap()
                .is_none()
        );
        assert!(
            meta.login("bob@example.com", "correct horse", 60)
                .unwrap()
                .is_none()
        );
        let (token, session) = meta
            .login("ann@example.com", "correct horse", 60)
            .unwrap()
            .unwrap();
        assert_eq!(meta.login_session(&token).unwrap(), Some(session));
        meta.logout(&token).unwrap();
        assert_eq!(meta.login_session(&token).unwrap(), None);
        let (expired, _) = meta
            .login("ann@example.com", "correct horse", -1)
            .unwrap()
            .unwrap();
        assert_eq!(meta.login_session(&expired).unwrap(), None);
        let stored: String = meta
            .read(|q| {
                q.query_row("SELECT password_hash FROM users", crate::params![], |r| {
                    r.get(0)
                })
            })
            .unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        // A standard PHC string: argon2's own verifier accepts it, and ours accepts argon2's.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let argon = argon2::Argon2::default();
        assert!(
            argon
                .verify_password(b"correct horse", stored.as_str())
                .is_ok()
        );
        assert!(
            argon
                .verify_password(b"wrong horse", stored.as_str())
                .is_err()
        );
        let theirs = argon.hash_password(b"their words").unwrap().to_string();
        assert!(password_matches("their words", &theirs));
        assert!(!password_matches("their word", &theirs));
        assert!(!password_matches(
            "their words",
            "$argon2id$v=19$m=19456,t=2,p=1$bm9zYWx0"
        ));
        assert!(
            meta.upsert_user("ann@example.com", &"x".repeat(MAX_PASSWORD_BYTES + 1))
                .is_err()
        );
    }
}
