//! The Raft log in redb, written by one ordered writer thread with group
//! commit: every append queued meanwhile shares one fsync, and openraft is
//! told through `LogFlushed` once its entries are durable (the leader's own
//! entries at once, behind the gates of `early_ack.rs`). Recent entries stay
//! in memory so reads never wait for the disk.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use redb::{Database, ReadableTable, TableDefinition};

use crate::early_ack::{self, Durable};
use crate::log_sizes::LogSizes;
use crate::storage_fault::StorageFault;
use crate::types::{storage_err, Entry, LogId, NodeId, StorageError, TypeConfig, Vote};

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "purged";
/// Durable entries kept in memory for fast reads by replication.
pub const CACHE_KEEP_ENTRIES: u64 = 512;

/// The redb-backed Raft log.
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
    writer: mpsc::Sender<WriteOp>,
}

struct Shared {
    db: Arc<Database>,
    cache: Mutex<Cache>,
    /// Where a failed write is reported.
    fault: Arc<StorageFault>,
    /// Woken when an append leaves the log holding more than the bound.
    bound_watch: Mutex<Option<(u64, Arc<tokio::sync::Notify>)>>,
    /// This node's id once its own entries as leader may be acknowledged before they
    /// are durable (`early_ack.rs`).
    early_ack: OnceLock<NodeId>,
    /// What is durable, published after every batch (`early_ack.rs`'s gates).
    durable: tokio::sync::watch::Sender<Durable>,
}

#[derive(Default)]
struct Cache {
    /// Entries not yet durable, plus the most recent durable ones.
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    committed: Option<LogId>,
    purged: Option<LogId>,
    /// Last entry id in the log (memory view, including not-yet-durable entries).
    last: Option<LogId>,
    /// Every index at or below this is durable in redb.
    durable_upto: u64,
    /// Truncations so far: an append queued before one never raises `durable_upto`.
    truncations: u64,
    /// The encoded size of every entry held (for snapshots by bytes).
    sizes: LogSizes,
}

/// The outcome of one batch of log writes, shared by every waiter of the batch.
type WriteResult = Result<(), Arc<redb::Error>>;

enum WriteOp {
    Append {
        entries: Vec<(u64, Vec<u8>)>,
        last_log_id: LogId,
        /// [`Cache::truncations`] when it was queued.
        epoch: u64,
        /// None: acknowledged already (the leader's own entries, `early_ack.rs`).
        callback: Option<LogFlushed<TypeConfig>>,
    },
    Truncate {
        from: u64,
        done: tokio::sync::oneshot::Sender<WriteResult>,
    },
    Purge {
        upto: u64,
        record: Vec<u8>,
        done: tokio::sync::oneshot::Sender<WriteResult>,
    },
    Meta {
        key: &'static str,
        value: Vec<u8>,
        durable: bool,
        done: Option<tokio::sync::oneshot::Sender<WriteResult>>,
    },
}

fn logs_err(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    storage_err(ErrorSubject::Logs, verb, e)
}

impl Shared {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LogStore {
    /// Opens (or creates) the log database and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, redb::Error> {
        Self::open_reporting(path, Arc::default())
    }

