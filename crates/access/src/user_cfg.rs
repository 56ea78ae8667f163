//! The contents of `user.cfg` (users, tokens, groups, pools, custom roles, ACLs) and its writer.
//!
//! Proxmox's line format, one object per line, fields separated by ':' and ended by ':':
//! ```text
//! user:alice@pve:1:0:Alice:Liddell:alice@example.com:team%20lead::
//! token:alice@pve!ci:0:1:CI runner:
//! group:devs:alice@pve,bob@pve:Developers:
//! pool:team-a:Team A:100,101:local:
//! role:Operator:VM.Audit,VM.PowerMgmt:
//! acl:1:/pool/team-a:@devs,alice@pve!ci:PVEVMUser:
//! ```
//! Parsing is in `user_cfg_parse.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use brigade_core::VmId;

use crate::acl::{Acl, AclSubject};
use crate::acl_path::AclPath;
use crate::roles::Roles;
use crate::text_codec::encode;
use crate::token::TokenInfo;
use crate::userid::{Authid, GroupId, IdError, Userid};

/// One user (`user:` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub enable: bool,
    /// Seconds since the epoch after which the user may no longer log in; 0 for never.
    pub expire: u64,
    pub firstname: String,
    pub lastname: String,
    pub email: String,
    pub comment: String,
    /// Proxmox's legacy second-factor field (`x` when the factors live in priv/tfa.cfg).
    pub keys: String,
}

impl Default for User {
    fn default() -> Self {
        User {
            enable: true,
            expire: 0,
            firstname: String::new(),
            lastname: String::new(),
            email: String::new(),
            comment: String::new(),
            keys: String::new(),
        }
    }
}

/// One group (`group:` line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub members: BTreeSet<Userid>,
    pub comment: String,
}

/// A resource pool id: up to three levels `a/b/c` of letters, digits, '.', '-', '_'.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolId {
    id: String,
    path: AclPath,
}

impl PoolId {
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// Its ACL path `/pool/{id}`.
    pub fn acl_path(&self) -> &AclPath {
        &self.path
    }
}

impl std::str::FromStr for PoolId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let shape_ok =
            !s.is_empty() && !s.starts_with('/') && !s.ends_with('/') && !s.contains("//");
        match AclPath::pool(s) {
            Ok(path) if shape_ok => Ok(PoolId {
                id: s.to_string(),
                path,
            }),
            _ => Err(IdError {
                kind: "pool id",
                value: s.to_string(),
                reason: "use up to 3 levels a/b/c of letters, digits, '.', '-', '_'",
            }),
        }
    }
}

impl std::fmt::Display for PoolId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

/// Whether `s` is a storage id as Proxmox accepts in pools (`local`, `ceph-pool.1`).
pub fn is_storage_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// One resource pool (`pool:` line): guests and storages a team can be given together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    pub comment: String,
    pub vms: BTreeSet<VmId>,
    pub storage: BTreeSet<String>,
}

/// Everything user.cfg holds. `root@pam` always exists, as in Proxmox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCfg {
    pub users: BTreeMap<Userid, User>,
    /// Keyed by the full token id `user@realm!name`.
    pub tokens: BTreeMap<Authid, TokenInfo>,
    pub groups: BTreeMap<GroupId, Group>,
    pub pools: BTreeMap<PoolId, Pool>,
    pub roles: Roles,
    pub acl: Acl,
}

impl Default for UserCfg {
    fn default() -> Self {
        UserCfg::new()
    }
}

impl UserCfg {
    /// An empty configuration with root@pam.
    pub fn new() -> UserCfg {
        UserCfg {
            users: BTreeMap::from([(Userid::root(), User::default())]),
            tokens: BTreeMap::new(),
            groups: BTreeMap::new(),
            pools: BTreeMap::new(),
            roles: Roles::default(),
            acl: Acl::default(),
        }
    }

