//! Users (`/access/users`) and passwords (`PUT /access/password`).

use brigade_access::domains_cfg::DomainsCfg;
use brigade_access::files::DOMAINS_CFG;
use brigade_access::grant;
use brigade_access::shadow::{hash_password, SALT_BYTES};
use brigade_access::userid::{REALM_PAM, REALM_PVE};
use brigade_access::{Authid, GroupId, Permissions, User, UserCfg, Userid};
use brigade_api::access::{PasswordChange, TokenEntry, UserCreate, UserEntry, UserUpdate};
use rand::RngCore;

use super::{effective_caller, grant_error, modify, now, parse_id, parse_list, read_user_cfg};
use crate::error::NodeError;
use crate::node::{cfs_path, Node};

/// A user as the API shows it.
pub fn entry(cfg: &UserCfg, id: &Userid, u: &User) -> UserEntry {
    UserEntry {
        userid: id.to_string(),
        enable: u.enable,
        expire: u.expire,
        firstname: u.firstname.clone(),
        lastname: u.lastname.clone(),
        email: u.email.clone(),
        comment: u.comment.clone(),
        groups: cfg.groups_of(id).iter().map(ToString::to_string).collect(),
        tokens: cfg
            .tokens
            .iter()
            .filter(|(t, _)| &t.user == id)
            .map(|(t, info)| super::tokens::entry(t, info))
            .collect::<Vec<TokenEntry>>(),
    }
}

fn not_found(id: &Userid) -> NodeError {
    NodeError::NotFound(format!("user {id} does not exist"))
}

/// The users the caller may see: those it may read, and always itself.
pub fn list(node: &Node, auth: &Authid) -> Result<Vec<UserEntry>, NodeError> {
    let cfg = read_user_cfg(node)?;
    let auth = effective_caller(&cfg, auth);
    let perms = Permissions::new(&cfg, now());
    Ok(cfg
        .users
        .iter()
        .filter(|(id, _)| {
            **id == auth.user || grant::check_user_read(&perms, &cfg, &auth, id).is_ok()
        })
        .map(|(id, u)| entry(&cfg, id, u))
        .collect())
}

pub fn get(node: &Node, auth: &Authid, userid: &str) -> Result<UserEntry, NodeError> {
    let id: Userid = parse_id("user id", userid)?;
    let cfg = read_user_cfg(node)?;
    let auth = effective_caller(&cfg, auth);
    let perms = Permissions::new(&cfg, now());
    let visible = id == auth.user || grant::check_user_read(&perms, &cfg, &auth, &id).is_ok();
    match cfg.users.get(&id) {
        Some(u) if visible => Ok(entry(&cfg, &id, u)),
        // A user the caller may not see answers like one that does not exist.
        _ => Err(not_found(&id)),
    }
}

/// The realms of domains.cfg (pam and pve when it does not exist).
pub fn domains(node: &Node) -> Result<DomainsCfg, NodeError> {
    let rt = node.require_cluster()?;
    match rt.cfs.read(&cfs_path(DOMAINS_CFG)?) {
        Ok(f) => DomainsCfg::parse(&String::from_utf8_lossy(&f.data)).map_err(|e| {
            NodeError::Conflict(format!("{DOMAINS_CFG} in the cluster tree is invalid: {e}"))
        }),
        Err(brigade_cfs::CfsError::NotFound { .. }) => Ok(DomainsCfg::default()),
        Err(e) => Err(e.into()),
    }
}

/// Hashes a new password on the blocking pool: argon2 is slow by design, and the API's
/// few async workers must keep serving (TLS handshakes included) meanwhile.
async fn new_hash(password: &str) -> Result<String, NodeError> {
    let mut salt = [0u8; SALT_BYTES];
    rand::thread_rng().fill_bytes(&mut salt);
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password, &salt))
        .await
        .map_err(NodeError::failed("hashing the password"))?
        .map_err(|e| NodeError::Invalid(e.to_string()))
}

