//! Proxmox VE's built-in roles (same names, same privilege sets) and custom roles.
//!
//! Brigade keeps Proxmox's role names (`PVEVMUser`, `PVEAuditor`, ...) because the admins who
//! move from Proxmox know them and because `user.cfg` files carry them in ACL lines. The sets are
//! derived as Proxmox derives them: each category of privileges is split into root-only, admin,
//! user and audit privileges; `PVE<Cat>Admin` gets admin+user+audit, `PVE<Cat>User` user+audit,
//! `PVEAuditor` every audit privilege, `PVEAdmin` every admin+user+audit privilege except
//! `Mapping.Modify`; `Administrator` has everything, `NoAccess` nothing (and cancels, see acl.rs).

use std::collections::BTreeMap;

use crate::privileges::{PrivSet, Privilege as P};
use crate::userid::RoleId;

/// The role that holds every privilege.
pub const ADMINISTRATOR: &str = "Administrator";
/// The role that holds nothing and cancels every other role where it applies.
pub const NO_ACCESS: &str = "NoAccess";

/// One category of privileges, split by who should hold them.
struct Category {
    name: &'static str,
    root: &'static [P],
    admin: &'static [P],
    user: &'static [P],
    audit: &'static [P],
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "VM",
        root: &[],
        admin: &[
            P::VmConfigDisk,
            P::VmConfigCpu,
            P::VmConfigMemory,
            P::VmConfigNetwork,
            P::VmConfigHwType,
            P::VmConfigOptions,
            P::VmAllocate,
            P::VmClone,
            P::VmGuestAgentUnrestricted,
            P::VmMigrate,
            P::VmReplicate,
            P::VmSnapshot,
            P::VmSnapshotRollback,
        ],
        user: &[
            P::VmConfigCdrom,
            P::VmConfigCloudinit,
            P::VmConsole,
            P::VmBackup,
            P::VmGuestAgentFileRead,
            P::VmGuestAgentFileSystemMgmt,
            P::VmGuestAgentFileWrite,
            P::VmPowerMgmt,
        ],
        audit: &[P::VmAudit, P::VmGuestAgentAudit],
    },
    Category {
        name: "Sys",
        root: &[
            P::SysPowerMgmt,
            P::SysModify,
            P::SysIncoming,
            P::SysAccessNetwork,
        ],
        admin: &[P::SysConsole, P::SysSyslog],
        user: &[],
        audit: &[P::SysAudit],
    },
    Category {
        name: "Datastore",
        root: &[],
        admin: &[P::DatastoreAllocate, P::DatastoreAllocateTemplate],
        user: &[P::DatastoreAllocateSpace],
        audit: &[P::DatastoreAudit],
    },
    Category {
        name: "SDN",
        root: &[],
        admin: &[P::SdnAllocate, P::SdnAudit],
        user: &[P::SdnUse],
        audit: &[P::SdnAudit],
    },
    Category {
        name: "User",
        root: &[P::RealmAllocate],
        admin: &[P::UserModify, P::GroupAllocate, P::RealmAllocateUser],
        user: &[],
        audit: &[],
    },
    Category {
        name: "Pool",
        root: &[],
        admin: &[P::PoolAllocate],
        user: &[P::PoolAudit],
        audit: &[P::PoolAudit],
    },
    Category {
        name: "Mapping",
        root: &[],
        admin: &[P::MappingModify],
        user: &[P::MappingUse],
        audit: &[P::MappingAudit],
    },
];

/// The built-in roles and their privileges, derived from the categories as Proxmox does.
pub fn builtin_roles() -> BTreeMap<String, PrivSet> {
    let mut roles: BTreeMap<String, PrivSet> = BTreeMap::new();
    roles.insert(ADMINISTRATOR.into(), PrivSet::all());
    roles.insert(NO_ACCESS.into(), PrivSet::EMPTY);
    let mut add = |name: String, privs: &[P]| {
        let set = roles.entry(name).or_default();
        *set = set.union(PrivSet::of(privs));
    };
    for c in CATEGORIES {
        for part in [c.admin, c.user, c.audit] {
            add(format!("PVE{}Admin", c.name), part);
            add("PVEAdmin".into(), part);
        }
        if !c.user.is_empty() {
            add(format!("PVE{}User", c.name), c.user);
            add(format!("PVE{}User", c.name), c.audit);
        }
        add("PVEAuditor".into(), c.audit);
    }
    if let Some(admin) = roles.get_mut("PVEAdmin") {
        *admin = admin.difference(PrivSet::of(&[P::MappingModify]));
    }
    roles.insert(
        "PVETemplateUser".into(),
        PrivSet::of(&[P::VmClone, P::VmAudit]),
    );
    roles
}

/// The privileges Proxmox keeps out of every role but Administrator (node power, node
/// settings, incoming migrations, network access, realms).
pub fn root_only_privileges() -> PrivSet {
    CATEGORIES
        .iter()
        .fold(PrivSet::EMPTY, |acc, c| acc.union(PrivSet::of(c.root)))
        .union(PrivSet::of(&[P::PermissionsModify]))
}

/// Whether `name` is a built-in role (which cannot be changed or defined again).
pub fn is_builtin(name: &str) -> bool {
    builtin_roles().contains_key(name)
}

/// A role definition that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("role {0} is built in and cannot be changed")]
    Builtin(String),
    #[error("role {0} does not exist")]
    Unknown(String),
}

