//! Access administration (`/access/...`, `/pools`): users, groups, roles, ACLs, API tokens,
//! pools, passwords, TOTP and realms, in Proxmox VE's shapes (kebab-case where Proxmox is).
//!
//! Lists of ids in requests are comma-separated text, as Proxmox's API takes them
//! (`groups: "devs,ops"`); booleans are JSON booleans.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One user as `GET /access/users` and `GET /access/users/{userid}` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserEntry {
    /// `name@realm`.
    pub userid: String,
    /// Whether the user may log in and act.
    pub enable: bool,
    /// Seconds since the epoch after which the user is refused; 0 for never.
    pub expire: u64,
    /// First name.
    #[serde(default)]
    pub firstname: String,
    /// Last name.
    #[serde(default)]
    pub lastname: String,
    /// E-mail address.
    #[serde(default)]
    pub email: String,
    /// Free text.
    #[serde(default)]
    pub comment: String,
    /// The groups the user is a member of.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The user's API tokens (metadata only, never secrets).
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
}

/// `POST /access/users`: a new user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    /// `name@realm`; the realm must exist (`pam` or `pve`).
    pub userid: String,
    /// The first password (pve realm only; pam users use the node's Linux password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Enabled (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    /// Expiry in seconds since the epoch; 0 for never (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<u64>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Groups to join, comma-separated; each must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
}

/// `PUT /access/users/{userid}`: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// Enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    /// Expiry in seconds since the epoch; 0 for never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<u64>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The user's groups, comma-separated: replaces them, or adds to them with `append`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    /// Add `groups` to the user's groups instead of replacing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<bool>,
}

/// One API token's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenEntry {
    /// The token's name (the part after '!').
    pub tokenid: String,
    /// Seconds since the epoch after which the token is refused; 0 for never.
    pub expire: u64,
    /// Privilege separation: the token holds its own ACLs intersected with its user's.
    pub privsep: bool,
    /// Free text.
    #[serde(default)]
    pub comment: String,
}

/// `POST`/`PUT /access/users/{userid}/token/{tokenid}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Expiry in seconds since the epoch; 0 for never (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<u64>,
    /// Privilege separation (default true on creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privsep: Option<bool>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The answer to creating a token: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// `user@realm!name`.
    #[serde(rename = "full-tokenid")]
    pub full_tokenid: String,
    /// The secret; only its hash is stored, it cannot be shown again.
    pub value: String,
    /// The token's metadata.
    pub info: TokenEntry,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupEntry {
    /// The group's id.
    pub groupid: String,
    /// Free text.
    #[serde(default)]
    pub comment: String,
    /// Its members (`name@realm`).
    #[serde(default)]
    pub members: Vec<String>,
}

/// `POST /access/groups` (with `groupid`) and `PUT /access/groups/{groupid}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// The new group's id (POST only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groupid: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleEntry {
    /// The role's id.
    pub roleid: String,
    /// Its privileges, comma-separated.
    pub privs: String,
    /// A built-in role (read-only).
    pub special: bool,
}

/// `POST /access/roles` (with `roleid`) and `PUT /access/roles/{roleid}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// The new role's id (POST only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roleid: Option<String>,
    /// Privileges, comma-separated (`VM.Audit,VM.PowerMgmt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privs: Option<String>,
    /// Add `privs` to the role's privileges instead of replacing them (PUT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<bool>,
}

/// One ACL entry as `GET /access/acl` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclEntry {
    /// The ACL path (`/vms/100`, `/pool/team-a`).
    pub path: String,
    /// The user, group (without '@') or token the entry is for.
    pub ugid: String,
    /// `user`, `group` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The role given.
    pub roleid: String,
    /// Whether it applies below the path too.
    pub propagate: bool,
}

/// `PUT /access/acl`: set (or with `delete`, remove) roles on a path for some subjects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclUpdate {
    /// The ACL path.
    pub path: String,
    /// Roles, comma-separated.
    pub roles: String,
    /// Users, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<String>,
    /// Groups, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    /// API tokens (`user@realm!name`), comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<String>,
    /// Whether the entries apply below the path too (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate: Option<bool>,
    /// Remove these entries instead of setting them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
}

/// One resource pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolEntry {
    /// The pool's id (up to 3 levels `a/b/c`).
    pub poolid: String,
    /// Free text.
    #[serde(default)]
    pub comment: String,
    /// Its guests.
    #[serde(default)]
    pub vms: Vec<u32>,
    /// Its storages.
    #[serde(default)]
    pub storage: Vec<String>,
}

/// `POST /pools` (with `poolid`) and `PUT /pools/{poolid}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolRequest {
    /// The new pool's id (POST only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poolid: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Guests to add (or with `delete`, remove), comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vms: Option<String>,
    /// Storages to add (or with `delete`, remove), comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Remove the given `vms` and `storage` instead of adding them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
}

