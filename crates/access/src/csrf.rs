//! CSRF prevention tokens as Proxmox makes them: `HEXTIME:base64(HMAC-SHA256(secret, "HEXTIME:user"))`.
//!
//! Returned with the ticket at login and required in the [`CSRF_HEADER`] of every
//! state-changing request that authenticates with a ticket cookie (API tokens need none).
//! The secret is the cluster's `priv/csrf.key`, separate from the ticket keys and not rotated.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::hmac;

use crate::ticket::{check_age, TicketError};
use crate::userid::Userid;

/// The request header carrying the token (Proxmox's name, which its clients already send).
pub const CSRF_HEADER: &str = "CSRFPreventionToken";
/// Fewest secret bytes accepted.
pub const CSRF_SECRET_MIN_BYTES: usize = 32;

/// Why a CSRF token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error("CSRF secret too short: {0} bytes, at least {CSRF_SECRET_MIN_BYTES} needed")]
    SecretTooShort(usize),
    #[error("missing CSRF prevention token")]
    Missing,
    #[error("malformed CSRF prevention token")]
    BadFormat,
    #[error("CSRF prevention token does not match the user")]
    Mismatch,
    #[error("CSRF prevention token expired")]
    Expired,
    #[error("CSRF prevention token is from the future")]
    NotYetValid,
}

/// The cluster's CSRF secret.
pub struct CsrfSecret(hmac::Key);

impl std::fmt::Debug for CsrfSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfSecret(..)")
    }
}

impl CsrfSecret {
    pub fn new(secret: &[u8]) -> Result<CsrfSecret, CsrfError> {
        if secret.len() < CSRF_SECRET_MIN_BYTES {
            return Err(CsrfError::SecretTooShort(secret.len()));
        }
        Ok(CsrfSecret(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// The token for `user` at `now`.
    pub fn token(&self, user: &Userid, now: u64) -> String {
        let stamp = format!("{now:08X}");
        let sig = hmac::sign(&self.0, format!("{stamp}:{user}").as_bytes());
        format!("{stamp}:{}", STANDARD_NO_PAD.encode(sig.as_ref()))
    }

    /// Checks the header value sent with a ticket of `user` (`None` if the header was absent).
    pub fn verify(&self, user: &Userid, token: Option<&str>, now: u64) -> Result<(), CsrfError> {
        let token = token.ok_or(CsrfError::Missing)?;
        let (stamp, sig) = token.split_once(':').ok_or(CsrfError::BadFormat)?;
        let stamp_ok = stamp.len() == 8
            && stamp
                .chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c));
        if !stamp_ok {
            return Err(CsrfError::BadFormat);
        }
        let time = u64::from_str_radix(stamp, 16).map_err(|_| CsrfError::BadFormat)?;
        let sig = STANDARD_NO_PAD
            .decode(sig)
            .map_err(|_| CsrfError::BadFormat)?;
        hmac::verify(&self.0, format!("{stamp}:{user}").as_bytes(), &sig)
            .map_err(|_| CsrfError::Mismatch)?;
        check_age(time, now).map_err(|e| match e {
            TicketError::NotYetValid => CsrfError::NotYetValid,
            _ => CsrfError::Expired,
        })
    }
}

/// Whether a request method changes state and so needs the CSRF token when a ticket is used.
pub fn method_needs_csrf(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::{CLOCK_SKEW_SECS, TICKET_LIFETIME_SECS};

    const T0: u64 = 1_800_000_000;

    fn secret() -> CsrfSecret {
        CsrfSecret::new(&[8; 32]).expect("secret")
    }

    fn user(s: &str) -> Userid {
        s.parse().expect("id")
    }

    #[test]
    fn token_verifies_for_its_user_within_the_ticket_lifetime() {
        let s = secret();
        let t = s.token(&user("alice@pve"), T0);
        assert!(t.starts_with("6B49D200:"), "{t}");
        assert_eq!(
            s.verify(&user("alice@pve"), Some(&t), T0 + TICKET_LIFETIME_SECS),
            Ok(())
        );
        assert_eq!(
            s.verify(&user("alice@pve"), Some(&t), T0 + TICKET_LIFETIME_SECS + 1),
            Err(CsrfError::Expired)
        );
        let future = s.token(&user("alice@pve"), T0 + CLOCK_SKEW_SECS + 1);
        assert_eq!(
            s.verify(&user("alice@pve"), Some(&future), T0),
            Err(CsrfError::NotYetValid)
        );
    }

    #[test]
    fn mismatched_missing_or_malformed_tokens_are_refused() {
        let s = secret();
        let t = s.token(&user("alice@pve"), T0);
        assert_eq!(
            s.verify(&user("bob@pve"), Some(&t), T0),
            Err(CsrfError::Mismatch)
        );
        let other = CsrfSecret::new(&[9; 32]).expect("secret");
        assert_eq!(
            other.verify(&user("alice@pve"), Some(&t), T0),
            Err(CsrfError::Mismatch)
        );
        let restamped = format!("{:08X}{}", T0 + 1, &t[8..]);
        assert_eq!(
            s.verify(&user("alice@pve"), Some(&restamped), T0),
            Err(CsrfError::Mismatch)
        );
        assert_eq!(
            s.verify(&user("alice@pve"), None, T0),
            Err(CsrfError::Missing)
        );
        for bad in ["", "6B49D200", "6b49d200:abc", "XYZ:abc", "6B49D200:%%%"] {
            assert_eq!(
                s.verify(&user("alice@pve"), Some(bad), T0),
                Err(CsrfError::BadFormat),
                "{bad}"
            );
        }
        assert!(CsrfSecret::new(&[0; 4]).is_err());
    }

    #[test]
    fn only_state_changing_methods_need_the_token() {
        assert!(!method_needs_csrf("GET"));
        assert!(
            method_needs_csrf("POST") && method_needs_csrf("PUT") && method_needs_csrf("DELETE")
        );
    }
}
