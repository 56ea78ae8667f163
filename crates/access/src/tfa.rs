//! Second factors in `priv/tfa.cfg` (JSON, as Proxmox's): TOTP apps and single-use recovery codes.
//!
//! ```json
//! {"users":{"alice@pve":{"totp":[{"id":"phone","created":1764590400,"secret":"BASE32","last_step":0}],
//!   "recovery":{"salt":"hex","hashes":["hex",null]}}}}
//! ```
//! TOTP codes (RFC 6238, SHA-1, 6 digits, 30 s) are accepted one step either side of `now`, and
//! never twice: the step of the last accepted code is kept, so a replayed or older code fails.
//! Recovery codes are stored as HMAC-SHA256 hashes with a per-user salt; a used one is erased.

use std::collections::BTreeMap;

use ring::hmac;
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Secret, TOTP};

/// TOTP time step, seconds (RFC 6238's default, what every authenticator app uses).
pub const TOTP_STEP_SECS: u64 = 30;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: usize = 6;
/// Steps accepted either side of the current one (clock drift of the phone).
pub const TOTP_WINDOW_STEPS: u64 = 1;
/// Fewest secret bytes for a TOTP secret (RFC 4226 asks for 128 bits).
pub const TOTP_SECRET_MIN_BYTES: usize = 16;
/// Recovery codes made at once, as in Proxmox.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Random bytes per recovery code (printed as 4 groups of 4 hex digits).
pub const RECOVERY_CODE_BYTES: usize = 8;
/// Random bytes of the per-user salt of recovery code hashes.
pub const RECOVERY_SALT_BYTES: usize = 16;
/// Random bytes needed to make a set of recovery codes.
pub const RECOVERY_RANDOM_BYTES: usize =
    RECOVERY_SALT_BYTES + RECOVERY_CODE_COUNT * RECOVERY_CODE_BYTES;

/// A second factor that is refused or cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TfaError {
    #[error("no second factor configured")]
    NotConfigured,
    #[error("invalid second factor code")]
    BadCode,
    #[error("this TOTP code was already used")]
    Replayed,
    #[error("no recovery codes left")]
    NoRecoveryCodes,
    #[error("invalid TOTP secret: {0}")]
    BadSecret(String),
    #[error("wrong amount of random bytes: {0}")]
    BadRandom(usize),
    #[error("tfa.cfg: {0}")]
    Format(String),
}

/// One TOTP authenticator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEntry {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub created: u64,
    /// The shared secret, base32 (what the authenticator app is given).
    pub secret: String,
    /// The time step of the last accepted code; codes of this step or older are refused.
    #[serde(default)]
    pub last_step: u64,
}

impl TotpEntry {
    /// A new authenticator from random secret bytes.
    pub fn new(id: &str, secret: &[u8], now: u64) -> Result<TotpEntry, TfaError> {
        if secret.len() < TOTP_SECRET_MIN_BYTES {
            return Err(TfaError::BadSecret(format!(
                "{} bytes, at least {TOTP_SECRET_MIN_BYTES} needed",
                secret.len()
            )));
        }
        Ok(TotpEntry {
            id: id.to_string(),
            description: String::new(),
            created: now,
            secret: Secret::Raw(secret.to_vec()).to_encoded().to_string(),
            last_step: 0,
        })
    }

    fn totp(&self) -> Result<TOTP, TfaError> {
        let bytes = Secret::Encoded(self.secret.clone())
            .to_bytes()
            .map_err(|e| TfaError::BadSecret(format!("{e:?}")))?;
        TOTP::new(Algorithm::SHA1, TOTP_DIGITS, 1, TOTP_STEP_SECS, bytes)
            .map_err(|e| TfaError::BadSecret(e.to_string()))
    }

    /// The code an authenticator shows at `time` (for tests and for confirming a new entry).
    pub fn code_at(&self, time: u64) -> Result<String, TfaError> {
        Ok(self.totp()?.generate(time))
    }

    /// Checks a code at `now`; on success remembers its step so it cannot be used again.
    pub fn verify(&mut self, code: &str, now: u64) -> Result<(), TfaError> {
        let totp = self.totp()?;
        let current = now / TOTP_STEP_SECS;
        let first = current.saturating_sub(TOTP_WINDOW_STEPS);
        let matched = (first..=current + TOTP_WINDOW_STEPS).find(|step| {
            let expected = totp.generate(step * TOTP_STEP_SECS);
            ring_eq(expected.as_bytes(), code.trim().as_bytes())
        });
        let step = matched.ok_or(TfaError::BadCode)?;
        if step <= self.last_step {
            return Err(TfaError::Replayed);
        }
        self.last_step = step;
        Ok(())
    }