fn set_groups(cfg: &mut UserCfg, id: &Userid, groups: &[GroupId], append: bool) {
    for (gid, g) in &mut cfg.groups {
        if groups.contains(gid) {
            g.members.insert(id.clone());
        } else if !append {
            g.members.remove(id);
        }
    }
}

fn check_groups_exist(cfg: &UserCfg, groups: &[GroupId]) -> Result<(), NodeError> {
    match groups.iter().find(|g| !cfg.groups.contains_key(*g)) {
        Some(g) => Err(NodeError::Invalid(format!("group {g} does not exist"))),
        None => Ok(()),
    }
}

/// What no caller may do to root@pam, not even root itself: remove it, disable it or give
/// it an expiry. It is the cluster's superuser, and the cluster's root token (which acts as
/// root@pam) would stop working with it, leaving the cluster with no administrator.
fn refuse_locking_out_root(id: &Userid, req: Option<&UserUpdate>) -> Result<(), NodeError> {
    if !id.is_root() {
        return Ok(());
    }
    let Some(req) = req else {
        return Err(NodeError::Invalid(format!(
            "{id} cannot be deleted: it is the cluster's superuser"
        )));
    };
    if req.enable == Some(false) || req.expire.is_some_and(|e| e != 0) {
        return Err(NodeError::Invalid(format!(
            "{id} cannot be disabled or given an expiry: it is the cluster's superuser (and the cluster's root token acts as it)"
        )));
    }
    Ok(())
}

pub async fn create(node: &Node, auth: &Authid, req: UserCreate) -> Result<UserEntry, NodeError> {
    let id: Userid = parse_id("user id", &req.userid)?;
    let groups: Vec<GroupId> = parse_list("group", req.groups.as_deref().unwrap_or(""))?;
    if domains(node)?.get(id.realm()).is_none() {
        return Err(NodeError::Invalid(format!(
            "realm {} does not exist (GET /access/domains lists the realms)",
            id.realm()
        )));
    }
    let hash = match &req.password {
        Some(_) if id.realm() != REALM_PVE => {
            return Err(NodeError::Invalid(format!(
                "a password can only be set for users of the pve realm; {} users log in with the node's account",
                id.realm()
            )))
        }
        Some(p) => Some(new_hash(p).await?),
        None => None,
    };
    modify(node, |f| {
        let caller = effective_caller(&f.user, auth);
        let perms = Permissions::new(&f.user, now());
        grant::check_user_create(&perms, &f.user, &caller, &id, &groups).map_err(grant_error)?;
        if f.user.users.contains_key(&id) {
            return Err(NodeError::Conflict(format!("user {id} already exists")));
        }
        check_groups_exist(&f.user, &groups)?;
        let user = User {
            enable: req.enable.unwrap_or(true),
            expire: req.expire.unwrap_or(0),
            firstname: req.firstname.clone().unwrap_or_default(),
            lastname: req.lastname.clone().unwrap_or_default(),
            email: req.email.clone().unwrap_or_default(),
            comment: req.comment.clone().unwrap_or_default(),
            keys: String::new(),
        };
        f.user.users.insert(id.clone(), user.clone());
        set_groups(&mut f.user, &id, &groups, true);
        if let Some(h) = &hash {
            f.shadow.hashes.insert(id.name().to_string(), h.clone());
        }
        Ok(entry(&f.user, &id, &user))
    })
    .await
}

pub async fn update(
    node: &Node,
    auth: &Authid,
    userid: &str,
    req: UserUpdate,
) -> Result<UserEntry, NodeError> {
    let id: Userid = parse_id("user id", userid)?;
    refuse_locking_out_root(&id, Some(&req))?;
    let groups: Option<Vec<GroupId>> = req
        .groups
        .as_deref()
        .map(|g| parse_list("group", g))
        .transpose()?;
    modify(node, |f| {
        let caller = effective_caller(&f.user, auth);
        let perms = Permissions::new(&f.user, now());
        if !f.user.users.contains_key(&id) {
            return Err(not_found(&id));
        }
        grant::check_user_update(&perms, &f.user, &caller, &id, groups.as_deref())
            .map_err(grant_error)?;
        if let Some(g) = &groups {
            check_groups_exist(&f.user, g)?;
            set_groups(&mut f.user, &id, g, req.append.unwrap_or(false));
        }
        let Some(u) = f.user.users.get_mut(&id) else {
            return Err(not_found(&id));
        };
        let set = |field: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                field.clone_from(v);
            }
        };
        if let Some(e) = req.enable {
            u.enable = e;
        }
        if let Some(e) = req.expire {
            u.expire = e;
        }
        set(&mut u.firstname, &req.firstname);
        set(&mut u.lastname, &req.lastname);
        set(&mut u.email, &req.email);
        set(&mut u.comment, &req.comment);
        let u = u.clone();
        Ok(entry(&f.user, &id, &u))
    })
    .await
}

