//! The replicated file tree as a pure, deterministic state machine (no I/O, no clocks).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use brigade_core::CfsPath;

use crate::command::{Applied, Change, Command, CommandResult, Op};
use crate::error::CfsError;
use history::{History, OldVersion};
use tx::{entry_cost, subtree_bound, Tx, Undo};

pub mod history;
mod ops;
mod tx;

/// Largest file accepted (pmxcfs: 1 MiB).
pub const FILE_MAX_BYTES: u64 = 1024 * 1024;
/// Largest tree accepted, data plus path names (pmxcfs: 128 MiB).
pub const TREE_MAX_BYTES: u64 = 128 * 1024 * 1024;
/// Most files and directories accepted.
pub const ENTRIES_MAX: u64 = 250_000;

/// A file or directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub dir: bool,
    #[serde(with = "crate::b64")]
    pub data: Vec<u8>,
    /// Cluster version of the last change to this entry (never reused: no ABA).
    pub version: u64,
    /// Leader wall-clock seconds of the last change (display only).
    pub mtime: u64,
}

/// A held lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockState {
    pub owner: String,
    pub lease_ms: u64,
    /// Cluster version when taken or last renewed.
    pub generation: u64,
}

/// The whole tree, as stored in snapshots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
    locks: BTreeMap<String, LockState>,
    version: u64,
    bytes: u64,
    /// Previous versions of files (absent in snapshots of older brigade versions).
    #[serde(default)]
    history: History,
    #[serde(skip)]
    touched_entries: BTreeSet<String>,
    #[serde(skip)]
    touched_locks: BTreeSet<String>,
}

impl PartialEq for Tree {
    /// Logical equality: the bookkeeping of paths to persist is not part of the state.
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
            && self.locks == other.locks
            && self.version == other.version
            && self.bytes == other.bytes
            && self.history == other.history
    }
}

impl Eq for Tree {}

impl Tree {
    /// Applies one command atomically: on error nothing changes.
    pub fn apply(&mut self, cmd: &Command) -> (CommandResult, Vec<Change>) {
        let before_version = self.version;
        let before_bytes = self.bytes;
        let mut tx = Tx {
            version: before_version + 1,
            mtime: cmd.mtime,
            tree: self,
            undo: Vec::new(),
            changes: Vec::new(),
        };
        let result = tx
            .apply(&cmd.op)
            .and_then(|g| tx.check_limits().map(|()| g));
        match result {
            Ok(lock_generation) if !tx.changes.is_empty() => {
                let changes = std::mem::take(&mut tx.changes);
                let undo = std::mem::take(&mut tx.undo);
                self.version = before_version + 1;
                self.keep_history(&cmd.op, undo, cmd.mtime);
                (
                    Ok(Applied {
                        version: self.version,
                        lock_generation,
                    }),
                    changes,
                )
            }
            Ok(lock_generation) => (
                Ok(Applied {
                    version: before_version,
                    lock_generation,
                }),
                Vec::new(),
            ),
            Err(e) => {
                let undo = std::mem::take(&mut tx.undo);
                for u in undo.into_iter().rev() {
                    match u {
                        Undo::Entry(k, Some(v)) => {
                            self.entries.insert(k, v);
                        }
                        Undo::Entry(k, None) => {
                            self.entries.remove(&k);
                        }
                        Undo::Lock(k, Some(v)) => {
                            self.locks.insert(k, v);
                        }
                        Undo::Lock(k, None) => {
                            self.locks.remove(&k);
                        }
                    }
                }
                self.bytes = before_bytes;
                self.version = before_version;
                (Err(e), Vec::new())
            }
        }
    }