/// `PUT /access/password`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Whose password (`name@pve`).
    pub userid: String,
    /// The new password (8 to 64 characters).
    pub password: String,
    /// The caller's own current password (every caller but root@pam).
    #[serde(
        rename = "confirmation-password",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub confirmation_password: Option<String>,
}

/// One TOTP factor (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TotpInfo {
    /// The factor's id.
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// When it was added (seconds since the epoch).
    pub created: u64,
}

/// One user's second factors, as `GET /access/tfa` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TfaEntry {
    /// `name@realm`.
    pub userid: String,
    /// Its TOTP factors.
    #[serde(default)]
    pub totp: Vec<TotpInfo>,
    /// How many unused recovery codes it has (0 when none were made).
    pub recovery_remaining: usize,
}

/// `POST /access/tfa/{userid}`.
///
/// TOTP is two calls: `{"type": "totp"}` answers a fresh secret and its `otpauth://` URI
/// (nothing is stored yet); `{"type": "totp", "secret": S, "value": CODE}` stores it once
/// CODE is a valid code of S. `{"type": "recovery"}` makes 10 new recovery codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TfaAdd {
    /// `totp` or `recovery`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text for the factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The base32 secret of the first call (to confirm it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A current code of `secret` (to confirm it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The answer to `POST /access/tfa/{userid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TfaAdded {
    /// `totp` or `recovery`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The TOTP factor's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The TOTP secret, base32 (first call only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The `otpauth://totp/...` URI for authenticator apps (first call only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// That URI as a QR code, an SVG image made on the node (first call only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_svg: Option<String>,
    /// Whether the factor is stored (a confirmed TOTP, or recovery codes).
    pub confirmed: bool,
    /// The new recovery codes: shown once, only their hashes are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Vec<String>>,
}

/// One realm, as `GET /access/domains` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainEntry {
    /// The realm's name.
    pub realm: String,
    /// `pam` or `pve`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text (the login form shows it).
    #[serde(default)]
    pub comment: String,
    /// The login form's default realm.
    #[serde(default)]
    pub default: bool,
}

/// `GET /access/permissions`: whose (default the caller) and optionally one path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PermissionsQuery {
    /// A user or token (`user@realm!name`); others than oneself need Sys.Audit on /access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// Only this path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The answer to `GET /access/permissions`: path -> privilege -> 1, as Proxmox.
pub type PermissionsMap = BTreeMap<String, BTreeMap<String, u8>>;

/// The schema of [`PermissionsMap`] (a type alias has none of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = PermissionsMap)]
pub struct PermissionsMapSchema(
    /// ACL path -> privilege name -> 1 (the privileges the subject holds there).
    pub PermissionsMap,
);

/// `POST /access/ticket`: a login, or a ticket's renewal (JSON, or a form body with the
/// same fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// `name@realm`, or `name` with `realm`.
    pub username: String,
    /// The password, or a valid ticket of the same user (which renews it).
    pub password: String,
    /// A TOTP or recovery code, for a user with second factors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp: Option<String>,
    /// The realm, when `username` names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

/// The answer to a login: the user, its ticket (also set as the `BrigadeAuthCookie`
/// cookie) and the CSRF token requests other than GET need (Proxmox's field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    /// `name@realm`.
    pub username: String,
    /// The ticket: the `BrigadeAuthCookie` cookie's value.
    pub ticket: String,
    /// The `CSRFPreventionToken` header's value.
    #[serde(rename = "CSRFPreventionToken")]
    pub csrf_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A misspelt field (`expires` for `expire`) is refused, never dropped: an administrator
    /// who meant to set an expiry must not get an account that never expires.
    #[test]
    fn request_bodies_refuse_unknown_fields() {
        fn refused<T: serde::de::DeserializeOwned>(body: &str) -> String {
            match serde_json::from_str::<T>(body) {
                Ok(_) => format!("accepted {body}"),
                Err(e) => e.to_string(),
            }
        }
        let cases = [
            refused::<UserCreate>(r#"{"userid":"a@pve","expires":1}"#),
            refused::<UserUpdate>(r#"{"expires":1}"#),
            refused::<TokenRequest>(r#"{"expires":1}"#),
            refused::<GroupRequest>(r#"{"members":[]}"#),
            refused::<RoleRequest>(r#"{"priv":"VM.Audit"}"#),
            refused::<AclUpdate>(r#"{"path":"/","roles":"PVEAuditor","user":"a@pve"}"#),
            refused::<PoolRequest>(r#"{"member":[]}"#),
            refused::<PasswordChange>(r#"{"userid":"a@pve","pass":"x"}"#),
            refused::<TfaAdd>(r#"{"descr":"x"}"#),
        ];
        for e in cases {
            assert!(e.contains("unknown field"), "{e}");
        }
        assert!(serde_json::from_str::<UserUpdate>(r#"{"expire":1}"#).is_ok());
    }
}
