//! Read-only questions: the effective permissions of a caller (`GET /access/permissions`)
//! and the realms (`GET /access/domains`).

use std::collections::BTreeMap;

use brigade_access::{AclPath, Authid, Permissions, Privilege};
use brigade_api::access::{DomainEntry, PermissionsMap, PermissionsQuery};

use super::{effective_caller, forbidden, now, parse_id, read_user_cfg, users};
use crate::error::NodeError;
use crate::node::Node;

/// The privileges of the caller (or, with `Sys.Audit` on /access, of `userid`) per path.
pub fn permissions(
    node: &Node,
    auth: &Authid,
    q: &PermissionsQuery,
) -> Result<PermissionsMap, NodeError> {
    let cfg = read_user_cfg(node)?;
    let caller = effective_caller(&cfg, auth);
    let perms = Permissions::new(&cfg, now());
    let target = match &q.userid {
        None => caller.clone(),
        Some(t) => effective_caller(&cfg, &parse_id::<Authid>("userid", t)?),
    };
    // Oneself, and one's own tokens (a token only itself).
    let own = target == caller || (!caller.is_token() && target.user == caller.user);
    if !own {
        let access: AclPath = "/access".parse().map_err(NodeError::internal)?;
        perms
            .check(&caller, &access, Privilege::SysAudit)
            .map_err(forbidden)?;
    }
    let map = match &q.path {
        Some(p) => {
            let path: AclPath = parse_id("path", p)?;
            BTreeMap::from([(path.clone(), perms.privileges(&target, &path))])
        }
        None => perms.effective_permissions(&target),
    };
    Ok(map
        .into_iter()
        .map(|(path, privs)| {
            (
                path.to_string(),
                privs.iter().map(|p| (p.as_str().to_string(), 1)).collect(),
            )
        })
        .collect())
}

/// The realms, for the login form (no privilege needed).
pub fn domains(node: &Node) -> Result<Vec<DomainEntry>, NodeError> {
    Ok(users::domains(node)?
        .realms
        .iter()
        .map(|(name, r)| DomainEntry {
            realm: name.to_string(),
            kind: r.kind.as_str().into(),
            comment: r.comment.clone(),
            default: r.default,
        })
        .collect())
}
