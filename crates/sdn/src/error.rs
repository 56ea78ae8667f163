//! The crate's typed errors; I/O and JSON errors keep their source.

use thiserror::Error;

/// Result with [`SdnError`].
pub type Result<T, E = SdnError> = std::result::Result<T, E>;

/// Everything that can go wrong from parsing a config file to running `ip`.
#[derive(Debug, Error)]
pub enum SdnError {
    /// A configuration file could not be parsed.
    #[error("{file} line {line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    /// The configuration parsed but is refused (every problem found is listed).
    #[error("the SDN configuration is refused: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The configuration cannot be realised on this node.
    #[error("cannot plan node {node}: {message}")]
    Plan { node: String, message: String },
    /// The node's devices do not allow the change (a name taken by a device brigade did not
    /// create, a port that does not exist).
    #[error("cannot change the node's network: {0}")]
    Conflict(String),
    /// A guest NIC property string (`netN`) is refused; `key` names it.
    #[error("{key}: {message}")]
    Nic { key: String, message: String },
    /// A command could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// A command's JSON output could not be read.
    #[error("cannot read the output of {command}: {source}")]
    Json {
        command: String,
        #[source]
        source: serde_json::Error,
    },
}
