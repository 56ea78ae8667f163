//! The cfs handle used by the node: quorum-gated writes forwarded to the
//! leader, local and read-index reads, watches, membership changes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{Config, ServerState, SnapshotPolicy};
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};

use brigade_core::{poll_until, CfsPath};

use crate::command::{Applied, Change, CommandResult, Op, Proposal};
use crate::error::CfsError;
use crate::log_store::LogStore;
use crate::network::{RaftTransport, KIND_PROPOSE, KIND_READ_INDEX};
use crate::quorum::QuorumTracker;
use crate::state_machine::{Shared, StateMachine};
use crate::storage_fault::StorageFault;
use crate::types::{Member, NodeId, Raft, RaftMetrics};
use crate::view::{DirEntryInfo, FileInfo};

/// The Raft log's file in the data directory.
pub const LOG_FILE: &str = "log.redb";
/// The state machine's file in the data directory.
pub const STATE_FILE: &str = "state.redb";

/// How long a write may wait for commit before the client is told the outcome is unknown.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a forwarded write waits for this replica to apply it (read your writes).
pub const LOCAL_APPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// How often that wait re-checks without a change event.
const LOCAL_APPLY_POLL: Duration = Duration::from_millis(5);
/// How often a bootstrapping node checks that it leads its one-member cluster.
const BOOTSTRAP_POLL: Duration = Duration::from_millis(20);
/// Most operations batched into one Raft entry.
pub const MAX_BATCH_OPS: usize = 512;
/// Most file bytes batched into one Raft entry.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Batches in flight at once; further proposals wait and form the next batch.
pub const MAX_INFLIGHT_BATCHES: usize = 2;

/// How long a consistent read waits for the local state machine to catch up.
pub const READ_INDEX_TIMEOUT: Duration = Duration::from_secs(5);

/// Raft timing and log-compaction settings.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Quorum lease: how long an acknowledgement by a majority keeps a node quorate.
    pub lease_ms: u64,
    /// Take a snapshot after this many log entries.
    pub snapshot_logs: u64,
    /// Log entries kept after a snapshot (older ones are purged).
    pub keep_logs: u64,
    /// Whether this node may stand for leader (a qdevice may not).
    pub can_lead: bool,
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            heartbeat_ms: 250,
            election_min_ms: 1000,
            election_max_ms: 2000,
            lease_ms: 2000,
            snapshot_logs: 10_000,
            keep_logs: 1000,
            can_lead: true,
        }
    }
}

/// Everything `Cfs::start` needs.
pub struct CfsOptions {
    pub node_id: NodeId,
    pub data_dir: PathBuf,
    /// mTLS client configuration for Raft's framed connections.
    pub raft_tls: rustls::ClientConfig,
    /// The node's address: Raft connections leave from it.
    pub local_addr: std::net::IpAddr,
    /// The node's link1 address, if it has a second link.
    pub local_addr1: Option<std::net::IpAddr>,
    pub settings: RaftSettings,
}

/// The replicated file tree on this node.
pub struct Cfs {
    pub(crate) id: NodeId,
    /// The running Raft instance (replaced when the stores are reopened after a failure).
    pub(crate) raft: Arc<RwLock<Raft>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) quorum: Arc<QuorumTracker>,
    leader_since: Mutex<Option<Instant>>,
    /// When this node last heard a leader (or led), for the election guard.
    pub(crate) leader_contact: Mutex<Instant>,
    /// The state machine of the running instance (None while its file is closed).
    pub(crate) sm: Mutex<Option<StateMachine>>,
    /// The log store of the running instance (None while its file is closed).
    pub(crate) log: Mutex<Option<LogStore>>,
    pub(crate) transport: RaftTransport,
    proposals: mpsc::UnboundedSender<(Op, oneshot::Sender<CommandResult>)>,
    write_latency: crate::latency::Histogram,
    /// The first failed write of the stores, until they are reopened.
    pub(crate) fault: Arc<StorageFault>,
    pub(crate) config: Arc<Config>,
    pub(crate) data_dir: PathBuf,
    pub(crate) settings: RaftSettings,
    /// Set by `shutdown`: no more restarts.
    pub(crate) stopping: AtomicBool,
}

