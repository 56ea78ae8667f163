//! Groups (`/access/groups`): `Group.Allocate` on /access/groups to change them; a group
//! is listed to callers with `Sys.Audit` or `Group.Allocate` on it.

use brigade_access::{
    AclPath, AclSubject, Authid, Group, GroupId, Permissions, Privilege, UserCfg,
};
use brigade_api::access::{GroupEntry, GroupRequest};

use super::{effective_caller, forbidden, modify, now, parse_id, read_user_cfg};
use crate::error::NodeError;
use crate::node::Node;

fn entry(id: &GroupId, g: &Group) -> GroupEntry {
    GroupEntry {
        groupid: id.to_string(),
        comment: g.comment.clone(),
        members: g.members.iter().map(ToString::to_string).collect(),
    }
}

const READ: &[Privilege] = &[Privilege::SysAudit, Privilege::GroupAllocate];

fn may_read(cfg: &UserCfg, auth: &Authid, id: &GroupId) -> bool {
    let auth = effective_caller(cfg, auth);
    Permissions::new(cfg, now())
        .check_any(&auth, &AclPath::access_group(id), READ)
        .is_ok()
}

fn check_allocate(cfg: &UserCfg, auth: &Authid) -> Result<(), NodeError> {
    let auth = effective_caller(cfg, auth);
    Permissions::new(cfg, now())
        .check(&auth, &AclPath::access_groups(), Privilege::GroupAllocate)
        .map_err(forbidden)
}

fn not_found(id: &GroupId) -> NodeError {
    NodeError::NotFound(format!("group {id} does not exist"))
}

pub fn list(node: &Node, auth: &Authid) -> Result<Vec<GroupEntry>, NodeError> {
    let cfg = read_user_cfg(node)?;
    Ok(cfg
        .groups
        .iter()
        .filter(|(id, _)| may_read(&cfg, auth, id))
        .map(|(id, g)| entry(id, g))
        .collect())
}

pub fn get(node: &Node, auth: &Authid, groupid: &str) -> Result<GroupEntry, NodeError> {
    let id: GroupId = parse_id("group id", groupid)?;
    let cfg = read_user_cfg(node)?;
    match cfg.groups.get(&id) {
        Some(g) if may_read(&cfg, auth, &id) => Ok(entry(&id, g)),
        _ => Err(not_found(&id)),
    }
}

pub async fn create(
    node: &Node,
    auth: &Authid,
    req: GroupRequest,
) -> Result<GroupEntry, NodeError> {
    let groupid = req
        .groupid
        .as_deref()
        .ok_or_else(|| NodeError::Invalid("groupid is required: the new group's id".into()))?;
    let id: GroupId = parse_id("group id", groupid)?;
    modify(node, |f| {
        check_allocate(&f.user, auth)?;
        if f.user.groups.contains_key(&id) {
            return Err(NodeError::Conflict(format!("group {id} already exists")));
        }
        let g = Group {
            members: std::collections::BTreeSet::default(),
            comment: req.comment.clone().unwrap_or_default(),
        };
        f.user.groups.insert(id.clone(), g.clone());
        Ok(entry(&id, &g))
    })
    .await
}

pub async fn update(
    node: &Node,
    auth: &Authid,
    groupid: &str,
    req: GroupRequest,
) -> Result<GroupEntry, NodeError> {
    let id: GroupId = parse_id("group id", groupid)?;
    if req.groupid.as_deref().is_some_and(|g| g != groupid) {
        return Err(NodeError::Invalid("a group's id cannot change".into()));
    }
    modify(node, |f| {
        check_allocate(&f.user, auth)?;
        let g = f.user.groups.get_mut(&id).ok_or_else(|| not_found(&id))?;
        if let Some(c) = &req.comment {
            g.comment.clone_from(c);
        }
        Ok(entry(&id, g))
    })
    .await
}

pub async fn delete(node: &Node, auth: &Authid, groupid: &str) -> Result<(), NodeError> {
    let id: GroupId = parse_id("group id", groupid)?;
    modify(node, |f| {
        check_allocate(&f.user, auth)?;
        if f.user.groups.remove(&id).is_none() {
            return Err(not_found(&id));
        }
        // As Proxmox: the group's ACL entries go with it.
        f.user.acl.remove_subject(&AclSubject::Group(id.clone()));
        Ok(())
    })
    .await
}
