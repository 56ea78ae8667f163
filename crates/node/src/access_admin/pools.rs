//! Resource pools (`/pools`): listed by `Pool.Audit`, changed with `Pool.Allocate` on
//! /pool/{id}; adding or removing a guest also needs `VM.Allocate` on it, a storage
//! `Datastore.Allocate` on it.

use std::collections::BTreeSet;

use brigade_access::{AclPath, Authid, Permissions, Pool, PoolId, Privilege, UserCfg};
use brigade_api::access::{PoolEntry, PoolRequest};
use brigade_core::{layout, VmId};

use super::{effective_caller, forbidden, modify, now, parse_id, parse_list, read_user_cfg};
use crate::error::NodeError;
use crate::node::{cfs_path, Node};

fn entry(id: &PoolId, p: &Pool) -> PoolEntry {
    PoolEntry {
        poolid: id.to_string(),
        comment: p.comment.clone(),
        vms: p.vms.iter().map(|v| v.get()).collect(),
        storage: p.storage.iter().cloned().collect(),
    }
}

fn not_found(id: &PoolId) -> NodeError {
    NodeError::NotFound(format!("pool {id} does not exist"))
}

fn check(cfg: &UserCfg, auth: &Authid, path: &AclPath, p: Privilege) -> Result<(), NodeError> {
    let auth = effective_caller(cfg, auth);
    Permissions::new(cfg, now())
        .check(&auth, path, p)
        .map_err(forbidden)
}

fn may_audit(cfg: &UserCfg, auth: &Authid, id: &PoolId) -> bool {
    check(cfg, auth, id.acl_path(), Privilege::PoolAudit).is_ok()
}

pub fn list(node: &Node, auth: &Authid) -> Result<Vec<PoolEntry>, NodeError> {
    let cfg = read_user_cfg(node)?;
    Ok(cfg
        .pools
        .iter()
        .filter(|(id, _)| may_audit(&cfg, auth, id))
        .map(|(id, p)| entry(id, p))
        .collect())
}

pub fn get(node: &Node, auth: &Authid, poolid: &str) -> Result<PoolEntry, NodeError> {
    let id: PoolId = parse_id("pool id", poolid)?;
    let cfg = read_user_cfg(node)?;
    match cfg.pools.get(&id) {
        Some(p) if may_audit(&cfg, auth, &id) => Ok(entry(&id, p)),
        _ => Err(not_found(&id)),
    }
}

/// The guests whose configs are in the tree.
fn guests(node: &Node) -> Result<BTreeSet<VmId>, NodeError> {
    let rt = node.require_cluster()?;
    Ok(rt
        .cfs
        .dump(&cfs_path(layout::NODES_DIR)?)
        .keys()
        .filter_map(|p| layout::parse_guest_config_path(p))
        .filter_map(|g| VmId::try_from(g.vmid).ok())
        .collect())
}

struct Members {
    vms: Vec<VmId>,
    storage: Vec<String>,
}

fn members(node: &Node, req: &PoolRequest, adding: bool) -> Result<Members, NodeError> {
    let vms: Vec<VmId> = parse_list("guest id", req.vms.as_deref().unwrap_or(""))?;
    let storage: Vec<String> = req
        .storage
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if adding {
        if !vms.is_empty() {
            let known = guests(node)?;
            if let Some(v) = vms.iter().find(|v| !known.contains(v)) {
                return Err(NodeError::Invalid(format!("guest {v} does not exist")));
            }
        }
        if !storage.is_empty() {
            let known: BTreeSet<String> = node.storage_list()?.into_iter().map(|s| s.id).collect();
            if let Some(s) = storage.iter().find(|s| !known.contains(*s)) {
                return Err(NodeError::Invalid(format!("storage {s} does not exist")));
            }
        }
    }
    Ok(Members { vms, storage })
}

