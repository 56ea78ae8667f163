//! The replicated file tree as a pure, deterministic state machine (no I/O, no clocks).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use brigade_core::CfsPath;

use crate::command::{Applied, Change, ChangeKind, Command, CommandResult, Op};
use crate::error::CfsError;

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
    }
}

impl Eq for Tree {}

enum Undo {
    Entry(String, Option<Entry>),
    Lock(String, Option<LockState>),
}

struct Tx<'a> {
    tree: &'a mut Tree,
    undo: Vec<Undo>,
    changes: Vec<Change>,
    version: u64,
    mtime: u64,
}

fn entry_cost(path: &str, e: &Entry) -> u64 {
    path.len() as u64 + e.data.len() as u64
}

fn subtree_bound(prefix: &str) -> (String, String) {
    // Keys strictly below `prefix/` sort between "prefix/" and "prefix0" ('0' follows '/').
    (format!("{prefix}/"), format!("{prefix}0"))
}

impl Tx<'_> {
    fn set_entry(&mut self, path: &str, new: Option<Entry>) {
        let old = match &new {
            Some(e) => self.tree.entries.insert(path.to_string(), e.clone()),
            None => self.tree.entries.remove(path),
        };
        if let Some(o) = &old {
            self.tree.bytes -= entry_cost(path, o);
        }
        if let Some(n) = &new {
            self.tree.bytes += entry_cost(path, n);
        }
        self.tree.touched_entries.insert(path.to_string());
        self.undo.push(Undo::Entry(path.to_string(), old));
    }

    fn set_lock(&mut self, path: &str, new: Option<LockState>) {
        let old = match new {
            Some(l) => self.tree.locks.insert(path.to_string(), l),
            None => self.tree.locks.remove(path),
        };
        self.tree.touched_locks.insert(path.to_string());
        self.undo.push(Undo::Lock(path.to_string(), old));
    }

    fn change(&mut self, path: &str, kind: ChangeKind) {
        self.changes.push(Change {
            version: self.version,
            path: path.to_string(),
            kind,
        });
    }

    fn new_entry(&self, dir: bool, data: Vec<u8>) -> Entry {
        Entry {
            dir,
            data,
            version: self.version,
            mtime: self.mtime,
        }
    }

    fn check_limits(&self) -> Result<(), CfsError> {
        if self.tree.bytes > TREE_MAX_BYTES {
            return Err(CfsError::TreeFull {
                size: self.tree.bytes,
                limit: TREE_MAX_BYTES,
            });
        }
        if self.tree.entries.len() as u64 > ENTRIES_MAX {
            return Err(CfsError::TooManyEntries { limit: ENTRIES_MAX });
        }
        Ok(())
    }

    /// Creates every missing directory from the root down to `dir`.
    fn ensure_dirs(&mut self, dir: &CfsPath, create: bool) -> Result<(), CfsError> {
        if dir.is_root() {
            return Ok(());
        }
        let mut ancestors = vec![dir.clone()];
        let mut p = dir.parent();
        while !p.is_root() {
            ancestors.push(p.clone());
            p = p.parent();
        }
        for a in ancestors.iter().rev() {
            match self.tree.entries.get(a.as_str()) {
                Some(e) if e.dir => {}
                Some(_) => {
                    return Err(CfsError::NotADirectory {
                        path: a.to_string(),
                    })
                }
                None if create => {
                    let e = self.new_entry(true, Vec::new());
                    self.set_entry(a.as_str(), Some(e));
                    self.change(a.as_str(), ChangeKind::Mkdir);
                }
                None => {
                    return Err(CfsError::NotFound {
                        path: a.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Like pmxcfs: a guest id is unique across the cluster. Creating
    /// `path`, if it is a guest config, fails when another node or kind holds
    /// that id (`moving_from` is the config being renamed, which may).
    fn check_guest_id_free(&self, path: &str, moving_from: Option<&str>) -> Result<(), CfsError> {
        use brigade_core::layout::{parse_guest_config_path, GuestKind, NODES_DIR};
        let Some(new) = parse_guest_config_path(path) else {
            return Ok(());
        };
        let prefix = format!("{NODES_DIR}/");
        let mut cursor = prefix.clone();
        // Visit each node directory once, skipping its subtree.
        while let Some((key, _)) = self.tree.entries.range(cursor.clone()..).next() {
            let Some(rest) = key.strip_prefix(&prefix) else {
                break;
            };
            let node = rest.split('/').next().unwrap_or(rest);
            for kind in [GuestKind::Qemu, GuestKind::Lxc] {
                let holder = format!("{prefix}{node}/{}/{}.conf", kind.dir(), new.vmid);
                if holder != path
                    && Some(holder.as_str()) != moving_from
                    && self.tree.entries.contains_key(&holder)
                {
                    return Err(CfsError::GuestIdTaken {
                        vmid: new.vmid,
                        path: holder,
                    });
                }
            }
            // '0' sorts right after '/': the next node directory.
            cursor = format!("{prefix}{node}0");
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<Option<u64>, CfsError> {
        match op {
            Op::Write {
                path,
                data,
                expect_version,
                create_exclusive,
            } => {
                if path.is_root() {
                    return Err(CfsError::IsADirectory {
                        path: path.to_string(),
                    });
                }
                if data.len() as u64 > FILE_MAX_BYTES {
                    return Err(CfsError::FileTooLarge {
                        path: path.to_string(),
                        size: data.len() as u64,
                        limit: FILE_MAX_BYTES,
                    });
                }
                let actual = match self.tree.entries.get(path.as_str()) {
                    Some(e) if e.dir => {
                        return Err(CfsError::IsADirectory {
                            path: path.to_string(),
                        })
                    }
                    Some(_) if *create_exclusive => {
                        return Err(CfsError::Exists {
                            path: path.to_string(),
                        })
                    }
                    Some(e) => e.version,
                    None => {
                        self.check_guest_id_free(path.as_str(), None)?;
                        0
                    }
                };
                if let Some(expected) = expect_version {
                    if *expected != actual {
                        return Err(CfsError::VersionMismatch {
                            path: path.to_string(),
                            expected: *expected,
                            actual,
                        });
                    }
                }
                self.ensure_dirs(&path.parent(), true)?;
                let e = self.new_entry(false, data.clone());
                self.set_entry(path.as_str(), Some(e));
                self.change(path.as_str(), ChangeKind::Written);
                Ok(None)
            }
            Op::Mkdir { path, parents } => {
                match self.tree.entries.get(path.as_str()) {
                    Some(e) if e.dir && *parents => return Ok(None),
                    Some(_) => {
                        return Err(CfsError::Exists {
                            path: path.to_string(),
                        })
                    }
                    None if path.is_root() => {
                        return if *parents {
                            Ok(None)
                        } else {
                            Err(CfsError::Exists {
                                path: path.to_string(),
                            })
                        }
                    }
                    None => {}
                }
                self.ensure_dirs(&path.parent(), *parents)?;
                let e = self.new_entry(true, Vec::new());
                self.set_entry(path.as_str(), Some(e));
                self.change(path.as_str(), ChangeKind::Mkdir);
                Ok(None)
            }
            Op::Delete {
                path,
                expect_version,
                recursive,
            } => {
                if path.is_root() {
                    return Err(CfsError::invalid("the root directory cannot be deleted"));
                }
                let e = self
                    .tree
                    .entries
                    .get(path.as_str())
                    .ok_or_else(|| CfsError::NotFound {
                        path: path.to_string(),
                    })?;
                if let Some(expected) = expect_version {
                    if *expected != e.version {
                        return Err(CfsError::VersionMismatch {
                            path: path.to_string(),
                            expected: *expected,
                            actual: e.version,
                        });
                    }
                }
                let (lo, hi) = subtree_bound(path.as_str());
                let below: Vec<String> = self
                    .tree
                    .entries
                    .range(lo..hi)
                    .map(|(k, _)| k.clone())
                    .collect();
                if !below.is_empty() && !recursive {
                    return Err(CfsError::NotEmpty {
                        path: path.to_string(),
                    });
                }
                for k in below.iter().rev() {
                    self.set_entry(k, None);
                }
                self.set_entry(path.as_str(), None);
                self.change(path.as_str(), ChangeKind::Deleted);
                Ok(None)
            }
            Op::Rename { from, to } => {
                if from.is_root() || to.is_root() {
                    return Err(CfsError::invalid("the root directory cannot be renamed"));
                }
                let moved = self
                    .tree
                    .entries
                    .get(from.as_str())
                    .cloned()
                    .ok_or_else(|| CfsError::NotFound {
                        path: from.to_string(),
                    })?;
                if self.tree.entries.contains_key(to.as_str()) {
                    return Err(CfsError::Exists {
                        path: to.to_string(),
                    });
                }
                if to.starts_with(from) {
                    return Err(CfsError::invalid(format!("cannot move {from} into itself")));
                }
                self.check_guest_id_free(to.as_str(), Some(from.as_str()))?;
                self.ensure_dirs(&to.parent(), true)?;
                let (lo, hi) = subtree_bound(from.as_str());
                let below: Vec<(String, Entry)> = self
                    .tree
                    .entries
                    .range(lo..hi)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.set_entry(from.as_str(), None);
                let top = Entry {
                    version: self.version,
                    mtime: self.mtime,
                    ..moved
                };
                self.set_entry(to.as_str(), Some(top));
                for (k, v) in below {
                    self.set_entry(&k, None);
                    let new_key = format!("{}{}", to.as_str(), &k[from.as_str().len()..]);
                    let e = Entry {
                        version: self.version,
                        ..v
                    };
                    self.set_entry(&new_key, Some(e));
                }
                self.change(from.as_str(), ChangeKind::RenamedTo { to: to.to_string() });
                self.change(
                    to.as_str(),
                    ChangeKind::RenamedFrom {
                        from: from.to_string(),
                    },
                );
                Ok(None)
            }
            Op::Lock {
                path,
                owner,
                lease_ms,
                steal_generation,
            } => {
                if owner.is_empty() {
                    return Err(CfsError::invalid("a lock needs an owner"));
                }
                if let Some(held) = self.tree.locks.get(path.as_str()) {
                    if &held.owner != owner && *steal_generation != Some(held.generation) {
                        return Err(CfsError::Locked {
                            path: path.to_string(),
                            owner: held.owner.clone(),
                        });
                    }
                }
                let l = LockState {
                    owner: owner.clone(),
                    lease_ms: *lease_ms,
                    generation: self.version,
                };
                self.set_lock(path.as_str(), Some(l));
                self.change(
                    path.as_str(),
                    ChangeKind::Locked {
                        owner: owner.clone(),
                    },
                );
                Ok(Some(self.version))
            }
            Op::Unlock { path, owner } => {
                match self.tree.locks.get(path.as_str()) {
                    None => {
                        return Err(CfsError::NotFound {
                            path: path.to_string(),
                        })
                    }
                    Some(held) if &held.owner != owner => {
                        return Err(CfsError::NotLockOwner {
                            path: path.to_string(),
                            owner: owner.clone(),
                        })
                    }
                    Some(_) => {}
                }
                self.set_lock(path.as_str(), None);
                self.change(path.as_str(), ChangeKind::Unlocked);
                Ok(None)
            }
            Op::AppendLine {
                path,
                line,
                keep_bytes,
            } => {
                if line.contains('\n') {
                    return Err(CfsError::invalid("a log line cannot contain a newline"));
                }
                if *keep_bytes > FILE_MAX_BYTES || line.len() as u64 + 1 > *keep_bytes {
                    return Err(CfsError::invalid(format!(
                        "keep_bytes must be at least the line length and at most {FILE_MAX_BYTES}"
                    )));
                }
                let mut data = match self.tree.entries.get(path.as_str()) {
                    Some(e) if e.dir => {
                        return Err(CfsError::IsADirectory {
                            path: path.to_string(),
                        })
                    }
                    Some(e) => e.data.clone(),
                    None => Vec::new(),
                };
                data.extend_from_slice(line.as_bytes());
                data.push(b'\n');
                if data.len() as u64 > *keep_bytes {
                    let excess = data.len() - *keep_bytes as usize;
                    // Cut at the first line boundary at or after the excess.
                    let cut = data[excess..]
                        .iter()
                        .position(|b| *b == b'\n')
                        .map(|p| excess + p + 1)
                        .unwrap_or(data.len());
                    data.drain(..cut);
                }
                self.ensure_dirs(&path.parent(), true)?;
                let e = self.new_entry(false, data);
                self.set_entry(path.as_str(), Some(e));
                self.change(path.as_str(), ChangeKind::Written);
                Ok(None)
            }
            Op::Batch { ops } => {
                let mut generation = None;
                for op in ops {
                    generation = self.apply(op)?.or(generation);
                }
                Ok(generation)
            }
        }
    }
}

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
        let result = tx.apply(&cmd.op).and_then(|g| tx.check_limits().map(|_| g));
        match result {
            Ok(lock_generation) if !tx.changes.is_empty() => {
                let changes = std::mem::take(&mut tx.changes);
                self.version = before_version + 1;
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
            touched_entries: BTreeSet::new(),
            touched_locks: BTreeSet::new(),
        }
    }
}

#[cfg(test)]
mod tests;
