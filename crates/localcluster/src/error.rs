//! Why starting, stopping or talking to a local cluster's nodes failed.

/// Why a local cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A node name, an address or cluster.conf did not parse.
    #[error(transparent)]
    Format(#[from] brigade_core::FormatError),
    /// An address did not parse.
    #[error(transparent)]
    Address(#[from] std::net::AddrParseError),
    /// A node's API refused or could not be reached.
    #[error(transparent)]
    Client(#[from] brigade_client::ClientError),
    /// A helper program (iptables) failed.
    #[error("{0}")]
    Command(String),
    /// Asked for what needs a formed cluster (its CA) before `cluster create`.
    #[error("the cluster has no CA yet: create it first")]
    NotFormed,
    /// A node did not do in time what it should have (start, stop, agree on a leader).
    #[error("{0}")]
    Timeout(String),
}

impl LocalClusterError {
    /// An I/O error with what was being done, for `map_err`.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalClusterError {
        let context = context.into();
        move |source| LocalClusterError::Io { context, source }
    }
}