    /// The groups a user belongs to.
    pub fn groups_of(&self, user: &Userid) -> BTreeSet<GroupId> {
        self.groups
            .iter()
            .filter(|(_, g)| g.members.contains(user))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The pool a guest belongs to (a guest is in at most one pool).
    pub fn pool_of_vm(&self, vmid: VmId) -> Option<&PoolId> {
        self.pools
            .iter()
            .find(|(_, p)| p.vms.contains(&vmid))
            .map(|(id, _)| id)
    }

    /// The pools that hold a storage.
    pub fn pools_of_storage(&self, storage: &str) -> Vec<&PoolId> {
        self.pools
            .iter()
            .filter(|(_, p)| p.storage.contains(storage))
            .map(|(id, _)| id)
            .collect()
    }

    /// Deletes a user with its tokens, group memberships and ACL entries (as Proxmox does).
    pub fn remove_user(&mut self, user: &Userid) {
        self.users.remove(user);
        let tokens: Vec<Authid> = self
            .tokens
            .keys()
            .filter(|t| &t.user == user)
            .cloned()
            .collect();
        for t in tokens {
            self.tokens.remove(&t);
            self.acl.remove_subject(&AclSubject::Token(t));
        }
        for g in self.groups.values_mut() {
            g.members.remove(user);
        }
        self.acl.remove_subject(&AclSubject::User(user.clone()));
    }

    /// Forgets a destroyed guest: its ACL entries and its pool membership.
    pub fn remove_vm(&mut self, vmid: VmId) {
        self.acl.remove_path(&AclPath::vm(vmid));
        for p in self.pools.values_mut() {
            p.vms.remove(&vmid);
        }
    }

    /// Writes user.cfg in Proxmox's order: users (each followed by its tokens), groups, pools,
    /// custom roles, ACLs (one line per path, propagate flag and role list).
    pub fn write(&self) -> String {
        let mut out = String::new();
        for (id, u) in &self.users {
            let _ = writeln!(
                out,
                "user:{id}:{}:{}:{}:{}:{}:{}:{}:",
                u8::from(u.enable),
                u.expire,
                encode(&u.firstname),
                encode(&u.lastname),
                encode(&u.email),
                encode(&u.comment),
                encode(&u.keys),
            );
            for (tid, t) in self.tokens.iter().filter(|(t, _)| &t.user == id) {
                let _ = writeln!(
                    out,
                    "token:{tid}:{}:{}:{}:",
                    t.expire,
                    u8::from(t.privsep),
                    encode(&t.comment)
                );
            }
        }
        out.push('\n');
        for (id, g) in &self.groups {
            let members: Vec<String> = g.members.iter().map(Userid::to_string).collect();
            let _ = writeln!(
                out,
                "group:{id}:{}:{}:",
                members.join(","),
                encode(&g.comment)
            );
        }
        out.push('\n');
        for (id, p) in &self.pools {
            let vms: Vec<String> = p.vms.iter().map(VmId::to_string).collect();
            let storage: Vec<&str> = p.storage.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "pool:{id}:{}:{}:{}:",
                encode(&p.comment),
                vms.join(","),
                storage.join(",")
            );
        }
        out.push('\n');
        for (id, privs) in self.roles.custom() {
            let _ = writeln!(out, "role:{id}:{privs}:");
        }
        out.push('\n');
        self.write_acl(&mut out);
        out
    }

    fn write_acl(&self, out: &mut String) {
        for path in self.acl.paths() {
            let Some(subjects) = self.acl.on_path(path) else {
                continue;
            };
            // (propagate, role list) -> subjects, so that subjects sharing roles share a line.
            let mut lines: BTreeMap<(bool, String), Vec<String>> = BTreeMap::new();
            for (subject, roles) in subjects {
                for propagate in [false, true] {
                    let list: Vec<&str> = roles
                        .iter()
                        .filter(|(_, p)| **p == propagate)
                        .map(|(r, _)| r.as_str())
                        .collect();
                    if !list.is_empty() {
                        lines
                            .entry((propagate, list.join(",")))
                            .or_default()
                            .push(subject.to_string());
                    }
                }
            }
            for ((propagate, roles), subjects) in lines {
                let _ = writeln!(
                    out,
                    "acl:{}:{path}:{}:{roles}:",
                    u8::from(propagate),
                    subjects.join(",")
                );
            }
        }
    }
}
