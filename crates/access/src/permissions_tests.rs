//! Tests of the permission rules: propagation, overrides, NoAccess, pools, tokens, root.

use super::*;
use crate::acl::AclSubject;
use crate::privileges::Privilege as P;
use crate::token::TokenInfo;
use crate::user_cfg::{Group, Pool, PoolId, User};
use crate::userid::{RoleId, Userid};
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

fn vm(v: u32) -> VmId {
    VmId::try_from(v).expect("vmid")
}

/// alice and bob in group devs; alice has token alice@pve!ci (privsep).
fn base() -> UserCfg {
    let mut cfg = UserCfg::new();
    for u in ["alice@pve", "bob@pve", "carol@pve"] {
        cfg.users.insert(uid(u), User::default());
    }
    cfg.groups.insert(
        "devs".parse().expect("group"),
        Group {
            members: [uid("alice@pve"), uid("bob@pve")].into(),
            comment: String::new(),
        },
    );
    cfg.tokens
        .insert(auth("alice@pve!ci"), TokenInfo::default());
    cfg
}

fn grant(cfg: &mut UserCfg, p: &str, who: &str, r: &str, propagate: bool) {
    let subject: AclSubject = who.parse().expect("subject");
    cfg.acl.set(path(p), subject, role(r), propagate);
}

fn privs(cfg: &UserCfg, who: &str, p: &str) -> PrivSet {
    Permissions::new(cfg, NOW).privileges(&auth(who), &path(p))
}

fn role_privs(cfg: &UserCfg, r: &str) -> PrivSet {
    cfg.roles.privileges(&role(r)).expect("role exists")
}

#[test]
fn root_pam_holds_everything_everywhere() {
    let cfg = base();
    assert_eq!(privs(&cfg, "root@pam", "/vms/100"), PrivSet::all());
    assert_eq!(privs(&cfg, "root@pam", "/access/realm/pve"), PrivSet::all());
}

#[test]
fn propagation_reaches_children_only_when_set() {
    let mut cfg = base();
    grant(&mut cfg, "/vms", "alice@pve", "PVEVMUser", true);
    grant(&mut cfg, "/nodes", "bob@pve", "PVEAuditor", false);
    assert_eq!(
        privs(&cfg, "alice@pve", "/vms/100"),
        role_privs(&cfg, "PVEVMUser")
    );
    assert_eq!(
        privs(&cfg, "alice@pve", "/vms"),
        role_privs(&cfg, "PVEVMUser")
    );
    assert_eq!(
        privs(&cfg, "bob@pve", "/nodes"),
        role_privs(&cfg, "PVEAuditor")
    );
    assert!(privs(&cfg, "bob@pve", "/nodes/n1").is_empty());
    assert!(privs(&cfg, "alice@pve", "/storage/local").is_empty());
}

#[test]
fn user_entries_override_group_entries_at_the_same_path() {
    let mut cfg = base();
    grant(&mut cfg, "/vms", "@devs", "PVEVMAdmin", true);
    grant(&mut cfg, "/vms", "alice@pve", "PVEAuditor", true);
    assert_eq!(
        privs(&cfg, "alice@pve", "/vms/100"),
        role_privs(&cfg, "PVEAuditor")
    );
    assert_eq!(
        privs(&cfg, "bob@pve", "/vms/100"),
        role_privs(&cfg, "PVEVMAdmin")
    );
}

#[test]
fn groups_of_a_user_are_merged() {
    let mut cfg = base();
    cfg.groups.insert(
        "ops".parse().expect("group"),
        Group {
            members: [uid("alice@pve")].into(),
            comment: String::new(),
        },
    );
    grant(&mut cfg, "/", "@devs", "PVEVMUser", true);
    grant(&mut cfg, "/", "@ops", "PVEDatastoreUser", true);
    let expected = role_privs(&cfg, "PVEVMUser").union(role_privs(&cfg, "PVEDatastoreUser"));
    assert_eq!(privs(&cfg, "alice@pve", "/storage/local"), expected);
}

