//! Invitations: the only way the API gives someone access. Nothing about the invited email's
//! account is looked at when inviting, so the inviter learns nothing from the answer.

use crate::db::{Q, Row};
use crate::projects::{SELECT, row_to_project};
use crate::secrets::{check_password, hash_password, hash_token, password_matches, random_hex};
use crate::users::open_session;
use crate::{LoginSession, Meta, MetaError, Project, Role, User, is_constraint, now_secs, params};

/// An invitation to a project, waiting for its secret link to be opened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invitation {
    /// Id, to revoke it by.
    pub id: i64,
    /// The project it opens.
    pub project_id: u32,
    /// Who may accept it (signed in as this email, or by choosing a password for it).
    pub email: String,
    /// The role given on acceptance.
    pub role: Role,
    /// When it was made, seconds since the epoch.
    pub created_at: i64,
    /// When it stops working, seconds since the epoch.
    pub expires_at: i64,
}

/// The columns `row_to_invitation` reads.
macro_rules! invitation_columns {
    () => {
        "id, project_id, email, role, created_at, expires_at"
    };
}

pub(crate) const SELECT_INVITATION: &str =
    concat!("SELECT ", invitation_columns!(), " FROM invitations");

pub(crate) fn row_to_invitation(r: &Row) -> Result<Invitation, MetaError> {
    Ok(Invitation {
        id: r.get(0)?,
        project_id: r.get(1)?,
        email: r.get(2)?,
        role: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

impl Meta {
    /// Invites `email` to a project with `role`; returns the invitation and its secret, shown
    /// only this once (the database keeps its SHA-256). A pending invitation of the same
    /// email to the same project is replaced, so its old link stops working.
    pub fn create_invitation(
        &self,
        project_id: u32,
        email: &str,
        role: Role,
        ttl_secs: i64,
    ) -> Result<(Invitation, String), MetaError> {
        let secret = format!("vi_{}", random_hex(16)?);
        let invitation = self.write(|q| {
            let member: bool = q.query_row(
                "SELECT COUNT(*) > 0 FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.project_id = ?1 AND u.email = ?2",
                params![project_id, email],
                |r| r.get(0),
            )?;
            if member {
                return Err(MetaError::AlreadyMember(email.to_owned()));
            }
            let now = now_secs();
            q.execute(
                "DELETE FROM invitations WHERE expires_at <= ?1 OR (project_id = ?2 AND email = ?3)",
                params![now, project_id, email],
            )?;
            q.query_row(
                concat!(
                    "INSERT INTO invitations (project_id, email, role, secret_hash, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING ",
                    invitation_columns!()
                ),
                params![
                    project_id,
                    email,
                    role,
                    hash_token(&secret),
                    now,
                    now + ttl_secs
                ],
                row_to_invitation,
            )
        })?;
        Ok((invitation, secret))
    }

    /// A project's pending invitations, oldest first.
    pub fn invitations(&self, project_id: u32) -> Result<Vec<Invitation>, MetaError> {
        self.read(|q| {
            q.query_map(
                &format!(
                    "{SELECT_INVITATION} WHERE project_id = ?1 AND expires_at > ?2 ORDER BY id"
                ),
                params![project_id, now_secs()],
                row_to_invitation,
            )
        })
    }

    /// Withdraws a pending invitation; false when the project has no such invitation.
    pub fn revoke_invitation(&self, project_id: u32, id: i64) -> Result<bool, MetaError> {
        let n = self.write(|q| {
            q.execute(
                "DELETE FROM invitations WHERE project_id = ?1 AND id = ?2",
                params![project_id, id],
            )
        })?;
        Ok(n > 0)
    }

    /// The live invitation a secret names, and its project.
    pub fn invitation(&self, secret: &str) -> Result<Option<(Invitation, Project)>, MetaError> {
        self.read(|q| {
            let found = q.query_opt(
                &format!("{SELECT_INVITATION} WHERE secret_hash = ?1 AND expires_at > ?2"),
                params![hash_token(secret), now_secs()],
                row_to_invitation,
            )?;
            let Some(invitation) = found else {
                return Ok(None);
            };
            let project = q.query_row(
                &format!("{SELECT} WHERE id = ?1"),
                params![invitation.project_id],
                row_to_project,
            )?;
            Ok(Some((invitation, project)))
        })
    }

    /// Uses up the invitation `secret` names and makes `user_id` a member with its role (an
    /// existing membership keeps its role). Returns the project.
    fn consume_invitation(
        q: &mut Q<'_>,
        secret: &str,
        user_id: i64,
        email: &str,
    ) -> Result<u32, MetaError> {
        let found: Option<(i64, u32, String, Role)> = q.query_opt(
            "SELECT id, project_id, email, role FROM invitations WHERE secret_hash = ?1 AND expires_at > ?2",
            params![hash_token(secret), now_secs()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let (id, project_id, invited, role) = found.ok_or(MetaError::NoInvitation)?;
        // Same comparison as the users table's NOCASE collation (CITEXT on PostgreSQL).
        if !invited.eq_ignore_ascii_case(email) {
            return Err(MetaError::WrongUser);
        }
        q.execute("DELETE FROM invitations WHERE id = ?1", params![id])?;
        q.execute(
            "INSERT INTO memberships (user_id, project_id, role) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![user_id, project_id, role],
        )?;
        Ok(project_id)
    }

    /// A signed-in user accepts an invitation addressed to their email.
    pub fn accept_invitation_as(&self, secret: &str, user: &User) -> Result<Project, MetaError> {
        self.write(|q| {
            let project_id = Self::consume_invitation(q, secret, user.id, &user.email)?;
            q.query_row(
                &format!("{SELECT} WHERE id = ?1"),
                params![project_id],
                row_to_project,
            )
        })
    }

    /// Accepts an invitation without a session: a new email gets an account with `password`;
    /// an existing account must give its own password (this is then a sign-in). Opens a
    /// session; `None` when the password is not the existing account's.
    pub fn accept_invitation_with_password(
        &self,
        secret: &str,
        password: &str,
        ttl_secs: i64,
    ) -> Result<Option<(String, LoginSession)>, MetaError> {
        check_password(password)?;
        let (invitation, _) = self.invitation(secret)?.ok_or(MetaError::NoInvitation)?;
        let existing: Option<(i64, String, String)> = self.read(|q| {
            q.query_opt(
                "SELECT id, email, password_hash FROM users WHERE email = ?1",
                params![invitation.email],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })?;
        // The slow part (argon2) runs before the transaction, which then re-checks everything.
        enum Account {
            Existing(User),
            New(String),
        }
        let account = match existing {
            Some((_, _, stored)) if !password_matches(password, &stored) => return Ok(None),
            Some((id, email, _)) => Account::Existing(User { id, email }),
            None => Account::New(hash_password(password)?),
        };
        let (user, token, csrf) = self.write(|q| {
            let user = match account {
                Account::Existing(user) => user,
                Account::New(hash) => {
                    let inserted = q.query_row(
                        "INSERT INTO users (email, password_hash) VALUES (?1, ?2) RETURNING id",
                        params![invitation.email, hash],
                        |r| r.get(0),
                    );
                    let id = match inserted {
                        Err(e) if is_constraint(&e) => {
                            return Err(MetaError::Conflict(
                                "an account with this email was just created; try again".into(),
                            ));
                        }
                        other => other?,
                    };
                    User {
                        id,
                        email: invitation.email.clone(),
                    }
                }
            };
            Self::consume_invitation(q, secret, user.id, &user.email)?;
            let (token, csrf) = open_session(q, user.id, ttl_secs)?;
            Ok((user, token, csrf))
        })?;
        Ok(Some((
            token,
            LoginSession {
                user,
                csrf_token: csrf,
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::open;

    #[test]
    fn an_invitation_opens_its_own_project_once_for_its_own_email() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        let (b, _) = meta.create_project("b", &[], 30).unwrap();
        let (inv_a, secret_a) = meta
            .create_invitation(a.id, "new@example.com", Role::Viewer, 3600)
            .unwrap();
        assert!(secret_a.starts_with("vi_"));
        assert_eq!(meta.invitations(a.id).unwrap(), [inv_a]);
        assert!(meta.invitations(b.id).unwrap().is_empty());
        let stored: String = meta
            .read(|q| {
                q.query_row(
                    "SELECT secret_hash FROM invitations",
                    crate::params![],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(stored, hash_token(&secret_a), "only the hash is kept");

        // A new email chooses its password; membership starts now, with the invited role.
        let (cookie, session) = meta
            .accept_invitation_with_password(&secret_a, "own password", 60)
            .unwrap()
            .unwrap();
        assert_eq!(meta.login_session(&cookie).unwrap(), Some(session.clone()));
        assert_eq!(
            meta.membership(session.user.id, a.id).unwrap().unwrap().1,
            Role::Viewer
        );
        assert!(matches!(
            meta.accept_invitation_with_password(&secret_a, "own password", 60),
            Err(MetaError::NoInvitation)
        ));

        // An invitation to b is for b only, and for its email only.
        let (_, secret_b) = meta
            .create_invitation(b.id, "NEW@example.com", Role::Member, 3600)
            .unwrap();
        let other = meta.upsert_user("other@example.com", "password-3").unwrap();
        assert!(matches!(
            meta.accept_invitation_as(&secret_b, &other),
            Err(MetaError::WrongUser)
        ));
        assert!(
            meta.accept_invitation_with_password(&secret_b, "not her password", 60)
                .unwrap()
                .is_none(),
            "an existing account is not given a new password"
        );
        assert_eq!(meta.membership(session.user.id, b.id).unwrap(), None);
        assert_eq!(
            meta.accept_invitation_as(&secret_b, &session.user)
                .unwrap()
                .id,
            b.id
        );
        assert_eq!(
            meta.membership(session.user.id, b.id).unwrap().unwrap().1,
            Role::Member
        );

        // Expired, replaced and revoked invitations do nothing; members are not invited.
        let (_, expired) = meta
            .create_invitation(a.id, "late@example.com", Role::Member, -1)
            .unwrap();
        assert!(meta.invitation(&expired).unwrap().is_none());
        let (_, old) = meta
            .create_invitation(a.id, "twice@example.com", Role::Member, 3600)
            .unwrap();
        let (again, _) = meta
            .create_invitation(a.id, "twice@example.com", Role::Owner, 3600)
            .unwrap();
        assert!(meta.invitation(&old).unwrap().is_none());
        assert!(meta.revoke_invitation(a.id, again.id).unwrap());
        assert!(!meta.revoke_invitation(a.id, again.id).unwrap());
        assert!(matches!(
            meta.create_invitation(a.id, "New@Example.com", Role::Member, 3600),
            Err(MetaError::AlreadyMember(_))
        ));
    }
}
