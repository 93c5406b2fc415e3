//! Members of a project and their roles; a project always keeps an owner.

use crate::db::Q;
use crate::projects::row_to_project;
use crate::{Meta, MetaError, Project, params};

/// What a user may do in one project; each role can do everything the ones before it can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the project's data and settings.
    Viewer,
    /// Also lists, issues and revokes read API tokens.
    Member,
    /// Also changes settings, manages every token, members, roles and invitations.
    Owner,
}

/// A user's place in one project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    /// The user's id.
    pub id: i64,
    /// Their login name.
    pub email: String,
    /// What they may do in the project.
    pub role: Role,
}

/// Demotes or removes `user_id` only if the project keeps another owner.
pub(crate) fn keep_an_owner(q: &mut Q<'_>, user_id: i64, project_id: u32) -> Result<(), MetaError> {
    let owners: i64 = q.query_row(
        "SELECT COUNT(*) FROM memberships WHERE project_id = ?1 AND role = 'owner' AND user_id <> ?2",
        params![project_id, user_id],
        |r| r.get(0),
    )?;
    if owners == 0 {
        Err(MetaError::LastOwner)
    } else {
        Ok(())
    }
}

impl Meta {
    /// The members of a project with their roles, by email.
    pub fn members(&self, project_id: u32) -> Result<Vec<Member>, MetaError> {
        self.read(|q| {
            q.query_map(
                "SELECT u.id, u.email, m.role FROM users u JOIN memberships m ON m.user_id = u.id
                 WHERE m.project_id = ?1 ORDER BY u.email",
                params![project_id],
                |r| {
                    Ok(Member {
                        id: r.get(0)?,
                        email: r.get(1)?,
                        role: r.get(2)?,
                    })
                },
            )
        })
    }

    /// Takes a user's access to a project away; false when they had none. Refused for the
    /// project's last owner.
    pub fn remove_member(&self, user_id: i64, project_id: u32) -> Result<bool, MetaError> {
        self.write(|q| {
            keep_an_owner(q, user_id, project_id)?;
            let n = q.execute(
                "DELETE FROM memberships WHERE user_id = ?1 AND project_id = ?2",
                params![user_id, project_id],
            )?;
            Ok(n > 0)
        })
    }

    /// Changes a member's role; false when they are not a member. Refused when it would
    /// leave the project without an owner.
    pub fn set_role(&self, user_id: i64, project_id: u32, role: Role) -> Result<bool, MetaError> {
        self.write(|q| {
            if role != Role::Owner {
                keep_an_owner(q, user_id, project_id)?;
            }
            let n = q.execute(
                "UPDATE memberships SET role = ?1 WHERE user_id = ?2 AND project_id = ?3",
                params![role, user_id, project_id],
            )?;
            Ok(n > 0)
        })
    }

    /// Makes a user an owner of a project (kept as it is if already a member): the path of
    /// the operator (`vigil user add`) and of a project's creator.
    pub fn add_member(&self, user_id: i64, project_id: u32) -> Result<(), MetaError> {
        self.write(|q| {
            q.execute(
                "INSERT INTO memberships (user_id, project_id, role) VALUES (?1, ?2, 'owner') \
                 ON CONFLICT DO NOTHING",
                params![user_id, project_id],
            )
        })?;
        Ok(())
    }

    /// The projects a user belongs to.
    pub fn user_projects(&self, user_id: i64) -> Result<Vec<Project>, MetaError> {
        Ok(self
            .user_projects_with_roles(user_id)?
            .into_iter()
            .map(|(p, _)| p)
            .collect())
    }

    /// The projects a user belongs to, each with the user's role there.
    pub fn user_projects_with_roles(
        &self,
        user_id: i64,
    ) -> Result<Vec<(Project, Role)>, MetaError> {
        self.read(|q| {
            q.query_map(
                "SELECT p.id, p.name, p.public_key, p.allowed_origins, p.retention_days, m.role
                 FROM projects p JOIN memberships m ON m.project_id = p.id
                 WHERE m.user_id = ?1 ORDER BY p.id",
                params![user_id],
                |r| Ok((row_to_project(r)?, r.get(5)?)),
            )
        })
    }

    /// Project `project_id` and the user's role in it, if they belong to it.
    pub fn membership(
        &self,
        user_id: i64,
        project_id: u32,
    ) -> Result<Option<(Project, Role)>, MetaError> {
        self.read(|q| {
            q.query_opt(
                "SELECT p.id, p.name, p.public_key, p.allowed_origins, p.retention_days, m.role
                 FROM projects p JOIN memberships m ON m.project_id = p.id
                 WHERE m.user_id = ?1 AND p.id = ?2",
                params![user_id, project_id],
                |r| Ok((row_to_project(r)?, r.get(5)?)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::open;

    #[test]
    fn a_project_always_keeps_an_owner() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        let ann = meta.upsert_user("ann@example.com", "password-1").unwrap();
        let bob = meta.upsert_user("bob@example.com", "password-2").unwrap();
        meta.add_member(ann.id, a.id).unwrap();
        assert!(matches!(
            meta.set_role(ann.id, a.id, Role::Member),
            Err(MetaError::LastOwner)
        ));
        assert!(matches!(
            meta.remove_member(ann.id, a.id),
            Err(MetaError::LastOwner)
        ));
        meta.add_member(bob.id, a.id).unwrap();
        assert!(meta.set_role(ann.id, a.id, Role::Viewer).unwrap());
        assert!(matches!(
            meta.remove_member(bob.id, a.id),
            Err(MetaError::LastOwner)
        ));
        assert!(meta.remove_member(ann.id, a.id).unwrap());
        assert!(!meta.remove_member(ann.id, a.id).unwrap(), "already gone");
        assert!(!meta.set_role(ann.id, a.id, Role::Owner).unwrap());
        assert_eq!(
            meta.members(a.id).unwrap(),
            [Member {
                id: bob.id,
                email: bob.email,
                role: Role::Owner
            }]
        );
    }
}
