//! Identities as Proxmox writes them: `name@realm` users, `name@realm!token` API tokens, group, role and realm ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user id is shorter than this many characters, as in Proxmox.
pub const USERID_MAX_LEN: usize = 64;
/// Longest realm, group, role, token name accepted.
pub const NAME_MAX_LEN: usize = 64;

/// An identifier that does not follow its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn id_error(kind: &'static str, value: &str, reason: &'static str) -> IdError {
    IdError {
        kind,
        value: value.to_string(),
        reason,
    }
}

/// Whether `s` is a name of letters, digits, '.', '-' and '_' (groups, roles, token names).
fn is_simple_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Characters never allowed in the name part of a user id (they delimit user.cfg, ids and tokens).
fn is_forbidden_in_user(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, ':' | '/' | '@' | '!' | ',' | '=' | '%')
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr, $reason:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok($name(s.to_string()))
                } else {
                    Err(id_error($kind, s, $reason))
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A realm (authentication domain) name: a letter, then letters, digits, '.', '-', '_' (2 characters at least).
    Realm,
    "realm",
    |s| s.len() >= 2
        && s.len() <= NAME_MAX_LEN
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
    "use a letter then at least one of letters, digits, '.', '-', '_'"
);

string_id!(
    /// A group name (`@name` in ACLs).
    GroupId,
    "group name",
    is_simple_name,
    "use letters, digits, '.', '-', '_'"
);

string_id!(
    /// A role name.
    RoleId,
    "role name",
    is_simple_name,
    "use letters, digits, '.', '-', '_'"
);

string_id!(
    /// The name of an API token below its user (`user@realm!NAME`).
    TokenName,
    "token name",
    |s| is_simple_name(s) && s.starts_with(|c: char| c.is_ascii_alphabetic()),
    "use a letter then letters, digits, '.', '-', '_'"
);

/// The realm of Linux accounts.
pub const REALM_PAM: &str = "pam";
/// Brigade's own realm (argon2 hashes in priv/shadow.cfg), Proxmox's `pve`.
pub const REALM_PVE: &str = "pve";
/// The first administrator, who holds every privilege everywhere.
pub const ROOT_USERID: &str = "root@pam";

impl Realm {
    /// The `pam` realm.
    pub fn pam() -> Realm {
        Realm(REALM_PAM.to_string())
    }

    /// The `pve` realm.
    pub fn pve() -> Realm {
        Realm(REALM_PVE.to_string())
    }
}

/// A user: `name@realm`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Userid {
    full: String,
    at: usize,
}

impl Userid {
    /// The part before '@'.
    pub fn name(&self) -> &str {
        &self.full[..self.at]
    }

    /// The realm after '@'.
    pub fn realm(&self) -> &str {
        &self.full[self.at + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// Whether this is root@pam.
    pub fn is_root(&self) -> bool {
        self.full == ROOT_USERID
    }

    /// root@pam.
    pub fn root() -> Userid {
        Userid {
            full: ROOT_USERID.to_string(),
            at: 4,
        }
    }
}

impl FromStr for Userid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let err = |reason| id_error("user id", s, reason);
        if s.len() >= USERID_MAX_LEN {
            return Err(err("must be shorter than 64 characters"));
        }
        let at = s.rfind('@').ok_or_else(|| err("expected name@realm"))?;
        let (name, realm) = (&s[..at], &s[at + 1..]);
        if name.is_empty() || name.chars().any(is_forbidden_in_user) {
            return Err(err(
                "the name must not be empty nor contain spaces or any of : / @ ! , = %",
            ));
        }
        realm.parse::<Realm>().map_err(|_| err("invalid realm"))?;
        Ok(Userid {
            full: s.to_string(),
            at,
        })
    }
}

impl TryFrom<String> for Userid {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<Userid> for String {
    fn from(v: Userid) -> String {
        v.full
    }
}

impl fmt::Display for Userid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// Who is calling: a user, or one of its API tokens (`user@realm!token`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Authid {
    pub user: Userid,
    pub token: Option<TokenName>,
}

impl Authid {
    pub fn user(user: Userid) -> Authid {
        Authid { user, token: None }
    }

    pub fn token(user: Userid, token: TokenName) -> Authid {
        Authid {
            user,
            token: Some(token),
        }
    }

    pub fn is_token(&self) -> bool {
        self.token.is_some()
    }
}

impl FromStr for Authid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        match s.split_once('!') {
            None => Ok(Authid::user(s.parse()?)),
            Some((user, token)) => Ok(Authid::token(user.parse()?, token.parse()?)),
        }
    }
}

impl TryFrom<String> for Authid {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<Authid> for String {
    fn from(v: Authid) -> String {
        v.to_string()
    }
}

impl fmt::Display for Authid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.token {
            None => write!(f, "{}", self.user),
            Some(t) => write!(f, "{}!{}", self.user, t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn userids_parse_as_proxmox_writes_them() {
        let u: Userid = "alice@pve".parse().expect("valid");
        assert_eq!((u.name(), u.realm()), ("alice", "pve"));
        assert!(Userid::root().is_root());
        assert_eq!(Userid::root(), "root@pam".parse().expect("root"));
        for ok in ["a.b-c_d@pve", "jo+x@my-ldap", "ünï@pve"] {
            assert!(ok.parse::<Userid>().is_ok(), "{ok}");
        }
        let long = format!("{}@pve", "a".repeat(60));
        for bad in [
            "",
            "alice",
            "@pve",
            "alice@",
            "alice@p",
            "a b@pve",
            "a:b@pve",
            "a/b@pve",
            "a!b@pve",
            "a,b@pve",
            "alice@1pve",
            "alice@pv e",
            &long,
        ] {
            assert!(bad.parse::<Userid>().is_err(), "{bad}");
        }
    }

    #[test]
    fn token_ids_split_into_user_and_token() {
        let a: Authid = "alice@pve!ci".parse().expect("valid");
        assert_eq!(a.user.as_str(), "alice@pve");
        assert_eq!(a.token.as_ref().map(|t| t.as_str()), Some("ci"));
        assert_eq!(a.to_string(), "alice@pve!ci");
        assert!(!"alice@pve".parse::<Authid>().expect("user").is_token());
        for bad in [
            "alice@pve!",
            "alice@pve!1x",
            "alice@pve!a!b",
            "alice!x",
            "alice@pve!a b",
        ] {
            assert!(bad.parse::<Authid>().is_err(), "{bad}");
        }
    }

    #[test]
    fn names_of_groups_roles_realms() {
        assert!("admins".parse::<GroupId>().is_ok());
        assert!("bad name".parse::<GroupId>().is_err());
        assert!("PVEVMUser".parse::<RoleId>().is_ok());
        assert!("a:b".parse::<RoleId>().is_err());
        assert!("pam".parse::<Realm>().is_ok());
        assert!("p".parse::<Realm>().is_err());
    }

    proptest! {
        #[test]
        fn authid_display_parse_round_trip(name in "[a-z][a-z0-9._+-]{0,20}", realm in "[a-z][a-z0-9]{1,8}", token in proptest::option::of("[a-z][a-z0-9_-]{0,10}")) {
            let text = match &token { Some(t) => format!("{name}@{realm}!{t}"), None => format!("{name}@{realm}") };
            let a: Authid = text.parse().expect("valid");
            prop_assert_eq!(a.to_string(), text);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<Authid>();
        }
    }
}
