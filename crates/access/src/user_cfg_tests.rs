//! Tests of user.cfg parsing and writing: Proxmox's format, line-numbered errors, round trip.

use super::*;
use crate::privileges::Privilege as P;
use proptest::prelude::*;

const SAMPLE: &str = "\
user:root@pam:1:0:::root@example.com:::
user:alice@pve:1:1900000000:Alice:Liddell:alice@example.com:team%3Alead::
token:alice@pve!ci:0:1:CI runner:
user:bob@pve:0:0::::::

group:devs:alice@pve,bob@pve:Developers:

pool:team-a:Team A:100,101:local:

role:Operator:VM.Audit,VM.PowerMgmt:

acl:1:/:@devs:PVEAuditor:
acl:0:/vms/100:alice@pve,alice@pve!ci:Operator:
";

#[test]
fn parses_proxmox_lines() {
    let cfg = parse_user_cfg(SAMPLE).expect("parses");
    let alice: Userid = "alice@pve".parse().expect("id");
    let a = &cfg.users[&alice];
    assert_eq!(
        (a.firstname.as_str(), a.comment.as_str(), a.expire),
        ("Alice", "team:lead", 1_900_000_000)
    );
    assert!(!cfg.users[&"bob@pve".parse::<Userid>().expect("id")].enable);
    let tok: Authid = "alice@pve!ci".parse().expect("id");
    assert!(cfg.tokens[&tok].privsep);
    assert_eq!(cfg.groups_of(&alice).len(), 1);
    let pool = cfg
        .pool_of_vm(VmId::try_from(101).expect("id"))
        .expect("in a pool");
    assert_eq!(pool.as_str(), "team-a");
    let op: RoleId = "Operator".parse().expect("id");
    assert_eq!(
        cfg.roles.privileges(&op),
        Some(PrivSet::of(&[P::VmAudit, P::VmPowerMgmt]))
    );
    let entries = cfg.acl.entries();
    assert_eq!(entries.len(), 3);
    assert!(entries
        .iter()
        .any(|e| e.subject == AclSubject::Token(tok.clone()) && !e.propagate));
}

#[test]
fn writes_what_it_reads() {
    let cfg = parse_user_cfg(SAMPLE).expect("parses");
    let text = cfg.write();
    assert!(
        text.contains("acl:0:/vms/100:alice@pve,alice@pve!ci:Operator:\n"),
        "{text}"
    );
    assert!(text
        .contains("user:alice@pve:1:1900000000:Alice:Liddell:alice@example.com:team%3Alead::\n"));
    assert!(text.contains("token:alice@pve!ci:0:1:CI runner:\n"));
    assert_eq!(parse_user_cfg(&text).expect("own output"), cfg);
}

#[test]
fn root_pam_always_exists() {
    let cfg = parse_user_cfg("").expect("empty is fine");
    assert!(cfg.users.contains_key(&Userid::root()));
}

#[test]
fn bad_lines_are_refused_with_their_number() {
    let user = "user:alice@pve:1:0::::::\n";
    for (text, line, needle) in [
        ("nonsense\n", 1, "expected kind"),
        ("\nfoo:bar:\n", 2, "unknown kind"),
        ("user:alice:1:0::::::\n", 1, "user id"),
        ("user:alice@pve:2:0::::::\n", 1, "enable"),
        ("user:alice@pve:1:soon::::::\n", 1, "expire"),
        ("user:alice@pve:1:0:::::::extra:\n", 1, "too many fields"),
        ("user:alice@pve:1:0::::%zz::\n", 1, "comment"),
        (&format!("{user}{user}"), 2, "twice"),
        ("group:devs:ghost@pve::\n", 1, "does not exist"),
        ("token:ghost@pve!t:0:1::\n", 1, "does not exist"),
        ("token:alice@pve:0:1::\n", 1, "not a token"),
        ("role:Operator:VM.Fly:\n", 1, "unknown privilege"),
        ("role:PVEAdmin:VM.Audit:\n", 1, "built in"),
        ("pool:a::100,100x::\n", 1, "VMID"),
        ("pool:a::100::\npool:b::100::\n", 2, "already in pool"),
        ("pool:a:::bad storage:\n", 1, "storage"),
        ("acl:1:/nope:root@pam:Administrator:\n", 1, "ACL path"),
        (
            &format!("{user}acl:1:/:alice@pve:Ghost:\n"),
            2,
            "role Ghost",
        ),
        ("acl:1:/:@ghosts:PVEAuditor:\n", 1, "@ghosts"),
        ("acl:1:/:root@pam::\n", 1, "needs"),
    ] {
        match parse_user_cfg(text) {
            Err(e) => {
                assert_eq!(e.line, line, "{text:?}: {e}");
                assert!(e.to_string().contains(needle), "{text:?}: {e}");
            }
            Ok(_) => panic!("{text:?} was accepted"),
        }
    }
}

