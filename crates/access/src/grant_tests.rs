//! Tests of grant refusal and of the user-management rules.

use super::*;
use crate::acl::AclSubject;
use crate::user_cfg::{Group, User};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

fn uid(s: &str) -> Userid {
    s.parse().expect("user id")
}

fn auth(s: &str) -> Authid {
    s.parse().expect("auth id")
}

fn path(s: &str) -> AclPath {
    s.parse().expect("path")
}

fn role(s: &str) -> RoleId {
    s.parse().expect("role")
}

fn gid(s: &str) -> GroupId {
    s.parse().expect("group")
}

/// vmadmin: PVEVMAdmin on /vms (propagated) and PVEVMUser on /vms/200 (not propagated);
/// permod: Permissions.Modify + VM.Audit on /vms via a custom role; useradmin: PVEUserAdmin on
/// /access/groups/devs and Realm.AllocateUser on the pve realm; eve and dan in group devs.
fn cfg() -> UserCfg {
    let mut cfg = UserCfg::new();
    for u in [
        "vmadmin@pve",
        "permod@pve",
        "useradmin@pve",
        "eve@pve",
        "dan@pve",
        "out@pve",
    ] {
        cfg.users.insert(uid(u), User::default());
    }
    cfg.groups.insert(
        gid("devs"),
        Group {
            members: [uid("eve@pve"), uid("dan@pve")].into(),
            comment: String::new(),
        },
    );
    cfg.groups.insert(gid("ops"), Group::default());
    cfg.roles
        .set_custom(
            role("PermAudit"),
            PrivSet::of(&[Privilege::PermissionsModify, Privilege::VmAudit]),
        )
        .expect("custom");
    let mut set = |p: &str, who: &str, r: &str, prop: bool| {
        cfg.acl.set(
            path(p),
            who.parse::<AclSubject>().expect("subject"),
            role(r),
            prop,
        );
    };
    set("/vms", "vmadmin@pve", "PVEVMAdmin", true);
    set("/vms", "permod@pve", "PermAudit", true);
    set(
        "/access/groups/devs",
        "useradmin@pve",
        "PVEUserAdmin",
        false,
    );
    set("/access/realm/pve", "useradmin@pve", "PVEUserAdmin", false);
    cfg
}

fn change<'a>(p: &'a AclPath, roles: &'a [RoleId], propagate: bool) -> AclChange<'a> {
    AclChange {
        path: p,
        roles,
        propagate,
        delete: false,
    }
}

fn try_grant(
    cfg: &UserCfg,
    who: &str,
    p: &str,
    r: &str,
    propagate: bool,
) -> Result<(), GrantError> {
    let perms = Permissions::new(cfg, NOW);
    let p = path(p);
    let roles = [role(r)];
    check_acl_change(&perms, cfg, &auth(who), change(&p, &roles, propagate))
}

#[test]
fn changing_acls_needs_permissions_modify_or_the_allocate_privilege() {
    let cfg = cfg();
    assert!(matches!(
        try_grant(&cfg, "eve@pve", "/vms/100", "PVEAuditor", false),
        Err(GrantError::Denied(_))
    ));
    // VM.Allocate on the guest is enough to hand out what one holds there.
    assert_eq!(
        try_grant(&cfg, "vmadmin@pve", "/vms/100", "PVEVMUser", true),
        Ok(())
    );
    // But not on /vms itself, which is not a guest.
    assert!(matches!(
        try_grant(&cfg, "vmadmin@pve", "/vms", "PVEVMUser", true),
        Err(GrantError::Denied(_))
    ));
    assert_eq!(
        acl_modify_privileges(&path("/storage/local")),
        [Privilege::PermissionsModify, Privilege::DatastoreAllocate]
    );
    assert_eq!(
        acl_modify_privileges(&path("/pool/a")),
        [Privilege::PermissionsModify, Privilege::PoolAllocate]
    );
    assert_eq!(
        acl_modify_privileges(&path("/nodes/n1")),
        [Privilege::PermissionsModify]
    );
}

