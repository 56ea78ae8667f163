//! The mount without a daemon: a real one-member cfs (Raft and redb in a temporary
//! directory) behind [`CfsFs`], with a host that validates as the daemon does.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex};

use brigade_api::cluster::ClusterStatus;
use brigade_cfs::{Cfs, CfsOptions, Member, Op, RaftSettings};
use brigade_core::CfsPath;
use fuser::{Errno, FileType, INodeNo};

use super::inodes::Entry;
use super::{CfsFs, MountHost};
use crate::error::NodeError;
use crate::validate::{self, HostPathPolicy};

const NODE: &str = "n1";

/// A node as the mount sees it: the daemon's file checks, and a set of paths it
/// refuses to remove (as it refuses a protected guest's config).
struct TestHost {
    policy: HostPathPolicy,
    undeletable: Mutex<BTreeSet<String>>,
}

impl MountHost for TestHost {
    fn node_name(&self) -> &str {
        NODE
    }

    fn members(&self) -> ClusterStatus {
        ClusterStatus {
            node: NODE.into(),
            cluster: Some("test".into()),
            node_id: Some(1),
            quorate: true,
            cfs: None,
            config: None,
            members: Vec::new(),
            heartbeats: brigade_api::membership::DropCounters::default(),
            warnings: Vec::new(),
            format: None,
        }
    }

    fn validate_write(&self, path: &CfsPath, data: &[u8]) -> Result<(), NodeError> {
        validate::validate_file(path.as_str(), data, &self.policy)
    }

    fn validate_rename(&self, _from: &CfsPath, to: &CfsPath) -> Result<(), NodeError> {
        if validate::file_kind(to.as_str()).is_some() {
            return Err(NodeError::Invalid(format!("{to}: not here")));
        }
        Ok(())
    }

    fn validate_delete(&self, path: &CfsPath) -> Result<(), NodeError> {
        let refused = self
            .undeletable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(path.as_str());
        if refused {
            return Err(NodeError::Invalid(format!("{path} is protected")));
        }
        Ok(())
    }
}

/// A mount over a fresh one-member cluster; the runtime serves its blocking calls.
struct Fixture {
    fs: CfsFs,
    cfs: Arc<Cfs>,
    runtime: tokio::runtime::Runtime,
    host: Arc<TestHost>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ca = brigade_net::pki::generate_ca("test").expect("CA");
    let tls = brigade_net::tls::client_config(&ca.cert_pem, None).expect("TLS");
    let cfs = runtime.block_on(async {
        let cfs = Cfs::start(CfsOptions {
            node_id: 1,
            data_dir: dir.path().join("cfs"),
            raft_tls: tls,
            local_addr: [127, 0, 0, 1].into(),
            local_addr1: None,
            settings: RaftSettings::default(),
        })
        .await
        .expect("cfs starts");
        cfs.bootstrap(Member {
            name: NODE.into(),
            rpc_addr: "127.0.0.1:1".into(),
            api_addr: "127.0.0.1:2".into(),
            rpc_addr1: None,
        })
        .await
        .expect("one-member cluster");
        cfs
    });
    let host = Arc::new(TestHost {
        policy: HostPathPolicy {
            node: NODE.into(),
            state_dir: dir.path().join("state"),
            appliance_dir: dir.path().join("appliance"),
            storage: brigade_guest::StorageConfig::default(),
        },
        undeletable: Mutex::new(BTreeSet::new()),
    });
    let as_host: Arc<dyn MountHost> = host.clone();
    let fs = CfsFs::new(as_host, cfs.clone(), runtime.handle().clone());
    Fixture {
        fs,
        cfs,
        runtime,
        host,
        _dir: dir,
    }
}

impl Fixture {
    fn path(p: &str) -> CfsPath {
        p.parse().expect("path")
    }

    fn read(&self, p: &str) -> Option<Vec<u8>> {
        self.cfs.read(&Self::path(p)).ok().map(|f| f.data)
    }

