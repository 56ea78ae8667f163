//! Proxmox VE's access model for brigade, pure: identities, roles, ACLs, pools, tokens, tickets, TFA.
//!
#![doc = include_str!("../README.md")]

pub mod acl;
pub mod acl_path;
pub mod csrf;
pub mod domains_cfg;
pub mod files;
pub mod forwarded;
pub mod grant;
pub mod login;
pub mod permissions;
pub mod privileges;
pub mod rate_limit;
pub mod requirement;
pub mod roles;
pub mod shadow;
pub mod text_codec;
pub mod tfa;
pub mod ticket;
pub mod ticket_keys;
pub mod token;
pub mod user_cfg;
pub mod user_cfg_parse;
pub mod userid;

pub use acl::{Acl, AclEntry, AclSubject, EffectivePrivs};
pub use acl_path::AclPath;
pub use permissions::{Denied, Permissions};
pub use privileges::{PrivSet, Privilege};
pub use roles::Roles;
pub use token::TokenInfo;
pub use user_cfg::{Group, Pool, PoolId, User, UserCfg};
pub use user_cfg_parse::{parse_user_cfg, UserCfgError};
pub use userid::{Authid, GroupId, Realm, RoleId, TokenName, Userid};
