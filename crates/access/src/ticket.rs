//! Login tickets in Proxmox's shape, `BRIGADE:user@realm:HEXTIME::SIGNATURE`, HMAC-SHA256 signed.
//!
//! The signature (base64, no padding) covers `BRIGADE:user@realm:HEXTIME`. A ticket is valid
//! from [`CLOCK_SKEW_SECS`] before its time (another node's clock may be ahead) until
//! [`TICKET_LIFETIME_SECS`] after it; a still-valid ticket is renewed by presenting it in
//! place of the password, which issues a fresh one. Time is always passed in.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;

use crate::ticket_keys::{TicketKey, TicketKeys, PREVIOUS_KEY_GRACE_SECS};
use crate::userid::Userid;

/// How long a ticket is valid, as in Proxmox (2 h).
pub const TICKET_LIFETIME_SECS: u64 = 2 * 3600;
/// Clock difference between nodes tolerated on ticket and CSRF times (Proxmox: 5 min).
pub const CLOCK_SKEW_SECS: u64 = 5 * 60;
/// The ticket's first field; the web UI's cookie is named [`TICKET_COOKIE`].
pub const TICKET_PREFIX: &str = "BRIGADE";
/// Name of the cookie that carries the ticket (Proxmox: `PVEAuthCookie`).
pub const TICKET_COOKIE: &str = "BrigadeAuthCookie";

/// Why a ticket is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("malformed ticket")]
    BadFormat,
    #[error("invalid ticket signature")]
    Forged,
    #[error("ticket expired")]
    Expired,
    #[error("ticket is from the future (clocks out of sync?)")]
    NotYetValid,
    #[error("ticket was signed with a key rotated out more than its grace time ago")]
    KeyRotated,
}

/// A ticket taken apart (not yet verified).
struct Parsed<'a> {
    signed: &'a str,
    user: &'a str,
    time: u64,
    signature: Vec<u8>,
}

fn parse(ticket: &str) -> Result<Parsed<'_>, TicketError> {
    let (signed, sig) = ticket.split_once("::").ok_or(TicketError::BadFormat)?;
    let rest = signed
        .strip_prefix(TICKET_PREFIX)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or(TicketError::BadFormat)?;
    let (user, hex_time) = rest.rsplit_once(':').ok_or(TicketError::BadFormat)?;
    let hex_ok = hex_time.len() >= 8
        && hex_time.len() <= 16
        && hex_time
            .chars()
            .all(|c| c.is_ascii_digit() || (c.is_ascii_uppercase() && c.is_ascii_hexdigit()));
    if !hex_ok {
        return Err(TicketError::BadFormat);
    }
    let time = u64::from_str_radix(hex_time, 16).map_err(|_| TicketError::BadFormat)?;
    let signature = STANDARD_NO_PAD
        .decode(sig)
        .map_err(|_| TicketError::BadFormat)?;
    Ok(Parsed {
        signed,
        user,
        time,
        signature,
    })
}

/// Issues a ticket for `user` at `now`, signed with the current key.
pub fn issue(keys: &TicketKeys, user: &Userid, now: u64) -> String {
    sign_with(&keys.current, user, now)
}

fn sign_with(key: &TicketKey, user: &Userid, now: u64) -> String {
    let signed = format!("{TICKET_PREFIX}:{user}:{now:08X}");
    let sig = STANDARD_NO_PAD.encode(key.sign(signed.as_bytes()));
    format!("{signed}::{sig}")
}

/// Verifies a ticket at `now`; the user it was issued to.
pub fn verify(keys: &TicketKeys, ticket: &str, now: u64) -> Result<Userid, TicketError> {
    let t = parse(ticket)?;
    let data = t.signed.as_bytes();
    if keys.current.verify(data, &t.signature) {
        // A ticket cannot predate the key that signed it.
        if t.time.saturating_add(CLOCK_SKEW_SECS) < keys.current.created {
            return Err(TicketError::Forged);
        }
    } else {
        let previous = keys.previous.as_ref().ok_or(TicketError::Forged)?;
        if !previous.verify(data, &t.signature) {
            return Err(TicketError::Forged);
        }
        // The old key signs nothing after the rotation.
        let rotated_at = keys.current.created;
        if t.time > rotated_at.saturating_add(CLOCK_SKEW_SECS) {
            return Err(TicketError::Forged);
        }
        if now.saturating_sub(rotated_at) > PREVIOUS_KEY_GRACE_SECS {
            return Err(TicketError::KeyRotated);
        }
    }
    check_age(t.time, now)?;
    t.user.parse().map_err(|_| TicketError::BadFormat)
}

/// Whether a time stamp of a ticket or CSRF token is valid at `now`.
pub(crate) fn check_age(time: u64, now: u64) -> Result<(), TicketError> {
    if time > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(TicketError::NotYetValid);
    }
    if now.saturating_sub(time) > TICKET_LIFETIME_SECS {
        return Err(TicketError::Expired);
    }
    Ok(())
}

