//! Typed errors of node operations, each with the HTTP status the API answers.

use brigade_api::{ErrorBody, ErrorKind};
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

    /// What kind of error it is, for programs.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::Cfs(CfsError::NotQuorate) => ErrorKind::NotQuorate,
            NodeError::Cfs(CfsError::StorageFailed { .. }) => ErrorKind::StorageFailed,
            NodeError::Cfs(_) => ErrorKind::Cfs,
            NodeError::Invalid(_) => ErrorKind::Invalid,
            NodeError::Conflict(_) | NodeError::AlreadyInCluster(_) => ErrorKind::Conflict,
            NodeError::Unauthorized(_) => ErrorKind::Unauthorized,
            NodeError::TooLarge(_) => ErrorKind::TooLarge,
            NodeError::NotFound(_) => ErrorKind::NotFound,
            NodeError::NotInCluster => ErrorKind::NotInCluster,
            NodeError::Unavailable(_) => ErrorKind::Unavailable,
            NodeError::Upstream(_) => ErrorKind::Upstream,
            NodeError::Internal(_) => ErrorKind::Internal,
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
                CfsError::Storage { .. } => 500,
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
            kind: e.kind(),
            cfs: match e {
                NodeError::Cfs(c) => Some(c.clone()),
                _ => None,
            },
        }
    }
}

impl From<ErrorBody> for NodeError {
    fn from(b: ErrorBody) -> Self {
        match (b.cfs, b.kind) {
            (Some(c), _) => NodeError::Cfs(c),
            (None, ErrorKind::Invalid) => NodeError::Invalid(b.error),
            (None, ErrorKind::Conflict) => NodeError::Conflict(b.error),
            (None, ErrorKind::Unauthorized) => NodeError::Unauthorized(b.error),
            (None, ErrorKind::TooLarge) => NodeError::TooLarge(b.error),
            (None, ErrorKind::NotFound) => NodeError::NotFound(b.error),
            (None, ErrorKind::Unavailable) => NodeError::Unavailable(b.error),
            (None, _) => NodeError::Upstream(b.error),
        }
    }
}
