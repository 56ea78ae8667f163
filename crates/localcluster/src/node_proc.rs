//! One node process: its config, its pid (a child or a detached lab node), its signals.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use brigade_core::poll_until_blocking;
use brigade_guest::process::{self, Signal};
use brigade_node::config::NodeConfig;

use crate::POLL_INTERVAL;

/// One node process.
pub struct NodeProc {
    pub name: String,
    pub addr: IpAddr,
    pub config_path: PathBuf,
    pub config: NodeConfig,
    pub(crate) child: Option<Child>,
    /// The pid of a node started by an earlier process (lab mode).
    pub detached_pid: Option<u32>,
}

impl NodeProc {
    pub fn state_dir(&self) -> PathBuf {
        self.config.state_dir()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id()).or(self.detached_pid)
    }

    pub fn is_running(&mut self) -> bool {
        match (&mut self.child, self.detached_pid) {
            (Some(c), _) => matches!(c.try_wait(), Ok(None)),
            (None, Some(pid)) => pid_alive(pid),
            (None, None) => false,
        }
    }

    /// Signals the node's process group (the daemon and any wrapper such as faketime).
    pub(crate) fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid() {
            let _ = process::send_group(pid as i32, sig);
        }
    }
}

/// Kills what an earlier run left in `dir` (guests, watchdog) and empties it.
pub(crate) fn clear_run_dir(dir: &Path) {
    if let Ok(run) = brigade_guest::RunDir::open(dir) {
        let pids = brigade_guest::running_guests(&run)
            .into_iter()
            .map(|g| g.pid)
            .chain(
                brigade_guest::process::read_pidfile(&run.watchdog_pid()).filter(|p| {
                    brigade_guest::process::cmdline(*p)
                        .iter()
                        .any(|a| a == "watchdog")
                }),
            );
        for pid in pids {
            let _ = brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The fields of /proc/PID/stat after the command: state(0) ppid(1) pgrp(2) ...
/// utime(11) stime(12) ...
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The processes of the process group `pgrp` (its leader included).
pub fn process_group(pgrp: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|p| {
            stat_fields(*p).and_then(|f| f.get(2).and_then(|g| g.parse::<u32>().ok())) == Some(pgrp)
        })
        .collect()
}

/// Whether a process exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    process::is_alive(pid as i32)
}

/// Waits until `pid` is gone; false on timeout.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    poll_until_blocking(Instant::now() + timeout, POLL_INTERVAL, || !pid_alive(pid)).is_ok()
}