pub async fn delete(node: &Node, auth: &Authid, userid: &str) -> Result<(), NodeError> {
    let id: Userid = parse_id("user id", userid)?;
    refuse_locking_out_root(&id, None)?;
    modify(node, |f| {
        let caller = effective_caller(&f.user, auth);
        let perms = Permissions::new(&f.user, now());
        if !f.user.users.contains_key(&id) {
            return Err(not_found(&id));
        }
        grant::check_user_delete(&perms, &f.user, &caller, &id).map_err(grant_error)?;
        f.user.remove_user(&id);
        if id.realm() == REALM_PVE {
            f.shadow.hashes.remove(id.name());
        }
        f.tfa.users.remove(&id);
        Ok(())
    })
    .await
}

/// `PUT /access/password`: only pve users have passwords brigade keeps.
pub async fn change_password(
    node: &Node,
    auth: &Authid,
    req: PasswordChange,
) -> Result<(), NodeError> {
    let id: Userid = parse_id("user id", &req.userid)?;
    if id.realm() == REALM_PAM {
        return Err(NodeError::Invalid(format!(
            "cannot change the password of {id}: passwords of the pam realm are the node's Linux accounts (use passwd on each node)"
        )));
    }
    if id.realm() != REALM_PVE {
        return Err(NodeError::Invalid(format!(
            "cannot change the password of {id}: realm {} keeps no passwords in brigade",
            id.realm()
        )));
    }
    let hash = new_hash(&req.password).await?;
    modify(node, |f| {
        let caller = effective_caller(&f.user, auth);
        let perms = Permissions::new(&f.user, now());
        grant::check_password_change(&perms, &f.user, &caller, &id).map_err(grant_error)?;
        if !f.user.users.contains_key(&id) {
            return Err(not_found(&id));
        }
        if !caller.user.is_root() {
            let confirmed = caller.user.realm() == REALM_PVE
                && req
                    .confirmation_password
                    .as_deref()
                    .is_some_and(|p| f.shadow.check(caller.user.name(), p));
            if !confirmed {
                return Err(NodeError::Forbidden(format!(
                    "confirm with your own current password (confirmation-password) to change the password of {id}"
                )));
            }
        }
        f.shadow
            .hashes
            .insert(id.name().to_string(), hash.clone());
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_cannot_be_deleted_disabled_or_expired_but_may_be_changed_otherwise() {
        let root = Userid::root();
        let update = |enable, expire| UserUpdate {
            enable,
            expire,
            comment: Some("the admin".into()),
            ..UserUpdate::default()
        };
        assert!(matches!(
            refuse_locking_out_root(&root, None),
            Err(NodeError::Invalid(_))
        ));
        assert!(refuse_locking_out_root(&root, Some(&update(Some(false), None))).is_err());
        assert!(refuse_locking_out_root(&root, Some(&update(None, Some(19)))).is_err());
        assert!(refuse_locking_out_root(&root, Some(&update(Some(true), Some(0)))).is_ok());
        assert!(refuse_locking_out_root(&root, Some(&update(None, None))).is_ok());
        let alice: Userid = "alice@pve".parse().expect("id");
        assert!(refuse_locking_out_root(&alice, None).is_ok());
        assert!(refuse_locking_out_root(&alice, Some(&update(Some(false), Some(19)))).is_ok());
    }
}
