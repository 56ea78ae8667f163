//! One-time join tokens: where to join, the CA fingerprint to pin, and a secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use brigade_core::FormatError;

/// Prefix of every join token.
pub const JOIN_TOKEN_PREFIX: &str = "brigade-join.";
/// How long a join token stays valid (wall clock; not a safety matter).
pub const JOIN_TOKEN_TTL_SECS: u64 = 3600;

/// The decoded token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinToken {
    pub cluster: String,
    /// API addresses (`ip:port`) of members when the token was made.
    pub addrs: Vec<String>,
    /// SHA-256 fingerprint of the cluster CA.
    pub ca_fingerprint: String,
    pub id: String,
    pub secret: String,
}

/// What the cluster stores for a token: its hash and expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredJoinToken {
    pub hash: String,
    pub expires: u64,
}

impl JoinToken {
    pub fn generate(cluster: &str, addrs: Vec<String>, ca_fingerprint: &str) -> JoinToken {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut id);
        rand::thread_rng().fill_bytes(&mut secret);
        JoinToken {
            cluster: cluster.to_string(),
            addrs,
            ca_fingerprint: ca_fingerprint.to_string(),
            id: hex::encode(id),
            secret: hex::encode(secret),
        }
    }

    pub fn encode(&self) -> String {
        // Serializing plain strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{JOIN_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    pub fn decode(s: &str) -> Result<JoinToken, FormatError> {
        let body = s.trim().strip_prefix(JOIN_TOKEN_PREFIX).ok_or_else(|| {
            FormatError::Invalid(format!(
                "malformed join token: it must start with {JOIN_TOKEN_PREFIX:?}"
            ))
        })?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| FormatError::Invalid("malformed join token: not base64".into()))?;
        let t: JoinToken = serde_json::from_slice(&json)
            .map_err(|e| FormatError::Invalid(format!("malformed join token: {e}")))?;
        let hex_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
        if !hex_ok(&t.id) || !hex_ok(&t.secret) || t.ca_fingerprint.len() != 95 {
            return Err(FormatError::Invalid(
                "malformed join token: bad id, secret or fingerprint".into(),
            ));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let fp = vec!["AB"; 32].join(":");
        let t = JoinToken::generate("lab", vec!["127.0.1.1:8006".into()], &fp);
        assert_eq!(JoinToken::decode(&t.encode()).expect("decodes"), t);
        for bad in [
            "",
            "brigade-join.",
            "brigade-join.!!!",
            "xyz",
            "brigade-join.e30",
        ] {
            assert!(JoinToken::decode(bad).is_err(), "{bad}");
        }
    }
}
