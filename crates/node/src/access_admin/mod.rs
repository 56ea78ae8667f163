//! Administration of access (users, groups, roles, ACLs, tokens, pools, passwords, TOTP):
//! read-modify-write of user.cfg and its private files, with the grant checks of
//! `brigade_access::grant` decided on the user.cfg each change is applied to.

pub mod acl;
pub mod groups;
pub mod pools;
pub mod query;
pub mod roles;
pub mod store;
pub mod tfa;
pub mod tokens;
pub mod users;

use std::str::FromStr;

use brigade_access::grant::GrantError;
use brigade_access::Denied;
use brigade_core::VmId;

use crate::error::NodeError;
use crate::node::Node;

pub use crate::access::{effective_caller, now};
pub use store::{modify, read_user_cfg, AccessFiles};

/// A refused permission check: 403 with its words.
pub fn forbidden(e: Denied) -> NodeError {
    NodeError::Forbidden(e.to_string())
}

/// A refused grant: 403, or 400 for what is bad input rather than a lack of privilege.
pub fn grant_error(e: GrantError) -> NodeError {
    match e {
        GrantError::UnknownRole(_) | GrantError::PamPassword => NodeError::Invalid(e.to_string()),
        other => NodeError::Forbidden(other.to_string()),
    }
}

/// Parses an id of the API, saying which field was wrong.
pub fn parse_id<T: FromStr>(what: &str, text: &str) -> Result<T, NodeError>
where
    T::Err: std::fmt::Display,
{
    text.trim()
        .parse()
        .map_err(|e| NodeError::Invalid(format!("{what} {text:?}: {e}")))
}

/// Parses a comma-separated list of ids (empty items ignored).
pub fn parse_list<T: FromStr>(what: &str, text: &str) -> Result<Vec<T>, NodeError>
where
    T::Err: std::fmt::Display,
{
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_id(what, s))
        .collect()
}

/// Forgets a destroyed guest in user.cfg: its ACL entries and its pool membership.
pub async fn forget_vm(node: &Node, vmid: VmId) -> Result<(), NodeError> {
    modify(node, |f| {
        f.user.remove_vm(vmid);
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use brigade_access::{Authid, TokenInfo, UserCfg, Userid};

    #[test]
    fn the_cluster_root_token_acts_as_root_but_other_tokens_do_not() {
        let mut cfg = UserCfg::new();
        let cluster_root: Authid = "root@pam!root".parse().expect("id");
        assert_eq!(
            effective_caller(&cfg, &cluster_root),
            Authid::user(Userid::root())
        );
        // A root token made through the API is in user.cfg: it is itself (privsep applies).
        cfg.tokens
            .insert(cluster_root.clone(), TokenInfo::default());
        assert_eq!(effective_caller(&cfg, &cluster_root), cluster_root);
        let alice: Authid = "alice@pve!ci".parse().expect("id");
        assert_eq!(effective_caller(&cfg, &alice), alice);
    }

    #[test]
    fn grant_refusals_are_403_and_bad_input_400() {
        let role: brigade_access::RoleId = "Nope".parse().expect("id");
        assert_eq!(grant_error(GrantError::UnknownRole(role)).status(), 400);
        assert_eq!(grant_error(GrantError::RootOnly).status(), 403);
        assert_eq!(grant_error(GrantError::TokenNotAllowed).status(), 403);
    }
}