fn op_bytes(op: &Op) -> usize {
    match op {
        Op::Write { data, .. } => data.len(),
        Op::Batch { ops } => ops.iter().map(op_bytes).sum(),
        _ => 0,
    }
}

/// Turns concurrent proposals into few Raft entries (each op keeps its own result).
async fn run_batcher(
    current: Arc<RwLock<Raft>>,
    mut rx: mpsc::UnboundedReceiver<(Op, oneshot::Sender<CommandResult>)>,
) {
    let inflight = Arc::new(Semaphore::new(MAX_INFLIGHT_BATCHES));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = inflight.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = op_bytes(&first.0);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_OPS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    bytes += op_bytes(&next.0);
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let raft = current.read().unwrap_or_else(|p| p.into_inner()).clone();
        tokio::spawn(async move {
            let (ops, waiters): (Vec<Op>, Vec<_>) = batch.into_iter().unzip();
            let proposal = Proposal {
                ops,
                mtime: brigade_core::unix_now_secs(),
            };
            let started = Instant::now();
            let result = tokio::time::timeout(WRITE_TIMEOUT, raft.client_write(proposal)).await;
            tracing::debug!(
                micros = started.elapsed().as_micros() as u64,
                ops = waiters.len(),
                "client_write"
            );
            let fail = |e: CfsError, waiters: Vec<oneshot::Sender<CommandResult>>| {
                for w in waiters {
                    let _ = w.send(Err(e.clone()));
                }
            };
            match result {
                Ok(Ok(resp)) => {
                    let mut answers = resp.data.into_iter();
                    for w in waiters {
                        let answer = answers
                            .next()
                            .unwrap_or_else(|| Err(CfsError::storage("missing answer in batch")));
                        let _ = w.send(answer);
                    }
                }
                Err(_) => fail(
                    CfsError::Timeout {
                        secs: WRITE_TIMEOUT.as_secs(),
                    },
                    waiters,
                ),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                    fail(CfsError::NoLeader, waiters)
                }
                Ok(Err(e)) => fail(CfsError::rpc(e), waiters),
            }
            drop(permit);
        });
    }
}

impl Cfs {
    /// Opens the stores and starts Raft (not yet a member of anything if new).
    pub async fn start(opts: CfsOptions) -> Result<Arc<Cfs>, CfsError> {
        std::fs::create_dir_all(&opts.data_dir).map_err(CfsError::storage)?;
        let fault = Arc::new(StorageFault::default());
        let log = LogStore::open_reporting(&opts.data_dir.join(LOG_FILE), fault.clone())
            .map_err(CfsError::storage)?;
        let sm = StateMachine::open_reporting(&opts.data_dir.join(STATE_FILE), fault.clone())
            .map_err(CfsError::storage)?;
        sm.spawn_flusher();
        let shared = sm.shared();
        let sm_handle = sm.clone();
        let s = &opts.settings;
        let config = Arc::new(
            Config {
                cluster_name: "brigade".into(),
                heartbeat_interval: s.heartbeat_ms,
                election_timeout_min: s.election_min_ms,
                election_timeout_max: s.election_max_ms,
                install_snapshot_timeout: 10_000,
                snapshot_policy: SnapshotPolicy::LogsSinceLast(s.snapshot_logs),
                max_in_snapshot_log_to_keep: s.keep_logs,
                snapshot_max_chunk_size: 1024 * 1024,
                enable_elect: s.can_lead,
                ..Default::default()
            }
            .validate()
            .map_err(CfsError::invalid)?,
        );
        let quorum = Arc::new(QuorumTracker::new(Duration::from_millis(s.lease_ms)));
        let transport = RaftTransport::new(
            opts.raft_tls.clone(),
            opts.local_addr,
            opts.local_addr1,
            quorum.clone(),
        );
        let (proposals, proposal_rx) = mpsc::unbounded_channel();
        let log_handle = log.clone();
        let raft = Raft::new(opts.node_id, config.clone(), transport.clone(), log, sm)
            .await
            .map_err(CfsError::storage)?;
        let current = Arc::new(RwLock::new(raft.clone()));
        tokio::spawn(run_batcher(current.clone(), proposal_rx));
        let cfs = Arc::new(Cfs {
            id: opts.node_id,
            raft: current,
            shared,
            quorum,
            leader_since: Mutex::new(None),
            leader_contact: Mutex::new(Instant::now()),
            sm: Mutex::new(Some(sm_handle)),
            log: Mutex::new(Some(log_handle)),
            transport,
            proposals,
            write_latency: Default::default(),
            fault,
            config,
            data_dir: opts.data_dir.clone(),
            settings: opts.settings.clone(),
            stopping: AtomicBool::new(false),
        });
        cfs.spawn_metrics_watcher(&raft);
        cfs.spawn_storage_supervisor();
        cfs.spawn_election_guard();
        Ok(cfs)
    }

