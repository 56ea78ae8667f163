//! The body of every error answer, and the kinds of error it names.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cfs::CfsError;

/// What kind of error an answer reports; its HTTP status follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The node has no quorum (503).
    NotQuorate,
    /// The node's stores failed (a full disk) (503).
    StorageFailed,
    /// Another failure of the configuration tree; `cfs` says which (4xx/5xx).
    Cfs,
    /// Bad input: a malformed body, path, config or argument (400).
    Invalid,
    /// The request conflicts with the state (exists, locked, running, ...) (409).
    Conflict,
    /// The node lacks what the request needs: memory, a storage (409).
    Insufficient,
    /// No or a wrong API token (401).
    Unauthorized,
    /// Authenticated, but the caller lacks the privilege (403).
    Forbidden,
    /// The password was right; the user's second factor is needed (401).
    TfaRequired,
    /// A body over the limit (413).
    TooLarge,
    /// No such guest, node, path or API path (404).
    NotFound,
    /// The node is not in a cluster yet (409).
    NotInCluster,
    /// The node cannot serve now: no quorum, no lease, a peer it needs is offline (503).
    Unavailable,
    /// A peer failed or answered wrongly (502).
    Upstream,
    /// The node failed (500).
    Internal,
    /// The answer was not an API error body (an HTTP error of a proxy, ...).
    Http,
    /// A kind this build does not know (a newer node).
    #[serde(other)]
    Unknown,
}

impl ErrorKind {
    /// The kind's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotQuorate => "not_quorate",
            ErrorKind::StorageFailed => "storage_failed",
            ErrorKind::Cfs => "cfs",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Insufficient => "insufficient",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::TfaRequired => "tfa_required",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NotInCluster => "not_in_cluster",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Internal => "internal",
            ErrorKind::Http => "http",
            ErrorKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people (with its causes).
    pub error: String,
    /// What kind of error it is, for programs.
    pub kind: ErrorKind,
    /// The configuration tree's own error, when the tree refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfs: Option<CfsError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_snake_case_strings_and_unknown_ones_decode() {
        for k in [
            ErrorKind::NotQuorate,
            ErrorKind::StorageFailed,
            ErrorKind::Insufficient,
            ErrorKind::NotInCluster,
            ErrorKind::Unavailable,
        ] {
            let json = serde_json::to_string(&k).expect("encode");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        let k: ErrorKind = serde_json::from_str("\"brand_new\"").expect("decode");
        assert_eq!(k, ErrorKind::Unknown);
    }

    #[test]
    fn an_error_body_keeps_its_shape() {
        let body = ErrorBody {
            error: "x: no such file or directory".into(),
            kind: ErrorKind::Cfs,
            cfs: Some(CfsError::NotFound { path: "x".into() }),
        };
        assert_eq!(
            serde_json::to_string(&body).expect("encode"),
            r#"{"error":"x: no such file or directory","kind":"cfs","cfs":{"kind":"not_found","path":"x"}}"#
        );
    }
}
