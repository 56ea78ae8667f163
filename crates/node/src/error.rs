//! Typed errors of node operations, each with the HTTP status the API answers.

use brigade_api::{ErrorBody, ErrorKind};
use brigade_cfs::CfsError;
use brigade_core::FormatError;
use brigade_guest::GuestError;
use brigade_ha::HaError;

use crate::validate::HostPathError;

/// Any error kept as the source of a [`NodeError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Cfs(#[from] CfsError),
    /// Bad input, said in words.
    #[error("{0}")]
    Invalid(String),
    /// A malformed identifier or configuration text.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A malformed HA resource, group or setting.
    #[error(transparent)]
    Ha(#[from] HaError),
    /// A guest config naming a host path it may not.
    #[error(transparent)]
    HostPath(#[from] HostPathError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the caller lacks the privilege (403).
    #[error("{0}")]
    Forbidden(String),
    /// The password was right; the user's second factor is needed (401).
    #[error("{0}")]
    TfaRequired(String),
    /// A request body over the API's limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this node is not in a cluster: run 'brigade cluster create NAME' or 'brigade cluster join ADDR --token T'")]
    NotInCluster,
    #[error("this node is already in cluster {0:?}")]
    AlreadyInCluster(String),
    /// This node lacks what the request needs: memory, a storage, a binary (409).
    #[error("{0}")]
    Insufficient(String),
    /// This node cannot serve now: no quorum, no HA lease, a peer it needs is offline (503).
    #[error("{0}")]
    Unavailable(String),
    /// A peer answered with an error (its message).
    #[error("{0}")]
    Upstream(String),
    /// Talking to a peer failed; the source says how.
    #[error("{context}: {source}")]
    Peer {
        /// What was being done.
        context: String,
        #[source]
        source: BoxError,
    },
    /// A guest operation failed on this node (a helper program, QMP, a system call).
    #[error(transparent)]
    Guest(GuestError),
    /// This node failed while doing `context`; the source says why.
    #[error("{context}: {source}")]
    Failed {
        /// What was being done.
        context: String,
        #[source]
        source: BoxError,
    },
    /// A helper program (tar, qemu-img, ...) exited unsuccessfully; what it printed says why.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        /// The program.
        tool: &'static str,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// This node's stores are corrupted: it must not serve, and says how to bring it back.
    #[error("the stores of node {node} are corrupted: {message}. Its replica of the cluster state cannot be trusted, so it does not start (it would serve wrong data). To bring {node} back: on another member run 'brigade cluster delnode {node} --force', empty its state directory {}, start the node and join again with 'brigade cluster join ADDRESS --token TOKEN'", state_dir.display())]
    StoreCorrupted {
        /// This node's name.
        node: String,
        /// What the store found wrong.
        message: String,
        /// The state directory to empty.
        state_dir: std::path::PathBuf,
    },
    /// This node failed; the error (and its source chain) is kept as it is.
    #[error(transparent)]
    Internal(BoxError),
}

impl NodeError {
    /// A helper program's unsuccessful end, from its output.
    pub fn tool_failed(tool: &'static str, out: &std::process::Output) -> Self {
        NodeError::ToolFailed {
            tool,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
    }

    /// An internal failure that keeps `e` (and its causes) as it is.
    pub fn internal(e: impl Into<BoxError>) -> Self {
        NodeError::Internal(e.into())
    }

    /// A local failure while doing `context`, for `map_err`.
    pub fn failed<E: Into<BoxError>>(context: impl Into<String>) -> impl FnOnce(E) -> NodeError {
        let context = context.into();
        move |e| NodeError::Failed {
            context,
            source: e.into(),
        }
    }

    /// A failure to talk to a peer while doing `context`, for `map_err`.
    pub fn peer<E: Into<BoxError>>(context: impl Into<String>) -> impl FnOnce(E) -> NodeError {
        let context = context.into();
        move |e| NodeError::Peer {
            context,
            source: e.into(),
        }
    }

    /// What kind of error it is, for programs.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::Cfs(CfsError::NotQuorate) => ErrorKind::NotQuorate,
            NodeError::Cfs(CfsError::StorageFailed { .. }) => ErrorKind::StorageFailed,
            NodeError::Cfs(_) => ErrorKind::Cfs,
            NodeError::Invalid(_)
            | NodeError::Format(_)
            | NodeError::Ha(_)
            | NodeError::HostPath(_) => ErrorKind::Invalid,
            NodeError::Conflict(_) | NodeError::AlreadyInCluster(_) => ErrorKind::Conflict,
            NodeError::Unauthorized(_) => ErrorKind::Unauthorized,
            NodeError::Forbidden(_) => ErrorKind::Forbidden,
            NodeError::TfaRequired(_) => ErrorKind::TfaRequired,
            NodeError::TooLarge(_) => ErrorKind::TooLarge,
            NodeError::NotFound(_) => ErrorKind::NotFound,
            NodeError::NotInCluster => ErrorKind::NotInCluster,
            NodeError::Insufficient(_) => ErrorKind::Insufficient,
            NodeError::Unavailable(_) => ErrorKind::Unavailable,
            NodeError::Upstream(_) | NodeError::Peer { .. } => ErrorKind::Upstream,
            NodeError::Guest(_)
            | NodeError::Failed { .. }
            | NodeError::ToolFailed { .. }
            | NodeError::StoreCorrupted { .. }
            | NodeError::Internal(_) => ErrorKind::Internal,
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
            NodeError::Invalid(_)
            | NodeError::Format(_)
            | NodeError::Ha(_)
            | NodeError::HostPath(_) => 400,
            NodeError::Conflict(_) | NodeError::AlreadyInCluster(_) => 409,
            NodeError::Unauthorized(_) | NodeError::TfaRequired(_) => 401,
            NodeError::Forbidden(_) => 403,
            NodeError::TooLarge(_) => 413,
            NodeError::NotFound(_) => 404,
            NodeError::NotInCluster | NodeError::Insufficient(_) => 409,
            NodeError::Unavailable(_) => 503,
            NodeError::Upstream(_) | NodeError::Peer { .. } => 502,
            NodeError::Guest(_)
            | NodeError::Failed { .. }
            | NodeError::ToolFailed { .. }
            | NodeError::StoreCorrupted { .. }
            | NodeError::Internal(_) => 500,
        }
    }
}

