//! The cfs tree mounted with FUSE, like pmxcfs at /etc/pve: read-write on every node,
//! writes through Raft, read-only (EROFS) without quorum, virtual `.members`,
//! `.vmlist`, `.version`, `.clusterlog`, and `qemu-server`/`lxc` links to this node.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brigade_cfs::{Cfs, CfsError, Op};
use brigade_core::CfsPath;
use fuser::{Errno, FileAttr, FileType, INodeNo};

use crate::error::NodeError;

use inodes::{child_entry, Entry, Inodes};

/// Attributes are not cached by the kernel: every node's writes show at once.
const TTL: Duration = Duration::ZERO;
struct OpenFile {
    path: String,
    data: Vec<u8>,
    dirty: bool,
    /// A write failed (too large): the file is left as it was, nothing is written.
    failed: bool,
}

/// The FUSE file system over one node's cfs replica.
pub struct CfsFs {
    host: Arc<dyn MountHost>,
    cfs: Arc<Cfs>,
    handle: tokio::runtime::Handle,
    inodes: Mutex<Inodes>,
    files: Mutex<HashMap<u64, OpenFile>>,
    next_fh: std::sync::atomic::AtomicU64,
}

fn errno(e: &CfsError) -> Errno {
    match e {
        CfsError::NotFound { .. } => Errno::ENOENT,
        CfsError::Exists { .. } | CfsError::GuestIdTaken { .. } => Errno::EEXIST,
        CfsError::NotEmpty { .. } => Errno::ENOTEMPTY,
        CfsError::IsADirectory { .. } => Errno::EISDIR,
        CfsError::NotADirectory { .. } => Errno::ENOTDIR,
        CfsError::FileTooLarge { .. } => Errno::EFBIG,
        CfsError::TreeFull { .. } | CfsError::TooManyEntries { .. } => Errno::ENOSPC,
        CfsError::NotQuorate | CfsError::NoLeader | CfsError::StorageFailed { .. } => Errno::EROFS,
        CfsError::Locked { .. } | CfsError::NotLockOwner { .. } => Errno::EBUSY,
        CfsError::Invalid { .. } => Errno::EINVAL,
        CfsError::VersionMismatch { .. } => Errno::EAGAIN,
        CfsError::Timeout { .. }
        | CfsError::Rpc { .. }
        | CfsError::Storage { .. }
        | CfsError::Corrupted { .. } => Errno::EIO,
    }
}

fn time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

impl CfsFs {
    /// The tree of `cfs` as `host` shows it; blocking calls run on `handle`'s runtime.
    pub fn new(host: Arc<dyn MountHost>, cfs: Arc<Cfs>, handle: tokio::runtime::Handle) -> Self {
        CfsFs {
            host,
            cfs,
            handle,
            inodes: Mutex::new(Inodes::new()),
            files: Mutex::new(HashMap::new()),
            next_fh: std::sync::atomic::AtomicU64::new(1),
        }
    }

    fn ino(&self, e: Entry) -> u64 {
        self.inodes.lock().unwrap_or_else(|p| p.into_inner()).ino(e)
    }

    fn entry(&self, ino: INodeNo) -> Option<Entry> {
        self.inodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(ino.0)
    }

    fn tree_path(&self, ino: INodeNo) -> Result<String, Errno> {
        match self.entry(ino) {
            Some(Entry::Tree(p)) => Ok(p),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<Entry, Errno> {
        let dir = self.tree_path(parent)?;
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        child_entry(&dir, name)
    }

    fn cfs_path(p: &str) -> Result<CfsPath, Errno> {
        if p.is_empty() {
            return Ok(CfsPath::root());
        }
        p.parse().map_err(|_| Errno::EINVAL)
    }

    fn virtual_data(&self, v: &str) -> Vec<u8> {
        match v {
            ".members" => virtual_files::members(self.host.node_name(), &self.host.members()),
            ".vmlist" => {
                let tree = self.cfs.dump(&CfsPath::root());
                virtual_files::vmlist(tree.keys().map(String::as_str))
            }
            ".version" => virtual_files::version(self.cfs.version()),
            ".clusterlog" => {
                let raw = CfsFs::cfs_path(brigade_core::layout::CLUSTER_LOG)
                    .ok()
                    .and_then(|p| self.cfs.read(&p).ok())
                    .map(|f| String::from_utf8_lossy(&f.data).into_owned())
                    .unwrap_or_default();
                virtual_files::clusterlog(&raw)
            }
            _ => b"\n".to_vec(),
        }
    }

    fn attr(&self, e: &Entry) -> Result<FileAttr, Errno> {
        let ino = INodeNo(self.ino(e.clone()));
        let mut a = FileAttr {
            ino,
            size: 0,
            blocks: 0,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind: FileType::RegularFile,
            perm: 0o644,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        };
        match e {
            Entry::Virtual(v) => {
                a.perm = 0o444;
                a.size = self.virtual_data(v).len() as u64;
                a.mtime = SystemTime::now();
            }
            Entry::Link(l) => {
                a.kind = FileType::Symlink;
                a.perm = 0o777;
                a.size = self.link_target(l).len() as u64;
            }
            Entry::Tree(p) => {
                let f = match self.cfs.read(&CfsFs::cfs_path(p)?) {
                    Ok(f) => f,
                    Err(CfsError::NotFound { .. }) if self.created_size(p).is_some() => {
                        a.size = self.created_size(p).unwrap_or(0);
                        a.blocks = a.size.div_ceil(512);
                        a.mtime = SystemTime::now();
                        a.ctime = a.mtime;
                        a.atime = a.mtime;
                        return Ok(a);
                    }
                    Err(e) => return Err(errno(&e)),
                };
                let private = p == "priv" || p.starts_with("priv/");
                if f.dir {
                    a.kind = FileType::Directory;
                    a.perm = if private { 0o700 } else { 0o755 };
                    a.nlink = 2;
                } else {
                    a.perm = if private { 0o600 } else { 0o644 };
                    // An open, written file shows its pending size.
                    a.size = self.pending_size(p).unwrap_or(f.size);
                }
                a.blocks = a.size.div_ceil(512);
                a.mtime = time(f.mtime);
                a.ctime = a.mtime;
                a.atime = a.mtime;
            }
        }
        Ok(a)
    }

    fn pending_size(&self, path: &str) -> Option<u64> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|f| f.path == path && f.dirty)
            .map(|f| f.data.len() as u64)
    }

