//! Reads: the local replica, read-index (linearizable) reads, watches, applied versions.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::error::RaftError;
use tokio::sync::broadcast;

use brigade_core::CfsPath;

use crate::command::Change;
use crate::error::CfsError;
use crate::network::KIND_READ_INDEX;
use crate::view::{DirEntryInfo, FileInfo};

use super::{Cfs, LOCAL_APPLY_POLL, READ_INDEX_TIMEOUT};

/// How often a read whose leader did not answer checks for the next leader.
const LEADER_CHANGE_POLL: Duration = Duration::from_millis(20);

impl Cfs {
    /// Reads a file or directory from the local replica.
    pub fn read(&self, path: &CfsPath) -> Result<FileInfo, CfsError> {
        let st = self.shared.read();
        if path.is_root() {
            return Ok(FileInfo {
                path: path.to_string(),
                dir: true,
                version: st.tree.version(),
                size: 0,
                mtime: 0,
                data: Vec::new(),
            });
        }
        let e = st.tree.get(path).ok_or_else(|| CfsError::NotFound {
            path: path.to_string(),
        })?;
        Ok(FileInfo {
            path: path.to_string(),
            dir: e.dir,
            version: e.version,
            size: e.data.len() as u64,
            mtime: e.mtime,
            data: e.data.clone(),
        })
    }

    /// A file's or directory's version in the local replica, without copying its data
    /// (for watchers that only ask whether it changed).
    pub fn version_of(&self, path: &CfsPath) -> Result<u64, CfsError> {
        let st = self.shared.read();
        if path.is_root() {
            return Ok(st.tree.version());
        }
        st.tree
            .get(path)
            .map(|e| e.version)
            .ok_or_else(|| CfsError::NotFound {
                path: path.to_string(),
            })
    }

    /// Lists a directory from the local replica.
    pub fn list(&self, dir: &CfsPath) -> Result<Vec<DirEntryInfo>, CfsError> {
        let st = self.shared.read();
        Ok(st
            .tree
            .list(dir)?
            .into_iter()
            .map(|(name, e)| DirEntryInfo {
                name,
                dir: e.dir,
                version: e.version,
                size: e.data.len() as u64,
                mtime: e.mtime,
            })
            .collect())
    }

    /// Every file below `prefix` with its data (used by tests and exports).
    pub fn dump(&self, prefix: &CfsPath) -> BTreeMap<String, (u64, Vec<u8>)> {
        let st = self.shared.read();
        st.tree
            .entries()
            .filter(|(k, e)| !e.dir && k.parse::<CfsPath>().is_ok_and(|p| p.starts_with(prefix)))
            .map(|(k, e)| (k.clone(), (e.version, e.data.clone())))
            .collect()
    }

    /// Waits until this replica has applied everything committed when the
    /// leader confirmed its leadership (Raft read-index), then reads locally.
    pub async fn read_consistent(&self, path: &CfsPath) -> Result<FileInfo, CfsError> {
        let index = self.read_index().await?;
        let mut applied = self.raft().metrics();
        let wait = applied.wait_for(|m| m.last_applied.is_some_and(|l| l.index >= index));
        tokio::time::timeout(READ_INDEX_TIMEOUT, wait)
            .await
            .map_err(|_| CfsError::Timeout {
                secs: READ_INDEX_TIMEOUT.as_secs(),
            })?
            .map_err(CfsError::storage)?;
        self.read(path)
    }

    /// The read index: on the leader, after confirming leadership with a
    /// majority; elsewhere, asked of the leader.
    pub async fn read_index(&self) -> Result<u64, CfsError> {
        match self.read_index_once().await {
            Err(CfsError::Rpc { message }) => {
                // The leader it asked did not answer: it may have just died. A read is
                // safe to repeat, so wait for the next leader (an election) and ask it.
                let asked = self.raft().metrics().borrow().current_leader;
                let deadline = std::time::Instant::now() + READ_INDEX_TIMEOUT;
                let next = brigade_core::wait::poll_until(deadline, LEADER_CHANGE_POLL, || {
                    let now = self.raft().metrics().borrow().current_leader;
                    std::future::ready(now.filter(|l| Some(*l) != asked))
                })
                .await;
                if next.is_ok() {
                    return self.read_index_once().await;
                }
                tracing::debug!("read index: the leader did not answer: {message}");
                Err(CfsError::NoLeader)
            }
            other => other,
        }
    }

    async fn read_index_once(&self) -> Result<u64, CfsError> {
        self.check_storage()?;
        if !self.is_quorate() {
            return Err(CfsError::NotQuorate);
        }
        // Every write acknowledged so far is in the leader's log, but openraft's read
        // index can be older than some of them: a leader restarted before anyone else
        // stood for election leads on in its term (openraft restores the leadership at
        // startup) and counts from its stored commit index, which is older than the
        // writes it acknowledged last (the index is not fsynced). Reading at least up
        // to the leader's last log entry covers them.
        let last_log = self.raft().metrics().borrow().last_log_index.unwrap_or(0);
        match self.raft().ensure_linearizable().await {
            Ok(log_id) => Ok(log_id.map(|l| l.index).unwrap_or(0).max(last_log)),
            Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(f))) => {
                let node = f.leader_node.ok_or(CfsError::NoLeader)?;
                self.forward::<(), u64>(&node, KIND_READ_INDEX, &()).await
            }
            Err(RaftError::APIError(openraft::error::CheckIsLeaderError::QuorumNotEnough(_))) => {
                Err(CfsError::NotQuorate)
            }
            Err(e) => Err(CfsError::rpc(e)),
        }
    }

    /// Subscribes to every change applied on this node from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.shared.changes.subscribe()
    }

    /// The cluster version this replica has applied.
    pub fn version(&self) -> u64 {
        self.shared.read().tree.version()
    }

    /// Waits until this replica has applied cluster version `version`; false on timeout.
    pub async fn wait_applied(&self, version: u64, timeout: Duration) -> bool {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        while self.version() < version {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            // Woken by the apply's change, or re-checked shortly (an apply may change nothing).
            let _ = tokio::time::timeout(LOCAL_APPLY_POLL, changes.recv()).await;
        }
        true
    }
}
