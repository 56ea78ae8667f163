//! The node's run directory: pidfiles and sockets of its guests (kept short: socket paths max 108 bytes).

use std::path::{Path, PathBuf};

use crate::error::{GuestError, Result};

/// Longest Unix socket path the kernel accepts, minus the NUL.
pub const SOCKET_PATH_MAX: usize = 107;
/// Longest socket name this module creates under the run dir (`/999999999.serial`).
const LONGEST_NAME: usize = "/999999999.serial".len();

/// Where one node keeps its guests' runtime files.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Creates the directory (0700) and checks socket paths will fit.
    pub fn open(root: &Path) -> Result<RunDir> {
        if root.as_os_str().len() + LONGEST_NAME > SOCKET_PATH_MAX {
            return Err(GuestError::Invalid(format!(
                "run directory {} is too long for Unix sockets (at most {} bytes)",
                root.display(),
                SOCKET_PATH_MAX - LONGEST_NAME
            )));
        }
        std::fs::create_dir_all(root)
            .map_err(GuestError::io(format!("cannot create {}", root.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))
            .map_err(GuestError::io(format!("cannot chmod {}", root.display())))?;
        Ok(RunDir {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn file(&self, name: String) -> PathBuf {
        self.root.join(name)
    }

    pub fn qemu_pid(&self, vmid: u32) -> PathBuf {
        self.file(format!("{vmid}.pid"))
    }
    pub fn qmp(&self, vmid: u32) -> PathBuf {
        self.file(format!("{vmid}.qmp"))
    }
    /// A second QMP monitor for observers (benchmarks reading STOP/RESUME events),
    /// leaving the first to this node's daemon.
    pub fn qmp_events(&self, vmid: u32) -> PathBuf {
        self.file(format!("{vmid}.qmp-events"))
    }
    pub fn serial(&self, vmid: u32) -> PathBuf {
        self.file(format!("{vmid}.serial"))
    }
    /// Everything the guest wrote on its serial port since it started here.
    pub fn serial_log(&self, vmid: u32) -> PathBuf {
        self.file(format!("{vmid}.serial.log"))
    }
    /// The incoming side of a live migration.
    pub fn migrate_in(&self, vmid: u32) -> PathBuf {
        self.file(format!("{vmid}.min"))
    }
    /// The outgoing side of a live migration (the tunnel's local end).
    pub fn migrate_out(&self, vmid: u32) -> PathBuf {
        self.file(format!("{vmid}.mout"))
    }
    pub fn ct_pid(&self, vmid: u32) -> PathBuf {
        self.file(format!("ct-{vmid}.pid"))
    }
    /// A container's console output.
    pub fn ct_log(&self, vmid: u32) -> PathBuf {
        self.file(format!("ct-{vmid}.log"))
    }

    /// The watchdog helper's pidfile.
    pub fn watchdog_pid(&self) -> PathBuf {
        self.file("watchdog.pid".into())
    }
    /// What the daemon feeds the watchdog: `SEQ armed DEADLINE_MS` (CLOCK_BOOTTIME)
    /// or `SEQ disarmed`.
    pub fn watchdog_feed(&self) -> PathBuf {
        self.file("watchdog.lease".into())
    }
    /// The HA-managed VMIDs the watchdog kills when it fires.
    pub fn ha_vmids(&self) -> PathBuf {
        self.file("ha-vmids".into())
    }

    /// Writes `data` to `path` atomically (a rename), so readers see old or new.
    pub fn write_atomic(path: &Path, data: &str) -> Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, data)
            .map_err(GuestError::io(format!("cannot write {}", tmp.display())))?;
        std::fs::rename(&tmp, path)
            .map_err(GuestError::io(format!("cannot rename {}", tmp.display())))
    }

    /// A live migration is arriving for this VM (the target's record: the source node).
    pub fn incoming_marker(&self, vmid: u32) -> PathBuf {
        self.file(format!("{vmid}.incoming"))
    }

    /// VMIDs with an incoming-migration record here.
    pub fn incoming_vmids(&self) -> Vec<u32> {
        self.list(|name| name.strip_suffix(".incoming"))
    }

    /// VMIDs with a QEMU pidfile here.
    pub fn qemu_vmids(&self) -> Vec<u32> {
        self.list(|name| name.strip_suffix(".pid").filter(|s| !s.starts_with("ct-")))
    }

    /// VMIDs with a container pidfile here.
    pub fn ct_vmids(&self) -> Vec<u32> {
        self.list(|name| name.strip_prefix("ct-")?.strip_suffix(".pid"))
    }

    fn list(&self, pick: impl Fn(&str) -> Option<&str>) -> Vec<u32> {
        let mut out: Vec<u32> = std::fs::read_dir(&self.root)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| pick(&e.file_name().to_string_lossy())?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_unstable();
        out
    }

    /// Removes a guest's runtime files after it stopped.
    pub fn clean_qemu(&self, vmid: u32) {
        for p in [
            self.qemu_pid(vmid),
            self.qmp(vmid),
            self.qmp_events(vmid),
            self.serial(vmid),
            self.migrate_in(vmid),
            self.migrate_out(vmid),
        ] {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dir_paths() {
        let d = tempfile::tempdir().expect("tempdir");
        let r = RunDir::open(d.path()).expect("open");
        std::fs::write(r.qemu_pid(100), "1").expect("w");
        std::fs::write(r.ct_pid(101), "1").expect("w");
        assert_eq!(r.qemu_vmids(), vec![100]);
        assert_eq!(r.ct_vmids(), vec![101]);
        let long = PathBuf::from(format!("/{}", "x".repeat(100)));
        assert!(RunDir::open(&long).is_err());
    }
}