    fn link_target(&self, l: &str) -> String {
        format!("nodes/{}/{l}", self.host.node_name())
    }

    fn writable(&self) -> Result<(), Errno> {
        if self.cfs.is_quorate() {
            Ok(())
        } else {
            Err(Errno::EROFS)
        }
    }

    fn propose(&self, op: Op) -> Result<(), Errno> {
        self.writable()?;
        self.handle
            .block_on(self.cfs.propose(op))
            .map(|_| ())
            .map_err(|e| errno(&e))
    }

    /// A validation refusal as an errno; its message (the API's) goes to the log,
    /// since a file system call can only say EINVAL.
    fn refused(&self, what: &str, e: NodeError) -> Errno {
        tracing::warn!("{what} refused through the mount: {e}");
        match e {
            NodeError::Cfs(c) => errno(&c),
            _ => Errno::EINVAL,
        }
    }

    fn write_file(&self, path: &str, data: Vec<u8>) -> Result<(), Errno> {
        if data.len() as u64 > brigade_cfs::tree::FILE_MAX_BYTES {
            return Err(Errno::EFBIG);
        }
        let path = CfsFs::cfs_path(path)?;
        self.host
            .validate_write(&path, &data)
            .map_err(|e| self.refused(&format!("write of {path}"), e))?;
        self.propose(Op::Write {
            path,
            data,
            expect_version: None,
            create_exclusive: false,
        })
    }

    /// An open handle of a file created but not yet in the tree (brigade owns its format,
    /// so it reaches the tree on the first flush, validated): its pending size.
    fn created_size(&self, path: &str) -> Option<u64> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|f| f.path == path)
            .map(|f| f.data.len() as u64)
    }

    /// unlink (a file) or rmdir (an empty directory).
    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let Entry::Tree(p) = self.child(parent, name)? else {
            return Err(if dir { Errno::ENOTDIR } else { Errno::EACCES });
        };
        let f = self
            .cfs
            .read(&CfsFs::cfs_path(&p)?)
            .map_err(|e| errno(&e))?;
        match (dir, f.dir) {
            (false, true) => return Err(Errno::EISDIR),
            (true, false) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        let path = CfsFs::cfs_path(&p)?;
        self.host
            .validate_delete(&path)
            .map_err(|e| self.refused(&format!("removal of {path}"), e))?;
        self.propose(Op::Delete {
            path,
            expect_version: Some(f.version),
            recursive: false,
        })
    }

    /// rename: POSIX replaces a file at the target, atomically (how editors save).
    fn rename_entry(
        &self,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
    ) -> Result<(), Errno> {
        let (Entry::Tree(from), Entry::Tree(to)) =
            (self.child(parent, name)?, self.child(newparent, newname)?)
        else {
            return Err(Errno::EACCES);
        };
        let from_p = CfsFs::cfs_path(&from)?;
        let to_p = CfsFs::cfs_path(&to)?;
        self.host
            .validate_rename(&from_p, &to_p)
            .map_err(|e| self.refused(&format!("rename of {from_p} to {to_p}"), e))?;
        let mut ops = Vec::new();
        if let Ok(existing) = self.cfs.read(&to_p) {
            if existing.dir {
                return Err(Errno::EISDIR);
            }
            ops.push(Op::Delete {
                path: to_p.clone(),
                expect_version: Some(existing.version),
                recursive: false,
            });
        }
        ops.push(Op::Rename {
            from: from_p,
            to: to_p,
        });
        self.propose(Op::Batch { ops })
    }

    fn new_fh(&self, path: String, data: Vec<u8>, dirty: bool) -> u64 {
        let fh = self
            .next_fh
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.files.lock().unwrap_or_else(|p| p.into_inner()).insert(
            fh,
            OpenFile {
                path,
                data,
                dirty,
                failed: false,
            },
        );
        fh
    }

    fn flush_fh(&self, fh: u64) -> Result<(), Errno> {
        let pending = {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            match files.get_mut(&fh) {
                Some(f) if f.failed => return Err(Errno::EFBIG),
                Some(f) if f.dirty => {
                    f.dirty = false;
                    Some((f.path.clone(), f.data.clone()))
                }
                _ => None,
            }
        };
        match pending {
            Some((path, data)) => self.write_file(&path, data).inspect_err(|_| {
                if let Some(f) = self
                    .files
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(&fh)
                {
                    f.dirty = true;
                }
            }),
            None => Ok(()),
        }
    }
}

mod filesystem;
mod host;
mod inodes;
mod session;
#[cfg(test)]
mod tests;
mod virtual_files;

pub use host::MountHost;
pub use session::Mounts;
