//! The Raft state machine: the tree in memory for fast reads, mirrored to redb, with snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use redb::{Database, Durability, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::command::{Change, Command, ProposalResult};
use crate::tree::{Entry as TreeEntry, LockState, Tree};
use crate::types::{
    storage_err, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
const LOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("locks");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
const KEY_APPLIED: &str = "last_applied";
const KEY_MEMBERSHIP: &str = "membership";
const KEY_VERSION: &str = "version";
const KEY_SNAP_META: &str = "meta";
const KEY_SNAP_DATA: &str = "data";
/// How many changes a slow watcher may fall behind before it is told it lagged.
pub const WATCH_BUFFER: usize = 4096;
/// How often applied changes are written to redb (not fsynced: the Raft log is
/// the durable record; a crash re-applies from the last persisted index).
pub const STATE_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

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
    /// Paths changed in memory since the last flush to redb (files, locks).
    dirty: Mutex<(BTreeSet<String>, BTreeSet<String>)>,
    /// Serializes flushes so an older flush never overwrites a newer one.
    flush_lock: Mutex<()>,
}

impl Shared {
    pub fn read(&self) -> RwLockReadGuard<'_, SmState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, SmState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The redb-backed state machine.
#[derive(Clone)]
pub struct StateMachine {
    db: Arc<Database>,
    shared: Arc<Shared>,
}

fn snap_err(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    storage_err(ErrorSubject::Snapshot(None), verb, e)
}

impl StateMachine {
    /// Opens the database and loads the tree into memory.
    pub fn open(path: &Path) -> Result<Self, redb::Error> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        for t in [FILES, LOCKS, META, SNAPSHOT] {
            txn.open_table(t)?;
        }
        txn.commit()?;
        let r = db.begin_read()?;
        let decode =
            |e: serde_json::Error| redb::Error::Corrupted(format!("state machine record: {e}"));
        let mut entries = BTreeMap::new();
        for item in r.open_table(FILES)?.iter()? {
            let (k, v) = item?;
            entries.insert(
                k.value().to_string(),
                serde_json::from_slice::<TreeEntry>(v.value()).map_err(decode)?,
            );
        }
        let mut locks = BTreeMap::new();
        for item in r.open_table(LOCKS)?.iter()? {
            let (k, v) = item?;
            locks.insert(
                k.value().to_string(),
                serde_json::from_slice::<LockState>(v.value()).map_err(decode)?,
            );
        }
        let meta = r.open_table(META)?;
        let get = |key: &str| -> Result<Option<Vec<u8>>, redb::Error> {
            Ok(meta.get(key)?.map(|v| v.value().to_vec()))
        };
        let last_applied = match get(KEY_APPLIED)? {
            Some(b) => serde_json::from_slice(&b).map_err(decode)?,
            None => None,
        };
        let membership = match get(KEY_MEMBERSHIP)? {
            Some(b) => serde_json::from_slice(&b).map_err(decode)?,
            None => StoredMembership::default(),
        };
        let version = match get(KEY_VERSION)? {
            Some(b) => serde_json::from_slice(&b).map_err(decode)?,
            None => 0,
        };
        drop(meta);
        drop(r);
        let state = SmState {
            tree: Tree::from_parts(entries, locks, version),
            last_applied,
            membership,
        };
        let (changes, _) = broadcast::channel(WATCH_BUFFER);
        Ok(StateMachine {
            db: Arc::new(db),
            shared: Arc::new(Shared {
                state: RwLock::new(state),
                changes,
                dirty: Mutex::new((BTreeSet::new(), BTreeSet::new())),
                flush_lock: Mutex::new(()),
            }),
        })
    }

