//! Giving the watchdog helper cgroups of its own where freezing happens (cgroup v1's
//! freezer hierarchy, the unified cgroup v2 tree), so that freezing the daemon's
//! cgroup (a paused container, `systemctl freeze`) leaves the helper running.

use std::path::{Path, PathBuf};

/// The name of the helpers' cgroup directory under each hierarchy's root.
pub const HELPER_CGROUP: &str = "brigade-watchdog";

/// Why the helper could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no freezer or cgroup v2 hierarchy is mounted")]
    NoHierarchy,
}

/// A mounted hierarchy that can freeze: its mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub v2: bool,
}

/// The freezing hierarchies in a mountinfo text (`/proc/self/mountinfo`).
pub fn freezing_hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPEROPTS
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount = left.split_whitespace().nth(4);
        let mut r = right.split_whitespace();
        let fstype = r.next();
        let superopts = r.nth(1).unwrap_or("");
        match (fstype, mount) {
            (Some("cgroup2"), Some(m)) => out.push(Hierarchy {
                mount: PathBuf::from(m),
                v2: true,
            }),
            (Some("cgroup"), Some(m)) if superopts.split(',').any(|o| o == "freezer") => {
                out.push(Hierarchy {
                    mount: PathBuf::from(m),
                    v2: false,
                });
            }
            _ => {}
        }
    }
    out
}

/// A cgroup directory name for one helper (its run dir, made path-safe).
pub fn helper_dir_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

fn write(path: &Path, text: &str) -> Result<(), CgroupError> {
    std::fs::write(path, text).map_err(|source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Moves `pid` into `<hierarchy>/brigade-watchdog/<key>` of every freezing hierarchy.
/// Returns the cgroups it was moved into.
pub fn isolate(pid: u32, key: &str) -> Result<Vec<PathBuf>, CgroupError> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| CgroupError::Io {
            path: "/proc/self/mountinfo".into(),
            source,
        })?;
    let hierarchies = freezing_hierarchies(&info);
    if hierarchies.is_empty() {
        return Err(CgroupError::NoHierarchy);
    }
    let mut moved = Vec::new();
    for h in hierarchies {
        let dir = h.mount.join(HELPER_CGROUP).join(helper_dir_name(key));
        std::fs::create_dir_all(&dir).map_err(|source| CgroupError::Io {
            path: dir.clone(),
            source,
        })?;
        write(&dir.join("cgroup.procs"), &pid.to_string())?;
        moved.push(dir);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_freezer_and_the_unified_hierarchy() {
        let info = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
            36 31 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
            garbage line\n";
        assert_eq!(
            freezing_hierarchies(info),
            vec![
                Hierarchy {
                    mount: "/sys/fs/cgroup/freezer".into(),
                    v2: false
                },
                Hierarchy {
                    mount: "/sys/fs/cgroup/unified".into(),
                    v2: true
                },
            ]
        );
        assert_eq!(
            helper_dir_name("/run/brigade/127.0.1.1"),
            "run_brigade_127_0_1_1"
        );
    }
}