    /// Like [`LogStore::open`], reporting write failures to `fault`.
    pub fn open_reporting(path: &Path, fault: Arc<StorageFault>) -> Result<Self, redb::Error> {
        let db = crate::compaction::open_compacted(path)?;
        let txn = db.begin_write()?;
        txn.open_table(LOGS)?;
        txn.open_table(META)?;
        txn.commit()?;
        let mut cache = Cache::default();
        {
            let r = db.begin_read()?;
            let meta = r.open_table(META)?;
            let decode =
                |e: serde_json::Error| redb::Error::Corrupted(format!("raft log record: {e}"));
            let get = |k: &str| -> Result<Option<Vec<u8>>, redb::Error> {
                Ok(meta.get(k)?.map(|v| v.value().to_vec()))
            };
            if let Some(b) = get(KEY_VOTE)? {
                cache.vote = serde_json::from_slice(&b).map_err(decode)?;
            }
            if let Some(b) = get(KEY_COMMITTED)? {
                cache.committed = serde_json::from_slice(&b).map_err(decode)?;
            }
            if let Some(b) = get(KEY_PURGED)? {
                cache.purged = serde_json::from_slice(&b).map_err(decode)?;
            }
            let logs = r.open_table(LOGS)?;
            for item in logs.iter()? {
                let (index, bytes) = item?;
                cache
                    .sizes
                    .insert(index.value(), bytes.value().len() as u64);
            }
            let last = logs.last()?;
            cache.last = match last {
                Some((_, v)) => Some(
                    serde_json::from_slice::<Entry>(v.value())
                        .map_err(decode)?
                        .log_id,
                ),
                None => cache.purged,
            };
            cache.durable_upto = cache.last.map(|l| l.index).unwrap_or(0);
        }
        let (durable, _) = tokio::sync::watch::channel(Durable {
            upto: cache.durable_upto,
            log_id: cache.last,
            failed: false,
        });
        let shared = Arc::new(Shared {
            db: Arc::new(db),
            cache: Mutex::new(cache),
            fault,
            bound_watch: Mutex::new(None),
            early_ack: OnceLock::new(),
            durable,
        });
        let (tx, rx) = mpsc::channel();
        let writer_shared = shared.clone();
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer::writer_loop(writer_shared, rx))
            .map_err(|e| redb::Error::Corrupted(format!("cannot start the log writer: {e}")))?;
        Ok(LogStore { shared, writer: tx })
    }

    /// Lets node `me`'s own entries as leader be acknowledged before they are durable,
    /// behind the gates of `early_ack.rs`: whoever applies or sends the commit index
    /// must follow [`LogStore::durable`].
    pub fn enable_early_ack(&self, me: NodeId) {
        let _ = self.shared.early_ack.set(me);
    }

    /// What of the log is durable, as it changes.
    pub fn durable(&self) -> tokio::sync::watch::Receiver<Durable> {
        self.shared.durable.subscribe()
    }

    /// The id of the last entry in the log (held in memory, durable or not).
    pub fn last_log_id(&self) -> Option<LogId> {
        let c = self.shared.cache();
        c.last.or(c.purged)
    }

    /// Bytes of the entries after `index` (all for `None`): what a snapshot at `index` leaves.
    pub fn bytes_after(&self, index: Option<u64>) -> u64 {
        self.shared.cache().sizes.bytes_after(index)
    }

    /// Wakes `notify` whenever an append leaves the log holding more than `bytes`.
    pub fn notify_past(&self, bytes: u64, notify: Arc<tokio::sync::Notify>) {
        *self
            .shared
            .bound_watch
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((bytes, notify));
    }

    /// See [`LogSizes::purge_point`].
    pub fn purge_point(&self, snapshot: u64, keep_bytes: u64) -> Option<u64> {
        self.shared.cache().sizes.purge_point(snapshot, keep_bytes)
    }

    async fn completed(
        wait: tokio::sync::oneshot::Receiver<WriteResult>,
    ) -> Result<(), StorageError> {
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(logs_err(ErrorVerb::Write, e)),
            Err(_) => Err(logs_err(ErrorVerb::Write, "the log writer thread stopped")),
        }
    }

    fn send(&self, op: WriteOp) -> Result<(), StorageError> {
        self.writer
            .send(op)
            .map_err(|_| logs_err(ErrorVerb::Write, "the log writer thread stopped"))
    }

    async fn write_meta<T: serde::Serialize>(
        &self,
        key: &'static str,
        value: &T,
        durable: bool,
        wait: bool,
    ) -> Result<(), StorageError> {
        let value = serde_json::to_vec(value).map_err(|e| logs_err(ErrorVerb::Write, e))?;
        if !wait {
            return self.send(WriteOp::Meta {
                key,
                value,
                durable,
                done: None,
            });
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.send(WriteOp::Meta {
            key,
            value,
            durable,
            done: Some(done_tx),
        })?;
        Self::completed(done_rx).await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(x) => Some(x + 1),
            Bound::Excluded(x) => Some(*x),
            Bound::Unbounded => None,
        };
        let (cached, cache_start) = {
            let c = self.shared.cache();
            let cache_start = c.entries.keys().next().copied().unwrap_or(u64::MAX);
            let from = start.max(cache_start);
            let cached: Vec<Entry> = match end {
                Some(e) if e <= from => Vec::new(),
                Some(e) => c.entries.range(from..e).map(|(_, v)| v.clone()).collect(),
                None => c.entries.range(from..).map(|(_, v)| v.clone()).collect(),
            };
            (cached, cache_start)
        };
        if start >= cache_start {
            return Ok(cached);
        }
        // Older entries are durable: read them from redb.
        let disk_end = end.map(|e| e.min(cache_start)).unwrap_or(cache_start);
        let r = self
            .shared
            .db
            .begin_read()
            .map_err(|e| logs_err(ErrorVerb::Read, e))?;
        let t = r
            .open_table(LOGS)
            .map_err(|e| logs_err(ErrorVerb::Read, e))?;
        let mut out = Vec::new();
        for item in t
            .range(start..disk_end)
            .map_err(|e| logs_err(ErrorVerb::Read, e))?
        {
            let (_, v) = item.map_err(|e| logs_err(ErrorVerb::Read, e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| logs_err(ErrorVerb::Read, e))?);
        }
        out.extend(cached);
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let c = self.shared.cache();
        Ok(LogState {
            last_purged_log_id: c.purged,
            last_log_id: c.last.or(c.purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.shared.cache().vote = Some(*vote);
        self.write_meta(KEY_VOTE, vote, true, true)
            .await
            .map_err(|e| storage_err(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.shared.cache().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.shared.cache().committed = committed;
        // A hint for faster restarts: losing it is safe (Raft re-learns the
        // commit index), so it rides along with the next durable write.
        self.write_meta(KEY_COMMITTED, &committed, false, false)
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.shared.cache().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        let mut last = None;
        let entries: Vec<Entry> = entries.into_iter().collect();
        let early = {
            let mut c = self.shared.cache();
            let early = self
                .shared
                .early_ack
                .get()
                .is_some_and(|me| early_ack::own_entries(*me, c.vote.as_ref(), &entries));
            for e in entries {
                let bytes =
                    serde_json::to_vec(&e).map_err(|err| logs_err(ErrorVerb::Write, err))?;
                c.sizes.insert(e.log_id.index, bytes.len() as u64);
                encoded.push((e.log_id.index, bytes));
                last = Some(e.log_id);
                c.entries.insert(e.log_id.index, e);
            }
            if last.is_some() {
                c.last = last;
            }
            let watch = self
                .shared
                .bound_watch
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((bound, notify)) = watch.as_ref() {
                if *bound > 0 && c.sizes.total() > *bound {
                    notify.notify_one();
                }
            }
            (early, c.truncations)
        };
        let (early, epoch) = early;
        let Some(last_log_id) = last else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let callback = if early {
            callback.log_io_completed(Ok(()));
            None
        } else {
            Some(callback)
        };
        self.send(WriteOp::Append {
            entries: encoded,
            last_log_id,
            epoch,
            callback,
        })
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut c = self.shared.cache();
            c.entries.split_off(&log_id.index);
            c.sizes.truncate_from(log_id.index);
            let prev = log_id.index.checked_sub(1);
            c.last = match prev {
                Some(p) => c.entries.get(&p).map(|e| e.log_id).or_else(|| {
                    if c.purged.is_some_and(|x| x.index == p) {
                        c.purged
                    } else {
                        None
                    }
                }),
                None => None,
            };
            c.durable_upto = c.durable_upto.min(log_id.index.saturating_sub(1));
            c.truncations += 1;
            let upto = c.durable_upto;
            self.shared.durable.send_if_modified(|d| {
                if d.upto <= upto {
                    return false;
                }
                // The entry before the cut is not known here: none until the next append.
                *d = Durable {
                    upto,
                    log_id: None,
                    failed: d.failed,
                };
                true
            });
        }
        if self.shared.cache().last.is_none() && log_id.index > 0 {
            // The entry before the cut is older than the cache: read its id from disk.
            let prev = self
                .try_get_log_entries(log_id.index - 1..log_id.index)
                .await?;
            let prev = prev.last().map(|e| e.log_id);
            // One guard only: a second `cache()` in the same statement would wait
            // for the first, which lives to the statement's end (a self-deadlock).
            let mut c = self.shared.cache();
            c.last = prev.or(c.purged);
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(WriteOp::Truncate {
            from: log_id.index,
            done,
        })?;
        // Wait, so reads of older entries from disk never see truncated ones.
        Self::completed(wait).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut c = self.shared.cache();
            c.purged = Some(log_id);
            c.entries = c.entries.split_off(&(log_id.index + 1));
            c.sizes.purge_upto(log_id.index);
            if c.last.is_none_or(|l| l.index < log_id.index) {
                c.last = Some(log_id);
            }
        }
        let record = serde_json::to_vec(&log_id).map_err(|e| logs_err(ErrorVerb::Write, e))?;
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(WriteOp::Purge {
            upto: log_id.index,
            record,
            done,
        })?;
        Self::completed(wait).await
    }
}

#[path = "log_writer.rs"]
mod writer;

#[cfg(test)]
#[path = "log_store_tests.rs"]
mod tests;
