//! Typed errors of node operations, each with the HTTP status the API answers.

use brigade_cfs::CfsError;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Cfs(#[from] CfsError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A request body over the API's limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this node is not in a cluster: run 'brigade cluster create NAME' or 'brigade cluster join ADDR --token T'")]
    NotInCluster,
    #[error("this node is already in cluster {0:?}")]
    AlreadyInCluster(String),
    /// The node cannot do it now (memory, a dead target, a missing binary).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Internal(String),
}

impl NodeError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        NodeError::Internal(e.to_string())
    }

    /// A short machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeError::Cfs(CfsError::NotQuorate) => "not_quorate",
            NodeError::Cfs(CfsError::StorageFailed { .. }) => "storage_failed",
            NodeError::Cfs(_) => "cfs",
            NodeError::Invalid(_) => "invalid",
            NodeError::Conflict(_) | NodeError::AlreadyInCluster(_) => "conflict",
            NodeError::Unauthorized(_) => "unauthorized",
            NodeError::TooLarge(_) => "too_large",
            NodeError::NotFound(_) => "not_found",
            NodeError::NotInCluster => "not_in_cluster",
            NodeError::Unavailable(_) => "unavailable",
            NodeError::Upstream(_) => "upstream",
            NodeError::Internal(_) => "internal",
        }
    }

    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            NodeError::Cfs(e) => match e {
                CfsError::NotFound { .. } => 404,
                CfsError::Exists { .. }
                | CfsError::VersionMismatch { .. }
                | CfsError::NotEmpty { .. }
                | CfsError::GuestIdTaken { .. }
                | CfsError::Locked { .. }
                | CfsError::NotLockOwner { .. } => 409,
                CfsError::FileTooLarge { .. }
                | CfsError::TreeFull { .. }
                | CfsError::TooManyEntries { .. } => 413,
                CfsError::Invalid { .. }
                | CfsError::IsADirectory { .. }
                | CfsError::NotADirectory { .. } => 400,
                CfsError::NotQuorate | CfsError::NoLeader | CfsError::StorageFailed { .. } => 503,
                CfsError::Timeout { .. } => 504,
                CfsError::Rpc { .. } => 502,
                CfsError::Storage { .. } | CfsError::Corrupted { .. } => 500,
            },
            NodeError::Invalid(_) => 400,
            NodeError::Conflict(_) | NodeError::AlreadyInCluster(_) => 409,
            NodeError::Unauthorized(_) => 401,
            NodeError::TooLarge(_) => 413,
            NodeError::NotFound(_) => 404,
            NodeError::NotInCluster => 409,
            NodeError::Unavailable(_) => 409,
            NodeError::Upstream(_) => 502,
            NodeError::Internal(_) => 500,
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfs: Option<CfsError>,
}

impl From<brigade_guest::GuestError> for NodeError {
    fn from(e: brigade_guest::GuestError) -> Self {
        use brigade_guest::GuestError as G;
        match e {
            G::Invalid(m) => NodeError::Invalid(m),
            G::NotFound(m) => NodeError::NotFound(m),
            G::Conflict(m) => NodeError::Conflict(m),
            G::Unavailable(m) => NodeError::Unavailable(m),
            other => NodeError::Internal(other.to_string()),
        }
    }
}

impl From<&NodeError> for ErrorBody {
    fn from(e: &NodeError) -> Self {
        ErrorBody {
            error: e.to_string(),
            kind: e.kind().to_string(),
            cfs: match e {
                NodeError::Cfs(c) => Some(c.clone()),
                _ => None,
            },
        }
    }
}

impl From<ErrorBody> for NodeError {
    fn from(b: ErrorBody) -> Self {
        match (b.cfs, b.kind.as_str()) {
            (Some(c), _) => NodeError::Cfs(c),
            (None, "invalid") => NodeError::Invalid(b.error),
            (None, "conflict") => NodeError::Conflict(b.error),
            (None, "unauthorized") => NodeError::Unauthorized(b.error),
            (None, "too_large") => NodeError::TooLarge(b.error),
            (None, "not_found") => NodeError::NotFound(b.error),
            (None, "unavailable") => NodeError::Unavailable(b.error),
            (None, _) => NodeError::Upstream(b.error),
        }
    }
}