    /// The `otpauth://` URI for a QR code.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}",
            self.secret
        )
    }
}

/// Constant-time equality through ring (same length inputs compared fully).
fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"brigade-compare");
    let tag = hmac::sign(&key, a);
    hmac::verify(&key, b, tag.as_ref()).is_ok()
}

/// Hashed recovery codes; a used code's slot is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub salt: String,
    pub hashes: Vec<Option<String>>,
}

fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl RecoveryCodes {
    /// Makes codes from [`RECOVERY_RANDOM_BYTES`] random bytes: the stored form and the codes to show once.
    pub fn generate(random: &[u8]) -> Result<(RecoveryCodes, Vec<String>), TfaError> {
        if random.len() != RECOVERY_RANDOM_BYTES {
            return Err(TfaError::BadRandom(random.len()));
        }
        let (salt, codes) = random.split_at(RECOVERY_SALT_BYTES);
        let mut stored = RecoveryCodes {
            salt: hex::encode(salt),
            hashes: Vec::new(),
        };
        let mut shown = Vec::new();
        for chunk in codes.chunks(RECOVERY_CODE_BYTES) {
            let h = hex::encode(chunk);
            let code = format!("{}-{}-{}-{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16]);
            stored.hashes.push(Some(stored.hash(&code)));
            shown.push(code);
        }
        Ok((stored, shown))
    }

    fn key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, self.salt.as_bytes())
    }

    fn hash(&self, code: &str) -> String {
        hex::encode(hmac::sign(&self.key(), normalise_code(code).as_bytes()).as_ref())
    }

    /// Uses a code: on success its slot is erased; the number of codes left.
    pub fn consume(&mut self, code: &str) -> Result<usize, TfaError> {
        if self.remaining() == 0 {
            return Err(TfaError::NoRecoveryCodes);
        }
        let key = self.key();
        let presented = normalise_code(code);
        let slot = self.hashes.iter_mut().find(|slot| {
            slot.as_ref()
                .and_then(|h| hex::decode(h).ok())
                .is_some_and(|tag| hmac::verify(&key, presented.as_bytes(), &tag).is_ok())
        });
        let slot = slot.ok_or(TfaError::BadCode)?;
        *slot = None;
        Ok(self.remaining())
    }

    pub fn remaining(&self) -> usize {
        self.hashes.iter().filter(|h| h.is_some()).count()
    }
}

/// One user's second factors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTfa {
    #[serde(default)]
    pub totp: Vec<TotpEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryCodes>,
}

/// What the user typed as second factor: a TOTP code, or a recovery code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor<'a> {
    Totp(&'a str),
    Recovery(&'a str),
}

impl UserTfa {
    /// Whether login needs a second factor.
    pub fn is_configured(&self) -> bool {
        !self.totp.is_empty() || self.recovery.as_ref().is_some_and(|r| r.remaining() > 0)
    }

    /// Checks a second factor; the caller writes tfa.cfg back (a used code is spent).
    pub fn verify(&mut self, factor: SecondFactor<'_>, now: u64) -> Result<(), TfaError> {
        match factor {
            SecondFactor::Totp(code) => {
                if self.totp.is_empty() {
                    return Err(TfaError::NotConfigured);
                }
                let mut last = TfaError::BadCode;
                for entry in &mut self.totp {
                    match entry.verify(code, now) {
                        Ok(()) => return Ok(()),
                        Err(TfaError::Replayed) => last = TfaError::Replayed,
                        Err(_) => {}
                    }
                }
                Err(last)
            }
            SecondFactor::Recovery(code) => self
                .recovery
                .as_mut()
                .ok_or(TfaError::NotConfigured)?
                .consume(code)
                .map(|_| ()),
        }
    }
}

/// The whole priv/tfa.cfg.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TfaCfg {
    #[serde(default)]
    pub users: BTreeMap<crate::userid::Userid, UserTfa>,
}

impl TfaCfg {
    pub fn parse(text: &str) -> Result<TfaCfg, TfaError> {
        if text.trim().is_empty() {
            return Ok(TfaCfg::default());
        }
        serde_json::from_str(text).map_err(|e| TfaError::Format(e.to_string()))
    }

    /// Writes the file (an error rather than an empty file if serialising ever failed).
    pub fn write(&self) -> Result<String, TfaError> {
        serde_json::to_string_pretty(self).map_err(|e| TfaError::Format(e.to_string()))
    }
}

#[cfg(test)]
#[path = "tfa_tests.rs"]
mod tests;
