//! API tokens (`/access/users/{userid}/token[/{tokenid}]`): metadata in user.cfg, the secret's
//! hash in priv/token.cfg; the secret itself is answered once, at creation.

use brigade_access::grant;
use brigade_access::{Authid, Permissions, TokenInfo, TokenName, UserCfg, Userid};
use brigade_api::access::{TokenCreated, TokenEntry, TokenRequest};

use super::{effective_caller, grant_error, modify, now, parse_id, read_user_cfg, AccessFiles};
use crate::error::NodeError;
use crate::node::Node;
use crate::token::{tokens_cfg_add, ApiToken};

/// A token as the API shows it.
pub fn entry(id: &Authid, t: &TokenInfo) -> TokenEntry {
    TokenEntry {
        tokenid: id
            .token
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        expire: t.expire,
        privsep: t.privsep,
        comment: t.comment.clone(),
    }
}

fn ids(userid: &str, tokenid: &str) -> Result<(Userid, Authid), NodeError> {
    let user: Userid = parse_id("user id", userid)?;
    let name: TokenName = parse_id("token id", tokenid)?;
    let full = Authid::token(user.clone(), name);
    // The Authorization header must be able to carry it.
    ApiToken::parse(&format!("{full}=x")).map_err(|e| {
        NodeError::Invalid(format!(
            "token id {full}: {e} (use letters, digits, '-', '_' and '.')"
        ))
    })?;
    Ok((user, full))
}

fn check(f_user: &UserCfg, auth: &Authid, owner: &Userid) -> Result<(), NodeError> {
    let caller = effective_caller(f_user, auth);
    let perms = Permissions::new(f_user, now());
    grant::check_token_manage(&perms, f_user, &caller, owner).map_err(grant_error)?;
    if !f_user.users.contains_key(owner) {
        return Err(NodeError::NotFound(format!("user {owner} does not exist")));
    }
    Ok(())
}

fn not_found(id: &Authid) -> NodeError {
    NodeError::NotFound(format!("API token {id} does not exist"))
}

pub fn list(node: &Node, auth: &Authid, userid: &str) -> Result<Vec<TokenEntry>, NodeError> {
    let owner: Userid = parse_id("user id", userid)?;
    let cfg = read_user_cfg(node)?;
    check(&cfg, auth, &owner)?;
    Ok(cfg
        .tokens
        .iter()
        .filter(|(t, _)| t.user == owner)
        .map(|(t, i)| entry(t, i))
        .collect())
}

pub fn get(
    node: &Node,
    auth: &Authid,
    userid: &str,
    tokenid: &str,
) -> Result<TokenEntry, NodeError> {
    let (owner, full) = ids(userid, tokenid)?;
    let cfg = read_user_cfg(node)?;
    check(&cfg, auth, &owner)?;
    cfg.tokens
        .get(&full)
        .map(|i| entry(&full, i))
        .ok_or_else(|| not_found(&full))
}

pub async fn create(
    node: &Node,
    auth: &Authid,
    userid: &str,
    tokenid: &str,
    req: TokenRequest,
) -> Result<TokenCreated, NodeError> {
    let (owner, full) = ids(userid, tokenid)?;
    let secret = ApiToken::generate(&full.to_string());
    modify(node, |f: &mut AccessFiles| {
        check(&f.user, auth, &owner)?;
        if f.user.tokens.contains_key(&full) {
            return Err(NodeError::Conflict(format!(
                "API token {full} already exists"
            )));
        }
        let info = TokenInfo {
            expire: req.expire.unwrap_or(0),
            privsep: req.privsep.unwrap_or(true),
            comment: req.comment.clone().unwrap_or_default(),
        };
        f.tokens = tokens_cfg_add(&f.tokens, &secret, &info.comment)?;
        f.user.tokens.insert(full.clone(), info.clone());
        Ok(TokenCreated {
            full_tokenid: full.to_string(),
            value: secret.secret.clone(),
            info: entry(&full, &info),
        })
    })
    .await
}

pub async fn update(
    node: &Node,
    auth: &Authid,
    userid: &str,
    tokenid: &str,
    req: TokenRequest,
) -> Result<TokenEntry, NodeError> {
    let (owner, full) = ids(userid, tokenid)?;
    modify(node, |f| {
        check(&f.user, auth, &owner)?;
        let t = f
            .user
            .tokens
            .get_mut(&full)
            .ok_or_else(|| not_found(&full))?;
        if let Some(e) = req.expire {
            t.expire = e;
        }
        if let Some(p) = req.privsep {
            t.privsep = p;
        }
        if let Some(c) = &req.comment {
            t.comment.clone_from(c);
        }
        Ok(entry(&full, t))
    })
    .await
}

pub async fn delete(
    node: &Node,
    auth: &Authid,
    userid: &str,
    tokenid: &str,
) -> Result<(), NodeError> {
    let (owner, full) = ids(userid, tokenid)?;
    modify(node, |f| {
        check(&f.user, auth, &owner)?;
        if f.user.tokens.remove(&full).is_none() {
            return Err(not_found(&full));
        }
        // Its ACL entries go with it (the secret goes in store::modify).
        f.user
            .acl
            .remove_subject(&brigade_access::AclSubject::Token(full.clone()));
        Ok(())
    })
    .await
}
