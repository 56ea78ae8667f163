//! Parses `user.cfg`, refusing bad lines with their line number (nothing is half-applied).
//!
//! Lines may come in any order: references (group members, token owners, ACL roles and
//! subjects) are checked once the whole file is read, against the objects it defines.

use std::collections::BTreeSet;

use brigade_core::VmId;

use crate::acl::AclSubject;
use crate::acl_path::AclPath;
use crate::privileges::PrivSet;
use crate::roles::is_builtin;
use crate::text_codec::decode;
use crate::token::TokenInfo;
use crate::user_cfg::{is_storage_id, Group, Pool, PoolId, User, UserCfg};
use crate::userid::{Authid, GroupId, RoleId, Userid};

/// A user.cfg that cannot be read, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user.cfg line {line}: {reason}")]
pub struct UserCfgError {
    pub line: usize,
    pub reason: String,
}

fn err(line: usize, reason: impl Into<String>) -> UserCfgError {
    UserCfgError {
        line,
        reason: reason.into(),
    }
}

/// Fields after the kind; missing trailing ones are empty (Proxmox drops empty trailing fields).
struct Fields<'a> {
    line: usize,
    fields: Vec<&'a str>,
}

impl<'a> Fields<'a> {
    fn new(line: usize, rest: &'a str, max: usize, kind: &str) -> Result<Self, UserCfgError> {
        let mut fields: Vec<&str> = rest.split(':').map(str::trim).collect();
        while fields.last().is_some_and(|f| f.is_empty()) {
            fields.pop();
        }
        if fields.len() > max {
            return Err(err(
                line,
                format!("too many fields for a {kind} line (at most {max})"),
            ));
        }
        fields.resize(max, "");
        Ok(Fields { line, fields })
    }

    fn get(&self, i: usize) -> &'a str {
        self.fields.get(i).copied().unwrap_or("")
    }

    fn text(&self, i: usize, what: &str) -> Result<String, UserCfgError> {
        decode(self.get(i)).map_err(|e| err(self.line, format!("{what}: {e}")))
    }

    fn flag(&self, i: usize, what: &str) -> Result<bool, UserCfgError> {
        match self.get(i) {
            "" | "0" => Ok(false),
            "1" => Ok(true),
            other => Err(err(
                self.line,
                format!("{what} must be 0 or 1, not {other:?}"),
            )),
        }
    }

    fn number(&self, i: usize, what: &str) -> Result<u64, UserCfgError> {
        match self.get(i) {
            "" => Ok(0),
            s => s.parse().map_err(|_| {
                err(
                    self.line,
                    format!("{what} must be seconds since the epoch, not {s:?}"),
                )
            }),
        }
    }

    fn id<T: std::str::FromStr<Err = E>, E: std::fmt::Display>(
        &self,
        i: usize,
    ) -> Result<T, UserCfgError> {
        self.get(i)
            .parse()
            .map_err(|e: E| err(self.line, e.to_string()))
    }

    fn list(&self, i: usize) -> impl Iterator<Item = &'a str> {
        self.get(i)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// References to check once every object is known.
#[derive(Default)]
struct Pending {
    members: Vec<(usize, GroupId, Userid)>,
    token_owners: Vec<(usize, Authid)>,
    acl: Vec<(usize, AclPath, AclSubject, RoleId, bool)>,
}