    fn put(&self, p: &str, data: &str) {
        self.runtime
            .block_on(self.cfs.propose(Op::Write {
                path: Self::path(p),
                data: data.as_bytes().to_vec(),
                expect_version: None,
                create_exclusive: false,
            }))
            .expect("write");
    }

    fn mkdir(&self, p: &str) {
        self.runtime
            .block_on(self.cfs.propose(Op::Mkdir {
                path: Self::path(p),
                parents: true,
            }))
            .expect("mkdir");
    }

    fn ino(&self, p: &str) -> INodeNo {
        INodeNo(self.fs.ino(Entry::Tree(p.into())))
    }
}

#[test]
fn a_written_file_reaches_the_tree_at_flush_and_only_once() {
    let f = fixture();
    let fh = f.fs.new_fh("notes.txt".into(), b"hello\n".to_vec(), true);
    assert_eq!(f.read("notes.txt"), None, "nothing before the flush");
    assert_eq!(f.fs.pending_size("notes.txt"), Some(6));
    f.fs.flush_fh(fh).expect("flush");
    assert_eq!(f.read("notes.txt").as_deref(), Some(&b"hello\n"[..]));
    let file = f.cfs.read(&Fixture::path("notes.txt")).expect("read");
    assert_eq!(
        f.cfs.version_of(&Fixture::path("notes.txt")).ok(),
        Some(file.version)
    );
    assert!(f.cfs.version_of(&Fixture::path("absent")).is_err());
    let version = f.cfs.version();
    f.fs.flush_fh(fh).expect("a clean handle flushes nothing");
    assert_eq!(f.cfs.version(), version, "no second write");
}

#[test]
fn a_refused_config_changes_nothing_and_stays_pending() {
    let f = fixture();
    let path = "nodes/n1/qemu-server/100.conf";
    let fh = f.fs.new_fh(path.into(), b"memory: banana\n".to_vec(), true);
    assert_eq!(f.fs.flush_fh(fh), Err(Errno::EINVAL));
    assert_eq!(f.read(path), None, "no phantom guest");
    assert_eq!(
        f.fs.pending_size(path),
        Some(15),
        "the handle keeps the data"
    );
    // The editor fixes it: the next flush writes it.
    f.fs.files
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_mut(&fh)
        .expect("open handle")
        .data = b"memory: 128\n".to_vec();
    f.fs.flush_fh(fh).expect("a valid config is written");
    assert_eq!(f.read(path).as_deref(), Some(&b"memory: 128\n"[..]));
}

#[test]
fn a_file_over_the_limit_is_efbig_and_not_written() {
    let f = fixture();
    let big = vec![b'x'; brigade_cfs::tree::FILE_MAX_BYTES as usize + 1];
    assert_eq!(f.fs.write_file("big", big), Err(Errno::EFBIG));
    assert_eq!(f.read("big"), None);
}

#[test]
fn removal_checks_the_kind_and_asks_the_host() {
    let f = fixture();
    f.mkdir("d");
    f.put("d/file", "x");
    let d = f.ino("d");
    let root = f.ino("");
    assert_eq!(
        f.fs.remove(d, OsStr::new("file"), true),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        f.fs.remove(root, OsStr::new("d"), false),
        Err(Errno::EISDIR)
    );
    assert_eq!(
        f.fs.remove(root, OsStr::new("d"), true),
        Err(Errno::ENOTEMPTY)
    );
    f.host
        .undeletable
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("d/file".into());
    assert_eq!(
        f.fs.remove(d, OsStr::new("file"), false),
        Err(Errno::EINVAL)
    );
    assert!(
        f.read("d/file").is_some(),
        "a refused removal keeps the file"
    );
    f.host
        .undeletable
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    f.fs.remove(d, OsStr::new("file"), false).expect("unlink");
    f.fs.remove(root, OsStr::new("d"), true).expect("rmdir");
    assert_eq!(f.read("d"), None);
    assert_eq!(
        f.fs.remove(root, OsStr::new("gone"), false),
        Err(Errno::ENOENT)
    );
}

