//! Mount sessions: mounting the tree at a path (served by this daemon) and unmounting it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fuser::MountOption;

use super::CfsFs;
use crate::error::NodeError;
use crate::node::Node;

/// FUSE worker threads per mount.
const MOUNT_THREADS: usize = 2;

/// The mounts this node serves.
#[derive(Default)]
pub struct Mounts {
    sessions: Mutex<Vec<(PathBuf, fuser::BackgroundSession)>>,
}

impl Mounts {
    /// Serves `fs` at `path` until unmounted or dropped.
    pub fn mount(&self, path: &Path, fs: CfsFs) -> Result<(), NodeError> {
        if !path.is_dir() {
            return Err(NodeError::Invalid(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.iter().any(|(p, _)| p == path) {
            return Err(NodeError::Conflict(format!(
                "{} is already mounted",
                path.display()
            )));
        }
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName("brigade".into()),
            MountOption::Subtype("cfs".into()),
            MountOption::DefaultPermissions,
            MountOption::AutoUnmount,
        ];
        config.acl = fuser::SessionACL::All;
        config.n_threads = Some(MOUNT_THREADS);
        let session = fuser::spawn_mount(fs, path, &config).map_err(NodeError::failed(format!(
            "cannot mount at {} (is the fuse3 package installed?)",
            path.display()
        )))?;
        sessions.push((path.to_path_buf(), session));
        tracing::info!(mountpoint = %path.display(), "cfs mounted");
        Ok(())
    }

    /// Unmounts one mount (all with `None`).
    pub fn unmount(&self, path: Option<&Path>) -> Result<(), NodeError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *sessions)
            .into_iter()
            .partition(|(p, _)| path.is_none_or(|x| x == p));
        *sessions = kept;
        if let (true, Some(p)) = (gone.is_empty(), path) {
            return Err(NodeError::NotFound(format!(
                "{} is not mounted by this node",
                p.display()
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

impl Node {
    /// Mounts the cfs tree at `path` (served by this daemon until unmounted or stopped).
    pub fn mount_cfs(self: &Arc<Self>, path: &Path) -> Result<(), NodeError> {
        let cfs = self.require_cluster()?.cfs.clone();
        let host: Arc<dyn super::MountHost> = self.clone();
        let fs = CfsFs::new(host, cfs, tokio::runtime::Handle::current());
        self.mounts.mount(path, fs)
    }

    /// Unmounts one mount (all with `None`).
    pub fn unmount_cfs(&self, path: Option<&Path>) -> Result<(), NodeError> {
        self.mounts.unmount(path)
    }
}
