//! The cluster's ticket signing keys (`priv/ticket-keys`): the current key and the one it replaced.
//!
//! A key lives [`KEY_LIFETIME_SECS`] (24 h); then one node (the leader) rotates it with a
//! compare-and-swap write of the file, so every node signs and verifies with the same keys.
//! Tickets signed with the previous key stay valid for [`PREVIOUS_KEY_GRACE_SECS`] after the
//! rotation. The file, one key a line, times in seconds since the epoch:
//! ```text
//! current 1764590400 <64 hex digits>
//! previous 1764504000 <64 hex digits>
//! ```

use std::fmt::Write as _;

use ring::hmac;

/// How long a key signs new tickets before it is rotated, as in Proxmox.
pub const KEY_LIFETIME_SECS: u64 = 24 * 3600;
/// How long after a rotation tickets signed with the previous key are still accepted
/// (Proxmox: one ticket lifetime, so no ticket dies early because of a rotation).
pub const PREVIOUS_KEY_GRACE_SECS: u64 = crate::ticket::TICKET_LIFETIME_SECS;
/// Fewest secret bytes accepted for a key.
pub const KEY_MIN_BYTES: usize = 32;

/// A ticket-keys file or key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("ticket key is too short: {0} bytes, at least {KEY_MIN_BYTES} needed")]
    TooShort(usize),
    #[error("ticket-keys line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("ticket-keys has no current key")]
    NoCurrent,
}

/// One HMAC-SHA256 key and when it was made.
#[derive(Clone)]
pub struct TicketKey {
    pub created: u64,
    secret: Vec<u8>,
    key: hmac::Key,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TicketKey(created {})", self.created)
    }
}

impl PartialEq for TicketKey {
    fn eq(&self, other: &Self) -> bool {
        self.created == other.created && self.secret == other.secret
    }
}

impl TicketKey {
    /// A key from random bytes (the caller draws them; this crate reads no randomness).
    pub fn new(secret: &[u8], created: u64) -> Result<TicketKey, KeyError> {
        if secret.len() < KEY_MIN_BYTES {
            return Err(KeyError::TooShort(secret.len()));
        }
        Ok(TicketKey {
            created,
            secret: secret.to_vec(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        })
    }

    pub(crate) fn sign(&self, data: &[u8]) -> Vec<u8> {
        hmac::sign(&self.key, data).as_ref().to_vec()
    }

    /// Constant-time check of a signature.
    pub(crate) fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        hmac::verify(&self.key, data, signature).is_ok()
    }
}

/// The current key and, after a rotation, the previous one.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketKeys {
    pub current: TicketKey,
    pub previous: Option<TicketKey>,
}

impl TicketKeys {
    /// The first key of a new cluster.
    pub fn new(secret: &[u8], now: u64) -> Result<TicketKeys, KeyError> {
        Ok(TicketKeys {
            current: TicketKey::new(secret, now)?,
            previous: None,
        })
    }

    /// Whether the current key is due for rotation (too old, or made in the future by a node
    /// whose clock was ahead).
    pub fn needs_rotation(&self, now: u64) -> bool {
        now.saturating_sub(self.current.created) >= KEY_LIFETIME_SECS
            || self.current.created > now.saturating_add(crate::ticket::CLOCK_SKEW_SECS)
    }

    /// The keys after a rotation at `now` with a fresh secret.
    pub fn rotated(&self, secret: &[u8], now: u64) -> Result<TicketKeys, KeyError> {
        Ok(TicketKeys {
            current: TicketKey::new(secret, now)?,
            previous: Some(self.current.clone()),
        })
    }

    /// Writes the file.
    pub fn write(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "current {} {}",
            self.current.created,
            hex::encode(&self.current.secret)
        );
        if let Some(p) = &self.previous {
            let _ = writeln!(out, "previous {} {}", p.created, hex::encode(&p.secret));
        }
        out
    }

    /// Reads the file.
    pub fn parse(text: &str) -> Result<TicketKeys, KeyError> {
        let mut current = None;
        let mut previous = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |reason: &str| KeyError::Line {
                line,
                reason: reason.to_string(),
            };
            if raw.trim().is_empty() {
                continue;
            }
            let parts: Vec<&str> = raw.split_whitespace().collect();
            let [which, created, secret] = parts.as_slice() else {
                return Err(bad("expected: current|previous CREATED HEX"));
            };
            let created: u64 = created
                .parse()
                .map_err(|_| bad("creation time is not a number"))?;
            let secret = hex::decode(secret).map_err(|_| bad("secret is not hex"))?;
            let key = TicketKey::new(&secret, created).map_err(|e| bad(&e.to_string()))?;
            let slot = match *which {
                "current" => &mut current,
                "previous" => &mut previous,
                _ => return Err(bad("expected current or previous")),
            };
            if slot.replace(key).is_some() {
                return Err(bad("key given twice"));
            }
        }
        Ok(TicketKeys {
            current: current.ok_or(KeyError::NoCurrent)?,
            previous,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_rotate_daily_and_keep_the_previous_one() {
        let keys = TicketKeys::new(&[1; 32], 1_000).expect("key");
        assert!(!keys.needs_rotation(1_000 + KEY_LIFETIME_SECS - 1));
        assert!(keys.needs_rotation(1_000 + KEY_LIFETIME_SECS));
        assert!(keys.needs_rotation(0), "a key from the future is replaced");
        let next = keys.rotated(&[2; 32], 90_000).expect("key");
        assert_eq!(next.previous.as_ref(), Some(&keys.current));
        assert_eq!(next.current.created, 90_000);
    }

    #[test]
    fn file_round_trips_and_bad_files_are_refused() {
        let keys = TicketKeys::new(&[7; 32], 5)
            .expect("key")
            .rotated(&[9; 40], 6)
            .expect("key");
        assert_eq!(TicketKeys::parse(&keys.write()), Ok(keys));
        assert_eq!(
            TicketKey::new(&[0; 8], 0).err(),
            Some(KeyError::TooShort(8))
        );
        assert_eq!(TicketKeys::parse(""), Err(KeyError::NoCurrent));
        for (text, line) in [
            ("current 1 zz\n", 1),
            ("\nnext 1 00\n", 2),
            (&format!("current x {}\n", "00".repeat(32)), 1),
            (&format!("current 1 {}\n", "00".repeat(4)), 1),
            (
                &format!("current 1 {h}\ncurrent 2 {h}\n", h = "00".repeat(32)),
                2,
            ),
        ] {
            match TicketKeys::parse(text) {
                Err(KeyError::Line { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}
