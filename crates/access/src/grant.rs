//! Who may change access: ACL changes (nobody grants what they do not hold) and user management.
//!
//! ACLs, as Proxmox's `perm-modify` check: changing entries on a path needs `Permissions.Modify`
//! there, or the object's allocate privilege (`VM.Allocate` on `/vms/..`, `Datastore.Allocate`
//! on `/storage/..`, `Pool.Allocate` on `/pool/..`). Then, stricter than Proxmox (which lets a
//! holder of `Permissions.Modify` grant anything), *every* caller but root@pam may only add or
//! remove a role whose privileges it holds itself on that path, held with propagation when the
//! new entry propagates; `NoAccess` needs `Permissions.Modify`.
//!
//! Users, as Proxmox's `userid-param`/`userid-group` checks: creating or deleting a user needs
//! `Realm.AllocateUser` on `/access/realm/{realm}`; creating, changing or deleting needs
//! `User.Modify` on `/access/groups` or on every group given and on a group the user is in.
//! Only root@pam may change root@pam; passwords of `pam` users are the system's.

use crate::acl_path::AclPath;
use crate::permissions::{Denied, Permissions};
use crate::privileges::{PrivSet, Privilege};
use crate::roles::NO_ACCESS;
use crate::user_cfg::UserCfg;
use crate::userid::{Authid, GroupId, Realm, RoleId, Userid, REALM_PAM};

/// A refused change of access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("role {0} does not exist")]
    UnknownRole(RoleId),
    #[error("cannot grant or remove role {role}: you lack {missing} on {path}")]
    NotHeld {
        role: RoleId,
        path: AclPath,
        missing: PrivSet,
    },
    #[error("cannot grant role {role} with propagation: you do not hold {missing} with propagation on {path}")]
    NotHeldPropagated {
        role: RoleId,
        path: AclPath,
        missing: PrivSet,
    },
    #[error("role NoAccess can only be set or removed with Permissions.Modify on {0}")]
    NoAccessNeedsPermissionsModify(AclPath),
    #[error("only root@pam may change root@pam")]
    RootOnly,
    #[error("API tokens cannot change passwords")]
    TokenNotAllowed,
    #[error("passwords of the pam realm are the node's Linux accounts")]
    PamPassword,
}

/// One ACL change asked for.
#[derive(Debug, Clone, Copy)]
pub struct AclChange<'a> {
    pub path: &'a AclPath,
    pub roles: &'a [RoleId],
    pub propagate: bool,
    /// Removing the entries rather than setting them.
    pub delete: bool,
}

fn denied(auth: &Authid, path: AclPath, privileges: &str) -> Denied {
    Denied {
        auth: auth.clone(),
        path,
        privileges: privileges.to_string(),
    }
}

/// The privileges that allow changing ACL entries on `path` (any one of them).
pub fn acl_modify_privileges(path: &AclPath) -> Vec<Privilege> {
    let mut privs = vec![Privilege::PermissionsModify];
    let first = path.segments().next();
    let has_object = path.segments().count() >= 2;
    match first {
        Some("vms") if has_object => privs.push(Privilege::VmAllocate),
        Some("storage") if has_object => privs.push(Privilege::DatastoreAllocate),
        Some("pool") if has_object => privs.push(Privilege::PoolAllocate),
        _ => {}
    }
    privs
}

/// Checks an ACL change by `auth` (the caller writes user.cfg only if this is Ok).
pub fn check_acl_change(
    perms: &Permissions<'_>,
    cfg: &UserCfg,
    auth: &Authid,
    change: AclChange<'_>,
) -> Result<(), GrantError> {
    let path = change.path;
    perms.check_any(auth, path, &acl_modify_privileges(path))?;
    let mine = perms.effective(auth, path);
    for role in change.roles {
        let privs = cfg
            .roles
            .privileges(role)
            .ok_or_else(|| GrantError::UnknownRole(role.clone()))?;
        if role.as_str() == NO_ACCESS && !mine.held.contains(Privilege::PermissionsModify) {
            return Err(GrantError::NoAccessNeedsPermissionsModify(path.clone()));
        }
        let missing = privs.difference(mine.held);
        if !missing.is_empty() {
            return Err(GrantError::NotHeld {
                role: role.clone(),
                path: path.clone(),
                missing,
            });
        }
        let missing = privs.difference(mine.propagated);
        if change.propagate && !change.delete && !missing.is_empty() {
            return Err(GrantError::NotHeldPropagated {
                role: role.clone(),
                path: path.clone(),
                missing,
            });
        }
    }
    Ok(())
}

fn groups_path() -> AclPath {
    AclPath::access_groups()
}

fn group_path(g: &GroupId) -> AclPath {
    AclPath::access_group(g)
}

