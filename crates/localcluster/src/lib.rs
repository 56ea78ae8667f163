//! Real brigade node processes on 127.0.S.x addresses: start, create, join, kill, restart, partition.
//! The tests, the benchmarks and the production `lab` drive clusters through it.

mod cluster;
mod error;
pub mod firewall;
mod forming;
mod guests;
pub mod netns;
mod node_proc;

use std::time::Duration;

pub use cluster::{MemoryKib, NodeConfigHook, ProcCluster};
pub use error::LocalClusterError;
pub use guests::{add_shared_dir_storage, detach_mounts_under, SHARED_STORAGE};
pub use node_proc::{pid_alive, wait_gone, NodeProc};

/// What the operations of this crate return.
pub type Result<T, E = LocalClusterError> = std::result::Result<T, E>;

/// How long a node may take to answer its API after start.
pub const NODE_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a cluster may take to elect a leader and be quorate.
pub const QUORUM_TIMEOUT: Duration = Duration::from_secs(30);
/// Run directories of local-cluster nodes (`/run/brigade/<address>`, unique per address).
pub const TEST_RUN_ROOT: &str = "/run/brigade";

/// Poll interval while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long a node may take to exit after SIGTERM (a clean stop).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a SIGKILLed node (started by an earlier process) may take to be gone.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);