/// All roles known to a configuration: the built-in ones plus the custom ones of user.cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    builtin: BTreeMap<String, PrivSet>,
    custom: BTreeMap<RoleId, PrivSet>,
}

impl Default for Roles {
    fn default() -> Self {
        Roles {
            builtin: builtin_roles(),
            custom: BTreeMap::new(),
        }
    }
}

impl Roles {
    /// The privileges of a role, built-in or custom.
    pub fn privileges(&self, role: &RoleId) -> Option<PrivSet> {
        self.builtin
            .get(role.as_str())
            .or_else(|| self.custom.get(role))
            .copied()
    }

    pub fn exists(&self, role: &RoleId) -> bool {
        self.privileges(role).is_some()
    }

    /// Defines or redefines a custom role.
    pub fn set_custom(&mut self, role: RoleId, privs: PrivSet) -> Result<(), RoleError> {
        if self.builtin.contains_key(role.as_str()) {
            return Err(RoleError::Builtin(role.to_string()));
        }
        self.custom.insert(role, privs);
        Ok(())
    }

    /// Removes a custom role.
    pub fn remove_custom(&mut self, role: &RoleId) -> Result<PrivSet, RoleError> {
        if self.builtin.contains_key(role.as_str()) {
            return Err(RoleError::Builtin(role.to_string()));
        }
        self.custom
            .remove(role)
            .ok_or_else(|| RoleError::Unknown(role.to_string()))
    }

    /// The custom roles, as user.cfg stores them.
    pub fn custom(&self) -> &BTreeMap<RoleId, PrivSet> {
        &self.custom
    }

    /// Every role with its privileges and whether it is built in, sorted by name.
    pub fn all(&self) -> Vec<(String, PrivSet, bool)> {
        let mut all: Vec<(String, PrivSet, bool)> = self
            .builtin
            .iter()
            .map(|(n, p)| (n.clone(), *p, true))
            .chain(self.custom.iter().map(|(n, p)| (n.to_string(), *p, false)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> PrivSet {
        *builtin_roles().get(name).expect("built in")
    }

    #[test]
    fn builtin_roles_match_proxmox() {
        let names: Vec<String> = builtin_roles().into_keys().collect();
        for expected in [
            "Administrator",
            "NoAccess",
            "PVEAdmin",
            "PVEAuditor",
            "PVEDatastoreAdmin",
            "PVEDatastoreUser",
            "PVEMappingAdmin",
            "PVEMappingUser",
            "PVEPoolAdmin",
            "PVEPoolUser",
            "PVESDNAdmin",
            "PVESDNUser",
            "PVESysAdmin",
            "PVETemplateUser",
            "PVEUserAdmin",
            "PVEVMAdmin",
            "PVEVMUser",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing");
        }
        assert_eq!(names.len(), 17, "{names:?}");
        assert_eq!(
            role("PVEVMUser").to_string(),
            "VM.Audit,VM.Backup,VM.Config.CDROM,VM.Config.Cloudinit,VM.Console,VM.GuestAgent.Audit,\
             VM.GuestAgent.FileRead,VM.GuestAgent.FileSystemMgmt,VM.GuestAgent.FileWrite,VM.PowerMgmt"
        );
        assert_eq!(
            role("PVEDatastoreUser").to_string(),
            "Datastore.AllocateSpace,Datastore.Audit"
        );
        assert_eq!(role("PVEPoolUser").to_string(), "Pool.Audit");
        assert_eq!(
            role("PVEUserAdmin").to_string(),
            "Group.Allocate,Realm.AllocateUser,User.Modify"
        );
        assert_eq!(role("PVETemplateUser").to_string(), "VM.Audit,VM.Clone");
        assert_eq!(
            role("PVEAuditor").to_string(),
            "Datastore.Audit,Mapping.Audit,Pool.Audit,SDN.Audit,Sys.Audit,VM.Audit,VM.GuestAgent.Audit"
        );
        assert!(role("NoAccess").is_empty());
        assert_eq!(role("Administrator"), PrivSet::all());
    }

    #[test]
    fn pveadmin_lacks_root_only_privileges_and_permissions_modify() {
        let admin = role("PVEAdmin");
        assert!(admin.intersection(root_only_privileges()).is_empty());
        for p in [
            P::SysModify,
            P::SysPowerMgmt,
            P::RealmAllocate,
            P::PermissionsModify,
            P::MappingModify,
        ] {
            assert!(!admin.contains(p), "{p}");
        }
        assert!(admin.contains(P::VmAllocate) && admin.contains(P::UserModify));
    }

    #[test]
    fn custom_roles_cannot_shadow_builtin_ones() {
        let mut roles = Roles::default();
        let mine: RoleId = "Operator".parse().expect("name");
        roles
            .set_custom(mine.clone(), PrivSet::of(&[P::VmPowerMgmt]))
            .expect("custom");
        assert_eq!(
            roles.privileges(&mine),
            Some(PrivSet::of(&[P::VmPowerMgmt]))
        );
        let admin: RoleId = "PVEAdmin".parse().expect("name");
        assert!(matches!(
            roles.set_custom(admin.clone(), PrivSet::EMPTY),
            Err(RoleError::Builtin(_))
        ));
        assert!(matches!(
            roles.remove_custom(&admin),
            Err(RoleError::Builtin(_))
        ));
        assert_eq!(
            roles.remove_custom(&mine),
            Ok(PrivSet::of(&[P::VmPowerMgmt]))
        );
        assert!(!roles.exists(&mine));
    }
}