    /// Follows one Raft instance's metrics until it is gone.
    pub(crate) fn spawn_metrics_watcher(self: &Arc<Self>, raft: &Raft) {
        let weak = Arc::downgrade(self);
        let mut metrics = raft.metrics();
        tokio::spawn(async move {
            loop {
                let Some(cfs) = weak.upgrade() else { return };
                let m = metrics.borrow_and_update().clone();
                cfs.observe_metrics(&m);
                drop(cfs);
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// When this node became Raft leader (on its monotonic clock), if it leads.
    pub fn leader_since(&self) -> Option<Instant> {
        *self.leader_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn observe_metrics(&self, m: &RaftMetrics) {
        let is_leader = m.state == ServerState::Leader;
        if is_leader {
            self.note_leader_contact();
        }
        let mut since = self.leader_since.lock().unwrap_or_else(|p| p.into_inner());
        match (is_leader, since.is_some()) {
            (true, false) => *since = Some(Instant::now()),
            (false, true) => *since = None,
            _ => {}
        }
        let single_voter = m.membership_config.membership().voter_ids().eq([self.id]);
        let acked = if is_leader && single_voter {
            Some(0)
        } else {
            m.millis_since_quorum_ack
        };
        self.quorum.observe(is_leader, acked, Instant::now());
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The running Raft instance.
    pub fn raft(&self) -> Raft {
        self.raft.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// This node heard from a leader now (an append or a snapshot that it accepted).
    pub fn note_leader_contact(&self) {
        *self
            .leader_contact
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// The failed store write that stopped Raft here, while it is not recovered.
    pub fn storage_error(&self) -> Option<String> {
        self.fault.current().map(|f| f.message)
    }

    /// Refuses with the storage failure, if there is one.
    fn check_storage(&self) -> Result<(), CfsError> {
        match self.fault.current() {
            Some(f) => Err(CfsError::StorageFailed { message: f.message }),
            None => Ok(()),
        }
    }

    pub fn quorum(&self) -> &QuorumTracker {
        &self.quorum
    }

    /// Whether this node may write now (never while its storage is failed).
    pub fn is_quorate(&self) -> bool {
        self.fault.current().is_none() && self.quorum.is_quorate(Instant::now())
    }

    /// Whether this node belongs to a cluster (has any membership).
    pub fn is_initialized(&self) -> bool {
        let m = self.raft().metrics().borrow().clone();
        let initialized = m.membership_config.membership().nodes().next().is_some();
        initialized
    }

    /// Makes this node a one-member cluster.
    pub async fn bootstrap(&self, me: Member) -> Result<(), CfsError> {
        let mut members = BTreeMap::new();
        members.insert(self.id, me);
        self.raft()
            .initialize(members)
            .await
            .map_err(CfsError::invalid)?;
        poll_until(Instant::now() + WRITE_TIMEOUT, BOOTSTRAP_POLL, || {
            std::future::ready(self.is_quorate())
        })
        .await
        .map_err(|_| CfsError::Timeout {
            secs: WRITE_TIMEOUT.as_secs(),
        })
    }

    // ---- reads ----

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
        self.check_storage()?;
        if !self.is_quorate() {
            return Err(CfsError::NotQuorate);
        }
        match self.raft().ensure_linearizable().await {
            Ok(log_id) => Ok(log_id.map(|l| l.index).unwrap_or(0)),
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

    // ---- writes ----

    /// Proposes an operation: fails at once without quorum, forwards to the
    /// leader when this node is not it, waits for commit and apply.
    pub async fn propose(&self, op: Op) -> Result<Applied, CfsError> {
        let started = Instant::now();
        let result = self.propose_inner(op).await;
        if result.is_ok() {
            self.write_latency.observe(started.elapsed());
        }
        result
    }

    /// Latency of successful writes proposed through this node.
    pub fn write_latency(&self) -> crate::latency::HistogramSnapshot {
        self.write_latency.snapshot()
    }

    async fn propose_inner(&self, op: Op) -> Result<Applied, CfsError> {
        self.check_storage()?;
        if !self.is_quorate() {
            return Err(CfsError::NotQuorate);
        }
        let m = self.raft().metrics().borrow().clone();
        if m.current_leader == Some(self.id) {
            return self.propose_as_leader(op).await;
        }
        let leader = m.current_leader.ok_or(CfsError::NoLeader)?;
        let node = m
            .membership_config
            .membership()
            .get_node(&leader)
            .cloned()
            .ok_or(CfsError::NoLeader)?;
        let applied: Applied = self.forward(&node, KIND_PROPOSE, &op).await?;
        // Read your writes: a forwarded write returns once this replica applied it too.
        if !self
            .wait_applied(applied.version, LOCAL_APPLY_TIMEOUT)
            .await
        {
            tracing::debug!(
                version = applied.version,
                "write committed but not yet applied here"
            );
        }
        Ok(applied)
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

    /// Runs a proposal on the leader (also the target of forwarded writes).
    pub async fn propose_as_leader(&self, op: Op) -> Result<Applied, CfsError> {
        self.check_storage()?;
        if !self.is_quorate() {
            return Err(CfsError::NotQuorate);
        }
        let op = self.resolve_lock_expiry(op);
        let (tx, rx) = oneshot::channel();
        self.proposals
            .send((op, tx))
            .map_err(|_| CfsError::storage("the proposal batcher stopped"))?;
        match rx.await {
            Ok(answer) => answer,
            Err(_) => Err(CfsError::NoLeader),
        }
    }

    /// On the leader: a lock held by another owner whose lease has run out on
    /// this node's monotonic clock (counting from when this node last saw it
    /// renewed, and at least one full lease since it became leader) may be stolen.
    fn resolve_lock_expiry(&self, op: Op) -> Op {
        let Op::Lock {
            path,
            owner,
            lease_ms,
            steal_generation: None,
        } = op
        else {
            return op;
        };
        let held = self.shared.read().tree.lock(&path).cloned();
        let steal_generation = held.and_then(|h| {
            if h.owner == owner {
                return None;
            }
            let lease = Duration::from_millis(h.lease_ms);
            let since_leader =
                (*self.leader_since.lock().unwrap_or_else(|p| p.into_inner()))?.elapsed();
            let since_seen = self
                .shared
                .lock_seen_at(path.as_str())
                .map(|t| t.elapsed())
                .unwrap_or(since_leader);
            (since_leader > lease && since_seen > lease).then_some(h.generation)
        });
        Op::Lock {
            path,
            owner,
            lease_ms,
            steal_generation,
        }
    }

    async fn forward<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        leader: &Member,
        kind: u16,
        req: &Req,
    ) -> Result<Resp, CfsError> {
        let result: Result<Resp, CfsError> = self
            .transport
            .request(leader, kind, req, WRITE_TIMEOUT)
            .await
            .map_err(|e| CfsError::rpc(format!("forwarding to leader {}: {e}", leader.name)))?;
        result
    }
}