    /// Keeps the content each file had before this command (the first undo record of
    /// a path holds it) when the command changed or removed it; then prunes.
    fn keep_history(&mut self, op: &Op, undo: Vec<Undo>, now: u64) {
        let mut before: BTreeMap<String, Option<Entry>> = BTreeMap::new();
        for u in undo {
            if let Undo::Entry(path, old) = u {
                before.entry(path).or_insert(old);
            }
        }
        let appended = appended_paths(op);
        for (path, old) in before {
            let Some(old) = old.filter(|e| !e.dir) else {
                continue;
            };
            if appended.contains(path.as_str()) {
                continue;
            }
            let now_entry = self.entries.get(&path);
            if now_entry.is_some_and(|e| !e.dir && e.data == old.data) {
                continue;
            }
            self.history.record(
                &path,
                OldVersion {
                    version: old.version,
                    mtime: old.mtime,
                    replaced_version: self.version,
                    replaced_mtime: now,
                    deleted: now_entry.is_none_or(|e| e.dir),
                    data: old.data,
                },
            );
        }
        self.history.prune(now);
    }

    /// The previous versions of files.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Replaces the previous versions (as loaded from the state file or a snapshot).
    pub fn set_history(&mut self, history: History) {
        self.history = history;
    }

    /// Previous versions added or dropped since the last call (for persisting).
    pub fn take_touched_history(&mut self) -> BTreeSet<(String, u64)> {
        self.history.take_touched()
    }

    /// The cluster version: the number of successful changes so far.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Bytes used (data plus path names).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of files and directories.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, path: &CfsPath) -> Option<&Entry> {
        self.entries.get(path.as_str())
    }

    pub fn lock(&self, path: &CfsPath) -> Option<&LockState> {
        self.locks.get(path.as_str())
    }

    /// The direct children of a directory.
    pub fn list(&self, dir: &CfsPath) -> Result<Vec<(String, &Entry)>, CfsError> {
        if !dir.is_root() {
            match self.entries.get(dir.as_str()) {
                None => {
                    return Err(CfsError::NotFound {
                        path: dir.to_string(),
                    })
                }
                Some(e) if !e.dir => {
                    return Err(CfsError::NotADirectory {
                        path: dir.to_string(),
                    })
                }
                Some(_) => {}
            }
        }
        let children: Vec<(String, &Entry)> = if dir.is_root() {
            self.entries
                .iter()
                .filter(|(k, _)| !k.contains('/'))
                .map(|(k, v)| (k.clone(), v))
                .collect()
        } else {
            let (lo, hi) = subtree_bound(dir.as_str());
            let skip = dir.as_str().len() + 1;
            self.entries
                .range(lo..hi)
                .filter(|(k, _)| !k[skip..].contains('/'))
                .map(|(k, v)| (k[skip..].to_string(), v))
                .collect()
        };
        Ok(children)
    }

    /// Every entry (for snapshots and checks).
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    pub fn locks(&self) -> impl Iterator<Item = (&String, &LockState)> {
        self.locks.iter()
    }

    /// Paths changed since the last call (for persisting).
    pub fn take_touched(&mut self) -> (BTreeSet<String>, BTreeSet<String>) {
        (
            std::mem::take(&mut self.touched_entries),
            std::mem::take(&mut self.touched_locks),
        )
    }

    /// Rebuilds a tree from stored parts.
    pub fn from_parts(
        entries: BTreeMap<String, Entry>,
        locks: BTreeMap<String, LockState>,
        version: u64,
    ) -> Tree {
        let bytes = entries.iter().map(|(k, e)| entry_cost(k, e)).sum();
        Tree {
            entries,
            locks,
            version,
            bytes,
            history: History::default(),
            touched_entries: BTreeSet::new(),
            touched_locks: BTreeSet::new(),
        }
    }
}

/// The files a command appends lines to: logs keep their own bounded past, no history.
fn appended_paths(op: &Op) -> BTreeSet<&str> {
    match op {
        Op::AppendLine { path, .. } => BTreeSet::from([path.as_str()]),
        Op::Batch { ops } => ops.iter().flat_map(appended_paths).collect(),
        _ => BTreeSet::new(),
    }
}

#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod tests;
