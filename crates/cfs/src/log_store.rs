//! The Raft log in redb: entries, vote, committed id and purge point, fsynced on every append.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use redb::{Database, ReadableTable, TableDefinition};

use crate::types::{storage_err, Entry, LogId, StorageError, TypeConfig, Vote};

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "purged";

/// The redb-backed Raft log.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

fn logs_err(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    storage_err(ErrorSubject::Logs, verb, e)
}

impl LogStore {
    /// Opens (or creates) the log database.
    pub fn open(path: &Path) -> Result<Self, redb::Error> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(LOGS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(LogStore { db: Arc::new(db) })
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let r = self
            .db
            .begin_read()
            .map_err(|e| logs_err(ErrorVerb::Read, e))?;
        let t = r
            .open_table(META)
            .map_err(|e| logs_err(ErrorVerb::Read, e))?;
        match t.get(key).map_err(|e| logs_err(ErrorVerb::Read, e))? {
            Some(v) => serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|e| logs_err(ErrorVerb::Read, e)),
            None => Ok(None),
        }
    }

    fn write_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| logs_err(ErrorVerb::Write, e))?;
        let txn = self
            .db
            .begin_write()
            .map_err(|e| logs_err(ErrorVerb::Write, e))?;
        {
            let mut t = txn
                .open_table(META)
                .map_err(|e| logs_err(ErrorVerb::Write, e))?;
            t.insert(key, bytes.as_slice())
                .map_err(|e| logs_err(ErrorVerb::Write, e))?;
        }
        txn.commit().map_err(|e| logs_err(ErrorVerb::Write, e))
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let r = self
            .db
            .begin_read()
            .map_err(|e| logs_err(ErrorVerb::Read, e))?;
        let t = r
            .open_table(LOGS)
            .map_err(|e| logs_err(ErrorVerb::Read, e))?;
        let last = t.last().map_err(|e| logs_err(ErrorVerb::Read, e))?;
        let id = match last {
            Some((_, v)) => {
                let entry: Entry =
                    serde_json::from_slice(v.value()).map_err(|e| logs_err(ErrorVerb::Read, e))?;
                Some(entry.log_id)
            }
            None => None,
        };
        Ok(id)
    }

    fn remove_range(&self, range: impl RangeBounds<u64>) -> Result<(), StorageError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| logs_err(ErrorVerb::Delete, e))?;
        {
            let mut t = txn
                .open_table(LOGS)
                .map_err(|e| logs_err(ErrorVerb::Delete, e))?;
            t.retain_in(range, |_, _| false)
                .map_err(|e| logs_err(ErrorVerb::Delete, e))?;
        }
        txn.commit().map_err(|e| logs_err(ErrorVerb::Delete, e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(x) => Bound::Included(*x),
            Bound::Excluded(x) => Bound::Excluded(*x),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(x) => Bound::Included(*x),
            Bound::Excluded(x) => Bound::Excluded(*x),
            Bound::Unbounded => Bound::Unbounded,
        };
        let r = self
            .db
            .begin_read()
            .map_err(|e| logs_err(ErrorVerb::Read, e))?;
        let t = r
            .open_table(LOGS)
            .map_err(|e| logs_err(ErrorVerb::Read, e))?;
        let mut out = Vec::new();
        for item in t
            .range::<u64>((start, end))
            .map_err(|e| logs_err(ErrorVerb::Read, e))?
        {
            let (_, v) = item.map_err(|e| logs_err(ErrorVerb::Read, e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| logs_err(ErrorVerb::Read, e))?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(KEY_PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_meta(KEY_VOTE, vote)
            .map_err(|e| storage_err(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_meta(KEY_COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
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
        for e in entries {
            let bytes = serde_json::to_vec(&e).map_err(|err| logs_err(ErrorVerb::Write, err))?;
            encoded.push((e.log_id.index, bytes));
        }
        let db = self.db.clone();
        // The fsync blocks: let tokio move other tasks off this worker meanwhile.
        let result = tokio::task::block_in_place(move || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            {
                let mut t = txn.open_table(LOGS)?;
                for (index, bytes) in &encoded {
                    t.insert(*index, bytes.as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        });
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let io = std::io::Error::other(e.to_string());
                callback.log_io_completed(Err(io));
                Err(logs_err(ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove_range(log_id.index..)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_meta(KEY_PURGED, &log_id)?;
        self.remove_range(..=log_id.index)
    }
}
