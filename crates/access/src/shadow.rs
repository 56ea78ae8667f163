//! Password hashes of the `pve` realm in `priv/shadow.cfg`: `name:argon2id-PHC-string:` per line.
//!
//! As in Proxmox's file the name is the user's name without `@pve`. Hashes are argon2id in the
//! PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so parameters can be raised
//! later without breaking old hashes. The salt is drawn by the caller (no randomness here).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Salt length drawn for each new hash, bytes.
pub const SALT_BYTES: usize = 16;
/// Shortest password accepted, as in Proxmox.
pub const PASSWORD_MIN_LEN: usize = 8;
/// Longest password accepted, as in Proxmox.
pub const PASSWORD_MAX_LEN: usize = 64;

/// A shadow.cfg or password that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShadowError {
    #[error("shadow.cfg line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("password must be {PASSWORD_MIN_LEN} to {PASSWORD_MAX_LEN} characters")]
    BadPasswordLength,
    #[error("salt must be {SALT_BYTES} bytes")]
    BadSalt,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes a new password with argon2id and the given random salt.
pub fn hash_password(password: &str, salt: &[u8]) -> Result<String, ShadowError> {
    let len = password.chars().count();
    if !(PASSWORD_MIN_LEN..=PASSWORD_MAX_LEN).contains(&len) {
        return Err(ShadowError::BadPasswordLength);
    }
    if salt.len() != SALT_BYTES {
        return Err(ShadowError::BadSalt);
    }
    let salt = SaltString::encode_b64(salt).map_err(|e| ShadowError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ShadowError::Hash(e.to_string()))
}

/// Whether `password` matches an argon2id hash (anything else, or a malformed hash, is no match).
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// The hashes by user name (without realm).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShadowCfg {
    pub hashes: BTreeMap<String, String>,
}

impl ShadowCfg {
    pub fn parse(text: &str) -> Result<ShadowCfg, ShadowError> {
        let mut hashes = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |reason: &str| ShadowError::Line {
                line,
                reason: reason.to_string(),
            };
            let l = raw.trim();
            if l.is_empty() {
                continue;
            }
            let mut fields = l.split(':');
            let (Some(name), Some(hash)) = (fields.next(), fields.next()) else {
                return Err(bad("expected name:hash:"));
            };
            if fields.any(|f| !f.is_empty()) {
                return Err(bad("expected name:hash:"));
            }
            if name.is_empty()
                || format!("{name}@pve")
                    .parse::<crate::userid::Userid>()
                    .is_err()
            {
                return Err(bad("invalid user name"));
            }
            if PasswordHash::new(hash).is_err() {
                return Err(bad("not a PHC password hash"));
            }
            if hashes.insert(name.to_string(), hash.to_string()).is_some() {
                return Err(bad("user listed twice"));
            }
        }
        Ok(ShadowCfg { hashes })
    }

    pub fn write(&self) -> String {
        let mut out = String::new();
        for (name, hash) in &self.hashes {
            let _ = writeln!(out, "{name}:{hash}:");
        }
        out
    }

    /// Whether the user (name without realm) has this password.
    pub fn check(&self, name: &str, password: &str) -> bool {
        self.hashes
            .get(name)
            .is_some_and(|h| verify_password(password, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: [u8; SALT_BYTES] = [42; SALT_BYTES];

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash_password("correct horse", &SALT).expect("hash");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse!", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        let other_salt = hash_password("correct horse", &[1; SALT_BYTES]).expect("hash");
        assert_ne!(h, other_salt);
    }

    #[test]
    fn bad_passwords_and_salts_are_refused() {
        assert_eq!(
            hash_password("short", &SALT),
            Err(ShadowError::BadPasswordLength)
        );
        assert_eq!(
            hash_password(&"x".repeat(65), &SALT),
            Err(ShadowError::BadPasswordLength)
        );
        assert_eq!(
            hash_password("long enough", &[0; 4]),
            Err(ShadowError::BadSalt)
        );
    }

    #[test]
    fn file_round_trips_and_checks() {
        let mut cfg = ShadowCfg::default();
        cfg.hashes.insert(
            "alice".into(),
            hash_password("alice-secret", &SALT).expect("hash"),
        );
        let text = cfg.write();
        assert!(text.starts_with("alice:$argon2id$") && text.ends_with(":\n"));
        let back = ShadowCfg::parse(&text).expect("parses");
        assert_eq!(back, cfg);
        assert!(back.check("alice", "alice-secret"));
        assert!(!back.check("alice", "bob-secret!"));
        assert!(!back.check("bob", "alice-secret"));
    }

    #[test]
    fn bad_lines_name_their_number() {
        let good = format!(
            "alice:{}:\n",
            hash_password("alice-secret", &SALT).expect("hash")
        );
        for (text, line) in [
            ("alice\n".to_string(), 1),
            (format!("{good}bob:plain:\n"), 2),
            (format!("{good}{good}"), 2),
            (format!("\na b:{}", &good[6..]), 2),
            (format!("{}extra:", good.trim_end()), 1),
        ] {
            match ShadowCfg::parse(&text) {
                Err(ShadowError::Line { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}