#[test]
fn nobody_grants_a_role_with_privileges_they_lack() {
    let cfg = cfg();
    match try_grant(&cfg, "vmadmin@pve", "/vms/100", "PVEAdmin", false) {
        Err(GrantError::NotHeld { missing, .. }) => {
            assert!(missing.contains(Privilege::SysAudit), "{missing}");
        }
        other => panic!("{other:?}"),
    }
    // Permissions.Modify alone does not allow escalation (stricter than Proxmox).
    assert!(matches!(
        try_grant(&cfg, "permod@pve", "/vms/100", "PVEVMAdmin", false),
        Err(GrantError::NotHeld { .. })
    ));
    assert_eq!(
        try_grant(&cfg, "permod@pve", "/vms/100", "PermAudit", true),
        Ok(())
    );
    // Unknown roles are refused.
    assert_eq!(
        try_grant(&cfg, "permod@pve", "/vms/100", "Ghost", false),
        Err(GrantError::UnknownRole(role("Ghost")))
    );
    // root@pam may grant anything.
    assert_eq!(
        try_grant(&cfg, "root@pam", "/", "Administrator", true),
        Ok(())
    );
}

#[test]
fn propagating_grants_need_propagated_privileges() {
    let mut cfg = cfg();
    cfg.users.insert(uid("local@pve"), User::default());
    cfg.acl.set(
        path("/vms/300"),
        AclSubject::User(uid("local@pve")),
        role("PVEVMAdmin"),
        false,
    );
    assert_eq!(
        try_grant(&cfg, "local@pve", "/vms/300", "PVEVMUser", false),
        Ok(())
    );
    assert!(matches!(
        try_grant(&cfg, "local@pve", "/vms/300", "PVEVMUser", true),
        Err(GrantError::NotHeldPropagated { .. })
    ));
    // Removing is not a propagation risk.
    let perms = Permissions::new(&cfg, NOW);
    let p = path("/vms/300");
    let roles = [role("PVEVMUser")];
    let removal = AclChange {
        path: &p,
        roles: &roles,
        propagate: true,
        delete: true,
    };
    assert_eq!(
        check_acl_change(&perms, &cfg, &auth("local@pve"), removal),
        Ok(())
    );
}

#[test]
fn no_access_needs_permissions_modify() {
    let cfg = cfg();
    assert_eq!(
        try_grant(&cfg, "vmadmin@pve", "/vms/100", "NoAccess", false),
        Err(GrantError::NoAccessNeedsPermissionsModify(path("/vms/100")))
    );
    assert_eq!(
        try_grant(&cfg, "permod@pve", "/vms/100", "NoAccess", false),
        Ok(())
    );
}

#[test]
fn user_modify_is_scoped_to_groups() {
    let cfg = cfg();
    let perms = Permissions::new(&cfg, NOW);
    let ua = auth("useradmin@pve");
    assert_eq!(
        check_user_update(&perms, &cfg, &ua, &uid("eve@pve"), None),
        Ok(())
    );
    assert!(
        check_user_update(&perms, &cfg, &ua, &uid("out@pve"), None).is_err(),
        "not in a group of theirs"
    );
    assert!(
        check_user_update(&perms, &cfg, &ua, &uid("eve@pve"), Some(&[gid("ops")])).is_err(),
        "cannot move to ops"
    );
    assert_eq!(
        check_user_update(&perms, &cfg, &ua, &uid("eve@pve"), Some(&[gid("devs")])),
        Ok(())
    );
    assert_eq!(
        check_user_create(&perms, &cfg, &ua, &uid("new@pve"), &[gid("devs")]),
        Ok(())
    );
    assert!(
        check_user_create(&perms, &cfg, &ua, &uid("new@pve"), &[]).is_err(),
        "group-scoped admins must name a group"
    );
    assert!(
        check_user_create(&perms, &cfg, &ua, &uid("new@pam"), &[gid("devs")]).is_err(),
        "no Realm.AllocateUser on pam"
    );
    assert_eq!(
        check_user_delete(&perms, &cfg, &ua, &uid("dan@pve")),
        Ok(())
    );
    assert!(check_user_delete(&perms, &cfg, &auth("eve@pve"), &uid("dan@pve")).is_err());
    assert_eq!(
        check_user_read(&perms, &cfg, &auth("eve@pve"), &uid("eve@pve")),
        Ok(())
    );
    assert!(check_user_read(&perms, &cfg, &auth("eve@pve"), &uid("dan@pve")).is_err());
}