fn arb_text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

prop_compose! {
    fn arb_cfg()(
        users in proptest::collection::btree_map("[a-z][a-z0-9.]{0,6}", (any::<bool>(), 0u64..3_000_000_000, arb_text(), arb_text(), "[a-z@.]{0,10}"), 0..5),
        groups in proptest::collection::btree_map("[a-z][a-z0-9_-]{0,6}", (proptest::collection::vec(any::<prop::sample::Index>(), 0..4), arb_text()), 0..4),
        pools in proptest::collection::btree_map("[a-z]{1,4}(/[a-z]{1,3})?", (arb_text(), proptest::collection::btree_set(100u32..120, 0..4), proptest::collection::btree_set("[a-z][a-z0-9-]{0,5}[a-z0-9]", 0..3)), 0..4),
        roles in proptest::collection::btree_map("[A-Z][a-zA-Z]{0,8}", any::<u64>(), 0..3),
        tokens in proptest::collection::vec((any::<prop::sample::Index>(), "[a-z][a-z0-9]{0,5}", 0u64..5_000, any::<bool>(), arb_text()), 0..4),
        acls in proptest::collection::vec((prop::sample::select(vec!["/", "/vms", "/vms/100", "/pool/a", "/storage/local", "/nodes/n1"]), any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>()), 0..8),
    ) -> UserCfg {
        let mut cfg = UserCfg::new();
        for (name, (enable, expire, first, comment, email)) in users {
            let id: Userid = format!("{name}@pve").parse().expect("generated id");
            cfg.users.insert(id, User { enable, expire, firstname: first, comment, email, ..User::default() });
        }
        let user_ids: Vec<Userid> = cfg.users.keys().cloned().collect();
        for (name, (members, comment)) in groups {
            let members = members.iter().map(|i| user_ids[i.index(user_ids.len())].clone()).collect();
            cfg.groups.insert(name.parse().expect("generated id"), Group { members, comment });
        }
        let mut used = BTreeSet::new();
        for (name, (comment, vms, storage)) in pools {
            let vms = vms.into_iter().filter(|v| used.insert(*v)).map(|v| VmId::try_from(v).expect("vmid")).collect();
            if let Ok(id) = name.parse::<PoolId>() {
                cfg.pools.insert(id, Pool { comment, vms, storage });
            }
        }
        for (name, bits) in roles {
            if let Ok(id) = name.parse::<RoleId>() {
                let privs = P::ALL.iter().copied().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, p)| p).collect();
                let _ = cfg.roles.set_custom(id, privs);
            }
        }
        for (owner, name, expire, privsep, comment) in tokens {
            let user = user_ids[owner.index(user_ids.len())].clone();
            let id = Authid::token(user, name.parse().expect("generated name"));
            cfg.tokens.insert(id, TokenInfo { expire, privsep, comment });
        }
        let mut subjects: Vec<AclSubject> = user_ids.iter().cloned().map(AclSubject::User).collect();
        subjects.extend(cfg.groups.keys().cloned().map(AclSubject::Group));
        subjects.extend(cfg.tokens.keys().cloned().map(AclSubject::Token));
        let role_names: Vec<RoleId> = cfg.roles.all().into_iter().map(|(n, _, _)| n.parse().expect("role")).collect();
        for (path, subject, role, propagate) in acls {
            cfg.acl.set(path.parse().expect("path"), subjects[subject.index(subjects.len())].clone(), role_names[role.index(role_names.len())].clone(), propagate);
        }
        cfg
    }
}

proptest! {
    #[test]
    fn user_cfg_round_trips(cfg in arb_cfg()) {
        let text = cfg.write();
        let back = parse_user_cfg(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, cfg);
    }

    #[test]
    fn parse_never_panics(text in "(\\PC{0,60}\n){0,6}") {
        let _ = parse_user_cfg(&text);
    }
}
