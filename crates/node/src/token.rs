//! API tokens in Proxmox's form `user@realm!name=secret`, stored as hashes in priv/token.cfg.

use rand::RngCore;
use sha2::{Digest, Sha256};

use brigade_core::section_config::{self, Section};
use brigade_core::FormatError;

pub use brigade_api::token::AUTH_SCHEME;

/// A parsed API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// `user@realm!name`.
    pub id: String,
    pub secret: String,
}

impl ApiToken {
    /// A new random token for `user@realm!name`.
    pub fn generate(id: &str) -> ApiToken {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        ApiToken {
            id: id.to_string(),
            secret: hex::encode(bytes),
        }
    }

    /// Parses `user@realm!name=secret`.
    pub fn parse(s: &str) -> Result<ApiToken, FormatError> {
        let s = s.trim();
        let (id, secret) = s.split_once('=').ok_or_else(|| {
            FormatError::Invalid("malformed API token: expected user@realm!name=secret".into())
        })?;
        let (user_realm, name) = id.split_once('!').ok_or_else(|| {
            FormatError::Invalid("malformed API token id: expected user@realm!name".into())
        })?;
        let valid = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let ok = user_realm
            .split_once('@')
            .is_some_and(|(u, r)| valid(u) && valid(r))
            && valid(name)
            && !secret.is_empty();
        if !ok {
            return Err(FormatError::Invalid(format!(
                "malformed API token id {id:?}"
            )));
        }
        Ok(ApiToken {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    pub fn to_header_value(&self) -> String {
        brigade_api::token::authorization(&self.to_string())
    }

    /// SHA-256 of the secret (secrets are random, so no slow hash is needed).
    pub fn hash(&self) -> String {
        hash_secret(&self.secret)
    }
}

impl std::fmt::Display for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.id, self.secret)
    }
}

/// Hex SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Parses the `Authorization` header value.
pub fn parse_header(value: &str) -> Result<ApiToken, FormatError> {
    let rest = value
        .strip_prefix(AUTH_SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            FormatError::Invalid(format!(
                "expected 'Authorization: {AUTH_SCHEME} user@realm!name=secret'"
            ))
        })?;
    ApiToken::parse(rest)
}

/// priv/token.cfg: one `token: ID` section with its hash per token.
pub fn tokens_cfg_add(text: &str, token: &ApiToken, comment: &str) -> Result<String, FormatError> {
    let mut sections = section_config::parse(text)?;
    sections.retain(|s| !(s.kind == "token" && s.id == token.id));
    sections.push(
        Section::new("token", &token.id)
            .with("hash", token.hash())
            .with("comment", comment),
    );
    Ok(section_config::write(&sections))
}

/// Whether token.cfg accepts this token.
pub fn tokens_cfg_verify(text: &str, token: &ApiToken) -> bool {
    let Ok(sections) = section_config::parse(text) else {
        return false;
    };
    let presented = token.hash();
    sections
        .iter()
        .find(|s| s.kind == "token" && s.id == token.id)
        .and_then(|s| s.get("hash"))
        .is_some_and(|h| constant_time_eq(h, &presented))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_verify() {
        let t = ApiToken::generate("root@pam!root");
        let back = parse_header(&t.to_header_value()).expect("parses");
        assert_eq!(back, t);
        let cfg = tokens_cfg_add("", &t, "root").expect("adds");
        assert!(tokens_cfg_verify(&cfg, &t));
        let wrong = ApiToken {
            secret: "nope".into(),
            ..t.clone()
        };
        assert!(!tokens_cfg_verify(&cfg, &wrong));
        assert!(!tokens_cfg_verify("garbage:::", &t));
    }

    #[test]
    fn malformed_tokens() {
        for bad in [
            "",
            "root",
            "root@pam",
            "root@pam!x",
            "root@pam!x=",
            "root!x=s",
            "@pam!x=s",
            "root@pam!x y=s",
        ] {
            assert!(ApiToken::parse(bad).is_err(), "{bad}");
        }
        assert!(parse_header("Bearer root@pam!x=s").is_err());
        assert!(parse_header("BrigadeToken root@pam!x=s").is_ok());
    }
}
