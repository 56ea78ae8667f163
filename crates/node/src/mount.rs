//! The cfs tree mounted with FUSE, like pmxcfs at /etc/pve: read-write on every node,
//! writes through Raft, read-only (EROFS) without quorum, virtual `.members`,
//! `.vmlist`, `.version`, `.clusterlog`, and `qemu-server`/`lxc` links to this node.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brigade_cfs::{CfsError, Op};
use brigade_core::CfsPath;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    MountOption, OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request,
};

use crate::error::NodeError;
use crate::node::{ClusterRuntime, Node};

/// Attributes are not cached by the kernel: every node's writes show at once.
const TTL: Duration = Duration::ZERO;
/// Read-only virtual files at the top.
const VIRTUAL_FILES: [&str; 4] = [".members", ".vmlist", ".version", ".clusterlog"];
/// Links at the top to this node's guest directories.
const LINKS: [&str; 2] = ["qemu-server", "lxc"];

/// What an inode is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Tree(String),
    Virtual(&'static str),
    Link(&'static str),
}

struct OpenFile {
    path: String,
    data: Vec<u8>,
    dirty: bool,
    /// A write failed (too large): the file is left as it was, nothing is written.
    failed: bool,
}

/// The FUSE file system over one node's cfs replica.
pub struct CfsFs {
    node: Arc<Node>,
    rt: Arc<ClusterRuntime>,
    handle: tokio::runtime::Handle,
    inodes: Mutex<Inodes>,
    files: Mutex<HashMap<u64, OpenFile>>,
    next_fh: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Inodes {
    by_entry: HashMap<String, u64>,
    by_ino: HashMap<u64, Entry>,
    next: u64,
}

fn key(e: &Entry) -> String {
    match e {
        Entry::Tree(p) => format!("t:{p}"),
        Entry::Virtual(v) => format!("v:{v}"),
        Entry::Link(l) => format!("l:{l}"),
    }
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
        CfsError::Timeout { .. } | CfsError::Rpc { .. } | CfsError::Storage { .. } => Errno::EIO,
    }
}

fn time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

impl CfsFs {
    pub fn new(node: Arc<Node>, rt: Arc<ClusterRuntime>, handle: tokio::runtime::Handle) -> Self {
        let mut inodes = Inodes {
            next: 2,
            ..Inodes::default()
        };
        inodes.by_entry.insert(key(&Entry::Tree(String::new())), 1);
        inodes.by_ino.insert(1, Entry::Tree(String::new()));
        CfsFs {
            node,
            rt,
            handle,
            inodes: Mutex::new(inodes),
            files: Mutex::new(HashMap::new()),
            next_fh: std::sync::atomic::AtomicU64::new(1),
        }
    }

    fn ino(&self, e: Entry) -> u64 {
        let mut t = self.inodes.lock().unwrap_or_else(|p| p.into_inner());
        let k = key(&e);
        if let Some(i) = t.by_entry.get(&k) {
            return *i;
        }
        let i = t.next;
        t.next += 1;
        t.by_entry.insert(k, i);
        t.by_ino.insert(i, e);
        i
    }

    fn entry(&self, ino: INodeNo) -> Option<Entry> {
        self.inodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_ino
            .get(&ino.0)
            .cloned()
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
        if dir.is_empty() {
            if let Some(v) = VIRTUAL_FILES.iter().find(|v| **v == name) {
                return Ok(Entry::Virtual(v));
            }
            if let Some(l) = LINKS.iter().find(|l| **l == name) {
                return Ok(Entry::Link(l));
            }
        }
        let path = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        path.parse::<CfsPath>().map_err(|_| Errno::EINVAL)?;
        Ok(Entry::Tree(path))
    }

    fn cfs_path(p: &str) -> Result<CfsPath, Errno> {
        if p.is_empty() {
            return Ok(CfsPath::root());
        }
        p.parse().map_err(|_| Errno::EINVAL)
    }

    fn virtual_data(&self, v: &str) -> Vec<u8> {
        let text = match v {
            ".members" => {
                let status = self.node.status();
                serde_json::to_string_pretty(&serde_json::json!({
                    "nodename": self.node.config.name.as_str(),
                    "cluster": status.cluster,
                    "quorate": status.quorate,
                    "nodelist": status.members.iter().map(|m| serde_json::json!({
                        "name": m.name, "online": m.alive, "local": m.local,
                        "ip": m.links.first().map(|l| l.address.clone()),
                    })).collect::<Vec<_>>(),
                }))
                .unwrap_or_default()
            }
            ".vmlist" => {
                let mut ids = serde_json::Map::new();
                for (path, _) in self.rt.cfs.dump(&CfsPath::root()) {
                    if let Some(g) = brigade_core::layout::parse_guest_config_path(&path) {
                        ids.insert(
                            g.vmid.to_string(),
                            serde_json::json!({ "node": g.node, "type": g.kind }),
                        );
                    }
                }
                serde_json::to_string_pretty(&serde_json::json!({ "ids": ids })).unwrap_or_default()
            }
            ".version" => serde_json::to_string_pretty(&serde_json::json!({
                "version": self.rt.cfs.version(),
                "brigade": env!("CARGO_PKG_VERSION"),
            }))
            .unwrap_or_default(),
            ".clusterlog" => {
                let raw = CfsFs::cfs_path(brigade_core::layout::CLUSTER_LOG)
                    .ok()
                    .and_then(|p| self.rt.cfs.read(&p).ok())
                    .map(|f| String::from_utf8_lossy(&f.data).into_owned())
                    .unwrap_or_default();
                let lines: Vec<serde_json::Value> = raw
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                serde_json::to_string_pretty(&serde_json::json!({ "data": lines }))
                    .unwrap_or_default()
            }
            _ => String::new(),
        };
        (text + "\n").into_bytes()
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
                let f = self
                    .rt
                    .cfs
                    .read(&CfsFs::cfs_path(p)?)
                    .map_err(|e| errno(&e))?;
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
        format!("nodes/{}/{l}", self.node.config.name)
    }

    fn writable(&self) -> Result<(), Errno> {
        if self.rt.cfs.is_quorate() {
            Ok(())
        } else {
            Err(Errno::EROFS)
        }
    }

    fn propose(&self, op: Op) -> Result<(), Errno> {
        self.writable()?;
        self.handle
            .block_on(self.rt.cfs.propose(op))
            .map(|_| ())
            .map_err(|e| errno(&e))
    }

    fn write_file(&self, path: &str, data: Vec<u8>) -> Result<(), Errno> {
        if data.len() as u64 > brigade_cfs::tree::FILE_MAX_BYTES {
            return Err(Errno::EFBIG);
        }
        self.propose(Op::Write {
            path: CfsFs::cfs_path(path)?,
            data,
            expect_version: None,
            create_exclusive: false,
        })
    }

    /// unlink (a file) or rmdir (an empty directory).
    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let Entry::Tree(p) = self.child(parent, name)? else {
            return Err(if dir { Errno::ENOTDIR } else { Errno::EACCES });
        };
        let f = self
            .rt
            .cfs
            .read(&CfsFs::cfs_path(&p)?)
            .map_err(|e| errno(&e))?;
        match (dir, f.dir) {
            (false, true) => return Err(Errno::EISDIR),
            (true, false) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.propose(Op::Delete {
            path: CfsFs::cfs_path(&p)?,
            expect_version: None,
            recursive: false,
        })
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

impl Filesystem for CfsFs {
    fn init(&mut self, _req: &Request, config: &mut fuser::KernelConfig) -> std::io::Result<()> {
        // O_TRUNC arrives with open (not as a separate truncate first), so a write that
        // fails leaves the file as it was.
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_ATOMIC_O_TRUNC);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.child(parent, name).and_then(|e| self.attr(&e)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self
            .entry(ino)
            .ok_or(Errno::ENOENT)
            .and_then(|e| self.attr(&e))
        {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = (|| {
            let e = self.entry(ino).ok_or(Errno::ENOENT)?;
            if let (Some(size), Entry::Tree(path)) = (size, &e) {
                self.writable()?;
                let truncated_open = fh.is_some_and(|fh| {
                    let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
                    match files.get_mut(&fh.0) {
                        Some(f) => {
                            f.data.resize(size as usize, 0);
                            f.dirty = true;
                            true
                        }
                        None => false,
                    }
                });
                if !truncated_open {
                    let f = self
                        .rt
                        .cfs
                        .read(&CfsFs::cfs_path(path)?)
                        .map_err(|e| errno(&e))?;
                    let mut data = f.data;
                    data.resize(size as usize, 0);
                    self.write_file(path, data)?;
                }
            } else if size.is_some() {
                return Err(Errno::EACCES);
            }
            self.attr(&e)
        })();
        match result {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.entry(ino) {
            Some(Entry::Link(l)) => reply.data(self.link_target(l).as_bytes()),
            _ => reply.error(Errno::EINVAL),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let result = self.child(parent, name).and_then(|e| match &e {
            Entry::Tree(p) => {
                self.propose(Op::Mkdir {
                    path: CfsFs::cfs_path(p)?,
                    parents: false,
                })?;
                self.attr(&e)
            }
            _ => Err(Errno::EEXIST),
        });
        match result {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = (|| {
            let (Entry::Tree(from), Entry::Tree(to)) =
                (self.child(parent, name)?, self.child(newparent, newname)?)
            else {
                return Err(Errno::EACCES);
            };
            let from_p = CfsFs::cfs_path(&from)?;
            let to_p = CfsFs::cfs_path(&to)?;
            // POSIX rename replaces a file at the target, atomically (how editors save).
            let mut ops = Vec::new();
            if let Ok(existing) = self.rt.cfs.read(&to_p) {
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
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let acc = flags.0 & libc::O_ACCMODE;
        let writing = acc == libc::O_WRONLY || acc == libc::O_RDWR;
        let result = match self.entry(ino) {
            Some(Entry::Virtual(v)) if writing => {
                let _ = v;
                Err(Errno::EACCES)
            }
            Some(Entry::Virtual(v)) => Ok(self.new_fh(v.to_string(), self.virtual_data(v), false)),
            Some(Entry::Tree(p)) => (|| {
                if writing {
                    self.writable()?;
                }
                let f = self
                    .rt
                    .cfs
                    .read(&CfsFs::cfs_path(&p)?)
                    .map_err(|e| errno(&e))?;
                if f.dir {
                    return Err(Errno::EISDIR);
                }
                let trunc = flags.0 & libc::O_TRUNC != 0 && writing;
                let data = if trunc { Vec::new() } else { f.data };
                Ok(self.new_fh(p, data, trunc))
            })(),
            _ => Err(Errno::ENOENT),
        };
        match result {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        match files.get(&fh.0) {
            Some(f) => {
                let start = (offset as usize).min(f.data.len());
                let end = (start + size as usize).min(f.data.len());
                reply.data(&f.data[start..end]);
            }
            None => reply.error(Errno::EBADF),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        if let Err(e) = self.writable() {
            return reply.error(e);
        }
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = files.get_mut(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let end = offset as usize + data.len();
        if end as u64 > brigade_cfs::tree::FILE_MAX_BYTES {
            f.failed = true;
            return reply.error(Errno::EFBIG);
        }
        if f.data.len() < end {
            f.data.resize(end, 0);
        }
        f.data[offset as usize..end].copy_from_slice(data);
        f.dirty = true;
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        match self.flush_fh(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.flush_fh(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let result = self.flush_fh(fh.0);
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let result = (|| {
            let dir = self.tree_path(ino)?;
            let mut entries: Vec<(u64, FileType, String)> = vec![
                (ino.0, FileType::Directory, ".".into()),
                (1, FileType::Directory, "..".into()),
            ];
            if dir.is_empty() {
                for v in VIRTUAL_FILES {
                    entries.push((self.ino(Entry::Virtual(v)), FileType::RegularFile, v.into()));
                }
                for l in LINKS {
                    entries.push((self.ino(Entry::Link(l)), FileType::Symlink, l.into()));
                }
            }
            for e in self
                .rt
                .cfs
                .list(&CfsFs::cfs_path(&dir)?)
                .map_err(|e| errno(&e))?
            {
                let path = if dir.is_empty() {
                    e.name.clone()
                } else {
                    format!("{dir}/{}", e.name)
                };
                let kind = if e.dir {
                    FileType::Directory
                } else {
                    FileType::RegularFile
                };
                entries.push((self.ino(Entry::Tree(path)), kind, e.name));
            }
            Ok(entries)
        })();
        match result {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = (|| {
            let e = self.child(parent, name)?;
            let Entry::Tree(path) = &e else {
                return Err(Errno::EEXIST);
            };
            let exists = self.rt.cfs.read(&CfsFs::cfs_path(path)?).is_ok();
            if exists && flags & libc::O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            if !exists {
                self.propose(Op::Write {
                    path: CfsFs::cfs_path(path)?,
                    data: Vec::new(),
                    expect_version: None,
                    create_exclusive: flags & libc::O_EXCL != 0,
                })?;
            }
            let fh = self.new_fh(path.clone(), Vec::new(), exists);
            Ok((self.attr(&e)?, fh))
        })();
        match result {
            Ok((a, fh)) => reply.created(
                &TTL,
                &a,
                Generation(0),
                FileHandle(fh),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }
}

/// The mounts this node serves.
#[derive(Default)]
pub struct Mounts {
    sessions: Mutex<Vec<(PathBuf, fuser::BackgroundSession)>>,
}

impl Node {
    /// Mounts the cfs tree at `path` (served by this daemon until unmounted or stopped).
    pub fn mount_cfs(self: &Arc<Self>, path: &Path) -> Result<(), NodeError> {
        let rt = self.require_cluster()?.clone();
        if !path.is_dir() {
            return Err(NodeError::Invalid(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        let mut sessions = self
            .mounts
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if sessions.iter().any(|(p, _)| p == path) {
            return Err(NodeError::Conflict(format!(
                "{} is already mounted",
                path.display()
            )));
        }
        let fs = CfsFs::new(self.clone(), rt, tokio::runtime::Handle::current());
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName("brigade".into()),
            MountOption::Subtype("cfs".into()),
            MountOption::DefaultPermissions,
            MountOption::AutoUnmount,
        ];
        config.acl = fuser::SessionACL::All;
        config.n_threads = Some(2);
        let session = fuser::spawn_mount(fs, path, &config).map_err(|e| {
            NodeError::Internal(format!(
                "cannot mount at {}: {e} (is the fuse3 package installed?)",
                path.display()
            ))
        })?;
        sessions.push((path.to_path_buf(), session));
        tracing::info!(mountpoint = %path.display(), "cfs mounted");
        Ok(())
    }

    /// Unmounts one mount (all with `None`).
    pub fn unmount_cfs(&self, path: Option<&Path>) -> Result<(), NodeError> {
        let mut sessions = self
            .mounts
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let before = sessions.len();
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *sessions)
            .into_iter()
            .partition(|(p, _)| path.is_none_or(|x| x == p));
        *sessions = kept;
        if gone.is_empty() && path.is_some() && before > 0 || gone.is_empty() && path.is_some() {
            return Err(NodeError::NotFound(format!(
                "{} is not mounted by this node",
                path.map(|p| p.display().to_string()).unwrap_or_default()
            )));
        }
        for (p, s) in gone {
            drop(s);
            // Detach it ourselves too: fusermount's auto-unmount helper may have been
            // stopped with this process group.
            let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
            tracing::info!(mountpoint = %p.display(), "cfs unmounted");
        }
        Ok(())
    }
}
