//! The query the daemon asks on every call: what may this caller do on this path, at this time.
//!
//! On top of the ACL walk (acl.rs) this adds what Proxmox's RPC environment adds:
//! - root@pam holds every privilege everywhere;
//! - a disabled or expired user, or an unknown or expired token, holds nothing;
//! - a guest (`/vms/{id}`) or storage (`/storage/{id}`) in a pool also gets the roles its
//!   caller has on `/pool/{pool}`, without propagation; a NoAccess on the guest's own path
//!   wins over the pool, and a NoAccess on the pool wins over the guest's other roles;
//! - a privilege-separated token holds its own privileges intersected with its user's.

use std::collections::{BTreeMap, BTreeSet};

use brigade_core::VmId;

use crate::acl::{cancel_by_no_access, EffectivePrivs, Evaluated, RoleFlags};
use crate::acl_path::AclPath;
use crate::privileges::{PrivSet, Privilege};
use crate::roles::NO_ACCESS;
use crate::token::{check_usable, token_privileges};
use crate::user_cfg::UserCfg;
use crate::userid::{Authid, GroupId};

/// A refused permission check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("permission check failed ({path}, {privileges})")]
pub struct Denied {
    pub auth: Authid,
    pub path: AclPath,
    /// The privilege (or `A|B` alternatives) that was missing.
    pub privileges: String,
}

/// The privileges of every caller at one instant, read from one user.cfg.
#[derive(Debug, Clone, Copy)]
pub struct Permissions<'a> {
    cfg: &'a UserCfg,
    now: u64,
}

