//! Freezing a container for a backup (vzdump's `suspend`/`snapshot` modes): its processes
//! moved into a cgroup of their own and frozen (cgroup v2's `cgroup.freeze`, else cgroup
//! v1's `freezer.state`); the guard thaws it when dropped, on every path.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brigade_core::poll_until;
use brigade_guest::process;

use crate::error::NodeError;
use crate::ha::cgroup::freezing_hierarchies;

/// The directory, under a freezing hierarchy's root, of the containers' freeze cgroups.
pub const CT_FREEZE_CGROUP: &str = "brigade-ct";
/// How long the kernel has to report the cgroup frozen.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the frozen state is read meanwhile.
const FREEZE_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How many times the process tree is moved (a process forked meanwhile is caught next time).
const MOVE_PASSES: usize = 3;

/// Why one freezing hierarchy could not freeze the container.
#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    /// A cgroup file could not be made or written (a process could not be moved into it).
    #[error("{}: {source}", path.display())]
    Cgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The cgroup has no freeze file (a hierarchy without the freezer).
    #[error("{} cannot freeze", path.display())]
    NoFreezeFile { path: PathBuf },
    /// The kernel did not report the cgroup frozen in time.
    #[error("{} was not frozen within {} s", path.display(), FREEZE_TIMEOUT.as_secs())]
    NotFrozen { path: PathBuf },
    /// No hierarchy can freeze at all.
    #[error("no freezer or cgroup v2 hierarchy is mounted")]
    NoHierarchy,
}

fn cgroup_error(path: &Path) -> impl FnOnce(std::io::Error) -> FreezeError + '_ {
    move |source| FreezeError::Cgroup {
        path: path.to_path_buf(),
        source,
    }
}

/// A frozen container; thawed on drop.
#[derive(Debug)]
pub struct Frozen {
    dir: PathBuf,
    v2: bool,
}

/// `pid` and all its descendants.
pub fn process_tree(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let children = process::children(out[i]);
        out.extend(children);
        i += 1;
    }
    out
}

/// The value written to freeze (`true`) or thaw a cgroup, and the file it goes to.
pub fn freeze_write(v2: bool, freeze: bool) -> (&'static str, &'static str) {
    match (v2, freeze) {
        (true, true) => ("cgroup.freeze", "1"),
        (true, false) => ("cgroup.freeze", "0"),
        (false, true) => ("freezer.state", "FROZEN"),
        (false, false) => ("freezer.state", "THAWED"),
    }
}

/// Whether a cgroup's state file says it is frozen (v2 `cgroup.events`, v1 `freezer.state`).
pub fn is_frozen(v2: bool, text: &str) -> bool {
    if v2 {
        text.lines().any(|l| l.trim() == "frozen 1")
    } else {
        text.trim() == "FROZEN"
    }
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

impl Frozen {
    /// Freezes the container whose supervisor is `supervisor`.
    pub async fn freeze(vmid: u32, supervisor: i32) -> Result<Frozen, NodeError> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(NodeError::failed("cannot read /proc/self/mountinfo"))?;
        let mut hierarchies = freezing_hierarchies(&info);
        // cgroup v2 first (Proxmox's way), v1's freezer where v2 cannot freeze.
        hierarchies.sort_by_key(|h| !h.v2);
        let mut last = None;
        for h in hierarchies {
            let dir = h.mount.join(CT_FREEZE_CGROUP).join(vmid.to_string());
            if let Err(e) = std::fs::create_dir_all(&dir) {
                last = Some(cgroup_error(&dir)(e));
                continue;
            }
            if !dir.join(freeze_write(h.v2, true).0).exists() {
                last = Some(FreezeError::NoFreezeFile { path: dir });
                continue;
            }
            let frozen = Frozen { dir, v2: h.v2 };
            match frozen.freeze_now(supervisor).await {
                Ok(()) => return Ok(frozen),
                Err(e) => last = Some(e),
            }
        }
        Err(NodeError::Failed {
            context: format!("cannot freeze container {vmid}"),
            source: last.unwrap_or(FreezeError::NoHierarchy).into(),
        })
    }

    async fn freeze_now(&self, supervisor: i32) -> Result<(), FreezeError> {
        let procs = self.dir.join("cgroup.procs");
        for _ in 0..MOVE_PASSES {
            for pid in process_tree(supervisor) {
                // A process that exited meanwhile is no error.
                if let Err(e) = write(&procs, &pid.to_string()) {
                    if process::is_alive(pid) {
                        return Err(cgroup_error(&procs)(e));
                    }
                }
            }
        }
        let (file, value) = freeze_write(self.v2, true);
        let path = self.dir.join(file);
        write(&path, value).map_err(cgroup_error(&path))?;
        let state = self.dir.join(if self.v2 { "cgroup.events" } else { file });
        let v2 = self.v2;
        let done = poll_until(
            Instant::now() + FREEZE_TIMEOUT,
            FREEZE_POLL_INTERVAL,
            || {
                let text = std::fs::read_to_string(&state).unwrap_or_default();
                std::future::ready(is_frozen(v2, &text))
            },
        )
        .await;
        if done.is_err() {
            self.thaw();
            return Err(FreezeError::NotFrozen {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    fn thaw(&self) {
        let (file, value) = freeze_write(self.v2, false);
        if let Err(e) = write(&self.dir.join(file), value) {
            tracing::error!(cgroup = %self.dir.display(), "cannot thaw a container: {e}");
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.thaw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_states_and_writes_per_cgroup_version() {
        assert!(is_frozen(true, "populated 1\nfrozen 1\n"));
        assert!(!is_frozen(true, "populated 1\nfrozen 0\n"));
        assert!(is_frozen(false, "FROZEN\n"));
        assert!(!is_frozen(false, "FREEZING\n"));
        assert_eq!(freeze_write(false, false), ("freezer.state", "THAWED"));
        assert_eq!(freeze_write(true, true), ("cgroup.freeze", "1"));
    }

    #[test]
    fn the_process_tree_holds_the_root_and_its_children() {
        let me = std::process::id() as i32;
        assert_eq!(process_tree(me)[0], me);
    }
}
