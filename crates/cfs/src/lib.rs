//! The replicated configuration file system: a file tree in a Raft state machine.

// openraft's trait signatures fix StorageError and redb fixes redb::Error; both are large by design.
#![allow(clippy::result_large_err)]

pub mod b64;
pub mod command;
pub mod compaction;
pub mod early_ack;
pub mod election_guard;
pub mod error;
pub mod integrity;
pub mod latency;
pub mod learner_beats;
pub mod log_sizes;
pub mod log_store;
pub mod network;
pub mod pre_vote;
pub mod quorum;
pub mod recover;
pub mod rpc;
pub mod service;
pub mod snapshot_diff;
pub mod snapshot_trigger;
pub mod state_flush;
pub mod state_machine;
pub mod state_store;
pub mod storage_fault;
pub mod storage_recovery;
pub mod tree;
pub mod types;
pub mod view;

pub use command::{Applied, Change, ChangeKind, Command, CommandResult, Op};
pub use error::{CfsError, NOT_QUORATE_MSG};
pub use service::{Cfs, CfsOptions, RaftSettings};
pub use tree::Tree;
pub use types::{Member, NodeId};
pub use view::{CfsStatus, DirEntryInfo, FileInfo, MemberInfo};