impl<'a> Permissions<'a> {
    /// `now` in seconds since the epoch decides user and token expiry.
    pub fn new(cfg: &'a UserCfg, now: u64) -> Permissions<'a> {
        Permissions { cfg, now }
    }

    /// The privileges `auth` holds on `path`.
    pub fn privileges(&self, auth: &Authid, path: &AclPath) -> PrivSet {
        self.effective(auth, path).held
    }

    /// The privileges with their propagation (what may be granted further down, see grant.rs).
    pub fn effective(&self, auth: &Authid, path: &AclPath) -> EffectivePrivs {
        if check_usable(self.cfg, auth, self.now).is_err() {
            return EffectivePrivs::default();
        }
        let user = Authid::user(auth.user.clone());
        let user_privs = if auth.user.is_root() {
            EffectivePrivs::all()
        } else {
            self.compile(&user, &self.cfg.groups_of(&auth.user), path)
        };
        let Some(info) = auth.token.as_ref().and_then(|_| self.cfg.tokens.get(auth)) else {
            return user_privs;
        };
        let own = self.compile(auth, &BTreeSet::new(), path);
        token_privileges(info, user_privs, own)
    }

    /// The roles on the path (ACL walk plus pool roles) turned into privileges.
    fn compile(&self, auth: &Authid, groups: &BTreeSet<GroupId>, path: &AclPath) -> EffectivePrivs {
        let who = Evaluated { auth, groups };
        let mut roles = self.cfg.acl.roles_for(&who, path);
        let pool_roles = self.pool_roles(&who, path);
        let has_no_access = |r: &RoleFlags| r.keys().any(|k| k.as_str() == NO_ACCESS);
        if !pool_roles.is_empty() && !has_no_access(&roles) {
            if has_no_access(&pool_roles) {
                roles = pool_roles.into_keys().map(|r| (r, false)).collect();
                roles = cancel_by_no_access(roles);
            } else {
                for role in pool_roles.into_keys() {
                    roles.entry(role).or_insert(false);
                }
            }
        }
        EffectivePrivs::from_roles(&roles, &self.cfg.roles)
    }

    /// Roles inherited from the pools holding the guest or storage at `path`.
    fn pool_roles(&self, who: &Evaluated<'_>, path: &AclPath) -> RoleFlags {
        let pools = if let Some(vmid) = path.vmid() {
            self.cfg.pool_of_vm(vmid).into_iter().collect()
        } else if let Some(storage) = path.storage_id() {
            self.cfg.pools_of_storage(storage)
        } else {
            Vec::new()
        };
        let mut roles = RoleFlags::new();
        for pool in pools {
            roles.extend(self.cfg.acl.roles_for(who, pool.acl_path()));
        }
        roles
    }

    /// Ok if `auth` holds `privilege` on `path`.
    pub fn check(&self, auth: &Authid, path: &AclPath, privilege: Privilege) -> Result<(), Denied> {
        self.check_all(auth, path, &[privilege])
    }

    /// Ok if `auth` holds every one of `privileges` on `path`.
    pub fn check_all(
        &self,
        auth: &Authid,
        path: &AclPath,
        privileges: &[Privilege],
    ) -> Result<(), Denied> {
        let held = self.privileges(auth, path);
        match privileges.iter().find(|p| !held.contains(**p)) {
            None => Ok(()),
            Some(missing) => Err(self.denied(auth, path, missing.as_str().to_string())),
        }
    }

    /// Ok if `auth` holds at least one of `privileges` on `path`.
    pub fn check_any(
        &self,
        auth: &Authid,
        path: &AclPath,
        privileges: &[Privilege],
    ) -> Result<(), Denied> {
        let held = self.privileges(auth, path);
        if privileges.iter().any(|p| held.contains(*p)) {
            Ok(())
        } else {
            let names: Vec<&str> = privileges.iter().map(|p| p.as_str()).collect();
            Err(self.denied(auth, path, names.join("|")))
        }
    }

    fn denied(&self, auth: &Authid, path: &AclPath, privileges: String) -> Denied {
        Denied {
            auth: auth.clone(),
            path: path.clone(),
            privileges,
        }
    }

    /// Whether `auth` may know the guest exists (any `VM.*` privilege on it). A caller who may
    /// not see a guest must get the same answer as for a guest that does not exist.
    pub fn may_see_vm(&self, auth: &Authid, vmid: VmId) -> bool {
        let held = self.privileges(auth, &AclPath::vm(vmid));
        held.iter().any(|p| p.as_str().starts_with("VM."))
    }

    /// The guests of `vmids` that `auth` may see, in the given order (for `vm list`).
    pub fn visible_vmids(&self, auth: &Authid, vmids: impl IntoIterator<Item = VmId>) -> Vec<VmId> {
        vmids
            .into_iter()
            .filter(|v| self.may_see_vm(auth, *v))
            .collect()
    }

    /// The items whose path grants `auth` any of `privileges` (nodes, storages, pools lists).
    pub fn filter_paths<T>(
        &self,
        auth: &Authid,
        items: impl IntoIterator<Item = (T, AclPath)>,
        privileges: &[Privilege],
    ) -> Vec<T> {
        items
            .into_iter()
            .filter(|(_, path)| {
                let held = self.privileges(auth, path);
                privileges.iter().any(|p| held.contains(*p))
            })
            .map(|(item, _)| item)
            .collect()
    }

    /// Every path where `auth` holds something: the top-level paths, the paths of the ACL and
    /// the guests and storages of pools (`GET /access/permissions`).
    pub fn effective_permissions(&self, auth: &Authid) -> BTreeMap<AclPath, PrivSet> {
        let mut paths: BTreeSet<AclPath> = [
            "/",
            "/access",
            "/access/groups",
            "/nodes",
            "/pool",
            "/sdn",
            "/storage",
            "/vms",
        ]
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
        paths.extend(self.cfg.acl.paths().cloned());
        for pool in self.cfg.pools.values() {
            paths.extend(pool.vms.iter().map(|v| AclPath::vm(*v)));
            paths.extend(pool.storage.iter().filter_map(|s| AclPath::storage(s).ok()));
        }
        paths
            .into_iter()
            .map(|p| {
                let privs = self.privileges(auth, &p);
                (p, privs)
            })
            .filter(|(_, privs)| !privs.is_empty())
            .collect()
    }
}

#[cfg(test)]
#[path = "permissions_tests.rs"]
mod tests;