#[test]
fn only_root_changes_root() {
    let mut cfg = cfg();
    cfg.acl.set(
        path("/"),
        AclSubject::User(uid("useradmin@pve")),
        role("Administrator"),
        true,
    );
    let perms = Permissions::new(&cfg, NOW);
    let ua = auth("useradmin@pve");
    assert_eq!(
        check_user_update(&perms, &cfg, &ua, &Userid::root(), None),
        Err(GrantError::RootOnly)
    );
    assert_eq!(
        check_user_delete(&perms, &cfg, &ua, &Userid::root()),
        Err(GrantError::RootOnly)
    );
    assert_eq!(
        check_password_change(&perms, &cfg, &ua, &Userid::root()),
        Err(GrantError::RootOnly)
    );
    assert_eq!(
        check_password_change(&perms, &cfg, &auth("root@pam"), &Userid::root()),
        Ok(())
    );
}

#[test]
fn password_changes() {
    let mut cfg = cfg();
    cfg.users.insert(uid("sys@pam"), User::default());
    cfg.groups
        .entry(gid("devs"))
        .or_default()
        .members
        .insert(uid("sys@pam"));
    cfg.tokens
        .insert(auth("eve@pve!t"), crate::token::TokenInfo::default());
    let perms = Permissions::new(&cfg, NOW);
    assert_eq!(
        check_password_change(&perms, &cfg, &auth("eve@pve"), &uid("eve@pve")),
        Ok(())
    );
    assert_eq!(
        check_password_change(&perms, &cfg, &auth("eve@pve!t"), &uid("eve@pve")),
        Err(GrantError::TokenNotAllowed)
    );
    assert!(check_password_change(&perms, &cfg, &auth("eve@pve"), &uid("dan@pve")).is_err());
    assert_eq!(
        check_password_change(&perms, &cfg, &auth("useradmin@pve"), &uid("dan@pve")),
        Ok(())
    );
    assert_eq!(
        check_password_change(&perms, &cfg, &auth("useradmin@pve"), &uid("sys@pam")),
        Err(GrantError::PamPassword)
    );
}

#[test]
fn tokens_are_managed_by_their_owner_or_user_admins() {
    let cfg = cfg();
    let perms = Permissions::new(&cfg, NOW);
    assert_eq!(
        check_token_manage(&perms, &cfg, &auth("eve@pve"), &uid("eve@pve")),
        Ok(())
    );
    assert_eq!(
        check_token_manage(&perms, &cfg, &auth("useradmin@pve"), &uid("eve@pve")),
        Ok(())
    );
    assert!(check_token_manage(&perms, &cfg, &auth("dan@pve"), &uid("eve@pve")).is_err());
}

proptest! {
    /// Whatever the caller holds, an accepted grant only hands out privileges the caller holds on that path.
    #[test]
    fn accepted_grants_never_exceed_the_granter(
        who in prop::sample::select(vec!["vmadmin@pve", "permod@pve", "useradmin@pve", "eve@pve"]),
        p in prop::sample::select(vec!["/", "/vms", "/vms/100", "/vms/200", "/access/groups/devs", "/pool/a"]),
        r in prop::sample::select(vec!["Administrator", "PVEAdmin", "PVEVMAdmin", "PVEVMUser", "PVEAuditor", "PermAudit", "NoAccess"]),
        propagate in any::<bool>(),
    ) {
        let cfg = cfg();
        if try_grant(&cfg, who, p, r, propagate).is_ok() {
            let perms = Permissions::new(&cfg, NOW);
            let mine = perms.effective(&auth(who), &path(p));
            let granted = cfg.roles.privileges(&role(r)).expect("role");
            prop_assert!(granted.is_subset(mine.held));
            if propagate {
                prop_assert!(granted.is_subset(mine.propagated));
            }
        }
    }
}
