//! The Raft state machine: the tree in memory for fast reads, mirrored to redb, with snapshots.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use redb::{Database, Durability};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::command::{Change, ChangeKind, Command, ProposalResult};
use crate::state_flush::{Dirty, FlushState};
use crate::state_store;
use crate::storage_fault::StorageFault;
use crate::tree::Tree;
use crate::types::{
    storage_err, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// How many changes a slow watcher may fall behind before it is told it lagged.
pub const WATCH_BUFFER: usize = 4096;
/// How often applied changes are written to redb (mostly not fsynced: the Raft
/// log is the durable record; a crash re-applies from the last persisted index).
pub const STATE_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Every this many flushes one is durable (fsynced). redb frees the pages a
/// commit replaces only at a durable commit: with non-durable commits alone the
/// file grew by every rewritten entry, forever (issue 13, item 4). So the file
/// holds at most this many flushes' worth of replaced pages beyond the tree...
pub const STATE_DURABLE_EVERY: u32 = 10;
/// ...and a flush is durable sooner once the records written since the last
/// durable one exceed the tree's size (or this much, for a small tree): the
/// replaced pages stay within about one more copy of the tree.
pub const STATE_GARBAGE_MIN_BYTES: u64 = 256 * 1024;

/// Everything the state machine holds, behind one lock so reads are consistent.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SmState {
    pub tree: Tree,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

/// State shared between the state machine (driven by Raft) and readers.
#[derive(Debug)]
pub struct Shared {
    state: RwLock<SmState>,
    pub changes: broadcast::Sender<Change>,
    /// What changed in memory since the last flush to redb (files, locks, history).
    dirty: Mutex<Dirty>,
    /// Serializes flushes so an older flush never overwrites a newer one.
    flush_lock: Mutex<FlushState>,
    /// When this replica last saw each lock taken or renewed (monotonic clock).
    lock_seen: Mutex<BTreeMap<String, Instant>>,
    /// The first failed write of this node's stores, until they are reopened.
    fault: Arc<StorageFault>,
}

impl Shared {
    pub fn read(&self) -> RwLockReadGuard<'_, SmState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, SmState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
    fn seen(&self) -> MutexGuard<'_, BTreeMap<String, Instant>> {
        self.lock_seen.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(crate) fn dirty(&self) -> MutexGuard<'_, Dirty> {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn flush_state(&self) -> MutexGuard<'_, FlushState> {
        self.flush_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When this replica last saw the lock at `path` taken or renewed, or
    /// received it in a snapshot (which counts as just taken: a full lease).
    pub fn lock_seen_at(&self, path: &str) -> Option<Instant> {
        self.seen().get(path).copied()
    }

    /// The storage failure shared with the log store.
    pub fn fault(&self) -> &Arc<StorageFault> {
        &self.fault
    }

    /// Publishes applied changes, keeping the lock clocks.
    fn publish(&self, changes: Vec<Change>) {
        {
            let now = Instant::now();
            let mut seen = self.seen();
            for c in &changes {
                match c.kind {
                    ChangeKind::Locked { .. } => {
                        seen.insert(c.path.clone(), now);
                    }
                    ChangeKind::Unlocked => {
                        seen.remove(&c.path);
                    }
                    _ => {}
                }
            }
        }
        for c in changes {
            let _ = self.changes.send(c);
        }
    }
}

/// The redb-backed state machine.
#[derive(Clone)]
pub struct StateMachine {
    db: Arc<Database>,
    shared: Arc<Shared>,
    /// Applies only what is durable in the log (the leader's early acknowledgement,
    /// `early_ack.rs`); None: the log acknowledges nothing early.
    durable: Option<tokio::sync::watch::Receiver<crate::early_ack::Durable>>,
}

fn snap_err(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    storage_err(ErrorSubject::Snapshot(None), verb, e)
}

/// Snapshot payload: the whole state.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    #[serde(with = "crate::b64")]
    data: Vec<u8>,
}

/// The snapshot of a state: its metadata, its data, and the record stored for it.
fn snapshot_of(st: &SmState) -> Result<(SnapshotMeta, Vec<u8>, Vec<u8>), serde_json::Error> {
    let data = serde_json::to_vec(st)?;
    let id = match &st.last_applied {
        Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, st.tree.version()),
        None => format!("0-0-{}", st.tree.version()),
    };
    let meta = SnapshotMeta {
        last_log_id: st.last_applied,
        last_membership: st.membership.clone(),
        snapshot_id: id,
    };
    let file = serde_json::to_vec(&SnapshotFile {
        meta: meta.clone(),
        data: data.clone(),
    })?;
    Ok((meta, data, file))
}

