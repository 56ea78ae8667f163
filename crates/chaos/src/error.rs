//! Why a chaos run could not be carried out (as opposed to what its checkers found).

/// A failure of the run itself.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// Starting, forming or driving the cluster failed.
    #[error("{what}: {source}")]
    Cluster {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ChaosError {
    /// Wraps an error of the local cluster or a client.
    pub fn cluster(
        what: impl Into<String>,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        ChaosError::Cluster {
            what: what.into(),
            source: e.into(),
        }
    }

    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| ChaosError::Io { what, source }
    }
}