#[test]
fn deeper_paths_override_shallower_ones() {
    let mut cfg = base();
    grant(&mut cfg, "/", "alice@pve", "PVEAdmin", true);
    grant(&mut cfg, "/vms/100", "alice@pve", "PVEAuditor", false);
    assert_eq!(
        privs(&cfg, "alice@pve", "/vms/100"),
        role_privs(&cfg, "PVEAuditor")
    );
    assert_eq!(
        privs(&cfg, "alice@pve", "/vms/101"),
        role_privs(&cfg, "PVEAdmin")
    );
    // A deeper group entry overrides a shallower user entry, too.
    grant(&mut cfg, "/vms/102", "@devs", "PVETemplateUser", false);
    assert_eq!(
        privs(&cfg, "alice@pve", "/vms/102"),
        role_privs(&cfg, "PVETemplateUser")
    );
}

#[test]
fn no_access_cancels_everything_at_its_level_and_below() {
    let mut cfg = base();
    grant(&mut cfg, "/", "@devs", "PVEAdmin", true);
    grant(&mut cfg, "/vms", "@devs", "NoAccess", true);
    grant(&mut cfg, "/vms", "@devs", "PVEVMAdmin", true);
    assert!(privs(&cfg, "bob@pve", "/vms").is_empty());
    assert!(privs(&cfg, "bob@pve", "/vms/100").is_empty());
    assert!(!privs(&cfg, "bob@pve", "/storage/local").is_empty());
    // ... unless a deeper entry overrides it.
    grant(&mut cfg, "/vms/100", "bob@pve", "PVEVMUser", false);
    assert_eq!(
        privs(&cfg, "bob@pve", "/vms/100"),
        role_privs(&cfg, "PVEVMUser")
    );
}

#[test]
fn a_guest_in_a_pool_inherits_the_pool_roles() {
    let mut cfg = base();
    let team: PoolId = "team-a".parse().expect("pool");
    cfg.pools.insert(
        team,
        Pool {
            vms: [vm(100)].into(),
            storage: ["local".to_string()].into(),
            ..Pool::default()
        },
    );
    grant(&mut cfg, "/pool/team-a", "carol@pve", "PVEVMUser", true);
    assert_eq!(
        privs(&cfg, "carol@pve", "/vms/100"),
        role_privs(&cfg, "PVEVMUser")
    );
    assert!(privs(&cfg, "carol@pve", "/vms/101").is_empty());
    assert!(!privs(&cfg, "carol@pve", "/storage/local").is_empty());
    let p = Permissions::new(&cfg, NOW);
    assert_eq!(
        p.visible_vmids(&auth("carol@pve"), [vm(100), vm(101), vm(102)]),
        vec![vm(100)]
    );
    // Roles on the guest itself are merged with the pool's ...
    grant(&mut cfg, "/vms/100", "carol@pve", "PVETemplateUser", false);
    let merged = role_privs(&cfg, "PVEVMUser").union(role_privs(&cfg, "PVETemplateUser"));
    assert_eq!(privs(&cfg, "carol@pve", "/vms/100"), merged);
    // ... but a NoAccess on the guest is not trumped by the pool,
    grant(&mut cfg, "/vms/100", "carol@pve", "NoAccess", false);
    assert!(privs(&cfg, "carol@pve", "/vms/100").is_empty());
    // and a NoAccess on the pool trumps the guest's own roles.
    let mut cfg2 = cfg.clone();
    cfg2.acl.remove(
        &path("/vms/100"),
        &"carol@pve".parse().expect("s"),
        &role("NoAccess"),
    );
    grant(&mut cfg2, "/pool/team-a", "carol@pve", "NoAccess", true);
    assert!(privs(&cfg2, "carol@pve", "/vms/100").is_empty());
}