/// Parses user.cfg; root@pam is added if missing.
pub fn parse_user_cfg(text: &str) -> Result<UserCfg, UserCfgError> {
    let mut cfg = UserCfg::new();
    let mut seen_users: BTreeSet<Userid> = BTreeSet::new();
    let mut pending = Pending::default();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, rest) = line
            .split_once(':')
            .ok_or_else(|| err(n, "expected kind:fields:..."))?;
        match kind {
            "user" => {
                let f = Fields::new(n, rest, 8, kind)?;
                let id: Userid = f.id(0)?;
                if !seen_users.insert(id.clone()) {
                    return Err(err(n, format!("user {id} is defined twice")));
                }
                let user = User {
                    enable: f.flag(1, "enable")?,
                    expire: f.number(2, "expire")?,
                    firstname: f.text(3, "firstname")?,
                    lastname: f.text(4, "lastname")?,
                    email: f.text(5, "email")?,
                    comment: f.text(6, "comment")?,
                    keys: f.text(7, "keys")?,
                };
                cfg.users.insert(id, user);
            }
            "token" => {
                let f = Fields::new(n, rest, 4, kind)?;
                let id: Authid = f.id(0)?;
                if !id.is_token() {
                    return Err(err(n, format!("{id} is not a token id (user@realm!name)")));
                }
                let info = TokenInfo {
                    expire: f.number(1, "expire")?,
                    privsep: f.flag(2, "privsep")?,
                    comment: f.text(3, "comment")?,
                };
                if cfg.tokens.insert(id.clone(), info).is_some() {
                    return Err(err(n, format!("token {id} is defined twice")));
                }
                pending.token_owners.push((n, id));
            }
            "group" => {
                let f = Fields::new(n, rest, 3, kind)?;
                let id: GroupId = f.id(0)?;
                let mut group = Group {
                    comment: f.text(2, "comment")?,
                    ..Group::default()
                };
                for m in f.list(1) {
                    let user: Userid = m.parse().map_err(|e| err(n, format!("member: {e}")))?;
                    pending.members.push((n, id.clone(), user.clone()));
                    group.members.insert(user);
                }
                if cfg.groups.insert(id.clone(), group).is_some() {
                    return Err(err(n, format!("group {id} is defined twice")));
                }
            }
            "role" => {
                let f = Fields::new(n, rest, 2, kind)?;
                let id: RoleId = f.id(0)?;
                if is_builtin(id.as_str()) {
                    return Err(err(
                        n,
                        format!("role {id} is built in and cannot be redefined"),
                    ));
                }
                let privs = PrivSet::parse_list(f.get(1)).map_err(|e| err(n, e.to_string()))?;
                if cfg.roles.custom().contains_key(&id) {
                    return Err(err(n, format!("role {id} is defined twice")));
                }
                cfg.roles
                    .set_custom(id, privs)
                    .map_err(|e| err(n, e.to_string()))?;
            }
            "pool" => {
                let f = Fields::new(n, rest, 4, kind)?;
                let id: PoolId = f.id(0)?;
                let mut pool = Pool {
                    comment: f.text(1, "comment")?,
                    ..Pool::default()
                };
                for v in f.list(2) {
                    let vmid: VmId = v.parse().map_err(|e| err(n, format!("{e}")))?;
                    if let Some(other) = cfg.pool_of_vm(vmid) {
                        return Err(err(n, format!("guest {vmid} is already in pool {other}")));
                    }
                    pool.vms.insert(vmid);
                }
                for s in f.list(3) {
                    if !is_storage_id(s) {
                        return Err(err(n, format!("invalid storage id {s:?}")));
                    }
                    pool.storage.insert(s.to_string());
                }
                if cfg.pools.insert(id.clone(), pool).is_some() {
                    return Err(err(n, format!("pool {id} is defined twice")));
                }
            }
            "acl" => {
                let f = Fields::new(n, rest, 4, kind)?;
                let propagate = f.flag(0, "propagate")?;
                let path: AclPath = f.id(1)?;
                let subjects: Vec<&str> = f.list(2).collect();
                let roles: Vec<&str> = f.list(3).collect();
                if subjects.is_empty() || roles.is_empty() {
                    return Err(err(n, "an acl line needs users/groups/tokens and roles"));
                }
                for s in &subjects {
                    let subject: AclSubject = s.parse().map_err(|e| err(n, format!("{e}")))?;
                    for r in &roles {
                        let role: RoleId = r.parse().map_err(|e| err(n, format!("{e}")))?;
                        pending
                            .acl
                            .push((n, path.clone(), subject.clone(), role, propagate));
                    }
                }
            }
            other => return Err(err(n, format!("unknown kind {other:?}"))),
        }
    }
    resolve(&mut cfg, pending)?;
    Ok(cfg)
}

fn resolve(cfg: &mut UserCfg, pending: Pending) -> Result<(), UserCfgError> {
    for (n, group, user) in pending.members {
        if !cfg.users.contains_key(&user) {
            return Err(err(n, format!("group {group}: user {user} does not exist")));
        }
    }
    for (n, token) in pending.token_owners {
        if !cfg.users.contains_key(&token.user) {
            return Err(err(
                n,
                format!("token {token}: user {} does not exist", token.user),
            ));
        }
    }
    for (n, path, subject, role, propagate) in pending.acl {
        let known = match &subject {
            AclSubject::User(u) => cfg.users.contains_key(u),
            AclSubject::Group(g) => cfg.groups.contains_key(g),
            AclSubject::Token(t) => cfg.tokens.contains_key(t),
        };
        if !known {
            return Err(err(n, format!("{subject} does not exist")));
        }
        if !cfg.roles.exists(&role) {
            return Err(err(n, format!("role {role} does not exist")));
        }
        cfg.acl.set(path, subject, role, propagate);
    }
    Ok(())
}

#[cfg(test)]
#[path = "user_cfg_tests.rs"]
mod tests;