#[test]
fn virtual_files_and_links_show_this_replica() {
    let f = fixture();
    f.mkdir("nodes");
    f.mkdir("nodes/n1");
    f.mkdir("nodes/n1/qemu-server");
    f.put("nodes/n1/qemu-server/101.conf", "memory: 128\n");
    let vmlist: serde_json::Value =
        serde_json::from_slice(&f.fs.virtual_data(".vmlist")).expect("JSON");
    assert_eq!(vmlist["ids"]["101"]["node"], "n1");
    assert_eq!(vmlist["ids"]["101"]["type"], "qemu");
    let version: serde_json::Value =
        serde_json::from_slice(&f.fs.virtual_data(".version")).expect("JSON");
    assert_eq!(version["version"], f.cfs.version());
    let members: serde_json::Value =
        serde_json::from_slice(&f.fs.virtual_data(".members")).expect("JSON");
    assert_eq!(members["nodename"], NODE);
    assert_eq!(members["quorate"], true);
    assert_eq!(f.fs.link_target("qemu-server"), "nodes/n1/qemu-server");
    let link = f.fs.attr(&Entry::Link("lxc")).expect("attr");
    assert_eq!(link.kind, FileType::Symlink);
    assert_eq!(link.size, "nodes/n1/lxc".len() as u64);
}

#[test]
fn private_files_are_for_root_only_and_open_writes_show_their_size() {
    let f = fixture();
    f.mkdir("priv");
    f.put("priv/key", "secret");
    f.put("open.txt", "abc");
    let dir = f.fs.attr(&Entry::Tree("priv".into())).expect("attr");
    assert_eq!((dir.kind, dir.perm), (FileType::Directory, 0o700));
    let key = f.fs.attr(&Entry::Tree("priv/key".into())).expect("attr");
    assert_eq!(
        (key.kind, key.perm, key.size),
        (FileType::RegularFile, 0o600, 6)
    );
    let _fh = f.fs.new_fh("open.txt".into(), b"abcdefgh".to_vec(), true);
    let open = f.fs.attr(&Entry::Tree("open.txt".into())).expect("attr");
    assert_eq!((open.perm, open.size), (0o644, 8), "the pending size");
}

#[test]
fn a_rename_replaces_a_file_at_once_and_a_refused_one_keeps_both_names() {
    let f = fixture();
    f.put("draft.txt", "new");
    f.put("saved.txt", "old");
    f.mkdir("dir");
    let root = f.ino("");
    f.fs.rename_entry(root, OsStr::new("draft.txt"), root, OsStr::new("saved.txt"))
        .expect("rename over a file");
    assert_eq!(f.read("saved.txt").as_deref(), Some(&b"new"[..]));
    assert_eq!(f.read("draft.txt"), None);
    assert_eq!(
        f.fs.rename_entry(root, OsStr::new("saved.txt"), root, OsStr::new("dir")),
        Err(Errno::EISDIR)
    );
    f.mkdir("nodes");
    f.mkdir("nodes/n1");
    f.mkdir("nodes/n1/qemu-server");
    let guests = f.ino("nodes/n1/qemu-server");
    assert_eq!(
        f.fs.rename_entry(
            root,
            OsStr::new("saved.txt"),
            guests,
            OsStr::new("100.conf")
        ),
        Err(Errno::EINVAL),
        "the host refuses it"
    );
    assert!(f.read("saved.txt").is_some());
    assert_eq!(f.read("nodes/n1/qemu-server/100.conf"), None);
    assert_eq!(
        f.fs.rename_entry(root, OsStr::new(".members"), root, OsStr::new("m")),
        Err(Errno::EACCES),
        "virtual files do not move"
    );
}
