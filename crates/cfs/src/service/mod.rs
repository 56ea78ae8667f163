//! The cfs handle used by the node: quorum-gated writes forwarded to the
//! leader, local and read-index reads, watches, membership changes. This file
//! opens it and holds its state; each job has a file of its own below.

mod batcher;
mod history;
mod members;
mod reads;
mod status;
mod writes;

use batcher::run_batcher;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openraft::{Config, ServerState, SnapshotPolicy};
use tokio::sync::{mpsc, oneshot};

use brigade_core::poll_until;

use crate::command::{CommandResult, Op};
use crate::error::CfsError;
use crate::integrity;
use crate::log_store::LogStore;
use crate::network::RaftTransport;
use crate::quorum::QuorumTracker;
use crate::state_machine::{Shared, StateMachine};
use crate::storage_fault::StorageFault;
use crate::types::{Member, NodeId, Raft, RaftMetrics};

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

/// The default bound of the log's bytes since the last snapshot.
pub const SNAPSHOT_LOG_BYTES: u64 = 8 * 1024 * 1024;

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
    /// Also take a snapshot once the entries since the last one hold this many bytes (0: never).
    pub snapshot_log_bytes: u64,
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
            snapshot_log_bytes: SNAPSHOT_LOG_BYTES,
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
    /// Woken by the log store when its entries pass the snapshot bound.
    pub(crate) log_bound_passed: Arc<tokio::sync::Notify>,
}

impl Cfs {
    /// Opens the stores and starts Raft (not yet a member of anything if new).
    pub async fn start(opts: CfsOptions) -> Result<Arc<Cfs>, CfsError> {
        std::fs::create_dir_all(&opts.data_dir).map_err(CfsError::storage)?;
        if let Some(why) = integrity::earlier_corruption(&opts.data_dir) {
            return Err(CfsError::Corrupted {
                message: format!("found earlier ({why})"),
            });
        }
        let fault = Arc::new(StorageFault::default());
        let opened = LogStore::open_reporting(&opts.data_dir.join(LOG_FILE), fault.clone())
            .and_then(|log| {
                StateMachine::open_reporting(&opts.data_dir.join(STATE_FILE), fault.clone())
                    .map(|sm| (log, sm))
            });
        let (log, sm) = match opened {
            Ok(stores) => stores,
            Err(e) if integrity::is_corruption(&e) => {
                let message = e.to_string();
                integrity::mark_corrupted(&opts.data_dir, &message);
                tracing::error!("{message}: this node's replica cannot be trusted");
                return Err(CfsError::Corrupted { message });
            }
            Err(e) => return Err(CfsError::storage(e)),
        };
        // The leader's own entries are acknowledged before their fsync, replication
        // going on meanwhile; applying and the commit sent to followers wait for it.
        log.enable_early_ack(opts.node_id);
        let sm = sm.gated_on(log.durable());
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
            crate::learner_beats::learner_interval(
                Duration::from_millis(s.heartbeat_ms),
                Duration::from_millis(s.lease_ms),
            ),
        );
        transport.follow_durable(log.durable());
        let (proposals, proposal_rx) = mpsc::unbounded_channel();
        let log_handle = log.clone();
        let log_bound_passed = Arc::new(tokio::sync::Notify::new());
        log.notify_past(s.snapshot_log_bytes, log_bound_passed.clone());
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
            write_latency: crate::latency::Histogram::default(),
            fault,
            config,
            data_dir: opts.data_dir.clone(),
            settings: opts.settings.clone(),
            stopping: AtomicBool::new(false),
            log_bound_passed,
        });
        cfs.spawn_metrics_watcher(&raft);
        cfs.spawn_storage_supervisor();
        cfs.spawn_snapshot_trigger();
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
                // Read in place: on a leader the metrics (with the replication map of
                // every member) change after every answered append, and a clone per
                // change was a good part of an idle leader's allocations.
                cfs.observe_metrics(&metrics.borrow_and_update());
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
        self.transport.learners().observe(
            is_leader.then_some(m.vote),
            *m.membership_config.log_id(),
            m.membership_config.membership().learner_ids(),
        );
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
}