    /// Starts the background flusher; it stops when the state machine is dropped.
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
                let sm = StateMachine { db, shared };
                if let Err(e) = sm.flush(Durability::None) {
                    tracing::error!("state machine flush failed: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the state flusher: {e}");
        }
    }

    /// Writes every path changed since the last flush, with the metadata, in one transaction.
    pub fn flush(&self, durability: Durability) -> Result<(), redb::Error> {
        let _serial = self
            .shared
            .flush_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let encode = |e: serde_json::Error| redb::Error::Corrupted(e.to_string());
        let (files, locks, meta) = {
            let st = self.shared.read();
            let (touched_files, touched_locks) =
                std::mem::take(&mut *self.shared.dirty.lock().unwrap_or_else(|p| p.into_inner()));
            let mut files = Vec::with_capacity(touched_files.len());
            for k in touched_files {
                let v = match k.parse().ok().and_then(|p| st.tree.get(&p)) {
                    Some(e) => Some(serde_json::to_vec(e).map_err(encode)?),
                    None => None,
                };
                files.push((k, v));
            }
            let mut locks = Vec::with_capacity(touched_locks.len());
            for k in touched_locks {
                let v = match k.parse().ok().and_then(|p| st.tree.lock(&p)) {
                    Some(l) => Some(serde_json::to_vec(l).map_err(encode)?),
                    None => None,
                };
                locks.push((k, v));
            }
            (files, locks, Self::meta_records(&st).map_err(encode)?)
        };
        self.persist(files, locks, meta, durability)
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Replaces the recorded membership (emergency recovery only).
    pub fn force_membership(&self, m: StoredMembership) {
        self.shared.write().membership = m;
    }

    /// Writes the touched entries and the metadata in one redb transaction.
    fn persist(
        &self,
        files: Vec<(String, Option<Vec<u8>>)>,
        locks: Vec<(String, Option<Vec<u8>>)>,
        meta: Vec<(&'static str, Vec<u8>)>,
        durability: Durability,
    ) -> Result<(), redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability);
        {
            let mut t = txn.open_table(FILES)?;
            for (k, v) in &files {
                match v {
                    Some(bytes) => t.insert(k.as_str(), bytes.as_slice())?,
                    None => t.remove(k.as_str())?,
                };
            }
            let mut t = txn.open_table(LOCKS)?;
            for (k, v) in &locks {
                match v {
                    Some(bytes) => t.insert(k.as_str(), bytes.as_slice())?,
                    None => t.remove(k.as_str())?,
                };
            }
            let mut t = txn.open_table(META)?;
            for (k, v) in &meta {
                t.insert(*k, v.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn meta_records(state: &SmState) -> Result<Vec<(&'static str, Vec<u8>)>, serde_json::Error> {
        Ok(vec![
            (KEY_APPLIED, serde_json::to_vec(&state.last_applied)?),
            (KEY_MEMBERSHIP, serde_json::to_vec(&state.membership)?),
            (KEY_VERSION, serde_json::to_vec(&state.tree.version())?),
        ])
    }
}

/// Snapshot payload: the whole state.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    #[serde(with = "crate::b64")]
    data: Vec<u8>,
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, meta) = {
            let st = self.shared.read();
            let data = serde_json::to_vec(&*st).map_err(|e| snap_err(ErrorVerb::Write, e))?;
            let id = match &st.last_applied {
                Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, st.tree.version()),
                None => format!("0-0-{}", st.tree.version()),
            };
            let meta = SnapshotMeta {
                last_log_id: st.last_applied,
                last_membership: st.membership.clone(),
                snapshot_id: id,
            };
            (data, meta)
        };
        let file = serde_json::to_vec(&SnapshotFile {
            meta: meta.clone(),
            data: data.clone(),
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let db = self.db.clone();
        // Flush the state durably first: logs purged after this snapshot are never needed again.
        tokio::task::block_in_place(|| -> Result<(), redb::Error> {
            self.flush(Durability::Immediate)?;
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            {
                let mut t = txn.open_table(SNAPSHOT)?;
                t.insert(KEY_SNAP_META, b"".as_slice())?;
                t.insert(KEY_SNAP_DATA, file.as_slice())?;
            }
            txn.commit()?;
            Ok(())
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
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
            let mut dirty = self.shared.dirty.lock().unwrap_or_else(|p| p.into_inner());
            dirty.0.extend(touched_files);
            dirty.1.extend(touched_locks);
        }
        for c in changes {
            let _ = self.shared.changes.send(c);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let shared = self.shared.clone();
        let _serial = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        let data = snapshot.into_inner();
        let mut new_state: SmState =
            serde_json::from_slice(&data).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        new_state.last_applied = meta.last_log_id;
        new_state.membership = meta.last_membership.clone();
        let new_state = SmState {
            tree: {
                let t = &new_state.tree;
                Tree::from_parts(
                    t.entries().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    t.locks().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    t.version(),
                )
            },
            ..new_state
        };
        let file = serde_json::to_vec(&SnapshotFile {
            meta: meta.clone(),
            data,
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let db = self.db.clone();
        let encode = |e: serde_json::Error| redb::Error::Corrupted(e.to_string());
        tokio::task::block_in_place(|| -> Result<(), redb::Error> {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            txn.delete_table(FILES)?;
            txn.delete_table(LOCKS)?;
            {
                let mut files = txn.open_table(FILES)?;
                for (k, v) in new_state.tree.entries() {
                    files.insert(
                        k.as_str(),
                        serde_json::to_vec(v).map_err(encode)?.as_slice(),
                    )?;
                }
                let mut locks = txn.open_table(LOCKS)?;
                for (k, v) in new_state.tree.locks() {
                    locks.insert(
                        k.as_str(),
                        serde_json::to_vec(v).map_err(encode)?.as_slice(),
                    )?;
                }
                let mut m = txn.open_table(META)?;
                for (k, v) in Self::meta_records(&new_state).map_err(encode)? {
                    m.insert(k, v.as_slice())?;
                }
                let mut s = txn.open_table(SNAPSHOT)?;
                s.insert(KEY_SNAP_DATA, file.as_slice())?;
            }
            txn.commit()?;
            Ok(())
        })
        .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        *self.shared.dirty.lock().unwrap_or_else(|p| p.into_inner()) = Default::default();
        *self.shared.write() = new_state;
        tracing::info!(snapshot = %meta.snapshot_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let r = self
            .db
            .begin_read()
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let t = r
            .open_table(SNAPSHOT)
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let Some(v) = t
            .get(KEY_SNAP_DATA)
            .map_err(|e| snap_err(ErrorVerb::Read, e))?
        else {
            return Ok(None);
        };
        let file: SnapshotFile =
            serde_json::from_slice(v.value()).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(file.data)),
        }))
    }
}