#[test]
fn a_privsep_token_gets_its_acl_intersected_with_its_user() {
    let mut cfg = base();
    grant(&mut cfg, "/vms", "alice@pve", "PVEVMUser", true);
    grant(&mut cfg, "/", "alice@pve!ci", "PVEAdmin", true);
    assert_eq!(
        privs(&cfg, "alice@pve!ci", "/vms/100"),
        role_privs(&cfg, "PVEVMUser")
    );
    assert!(privs(&cfg, "alice@pve!ci", "/nodes/n1").is_empty());
    // Without own entries a privsep token holds nothing, not even its user's groups' roles.
    grant(&mut cfg, "/", "@devs", "PVEAuditor", true);
    cfg.tokens.insert(auth("bob@pve!t"), TokenInfo::default());
    assert!(privs(&cfg, "bob@pve!t", "/vms/100").is_empty());
    // A token without privilege separation holds exactly its user's privileges.
    cfg.tokens.insert(
        auth("bob@pve!full"),
        TokenInfo {
            privsep: false,
            ..TokenInfo::default()
        },
    );
    assert_eq!(
        privs(&cfg, "bob@pve!full", "/vms/100"),
        privs(&cfg, "bob@pve", "/vms/100")
    );
}

#[test]
fn disabled_expired_and_unknown_callers_hold_nothing() {
    let mut cfg = base();
    grant(&mut cfg, "/", "alice@pve", "Administrator", true);
    grant(&mut cfg, "/", "alice@pve!ci", "Administrator", true);
    assert!(!privs(&cfg, "alice@pve!ci", "/").is_empty());
    cfg.tokens.insert(
        auth("alice@pve!ci"),
        TokenInfo {
            expire: NOW,
            ..TokenInfo::default()
        },
    );
    assert!(privs(&cfg, "alice@pve!ci", "/").is_empty());
    cfg.users.insert(
        uid("alice@pve"),
        User {
            expire: NOW - 1,
            ..User::default()
        },
    );
    assert!(privs(&cfg, "alice@pve", "/").is_empty());
    cfg.users.insert(
        uid("alice@pve"),
        User {
            enable: false,
            ..User::default()
        },
    );
    assert!(privs(&cfg, "alice@pve", "/").is_empty());
    assert!(privs(&cfg, "nobody@pve", "/").is_empty());
    assert!(privs(&cfg, "alice@pve!nope", "/").is_empty());
}

#[test]
fn check_names_the_missing_privilege() {
    let mut cfg = base();
    grant(&mut cfg, "/vms", "alice@pve", "PVEAuditor", true);
    let p = Permissions::new(&cfg, NOW);
    let a = auth("alice@pve");
    assert_eq!(p.check(&a, &path("/vms/100"), P::VmAudit), Ok(()));
    let denied = p
        .check(&a, &path("/vms/100"), P::VmPowerMgmt)
        .expect_err("auditor cannot stop");
    assert_eq!(
        denied.to_string(),
        "permission check failed (/vms/100, VM.PowerMgmt)"
    );
    let any = p
        .check_any(&a, &path("/nodes"), &[P::SysAudit, P::SysModify])
        .expect_err("none");
    assert_eq!(any.privileges, "Sys.Audit|Sys.Modify");
    assert!(p
        .check_all(&a, &path("/vms"), &[P::VmAudit, P::VmConsole])
        .is_err());
}

#[test]
fn effective_permissions_lists_paths_with_something() {
    let mut cfg = base();
    grant(
        &mut cfg,
        "/storage/local",
        "alice@pve",
        "PVEDatastoreUser",
        false,
    );
    let map = Permissions::new(&cfg, NOW).effective_permissions(&auth("alice@pve"));
    assert_eq!(
        map.keys().map(AclPath::as_str).collect::<Vec<_>>(),
        ["/storage/local"]
    );
    let nodes = Permissions::new(&cfg, NOW).filter_paths(
        &auth("alice@pve"),
        [
            ("local", path("/storage/local")),
            ("nfs", path("/storage/nfs")),
        ],
        &[P::DatastoreAudit],
    );
    assert_eq!(nodes, ["local"]);
}

fn arb_role() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "PVEAdmin",
        "PVEVMUser",
        "PVEAuditor",
        "Administrator",
        "NoAccess",
    ])
}

fn arb_path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/",
        "/vms",
        "/vms/100",
        "/vms/101",
        "/nodes",
        "/nodes/n1",
        "/pool/a",
    ])
}

