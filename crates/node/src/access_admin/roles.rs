//! Roles (`/access/roles`): every caller may read them; custom roles need `Sys.Modify` on
//! /access to change; built-in roles are read-only.

use brigade_access::roles::is_builtin;
use brigade_access::{AclPath, Authid, Permissions, PrivSet, Privilege, RoleId, UserCfg};
use brigade_api::access::{RoleEntry, RoleRequest};

use super::{effective_caller, forbidden, modify, now, parse_id, read_user_cfg};
use crate::error::NodeError;
use crate::node::Node;

fn entry(name: &str, privs: PrivSet, special: bool) -> RoleEntry {
    RoleEntry {
        roleid: name.to_string(),
        privs: privs.to_string(),
        special,
    }
}

fn check_modify(cfg: &UserCfg, auth: &Authid) -> Result<(), NodeError> {
    let auth = effective_caller(cfg, auth);
    let access: AclPath = "/access".parse().map_err(NodeError::internal)?;
    Permissions::new(cfg, now())
        .check(&auth, &access, Privilege::SysModify)
        .map_err(forbidden)
}

fn privs(text: &str) -> Result<PrivSet, NodeError> {
    PrivSet::parse_list(text).map_err(|e| NodeError::Invalid(format!("privs: {e}")))
}

fn builtin_refused(id: &RoleId) -> Result<(), NodeError> {
    if is_builtin(id.as_str()) {
        return Err(NodeError::Invalid(format!(
            "role {id} is built in and cannot be changed (make a custom role)"
        )));
    }
    Ok(())
}

pub fn list(node: &Node) -> Result<Vec<RoleEntry>, NodeError> {
    let cfg = read_user_cfg(node)?;
    Ok(cfg
        .roles
        .all()
        .into_iter()
        .map(|(n, p, special)| entry(&n, p, special))
        .collect())
}

pub fn get(node: &Node, roleid: &str) -> Result<RoleEntry, NodeError> {
    let id: RoleId = parse_id("role id", roleid)?;
    let cfg = read_user_cfg(node)?;
    cfg.roles
        .privileges(&id)
        .map(|p| entry(id.as_str(), p, is_builtin(id.as_str())))
        .ok_or_else(|| NodeError::NotFound(format!("role {id} does not exist")))
}

pub async fn create(node: &Node, auth: &Authid, req: RoleRequest) -> Result<RoleEntry, NodeError> {
    let roleid = req
        .roleid
        .as_deref()
        .ok_or_else(|| NodeError::Invalid("roleid is required: the new role's id".into()))?;
    let id: RoleId = parse_id("role id", roleid)?;
    builtin_refused(&id)?;
    let set = privs(req.privs.as_deref().unwrap_or(""))?;
    modify(node, |f| {
        check_modify(&f.user, auth)?;
        if f.user.roles.exists(&id) {
            return Err(NodeError::Conflict(format!("role {id} already exists")));
        }
        f.user
            .roles
            .set_custom(id.clone(), set)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        Ok(entry(id.as_str(), set, false))
    })
    .await
}

pub async fn update(
    node: &Node,
    auth: &Authid,
    roleid: &str,
    req: RoleRequest,
) -> Result<RoleEntry, NodeError> {
    let id: RoleId = parse_id("role id", roleid)?;
    builtin_refused(&id)?;
    let given = req.privs.as_deref().map(privs).transpose()?;
    modify(node, |f| {
        check_modify(&f.user, auth)?;
        let old = f
            .user
            .roles
            .custom()
            .get(&id)
            .copied()
            .ok_or_else(|| NodeError::NotFound(format!("role {id} does not exist")))?;
        let new = match given {
            Some(p) if req.append.unwrap_or(false) => old.union(p),
            Some(p) => p,
            None => old,
        };
        f.user
            .roles
            .set_custom(id.clone(), new)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        Ok(entry(id.as_str(), new, false))
    })
    .await
}

pub async fn delete(node: &Node, auth: &Authid, roleid: &str) -> Result<(), NodeError> {
    let id: RoleId = parse_id("role id", roleid)?;
    builtin_refused(&id)?;
    modify(node, |f| {
        check_modify(&f.user, auth)?;
        f.user
            .roles
            .remove_custom(&id)
            .map_err(|_| NodeError::NotFound(format!("role {id} does not exist")))?;
        // As Proxmox: the ACL entries giving the role go with it.
        for e in f.user.acl.entries() {
            if e.role == id {
                f.user.acl.remove(&e.path, &e.subject, &e.role);
            }
        }
        Ok(())
    })
    .await
}
