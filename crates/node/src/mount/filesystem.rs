//! The FUSE operations of the mounted tree: lookups and attributes, open/read/write
//! with writes through Raft on flush, create, rename, mkdir and removal.

use std::ffi::OsStr;
use std::path::Path;
use std::time::SystemTime;

use brigade_cfs::Op;
use fuser::{
    Errno, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, OpenFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request,
};

use super::inodes::{Entry, LINKS, ROOT_INO, VIRTUAL_FILES};
use super::{errno, CfsFs, TTL};

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
        let result = self.rename_entry(parent, name, newparent, newname);
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
                (ROOT_INO, FileType::Directory, "..".into()),
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
            let cfs_path = CfsFs::cfs_path(path)?;
            let exists = self.cfs.read(&cfs_path).is_ok();
            if exists && flags & libc::O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            // A new file whose format brigade owns stays in this handle until its first
            // flush, so a refused content leaves no empty config (a phantom guest) behind.
            let deferred = !exists && crate::validate::file_kind(cfs_path.as_str()).is_some();
            if deferred {
                self.writable()?;
            } else if !exists {
                self.propose(Op::Write {
                    path: cfs_path,
                    data: Vec::new(),
                    expect_version: None,
                    create_exclusive: flags & libc::O_EXCL != 0,
                })?;
            }
            let fh = self.new_fh(path.clone(), Vec::new(), exists || deferred);
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