/// Proxmox's `userid-group`: `privs` on all groups, or on each of `new_groups` and (for an
/// existing user) on a group it belongs to.
fn check_userid_group(
    perms: &Permissions<'_>,
    cfg: &UserCfg,
    auth: &Authid,
    target: &Userid,
    privs: &[Privilege],
    new_groups: Option<&[GroupId]>,
    existing: bool,
) -> Result<(), Denied> {
    if perms.check_any(auth, &groups_path(), privs).is_ok() {
        return Ok(());
    }
    let names: Vec<&str> = privs.iter().map(|p| p.as_str()).collect();
    let names = names.join("|");
    let allowed = |g: &GroupId| perms.check_any(auth, &group_path(g), privs).is_ok();
    if let Some(groups) = new_groups {
        if groups.is_empty() {
            return Err(denied(auth, groups_path(), &names));
        }
        if let Some(g) = groups.iter().find(|g| !allowed(g)) {
            return Err(denied(auth, group_path(g), &names));
        }
    }
    if existing && !cfg.groups_of(target).iter().any(allowed) {
        return Err(denied(auth, groups_path(), &names));
    }
    Ok(())
}

fn check_realm_allocate_user(
    perms: &Permissions<'_>,
    auth: &Authid,
    target: &Userid,
) -> Result<(), Denied> {
    let realm: Realm = target
        .realm()
        .parse()
        .map_err(|_| denied(auth, AclPath::access_groups(), "Realm.AllocateUser"))?;
    let path = AclPath::access_realm(&realm);
    perms.check(auth, &path, Privilege::RealmAllocateUser)
}

fn root_only(auth: &Authid, target: &Userid) -> Result<(), GrantError> {
    let caller_is_root = auth.user.is_root() && !auth.is_token();
    if target.is_root() && !caller_is_root {
        return Err(GrantError::RootOnly);
    }
    Ok(())
}

/// Creating `target` in `groups` (POST /access/users).
pub fn check_user_create(
    perms: &Permissions<'_>,
    cfg: &UserCfg,
    auth: &Authid,
    target: &Userid,
    groups: &[GroupId],
) -> Result<(), GrantError> {
    root_only(auth, target)?;
    check_realm_allocate_user(perms, auth, target)?;
    check_userid_group(
        perms,
        cfg,
        auth,
        target,
        &[Privilege::UserModify],
        Some(groups),
        false,
    )?;
    Ok(())
}

/// Changing `target`'s settings, and its groups if `new_groups` is given (PUT /access/users/{id}).
pub fn check_user_update(
    perms: &Permissions<'_>,
    cfg: &UserCfg,
    auth: &Authid,
    target: &Userid,
    new_groups: Option<&[GroupId]>,
) -> Result<(), GrantError> {
    root_only(auth, target)?;
    check_userid_group(
        perms,
        cfg,
        auth,
        target,
        &[Privilege::UserModify],
        new_groups,
        true,
    )?;
    Ok(())
}

/// Deleting `target` (DELETE /access/users/{id}).
pub fn check_user_delete(
    perms: &Permissions<'_>,
    cfg: &UserCfg,
    auth: &Authid,
    target: &Userid,
) -> Result<(), GrantError> {
    root_only(auth, target)?;
    check_realm_allocate_user(perms, auth, target)?;
    check_userid_group(
        perms,
        cfg,
        auth,
        target,
        &[Privilege::UserModify],
        None,
        true,
    )?;
    Ok(())
}

/// Reading `target` (GET /access/users/{id}): oneself, or User.Modify or Sys.Audit on its groups.
pub fn check_user_read(
    perms: &Permissions<'_>,
    cfg: &UserCfg,
    auth: &Authid,
    target: &Userid,
) -> Result<(), GrantError> {
    if !auth.is_token() && &auth.user == target {
        return Ok(());
    }
    check_userid_group(
        perms,
        cfg,
        auth,
        target,
        &[Privilege::UserModify, Privilege::SysAudit],
        None,
        true,
    )?;
    Ok(())
}

/// Creating, listing, changing or removing `owner`'s API tokens: the owner itself, or User.Modify.
pub fn check_token_manage(
    perms: &Permissions<'_>,
    cfg: &UserCfg,
    auth: &Authid,
    owner: &Userid,
) -> Result<(), GrantError> {
    if !auth.is_token() && &auth.user == owner {
        return Ok(());
    }
    root_only(auth, owner)?;
    check_userid_group(
        perms,
        cfg,
        auth,
        owner,
        &[Privilege::UserModify],
        None,
        true,
    )?;
    Ok(())
}

/// Changing `target`'s password (PUT /access/password). The daemon also asks the caller's own
/// password again unless the caller is root@pam, as Proxmox does.
pub fn check_password_change(
    perms: &Permissions<'_>,
    cfg: &UserCfg,
    auth: &Authid,
    target: &Userid,
) -> Result<(), GrantError> {
    if auth.is_token() {
        return Err(GrantError::TokenNotAllowed);
    }
    if auth.user.is_root() {
        return Ok(());
    }
    root_only(auth, target)?;
    if &auth.user == target {
        return Ok(());
    }
    if target.realm() == REALM_PAM {
        return Err(GrantError::PamPassword);
    }
    check_realm_allocate_user(perms, auth, target)?;
    check_userid_group(
        perms,
        cfg,
        auth,
        target,
        &[Privilege::UserModify],
        None,
        true,
    )?;
    Ok(())
}

#[cfg(test)]
#[path = "grant_tests.rs"]
mod tests;