impl StateMachine {
    /// Opens the database and loads the tree into memory.
    pub fn open(path: &Path) -> Result<Self, redb::Error> {
        Self::open_reporting(path, Arc::default())
    }

    /// Like [`StateMachine::open`], reporting write failures to `fault`.
    pub fn open_reporting(path: &Path, fault: Arc<StorageFault>) -> Result<Self, redb::Error> {
        let db = crate::compaction::open_compacted(path)?;
        state_store::create_tables(&db)?;
        let state = state_store::load(&db)?;
        let (changes, _) = broadcast::channel(WATCH_BUFFER);
        Ok(StateMachine {
            db: Arc::new(db),
            durable: None,
            shared: Arc::new(Shared {
                flush_lock: Mutex::new(FlushState {
                    since_durable: 0,
                    bytes_since_durable: 0,
                    persisted_applied: state.last_applied,
                }),
                state: RwLock::new(state),
                changes,
                dirty: Mutex::new(Dirty::default()),
                lock_seen: Mutex::new(BTreeMap::new()),
                fault,
            }),
        })
    }

    /// Reopens the file after a storage failure (its old handle must be gone),
    /// keeping the in-memory state, which is never behind the file: it is
    /// written whole, with a snapshot of it, so the file matches memory again.
    pub fn reopen(path: &Path, shared: Arc<Shared>) -> Result<Self, redb::Error> {
        let mut db = crate::integrity::create_db(path)?;
        state_store::create_tables(&db)?;
        {
            let mut fs = shared.flush_state();
            let st = shared.read();
            let (_, _, file) =
                snapshot_of(&st).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            state_store::write_full(&db, &st, &file)?;
            *shared.dirty() = Default::default();
            fs.persisted_applied = st.last_applied;
            fs.since_durable = 0;
            fs.bytes_since_durable = 0;
        }
        // The whole state was just rewritten: give back what the old copy held.
        crate::compaction::compact(path, &mut db);
        Ok(StateMachine {
            db: Arc::new(db),
            shared,
            durable: None,
        })
    }

    /// Applies an entry only once the log holds it durably (see `early_ack.rs`).
    pub fn gated_on(
        mut self,
        durable: tokio::sync::watch::Receiver<crate::early_ack::Durable>,
    ) -> Self {
        self.durable = Some(durable);
        self
    }

