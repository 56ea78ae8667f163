//! `/access/...` and `/pools`: administration of users, groups, roles, ACLs, API tokens,
//! pools, passwords and second factors, in Proxmox VE's paths and shapes. Each handler reads
//! the caller (`Extension<Authid>`) and leaves the grant checks to `crate::access_admin`.

mod acl;
mod domains;
mod groups;
mod password;
mod permissions;
mod pools;
mod roles;
mod tfa;
mod tokens;
mod users;

use std::sync::Arc;

use axum::Router;
use brigade_access::requirement::Requirement;
use brigade_access::Privilege;

use crate::node::Node;

const AUTH: Requirement = Requirement::Authenticated;
const GROUP_ALLOCATE: Requirement = Requirement::Perm {
    path: "/access/groups",
    privs: &[Privilege::GroupAllocate],
    any: false,
};
const ROLE_MODIFY: Requirement = Requirement::Perm {
    path: "/access",
    privs: &[Privilege::SysModify],
    any: false,
};

/// What each route of this directory requires before its handler runs. Most are open to
/// any authenticated caller here because what they need depends on the body or the target
/// (whose user, which path, which roles): the handlers check that through
/// `crate::access_admin` (brigade_access::grant) before any change, and filter lists.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("GET", "/access/users", AUTH),
    ("POST", "/access/users", AUTH),
    ("GET", "/access/users/{userid}", AUTH),
    ("PUT", "/access/users/{userid}", AUTH),
    ("DELETE", "/access/users/{userid}", AUTH),
    ("GET", "/access/users/{userid}/token", AUTH),
    ("GET", "/access/users/{userid}/token/{tokenid}", AUTH),
    ("POST", "/access/users/{userid}/token/{tokenid}", AUTH),
    ("PUT", "/access/users/{userid}/token/{tokenid}", AUTH),
    ("DELETE", "/access/users/{userid}/token/{tokenid}", AUTH),
    ("GET", "/access/groups", AUTH),
    ("POST", "/access/groups", GROUP_ALLOCATE),
    ("GET", "/access/groups/{groupid}", AUTH),
    ("PUT", "/access/groups/{groupid}", GROUP_ALLOCATE),
    ("DELETE", "/access/groups/{groupid}", GROUP_ALLOCATE),
    ("GET", "/access/roles", AUTH),
    ("POST", "/access/roles", ROLE_MODIFY),
    ("GET", "/access/roles/{roleid}", AUTH),
    ("PUT", "/access/roles/{roleid}", ROLE_MODIFY),
    ("DELETE", "/access/roles/{roleid}", ROLE_MODIFY),
    ("GET", "/access/acl", AUTH),
    ("PUT", "/access/acl", AUTH),
    ("GET", "/pools", AUTH),
    ("POST", "/pools", AUTH),
    ("GET", "/pools/{*poolid}", AUTH),
    ("PUT", "/pools/{*poolid}", AUTH),
    ("DELETE", "/pools/{*poolid}", AUTH),
    ("PUT", "/access/password", AUTH),
    ("GET", "/access/tfa", AUTH),
    ("POST", "/access/tfa/{userid}", AUTH),
    ("DELETE", "/access/tfa/{userid}", AUTH),
    ("DELETE", "/access/tfa/{userid}/{id}", AUTH),
    ("GET", "/access/domains", Requirement::World),
    ("GET", "/access/permissions", AUTH),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .merge(users::routes())
        .merge(tokens::routes())
        .merge(groups::routes())
        .merge(roles::routes())
        .merge(acl::routes())
        .merge(pools::routes())
        .merge(password::routes())
        .merge(tfa::routes())
        .merge(domains::routes())
        .merge(permissions::routes())
}
