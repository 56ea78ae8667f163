//! API tokens: owned by a user, optional expiry, privilege-separated by default.
//!
//! A privilege-separated token (`privsep 1`) holds only what its own ACL entries give it *and*
//! its user holds on the same path; a token with `privsep 0` holds exactly its user's privileges.
//! The secret itself lives hashed in `priv/token.cfg` (shown once when created); this module
//! deals with what `user.cfg`'s `token:` lines say about it.

use crate::acl::EffectivePrivs;
use crate::user_cfg::UserCfg;
use crate::userid::{Authid, Userid};

/// What user.cfg records about one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Seconds since the epoch after which the token is refused; 0 for never.
    pub expire: u64,
    /// Privilege separation: the token's rights are its own ACLs intersected with its user's.
    pub privsep: bool,
    pub comment: String,
}

impl Default for TokenInfo {
    /// New tokens are privilege-separated and never expire.
    fn default() -> Self {
        TokenInfo {
            expire: 0,
            privsep: true,
            comment: String::new(),
        }
    }
}

/// Why an identity may not act at a given time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("user {0} does not exist")]
    UnknownUser(Userid),
    #[error("user {0} is disabled")]
    UserDisabled(Userid),
    #[error("user {0} has expired")]
    UserExpired(Userid),
    #[error("API token {0} does not exist")]
    UnknownToken(Authid),
    #[error("API token {0} has expired")]
    TokenExpired(Authid),
}

/// Whether an expiry (`0` for never) has passed at `now`.
pub fn expired(expire: u64, now: u64) -> bool {
    expire != 0 && now >= expire
}

/// Checks that the user exists, is enabled and has not expired, and so for the token if any.
pub fn check_usable(cfg: &UserCfg, auth: &Authid, now: u64) -> Result<(), Unusable> {
    let user = &auth.user;
    let info = cfg
        .users
        .get(user)
        .ok_or_else(|| Unusable::UnknownUser(user.clone()))?;
    if !info.enable {
        return Err(Unusable::UserDisabled(user.clone()));
    }
    if expired(info.expire, now) {
        return Err(Unusable::UserExpired(user.clone()));
    }
    if auth.is_token() {
        let token = cfg
            .tokens
            .get(auth)
            .ok_or_else(|| Unusable::UnknownToken(auth.clone()))?;
        if expired(token.expire, now) {
            return Err(Unusable::TokenExpired(auth.clone()));
        }
    }
    Ok(())
}

/// A token's privileges from its user's and from its own ACL entries.
pub fn token_privileges(
    info: &TokenInfo,
    user: EffectivePrivs,
    own: EffectivePrivs,
) -> EffectivePrivs {
    if info.privsep {
        user.intersect(own)
    } else {
        user
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privileges::{PrivSet, Privilege as P};
    use crate::user_cfg::User;
    use proptest::prelude::*;

    fn cfg_with_token(user_expire: u64, token_expire: u64, enable: bool) -> (UserCfg, Authid) {
        let mut cfg = UserCfg::new();
        let alice: Userid = "alice@pve".parse().expect("id");
        cfg.users.insert(
            alice.clone(),
            User {
                enable,
                expire: user_expire,
                ..User::default()
            },
        );
        let tok: Authid = "alice@pve!ci".parse().expect("id");
        cfg.tokens.insert(
            tok.clone(),
            TokenInfo {
                expire: token_expire,
                ..TokenInfo::default()
            },
        );
        (cfg, tok)
    }

    #[test]
    fn tokens_are_privilege_separated_by_default() {
        assert!(TokenInfo::default().privsep);
    }

    #[test]
    fn expired_tokens_and_users_are_unusable() {
        let (cfg, tok) = cfg_with_token(0, 1_000, true);
        assert_eq!(check_usable(&cfg, &tok, 999), Ok(()));
        assert_eq!(
            check_usable(&cfg, &tok, 1_000),
            Err(Unusable::TokenExpired(tok.clone()))
        );
        let (cfg, tok) = cfg_with_token(500, 0, true);
        assert!(matches!(
            check_usable(&cfg, &tok, 600),
            Err(Unusable::UserExpired(_))
        ));
        let (cfg, tok) = cfg_with_token(0, 0, false);
        assert!(matches!(
            check_usable(&cfg, &tok, 1),
            Err(Unusable::UserDisabled(_))
        ));
        let other: Authid = "alice@pve!other".parse().expect("id");
        assert!(matches!(
            check_usable(&cfg_with_token(0, 0, true).0, &other, 1),
            Err(Unusable::UnknownToken(_))
        ));
        let bob: Authid = "bob@pve".parse().expect("id");
        assert!(matches!(
            check_usable(&cfg, &bob, 1),
            Err(Unusable::UnknownUser(_))
        ));
    }

    #[test]
    fn privsep_intersects_and_no_privsep_inherits() {
        let user = EffectivePrivs {
            held: PrivSet::of(&[P::VmAudit, P::VmConsole]),
            propagated: PrivSet::of(&[P::VmAudit]),
        };
        let own = EffectivePrivs {
            held: PrivSet::of(&[P::VmAudit, P::VmPowerMgmt]),
            propagated: PrivSet::of(&[P::VmAudit, P::VmPowerMgmt]),
        };
        let sep = token_privileges(&TokenInfo::default(), user, own);
        assert_eq!(sep.held, PrivSet::of(&[P::VmAudit]));
        let full = TokenInfo {
            privsep: false,
            ..TokenInfo::default()
        };
        assert_eq!(token_privileges(&full, user, own), user);
    }

    proptest! {
        #[test]
        fn a_privsep_token_never_exceeds_its_user(u in any::<u64>(), up in any::<u64>(), t in any::<u64>(), tp in any::<u64>()) {
            let mask = (1u64 << P::ALL.len()) - 1;
            let set = |bits: u64| P::ALL.iter().copied().enumerate().filter(|(i, _)| bits & mask & (1 << i) != 0).map(|(_, p)| p).collect::<PrivSet>();
            let user = EffectivePrivs { held: set(u), propagated: set(u & up) };
            let own = EffectivePrivs { held: set(t), propagated: set(t & tp) };
            let eff = token_privileges(&TokenInfo::default(), user, own);
            prop_assert!(eff.held.is_subset(user.held));
            prop_assert!(eff.propagated.is_subset(user.propagated));
        }
    }
}