    /// Starts the background flusher; it stops when the state machine is
    /// dropped, or at the first failed write (reported to the storage fault).
    pub fn spawn_flusher(&self) {
        let weak = Arc::downgrade(&self.shared);
        let db = Arc::downgrade(&self.db);
        let spawned = std::thread::Builder::new()
            .name("cfs-state-flush".into())
            .spawn(move || loop {
                std::thread::sleep(STATE_FLUSH_INTERVAL);
                let (Some(shared), Some(db)) = (weak.upgrade(), db.upgrade()) else {
                    return;
                };
                let sm = StateMachine {
                    db,
                    shared,
                    durable: None,
                };
                if let Err(e) = sm.flush_tick() {
                    tracing::error!("state machine flush failed: {e}");
                    sm.shared.fault.report(format!("state write failed: {e}"));
                    return;
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the state flusher: {e}");
        }
    }

    /// One flush of the background flusher: nothing when nothing changed,
    /// else a commit that is durable every [`STATE_DURABLE_EVERY`] commits.
    /// Returns whether it committed.
    pub fn flush_tick(&self) -> Result<bool, redb::Error> {
        let mut fs = self.shared.flush_state();
        self.flush_locked(&mut fs, None)
    }

    /// Writes every path changed since the last flush, with the metadata, in one transaction.
    pub fn flush(&self, durability: Durability) -> Result<(), redb::Error> {
        let mut fs = self.shared.flush_state();
        self.flush_locked(&mut fs, Some(durability)).map(|_| ())
    }

    pub(crate) fn shared_ref(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn db_ref(&self) -> &Database {
        &self.db
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Replaces the recorded membership (emergency recovery only).
    pub fn force_membership(&self, m: StoredMembership) {
        self.shared.write().membership = m;
    }

    /// Reports a failed write of this store and turns it into Raft's error.
    fn failed(&self, verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
        self.shared.fault.report(format!("state write failed: {e}"));
        snap_err(verb, e)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data, file) =
            snapshot_of(&self.shared.read()).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        // Flush the state durably first: logs purged after this snapshot are never needed again.
        tokio::task::block_in_place(|| -> Result<(), redb::Error> {
            self.flush(Durability::Immediate)?;
            state_store::write_snapshot(&self.db, &file)
        })
        .map_err(|e| self.failed(ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let st = self.shared.read();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ProposalResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if let (Some(durable), Some(last)) = (self.durable.as_mut(), entries.last()) {
            crate::early_ack::wait_durable(durable, last.log_id.index).await?;
        }
        let mut results = Vec::new();
        let mut changes = Vec::new();
        {
            let mut st = self.shared.write();
            for entry in entries {
                st.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => results.push(Vec::new()),
                    EntryPayload::Normal(proposal) => {
                        let mut answers = Vec::with_capacity(proposal.ops.len());
                        for op in proposal.ops {
                            let (r, ch) = st.tree.apply(&Command {
                                op,
                                mtime: proposal.mtime,
                            });
                            answers.push(r);
                            changes.extend(ch);
                        }
                        results.push(answers);
                    }
                    EntryPayload::Membership(m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m);
                        results.push(Vec::new());
                    }
                }
            }
            let (touched_files, touched_locks) = st.tree.take_touched();
            let touched_history = st.tree.take_touched_history();
            let mut dirty = self.shared.dirty();
            dirty.0.extend(touched_files);
            dirty.1.extend(touched_locks);
            dirty.2.extend(touched_history);
        }
        self.shared.publish(changes);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    /// Replaces the state with the snapshot's. Watchers get a change for every
    /// path whose content or version differs and for every removal (a renewal
    /// that arrives in a snapshot is seen like one applied from the log), and
    /// every lock the snapshot holds restarts its lease clock here as if just
    /// taken: a full lease before the leader may steal it.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let shared = self.shared.clone();
        let mut fs = shared.flush_state();
        let data = snapshot.into_inner();
        let received: SmState =
            serde_json::from_slice(&data).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let new_state = SmState {
            tree: {
                let t = &received.tree;
                let mut tree = Tree::from_parts(
                    t.entries().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    t.locks().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    t.version(),
                );
                // The previous versions come with the snapshot: every replica keeps the same.
                tree.set_history(t.history().clone());
                tree
            },
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        let file = serde_json::to_vec(&SnapshotFile {
            meta: meta.clone(),
            data,
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        tokio::task::block_in_place(|| state_store::write_full(&self.db, &new_state, &file))
            .map_err(|e| self.failed(ErrorVerb::Write, e))?;
        let now = Instant::now();
        let lock_paths: Vec<String> = new_state.tree.locks().map(|(k, _)| k.clone()).collect();
        let changes = {
            let mut st = shared.write();
            let changes = crate::snapshot_diff::changes(&st.tree, &new_state.tree);
            *st = new_state;
            *shared.dirty() = Default::default();
            *shared.seen() = lock_paths.into_iter().map(|p| (p, now)).collect();
            fs.persisted_applied = st.last_applied;
            fs.since_durable = 0;
            fs.bytes_since_durable = 0;
            changes
        };
        drop(fs);
        tracing::info!(snapshot = %meta.snapshot_id, changes = changes.len(), "installed snapshot");
        // The lock clocks are already restarted for every lock, changed or not.
        for c in changes {
            let _ = shared.changes.send(c);
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(v) =
            state_store::read_snapshot(&self.db).map_err(|e| snap_err(ErrorVerb::Read, e))?
        else {
            return Ok(None);
        };
        let file: SnapshotFile =
            serde_json::from_slice(&v).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(file.data)),
        }))
    }
}
