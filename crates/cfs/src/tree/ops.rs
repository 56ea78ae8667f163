//! One function per operation of the tree: each checks, then changes the tree through
//! its transaction (which undoes everything if a later check of a batch fails).

use brigade_core::CfsPath;

use super::tx::{subtree_bound, Tx};
use super::{Entry, LockState, FILE_MAX_BYTES};
use crate::command::{ChangeKind, Op};
use crate::error::CfsError;

impl Tx<'_> {
    /// Applies one operation; returns a lock's generation when it takes one.
    pub(super) fn apply(&mut self, op: &Op) -> Result<Option<u64>, CfsError> {
        match op {
            Op::Write {
                path,
                data,
                expect_version,
                create_exclusive,
            } => self.write(path, data, *expect_version, *create_exclusive),
            Op::Mkdir { path, parents } => self.mkdir(path, *parents),
            Op::Delete {
                path,
                expect_version,
                recursive,
            } => self.delete(path, *expect_version, *recursive),
            Op::Rename { from, to } => self.rename(from, to),
            Op::Lock {
                path,
                owner,
                lease_ms,
                steal_generation,
            } => self.lock(path, owner, *lease_ms, *steal_generation),
            Op::Unlock { path, owner } => self.unlock(path, owner),
            Op::AppendLine {
                path,
                line,
                keep_bytes,
            } => self.append_line(path, line, *keep_bytes),
            Op::Batch { ops } => self.batch(ops),
        }
    }

    /// Writes a file (compare-and-swap on its version, or create-exclusive); makes its parents.
    pub(super) fn write(
        &mut self,
        path: &CfsPath,
        data: &[u8],
        expect_version: Option<u64>,
        create_exclusive: bool,
    ) -> Result<Option<u64>, CfsError> {
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
            Some(_) if create_exclusive => {
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
            if expected != actual {
                return Err(CfsError::VersionMismatch {
                    path: path.to_string(),
                    expected,
                    actual,
                });
            }
        }
        self.ensure_dirs(&path.parent(), true)?;
        let e = self.new_entry(false, data.to_vec());
        self.set_entry(path.as_str(), Some(e));
        self.change(path.as_str(), ChangeKind::Written);
        Ok(None)
    }

    /// Makes a directory (and its parents with `parents`).
    pub(super) fn mkdir(&mut self, path: &CfsPath, parents: bool) -> Result<Option<u64>, CfsError> {
        match self.tree.entries.get(path.as_str()) {
            Some(e) if e.dir && parents => return Ok(None),
            Some(_) => {
                return Err(CfsError::Exists {
                    path: path.to_string(),
                })
            }
            None if path.is_root() => {
                return if parents {
                    Ok(None)
                } else {
                    Err(CfsError::Exists {
                        path: path.to_string(),
                    })
                }
            }
            None => {}
        }
        self.ensure_dirs(&path.parent(), parents)?;
        let e = self.new_entry(true, Vec::new());
        self.set_entry(path.as_str(), Some(e));
        self.change(path.as_str(), ChangeKind::Mkdir);
        Ok(None)
    }

    /// Deletes a file or a directory (its subtree with `recursive`).
    pub(super) fn delete(
        &mut self,
        path: &CfsPath,
        expect_version: Option<u64>,
        recursive: bool,
    ) -> Result<Option<u64>, CfsError> {
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
            if expected != e.version {
                return Err(CfsError::VersionMismatch {
                    path: path.to_string(),
                    expected,
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

    /// Moves a file or directory with its subtree; a guest config keeps its id unique.
    pub(super) fn rename(&mut self, from: &CfsPath, to: &CfsPath) -> Result<Option<u64>, CfsError> {
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

    /// Takes a lock for `owner` (or steals it at `steal_generation`); returns its generation.
    pub(super) fn lock(
        &mut self,
        path: &CfsPath,
        owner: &str,
        lease_ms: u64,
        steal_generation: Option<u64>,
    ) -> Result<Option<u64>, CfsError> {
        if owner.is_empty() {
            return Err(CfsError::invalid("a lock needs an owner"));
        }
        if let Some(held) = self.tree.locks.get(path.as_str()) {
            if held.owner != owner && steal_generation != Some(held.generation) {
                return Err(CfsError::Locked {
                    path: path.to_string(),
                    owner: held.owner.clone(),
                });
            }
        }
        let l = LockState {
            owner: owner.to_string(),
            lease_ms,
            generation: self.version,
        };
        self.set_lock(path.as_str(), Some(l));
        self.change(
            path.as_str(),
            ChangeKind::Locked {
                owner: owner.to_string(),
            },
        );
        Ok(Some(self.version))
    }

    /// Releases `owner`'s lock.
    pub(super) fn unlock(&mut self, path: &CfsPath, owner: &str) -> Result<Option<u64>, CfsError> {
        match self.tree.locks.get(path.as_str()) {
            None => {
                return Err(CfsError::NotFound {
                    path: path.to_string(),
                })
            }
            Some(held) if held.owner != owner => {
                return Err(CfsError::NotLockOwner {
                    path: path.to_string(),
                    owner: owner.to_string(),
                })
            }
            Some(_) => {}
        }
        self.set_lock(path.as_str(), None);
        self.change(path.as_str(), ChangeKind::Unlocked);
        Ok(None)
    }

    /// Appends a line to a log file, dropping its oldest lines past `keep_bytes`.
    pub(super) fn append_line(
        &mut self,
        path: &CfsPath,
        line: &str,
        keep_bytes: u64,
    ) -> Result<Option<u64>, CfsError> {
        if line.contains('\n') {
            return Err(CfsError::invalid("a log line cannot contain a newline"));
        }
        if keep_bytes > FILE_MAX_BYTES || line.len() as u64 + 1 > keep_bytes {
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
        if data.len() as u64 > keep_bytes {
            let excess = data.len() - keep_bytes as usize;
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

    /// Applies several operations as one: all or none.
    pub(super) fn batch(&mut self, ops: &[Op]) -> Result<Option<u64>, CfsError> {
        let mut generation = None;
        for op in ops {
            generation = self.apply(op)?.or(generation);
        }
        Ok(generation)
    }
}
