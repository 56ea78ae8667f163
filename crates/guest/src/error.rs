//! Typed errors of guest operations.

/// Why a guest operation failed. The variant says how an API maps it.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// Bad input: a malformed config, an unknown key, an invalid argument.
    #[error("{0}")]
    Invalid(String),
    /// A guest, storage or volume that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the guest's state (locked, running, stopped).
    #[error("{0}")]
    Conflict(String),
    /// The node cannot host it (memory, accelerator, binary missing).
    #[error("{0}")]
    Unavailable(String),
    /// The node may not start a guest now (no quorum, no HA lease): a start gate said no.
    #[error("{0}")]
    Refused(String),
    /// A system call or helper program failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// QEMU's monitor answered with an error or broke off.
    #[error("QMP: {0}")]
    Qmp(String),
    /// A helper program (qemu-img, qemu, unshare) failed.
    #[error("{0}")]
    Failed(String),
}

impl GuestError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> GuestError {
        let context = context.into();
        move |source| GuestError::Io { context, source }
    }
}

pub type Result<T, E = GuestError> = std::result::Result<T, E>;
