//! ACLs (`/access/acl`): listed where the caller may change them; changed only within what
//! the caller holds itself (`grant::check_acl_change`).

use brigade_access::grant::{self, acl_modify_privileges, AclChange};
use brigade_access::{AclPath, AclSubject, Authid, Permissions, Privilege, RoleId, UserCfg};
use brigade_api::access::{AclEntry, AclUpdate};

use super::{effective_caller, grant_error, modify, now, parse_id, parse_list, read_user_cfg};
use crate::error::NodeError;
use crate::node::Node;

fn entry(e: brigade_access::AclEntry) -> AclEntry {
    let (kind, ugid) = match &e.subject {
        AclSubject::User(u) => ("user", u.to_string()),
        AclSubject::Group(g) => ("group", g.to_string()),
        AclSubject::Token(t) => ("token", t.to_string()),
    };
    AclEntry {
        path: e.path.to_string(),
        ugid,
        kind: kind.into(),
        roleid: e.role.to_string(),
        propagate: e.propagate,
    }
}

/// The entries on paths where the caller may change ACLs or audit them.
pub fn list(node: &Node, auth: &Authid) -> Result<Vec<AclEntry>, NodeError> {
    let cfg = read_user_cfg(node)?;
    let auth = effective_caller(&cfg, auth);
    let perms = Permissions::new(&cfg, now());
    Ok(cfg
        .acl
        .entries()
        .into_iter()
        .filter(|e| {
            let mut privs = acl_modify_privileges(&e.path);
            privs.push(Privilege::SysAudit);
            perms.check_any(&auth, &e.path, &privs).is_ok()
        })
        .map(entry)
        .collect())
}

fn subjects(cfg: &UserCfg, req: &AclUpdate) -> Result<Vec<AclSubject>, NodeError> {
    let mut out = Vec::new();
    for u in parse_list::<brigade_access::Userid>("user", req.users.as_deref().unwrap_or(""))? {
        if !cfg.users.contains_key(&u) {
            return Err(NodeError::Invalid(format!("user {u} does not exist")));
        }
        out.push(AclSubject::User(u));
    }
    for g in parse_list::<brigade_access::GroupId>("group", req.groups.as_deref().unwrap_or(""))? {
        if !cfg.groups.contains_key(&g) {
            return Err(NodeError::Invalid(format!("group {g} does not exist")));
        }
        out.push(AclSubject::Group(g));
    }
    for t in parse_list::<Authid>("token", req.tokens.as_deref().unwrap_or(""))? {
        if !t.is_token() || !cfg.tokens.contains_key(&t) {
            return Err(NodeError::Invalid(format!("API token {t} does not exist")));
        }
        out.push(AclSubject::Token(t));
    }
    if out.is_empty() {
        return Err(NodeError::Invalid(
            "name at least one of users, groups or tokens".into(),
        ));
    }
    Ok(out)
}

pub async fn update(node: &Node, auth: &Authid, req: AclUpdate) -> Result<(), NodeError> {
    let path: AclPath = parse_id("ACL path", &req.path)?;
    let roles: Vec<RoleId> = parse_list("role", &req.roles)?;
    if roles.is_empty() {
        return Err(NodeError::Invalid(
            "roles is required (comma-separated)".into(),
        ));
    }
    let propagate = req.propagate.unwrap_or(true);
    let delete = req.delete.unwrap_or(false);
    modify(node, |f| {
        let caller = effective_caller(&f.user, auth);
        let perms = Permissions::new(&f.user, now());
        let change = AclChange {
            path: &path,
            roles: &roles,
            propagate,
            delete,
        };
        grant::check_acl_change(&perms, &f.user, &caller, change).map_err(grant_error)?;
        let subjects = subjects(&f.user, &req)?;
        for s in subjects {
            for r in &roles {
                if delete {
                    f.user.acl.remove(&path, &s, r);
                } else {
                    f.user
                        .acl
                        .set(path.clone(), s.clone(), r.clone(), propagate);
                }
            }
        }
        Ok(())
    })
    .await
}