impl From<GuestError> for NodeError {
    fn from(e: GuestError) -> Self {
        match e {
            GuestError::Invalid(m) => NodeError::Invalid(m),
            GuestError::NotFound(m) => NodeError::NotFound(m),
            GuestError::Conflict(m) => NodeError::Conflict(m),
            GuestError::Unavailable(m) => NodeError::Insufficient(m),
            GuestError::Refused(m) => NodeError::Unavailable(m),
            other => NodeError::Guest(other),
        }
    }
}

impl From<&NodeError> for ErrorBody {
    fn from(e: &NodeError) -> Self {
        ErrorBody {
            error: brigade_core::error::message_with_causes(e),
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
            (None, ErrorKind::Forbidden) => NodeError::Forbidden(b.error),
            (None, ErrorKind::TfaRequired) => NodeError::TfaRequired(b.error),
            (None, ErrorKind::TooLarge) => NodeError::TooLarge(b.error),
            (None, ErrorKind::NotFound) => NodeError::NotFound(b.error),
            (None, ErrorKind::Insufficient) => NodeError::Insufficient(b.error),
            (None, ErrorKind::Unavailable) => NodeError::Unavailable(b.error),
            (None, _) => NodeError::Upstream(b.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_its_source_and_the_body_says_the_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = NodeError::failed("cannot write /x")(io);
        let source = std::error::Error::source(&e).expect("source kept");
        assert_eq!(source.to_string(), "denied");
        let body = ErrorBody::from(&e);
        assert_eq!(body.error, "cannot write /x: denied");
        assert_eq!(body.kind, ErrorKind::Internal);
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn lacking_a_peer_is_503_and_lacking_memory_409() {
        assert_eq!(
            NodeError::Unavailable("node n3 is offline".into()).status(),
            503
        );
        assert_eq!(
            NodeError::Insufficient("not enough memory".into()).status(),
            409
        );
        assert_eq!(NodeError::Cfs(CfsError::NotQuorate).status(), 503);
        let back = NodeError::from(ErrorBody::from(&NodeError::Insufficient("m".into())));
        assert!(matches!(back, NodeError::Insufficient(_)));
    }
}
