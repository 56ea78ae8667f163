//! The state machine's redb file: the tree's entries, locks and previous versions,
//! the applied log id, the membership, the cluster version and the last snapshot.

use std::collections::BTreeMap;

use redb::{Database, Durability, ReadableTable, TableDefinition};

use crate::state_machine::SmState;
use crate::tree::history::{History, HistoryRecord};
use crate::tree::{Entry as TreeEntry, LockState, Tree};
use crate::types::StoredMembership;

const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
const LOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("locks");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
/// Previous versions of files, keyed by [`history_key`].
const HISTORY: TableDefinition<&str, &[u8]> = TableDefinition::new("history");
const KEY_APPLIED: &str = "last_applied";
const KEY_MEMBERSHIP: &str = "membership";
const KEY_VERSION: &str = "version";
const KEY_SNAP_META: &str = "meta";
const KEY_SNAP_DATA: &str = "data";

/// Changed records of one flush: key and new value (None = removed).
pub type Records = Vec<(String, Option<Vec<u8>>)>;

/// The record key of the previous version of `path` written at `version`.
pub fn history_key(path: &str, version: u64) -> String {
    format!("{path}\0{version:020}")
}

fn encode(e: serde_json::Error) -> redb::Error {
    redb::Error::Corrupted(e.to_string())
}

/// Creates the tables of a new file.
pub fn create_tables(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    for t in [FILES, LOCKS, META, SNAPSHOT, HISTORY] {
        txn.open_table(t)?;
    }
    txn.commit()?;
    Ok(())
}

/// Reads the whole state.
pub fn load(db: &Database) -> Result<SmState, redb::Error> {
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
    let mut history = Vec::new();
    for item in r.open_table(HISTORY)?.iter()? {
        let (_, v) = item?;
        history.push(serde_json::from_slice::<HistoryRecord>(v.value()).map_err(decode)?);
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
    let mut tree = Tree::from_parts(entries, locks, version);
    tree.set_history(History::from(history));
    Ok(SmState {
        tree,
        last_applied,
        membership,
    })
}

/// The metadata records of a state.
pub fn meta_records(state: &SmState) -> Result<Vec<(&'static str, Vec<u8>)>, redb::Error> {
    Ok(vec![
        (
            KEY_APPLIED,
            serde_json::to_vec(&state.last_applied).map_err(encode)?,
        ),
        (
            KEY_MEMBERSHIP,
            serde_json::to_vec(&state.membership).map_err(encode)?,
        ),
        (
            KEY_VERSION,
            serde_json::to_vec(&state.tree.version()).map_err(encode)?,
        ),
    ])
}

/// Writes the touched entries and the metadata in one transaction.
pub fn persist(
    db: &Database,
    files: &Records,
    locks: &Records,
    history: &Records,
    meta: &[(&'static str, Vec<u8>)],
    durability: Durability,
) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(durability);
    // A damaged newest commit must not roll back silently; the second fsync of two-phase
    // commit costs nothing on the write path (the background flusher makes these).
    txn.set_two_phase_commit(matches!(durability, Durability::Immediate));
    {
        let mut t = txn.open_table(FILES)?;
        for (k, v) in files {
            match v {
                Some(bytes) => t.insert(k.as_str(), bytes.as_slice())?,
                None => t.remove(k.as_str())?,
            };
        }
        let mut t = txn.open_table(LOCKS)?;
        for (k, v) in locks {
            match v {
                Some(bytes) => t.insert(k.as_str(), bytes.as_slice())?,
                None => t.remove(k.as_str())?,
            };
        }
        let mut t = txn.open_table(HISTORY)?;
        for (k, v) in history {
            match v {
                Some(bytes) => t.insert(k.as_str(), bytes.as_slice())?,
                None => t.remove(k.as_str())?,
            };
        }
        let mut t = txn.open_table(META)?;
        for (k, v) in meta {
            t.insert(*k, v.as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Replaces everything with `state` and the snapshot record `snapshot`, durably.
pub fn write_full(db: &Database, state: &SmState, snapshot: &[u8]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate);
    txn.set_two_phase_commit(true);
    txn.delete_table(FILES)?;
    txn.delete_table(LOCKS)?;
    txn.delete_table(HISTORY)?;
    {
        let mut history = txn.open_table(HISTORY)?;
        for r in state.tree.history().records() {
            let key = history_key(&r.path, r.old.version);
            history.insert(
                key.as_str(),
                serde_json::to_vec(&r).map_err(encode)?.as_slice(),
            )?;
        }
        let mut files = txn.open_table(FILES)?;
        for (k, v) in state.tree.entries() {
            files.insert(
                k.as_str(),
                serde_json::to_vec(v).map_err(encode)?.as_slice(),
            )?;
        }
        let mut locks = txn.open_table(LOCKS)?;
        for (k, v) in state.tree.locks() {
            locks.insert(
                k.as_str(),
                serde_json::to_vec(v).map_err(encode)?.as_slice(),
            )?;
        }
        let mut m = txn.open_table(META)?;
        for (k, v) in meta_records(state)? {
            m.insert(k, v.as_slice())?;
        }
        let mut s = txn.open_table(SNAPSHOT)?;
        s.insert(KEY_SNAP_DATA, snapshot)?;
    }
    txn.commit()?;
    Ok(())
}

/// Stores the current snapshot record, durably.
pub fn write_snapshot(db: &Database, snapshot: &[u8]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate);
    txn.set_two_phase_commit(true);
    {
        let mut t = txn.open_table(SNAPSHOT)?;
        t.insert(KEY_SNAP_META, b"".as_slice())?;
        t.insert(KEY_SNAP_DATA, snapshot)?;
    }
    txn.commit()?;
    Ok(())
}

/// The stored snapshot record, if any.
pub fn read_snapshot(db: &Database) -> Result<Option<Vec<u8>>, redb::Error> {
    let r = db.begin_read()?;
    let t = r.open_table(SNAPSHOT)?;
    Ok(t.get(KEY_SNAP_DATA)?.map(|v| v.value().to_vec()))
}