proptest! {
    /// NoAccess on a path leaves nothing there or below, unless an entry deeper than it (on the
    /// way to the checked path) or, at its own level, an entry of the user itself when NoAccess
    /// came from a group, replaces it.
    #[test]
    fn no_access_leaves_nothing_below_unless_overridden_deeper(
        entries in proptest::collection::vec((arb_path(), prop::sample::select(vec!["alice@pve", "@devs"]), arb_role(), any::<bool>()), 0..8),
        at in arb_path(),
        from_group in any::<bool>(),
        below in arb_path(),
    ) {
        let mut cfg = base();
        for (p, who, r, prop) in &entries {
            grant(&mut cfg, p, who, r, *prop);
        }
        let who = if from_group { "@devs" } else { "alice@pve" };
        grant(&mut cfg, at, who, "NoAccess", true);
        let at_path = path(at);
        let below_path = path(below);
        prop_assume!(below_path.is_within(&at_path));
        let overridden = below_path.ancestry().iter().any(|level| {
            let deeper = level.is_within(&at_path) && level != &at_path;
            let on = cfg.acl.on_path(level);
            let applying = |s: &str| on.and_then(|m| m.get(&s.parse::<AclSubject>().expect("s"))).is_some_and(|roles| roles.iter().any(|(_, p)| *p || level == &below_path));
            (deeper && (applying("alice@pve") || applying("@devs"))) || (level == &at_path && from_group && applying("alice@pve"))
        });
        if !overridden {
            prop_assert!(privs(&cfg, "alice@pve", below).is_empty());
        }
    }

    /// A privilege-separated token never holds a privilege its user lacks, whatever the ACL.
    #[test]
    fn a_privsep_token_never_exceeds_its_user(
        entries in proptest::collection::vec((arb_path(), prop::sample::select(vec!["alice@pve", "@devs", "alice@pve!ci"]), arb_role(), any::<bool>()), 0..10),
        checked in arb_path(),
        pooled in any::<bool>(),
    ) {
        let mut cfg = base();
        if pooled {
            cfg.pools.insert("a".parse().expect("pool"), Pool { vms: [vm(100)].into(), ..Pool::default() });
        }
        for (p, who, r, prop) in &entries {
            grant(&mut cfg, p, who, r, *prop);
        }
        let token = privs(&cfg, "alice@pve!ci", checked);
        let user = privs(&cfg, "alice@pve", checked);
        prop_assert!(token.is_subset(user), "token {token} user {user}");
    }
}

#[test]
fn nested_pools_inherit_from_their_parent_pool_path() {
    let mut cfg = base();
    cfg.pools
        .insert("team".parse().expect("pool"), Pool::default());
    cfg.pools.insert(
        "team/dev".parse().expect("pool"),
        Pool {
            vms: [vm(150)].into(),
            ..Pool::default()
        },
    );
    grant(&mut cfg, "/pool/team", "@devs", "PVEVMUser", true);
    assert_eq!(
        privs(&cfg, "bob@pve", "/vms/150"),
        role_privs(&cfg, "PVEVMUser")
    );
    // Without propagation the parent's entry stays on the parent.
    grant(&mut cfg, "/pool/team", "@devs", "PVEVMUser", false);
    assert!(privs(&cfg, "bob@pve", "/vms/150").is_empty());
}

#[test]
fn root_tokens_are_limited_by_their_own_acl() {
    let mut cfg = base();
    cfg.tokens
        .insert(auth("root@pam!backup"), TokenInfo::default());
    grant(&mut cfg, "/vms", "root@pam!backup", "PVEAuditor", true);
    assert_eq!(
        privs(&cfg, "root@pam!backup", "/vms/100"),
        role_privs(&cfg, "PVEAuditor")
    );
    assert!(privs(&cfg, "root@pam!backup", "/nodes/n1").is_empty());
    cfg.tokens.insert(
        auth("root@pam!full"),
        TokenInfo {
            privsep: false,
            ..TokenInfo::default()
        },
    );
    assert_eq!(privs(&cfg, "root@pam!full", "/nodes/n1"), PrivSet::all());
}