fn apply_members(
    f_user: &mut UserCfg,
    auth: &Authid,
    id: &PoolId,
    m: &Members,
    delete: bool,
) -> Result<(), NodeError> {
    for v in &m.vms {
        check(f_user, auth, &AclPath::vm(*v), Privilege::VmAllocate)?;
        if !delete {
            if let Some(other) = f_user.pool_of_vm(*v).filter(|p| *p != id) {
                return Err(NodeError::Conflict(format!(
                    "guest {v} is already in pool {other}; remove it there first"
                )));
            }
        }
    }
    for s in &m.storage {
        let path = AclPath::storage(s)
            .map_err(|e| NodeError::Invalid(format!("storage {s:?}: {}", e.0)))?;
        check(f_user, auth, &path, Privilege::DatastoreAllocate)?;
    }
    let pool = f_user.pools.get_mut(id).ok_or_else(|| not_found(id))?;
    for v in &m.vms {
        if delete {
            pool.vms.remove(v);
        } else {
            pool.vms.insert(*v);
        }
    }
    for s in &m.storage {
        if delete {
            pool.storage.remove(s);
        } else {
            pool.storage.insert(s.clone());
        }
    }
    Ok(())
}

pub async fn create(node: &Node, auth: &Authid, req: PoolRequest) -> Result<PoolEntry, NodeError> {
    let poolid = req
        .poolid
        .as_deref()
        .ok_or_else(|| NodeError::Invalid("poolid is required: the new pool's id".into()))?;
    let id: PoolId = parse_id("pool id", poolid)?;
    let m = members(node, &req, true)?;
    modify(node, |f| {
        check(&f.user, auth, id.acl_path(), Privilege::PoolAllocate)?;
        if f.user.pools.contains_key(&id) {
            return Err(NodeError::Conflict(format!("pool {id} already exists")));
        }
        f.user.pools.insert(
            id.clone(),
            Pool {
                comment: req.comment.clone().unwrap_or_default(),
                ..Pool::default()
            },
        );
        apply_members(&mut f.user, auth, &id, &m, false)?;
        let p = f.user.pools.get(&id).ok_or_else(|| not_found(&id))?;
        Ok(entry(&id, p))
    })
    .await
}

pub async fn update(
    node: &Node,
    auth: &Authid,
    poolid: &str,
    req: PoolRequest,
) -> Result<PoolEntry, NodeError> {
    let id: PoolId = parse_id("pool id", poolid)?;
    if req.poolid.as_deref().is_some_and(|p| p != poolid) {
        return Err(NodeError::Invalid("a pool's id cannot change".into()));
    }
    let delete = req.delete.unwrap_or(false);
    let m = members(node, &req, !delete)?;
    modify(node, |f| {
        if !f.user.pools.contains_key(&id) {
            return Err(not_found(&id));
        }
        check(&f.user, auth, id.acl_path(), Privilege::PoolAllocate)?;
        apply_members(&mut f.user, auth, &id, &m, delete)?;
        let p = f.user.pools.get_mut(&id).ok_or_else(|| not_found(&id))?;
        if let Some(c) = &req.comment {
            p.comment.clone_from(c);
        }
        Ok(entry(&id, p))
    })
    .await
}

pub async fn delete(node: &Node, auth: &Authid, poolid: &str) -> Result<(), NodeError> {
    let id: PoolId = parse_id("pool id", poolid)?;
    modify(node, |f| {
        let p = f.user.pools.get(&id).ok_or_else(|| not_found(&id))?;
        check(&f.user, auth, id.acl_path(), Privilege::PoolAllocate)?;
        if !p.vms.is_empty() || !p.storage.is_empty() {
            return Err(NodeError::Conflict(format!(
                "pool {id} is not empty: remove its guests and storages first (brigade pool modify {id} --delete --vms ... --storage ...)"
            )));
        }
        f.user.pools.remove(&id);
        f.user.acl.remove_path(id.acl_path());
        Ok(())
    })
    .await
}
