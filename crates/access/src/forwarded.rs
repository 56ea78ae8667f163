//! The caller's identity on a request forwarded between nodes, sealed so it cannot be altered.
//!
//! A node that forwards a call (guest on another node, write to the leader) sends, with the
//! request over mTLS, the header [`FORWARDED_IDENTITY_HEADER`]:
//! `AUTHID:HEXTIME:base64(HMAC-SHA256(k, "AUTHID:HEXTIME:" + hex(SHA-256(body))))`, where `k` is
//! derived from the cluster key (`priv/authkey`) for this purpose only. The receiver opens it
//! and checks the permissions again for that identity, with its own copy of user.cfg. A changed
//! identity, body or time fails; a seal older than [`FORWARD_MAX_AGE_SECS`] is refused.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::{digest, hmac};

use crate::userid::Authid;

/// The request header carrying the sealed identity.
pub const FORWARDED_IDENTITY_HEADER: &str = "x-brigade-forwarded-identity";
/// How old a seal may be when it arrives (a forward is made just before it is sent).
pub const FORWARD_MAX_AGE_SECS: u64 = 60;
/// Clock difference between nodes tolerated on the seal's time.
pub const FORWARD_CLOCK_SKEW_SECS: u64 = crate::ticket::CLOCK_SKEW_SECS;
/// Label deriving the sealing key from the cluster key (so heartbeat HMACs and seals differ).
const SEAL_KEY_LABEL: &[u8] = b"brigade forwarded identity v1";

/// Why a forwarded identity is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("missing forwarded identity")]
    Missing,
    #[error("malformed forwarded identity")]
    BadFormat,
    #[error("forwarded identity was altered or sealed with another cluster key")]
    Altered,
    #[error("forwarded identity is too old or from the future")]
    Stale,
}

/// The key that seals identities, derived from the cluster key.
pub struct SealKey(hmac::Key);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    pub fn from_cluster_key(cluster_key: &[u8]) -> SealKey {
        let base = hmac::Key::new(hmac::HMAC_SHA256, cluster_key);
        let derived = hmac::sign(&base, SEAL_KEY_LABEL);
        SealKey(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    fn message(auth: &str, stamp: &str, body: &[u8]) -> Vec<u8> {
        let body_hash = hex::encode(digest::digest(&digest::SHA256, body));
        format!("{auth}:{stamp}:{body_hash}").into_bytes()
    }

    /// The header value for a request of `auth` with this body, at `now`.
    pub fn seal(&self, auth: &Authid, body: &[u8], now: u64) -> String {
        let stamp = format!("{now:08X}");
        let sig = hmac::sign(&self.0, &Self::message(&auth.to_string(), &stamp, body));
        format!("{auth}:{stamp}:{}", STANDARD_NO_PAD.encode(sig.as_ref()))
    }

    /// The identity of a forwarded request, if its seal matches this body and is fresh.
    pub fn open(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: u64,
    ) -> Result<Authid, ForwardError> {
        let header = header.ok_or(ForwardError::Missing)?;
        let mut parts = header.rsplitn(3, ':');
        let (Some(sig), Some(stamp), Some(auth)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ForwardError::BadFormat);
        };
        let time = u64::from_str_radix(stamp, 16).map_err(|_| ForwardError::BadFormat)?;
        let sig = STANDARD_NO_PAD
            .decode(sig)
            .map_err(|_| ForwardError::BadFormat)?;
        hmac::verify(&self.0, &Self::message(auth, stamp, body), &sig)
            .map_err(|_| ForwardError::Altered)?;
        if time > now.saturating_add(FORWARD_CLOCK_SKEW_SECS)
            || now.saturating_sub(time) > FORWARD_MAX_AGE_SECS + FORWARD_CLOCK_SKEW_SECS
        {
            return Err(ForwardError::Stale);
        }
        auth.parse().map_err(|_| ForwardError::BadFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    fn key() -> SealKey {
        SealKey::from_cluster_key(b"0123456789abcdef0123456789abcdef")
    }

    fn alice() -> Authid {
        "alice@pve!ci".parse().expect("id")
    }

    #[test]
    fn a_sealed_identity_opens_on_the_other_node() {
        let h = key().seal(&alice(), b"{\"action\":\"stop\"}", T0);
        assert!(h.starts_with("alice@pve!ci:6B49D200:"), "{h}");
        assert_eq!(
            key().open(Some(&h), b"{\"action\":\"stop\"}", T0 + 2),
            Ok(alice())
        );
    }

    #[test]
    fn an_altered_identity_or_body_is_refused() {
        let body = b"{\"vmid\":100}";
        let h = key().seal(&alice(), body, T0);
        let as_root = h.replacen("alice@pve!ci", "root@pam", 1);
        assert_eq!(
            key().open(Some(&as_root), body, T0),
            Err(ForwardError::Altered)
        );
        assert_eq!(
            key().open(Some(&h), b"{\"vmid\":101}", T0),
            Err(ForwardError::Altered)
        );
        let restamped = h.replacen("6B49D200", "6B49D201", 1);
        assert_eq!(
            key().open(Some(&restamped), body, T0),
            Err(ForwardError::Altered)
        );
        let other = SealKey::from_cluster_key(b"another cluster key, 32 bytes!!!");
        assert_eq!(other.open(Some(&h), body, T0), Err(ForwardError::Altered));
        assert_eq!(key().open(None, body, T0), Err(ForwardError::Missing));
        for bad in [
            "",
            "alice@pve",
            "alice@pve:zz:abc",
            "alice@pve:6B49D200:***",
        ] {
            assert_eq!(
                key().open(Some(bad), body, T0),
                Err(ForwardError::BadFormat),
                "{bad}"
            );
        }
    }

    #[test]
    fn old_or_future_seals_are_refused() {
        let h = key().seal(&alice(), b"", T0);
        let limit = FORWARD_MAX_AGE_SECS + FORWARD_CLOCK_SKEW_SECS;
        assert_eq!(key().open(Some(&h), b"", T0 + limit), Ok(alice()));
        assert_eq!(
            key().open(Some(&h), b"", T0 + limit + 1),
            Err(ForwardError::Stale)
        );
        assert_eq!(
            key().open(Some(&h), b"", T0 - FORWARD_CLOCK_SKEW_SECS - 1),
            Err(ForwardError::Stale)
        );
    }
}
