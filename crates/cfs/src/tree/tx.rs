//! A change of the tree in progress: what it touched, how to undo it, the changes it
//! reports, and the checks every operation shares (limits, parents, unique guest ids).

use brigade_core::CfsPath;

use super::{Entry, LockState, Tree, ENTRIES_MAX, TREE_MAX_BYTES};
use crate::command::{Change, ChangeKind};
use crate::error::CfsError;

pub(super) enum Undo {
    Entry(String, Option<Entry>),
    Lock(String, Option<LockState>),
}

pub(super) struct Tx<'a> {
    pub(super) tree: &'a mut Tree,
    pub(super) undo: Vec<Undo>,
    pub(super) changes: Vec<Change>,
    pub(super) version: u64,
    pub(super) mtime: u64,
}

pub(super) fn entry_cost(path: &str, e: &Entry) -> u64 {
    path.len() as u64 + e.data.len() as u64
}

pub(super) fn subtree_bound(prefix: &str) -> (String, String) {
    // Keys strictly below `prefix/` sort between "prefix/" and "prefix0" ('0' follows '/').
    (format!("{prefix}/"), format!("{prefix}0"))
}

impl Tx<'_> {
    pub(super) fn set_entry(&mut self, path: &str, new: Option<Entry>) {
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

    pub(super) fn set_lock(&mut self, path: &str, new: Option<LockState>) {
        let old = match new {
            Some(l) => self.tree.locks.insert(path.to_string(), l),
            None => self.tree.locks.remove(path),
        };
        self.tree.touched_locks.insert(path.to_string());
        self.undo.push(Undo::Lock(path.to_string(), old));
    }

    pub(super) fn change(&mut self, path: &str, kind: ChangeKind) {
        self.changes.push(Change {
            version: self.version,
            path: path.to_string(),
            kind,
        });
    }

    pub(super) fn new_entry(&self, dir: bool, data: Vec<u8>) -> Entry {
        Entry {
            dir,
            data,
            version: self.version,
            mtime: self.mtime,
        }
    }

    pub(super) fn check_limits(&self) -> Result<(), CfsError> {
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
    pub(super) fn ensure_dirs(&mut self, dir: &CfsPath, create: bool) -> Result<(), CfsError> {
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
    pub(super) fn check_guest_id_free(
        &self,
        path: &str,
        moving_from: Option<&str>,
    ) -> Result<(), CfsError> {
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
}