/// Renews a still-valid ticket: the same user, a fresh time, the current key.
pub fn renew(keys: &TicketKeys, ticket: &str, now: u64) -> Result<(Userid, String), TicketError> {
    let user = verify(keys, ticket, now)?;
    let fresh = issue(keys, &user, now);
    Ok((user, fresh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: u64 = 1_800_000_000;

    fn keys() -> TicketKeys {
        TicketKeys::new(&[3; 32], T0 - 100).expect("key")
    }

    fn alice() -> Userid {
        "alice@pve".parse().expect("id")
    }

    #[test]
    fn a_fresh_ticket_verifies_and_has_proxmox_shape() {
        let t = issue(&keys(), &alice(), T0);
        assert!(
            t.starts_with(&format!("BRIGADE:alice@pve:{T0:08X}::")),
            "{t}"
        );
        assert_eq!(verify(&keys(), &t, T0 + 60), Ok(alice()));
    }

    #[test]
    fn tickets_expire_after_two_hours_and_renew_before() {
        let k = keys();
        let t = issue(&k, &alice(), T0);
        assert_eq!(verify(&k, &t, T0 + TICKET_LIFETIME_SECS), Ok(alice()));
        assert_eq!(
            verify(&k, &t, T0 + TICKET_LIFETIME_SECS + 1),
            Err(TicketError::Expired)
        );
        let (user, fresh) = renew(&k, &t, T0 + 3600).expect("renewable while valid");
        assert_eq!(user, alice());
        assert_eq!(
            verify(&k, &fresh, T0 + 3600 + TICKET_LIFETIME_SECS),
            Ok(alice())
        );
        assert_eq!(
            renew(&k, &t, T0 + TICKET_LIFETIME_SECS + 1).err(),
            Some(TicketError::Expired)
        );
    }

    #[test]
    fn future_tickets_beyond_the_skew_are_refused() {
        let k = keys();
        let t = issue(&k, &alice(), T0 + CLOCK_SKEW_SECS + 1);
        assert_eq!(verify(&k, &t, T0), Err(TicketError::NotYetValid));
        let t = issue(&k, &alice(), T0 + CLOCK_SKEW_SECS);
        assert_eq!(verify(&k, &t, T0), Ok(alice()));
    }

    #[test]
    fn forged_tickets_are_refused() {
        let k = keys();
        let t = issue(&k, &alice(), T0);
        let as_root = t.replacen("alice@pve", "root@pam", 1);
        assert_eq!(verify(&k, &as_root, T0), Err(TicketError::Forged));
        let later = t.replacen(&format!("{T0:08X}"), &format!("{:08X}", T0 + 10), 1);
        assert_eq!(verify(&k, &later, T0), Err(TicketError::Forged));
        let other = TicketKeys::new(&[4; 32], T0 - 100).expect("key");
        assert_eq!(verify(&other, &t, T0), Err(TicketError::Forged));
    }

    #[test]
    fn malformed_tickets_are_refused() {
        for bad in [
            "",
            "BRIGADE:alice@pve:6B49D200",
            "PVE:alice@pve:6B49D200::abc",
            "BRIGADE:alice@pve:6b49d200::abc",
            "BRIGADE:alice@pve:xyz::abc",
            "BRIGADE:alice@pve:6B49D200::***",
            "BRIGADE:6B49D200::abc",
        ] {
            assert_eq!(
                verify(&keys(), bad, T0),
                Err(TicketError::BadFormat),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_previous_key_is_accepted_for_its_grace_time_only() {
        let old = keys();
        let t = issue(&old, &alice(), T0);
        let rotated_at = T0 + 600;
        let new = old.rotated(&[5; 32], rotated_at).expect("rotate");
        assert_eq!(verify(&new, &t, rotated_at + 60), Ok(alice()));
        // A ticket with the old key dated after the rotation was not made by the cluster.
        let after = issue(&old, &alice(), rotated_at + CLOCK_SKEW_SECS + 1);
        assert_eq!(
            verify(&new, &after, rotated_at + CLOCK_SKEW_SECS + 2),
            Err(TicketError::Forged)
        );
        let past_grace = rotated_at + PREVIOUS_KEY_GRACE_SECS + 1;
        assert_eq!(verify(&new, &t, past_grace), Err(TicketError::KeyRotated));
        // Two rotations later the first key is gone altogether.
        let newer = new.rotated(&[6; 32], rotated_at + 86_400).expect("rotate");
        assert_eq!(
            verify(&newer, &t, rotated_at + 86_401),
            Err(TicketError::Forged)
        );
        // Tickets of the new key verify across the rotation.
        let fresh = issue(&new, &alice(), rotated_at + 5);
        assert_eq!(verify(&new, &fresh, rotated_at + 10), Ok(alice()));
    }

    #[test]
    fn a_ticket_older_than_its_key_is_forged() {
        let k = keys();
        let t = issue(&k, &alice(), k.current.created - CLOCK_SKEW_SECS - 1);
        assert_eq!(verify(&k, &t, T0), Err(TicketError::Forged));
    }

    proptest! {
        #[test]
        fn verify_never_panics(s in "\\PC{0,80}") {
            let _ = verify(&keys(), &s, T0);
        }

        #[test]
        fn any_altered_byte_is_refused(pos in 0usize..200, byte in 0x21u8..0x7f) {
            let t = issue(&keys(), &alice(), T0);
            let mut bytes = t.clone().into_bytes();
            let i = pos % bytes.len();
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let altered = String::from_utf8(bytes).expect("ascii");
            prop_assert!(verify(&keys(), &altered, T0).is_err());
        }
    }
}
