//! The operations replicated through Raft and their results.

use serde::{Deserialize, Serialize};

use brigade_core::CfsPath;

pub use brigade_api::cfs::{Applied, Change, ChangeKind};

use crate::error::CfsError;

/// One tree operation, as proposed by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Writes a file (creating missing parent directories). `expect_version`
    /// makes it a compare-and-swap (0 = the file must not exist);
    /// `create_exclusive` fails if the file exists.
    Write {
        path: CfsPath,
        #[serde(with = "crate::b64")]
        data: Vec<u8>,
        #[serde(default)]
        expect_version: Option<u64>,
        #[serde(default)]
        create_exclusive: bool,
    },
    /// Makes a directory; with `parents`, like `mkdir -p`.
    Mkdir {
        path: CfsPath,
        #[serde(default)]
        parents: bool,
    },
    /// Removes a file or directory (`recursive` for non-empty directories).
    Delete {
        path: CfsPath,
        #[serde(default)]
        expect_version: Option<u64>,
        #[serde(default)]
        recursive: bool,
    },
    /// Atomically moves a file or directory; the target must not exist.
    Rename { from: CfsPath, to: CfsPath },
    /// Takes or renews a lock with a lease. The leader sets `steal_generation`
    /// after it has seen the current holder's lease expire on its own clock.
    Lock {
        path: CfsPath,
        owner: String,
        lease_ms: u64,
        #[serde(default)]
        steal_generation: Option<u64>,
    },
    /// Releases a lock held by `owner`.
    Unlock { path: CfsPath, owner: String },
    /// Several operations applied atomically: all or none.
    Batch { ops: Vec<Op> },
    /// Appends one line to a file (created if missing), dropping the oldest
    /// lines so the file stays within `keep_bytes` (the cluster log).
    AppendLine {
        path: CfsPath,
        line: String,
        keep_bytes: u64,
    },
}

/// An operation with the leader's wall-clock time, used only as the mtime shown to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub op: Op,
    pub mtime: u64,
}

/// The answer to one operation.
pub type CommandResult = Result<Applied, CfsError>;

/// One Raft log entry: independent operations proposed concurrently and
/// batched by the leader; each is applied atomically on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub ops: Vec<Op>,
    pub mtime: u64,
}

/// The state machine's answer to one log entry: one result per operation.
pub type ProposalResult = Vec<CommandResult>;
