//! Detached guest processes: pidfiles, liveness (zombies count as dead), signals, waiting.

use std::path::Path;
use std::time::{Duration, Instant};

use brigade_core::poll_until;
use nix::sys::signal;
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{GuestError, Result};

/// How often waits poll a process.
pub const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The pid in a pidfile, if the file exists and holds a number.
pub fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesized command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// The command line of `pid`, split at NULs.
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The pid in `pidfile` if that process is alive and its command line
/// contains `marker` (guards against a reused pid).
pub fn live_pid(pidfile: &Path, marker: &str) -> Option<i32> {
    let pid = read_pidfile(pidfile)?;
    (is_alive(pid) && cmdline(pid).iter().any(|a| a.contains(marker))).then_some(pid)
}

/// Direct children of `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `sig` to `pid`; a process already gone is not an error.
pub fn send(pid: i32, sig: Signal) -> Result<()> {
    match signal::kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(GuestError::Io {
            context: format!("cannot send {sig} to {pid}"),
            source: e.into(),
        }),
    }
}

/// Sends `sig` to the process group `pgid`; a group already gone is not an error.
pub fn send_group(pgid: i32, sig: Signal) -> Result<()> {
    match signal::killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(GuestError::Io {
            context: format!("cannot send {sig} to group {pgid}"),
            source: e.into(),
        }),
    }
}

/// Waits until `pid` is gone; true if it went within `timeout`.
pub async fn wait_gone(pid: i32, timeout: Duration) -> bool {
    poll_until(Instant::now() + timeout, EXIT_POLL_INTERVAL, || {
        std::future::ready(!is_alive(pid))
    })
    .await
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn liveness_signals_and_zombies() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        assert!(is_alive(pid));
        // The exec may still be under way when spawn returns: give it a moment.
        let started = Instant::now();
        while !cmdline(pid).iter().any(|a| a == "30") {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "cmdline of {pid}: {:?}",
                cmdline(pid)
            );
            tokio::time::sleep(EXIT_POLL_INTERVAL).await;
        }
        send(pid, Signal::SIGKILL).expect("kill");
        // Not reaped yet: a zombie, which counts as dead.
        assert!(wait_gone(pid, Duration::from_secs(5)).await);
        child.wait().expect("reap");
        send(pid, Signal::SIGKILL).expect("gone is fine");
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("x.pid");
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).expect("write");
        assert!(live_pid(&pidfile, "no-such-marker-in-my-cmdline").is_none());
        assert!(live_pid(&dir.path().join("missing.pid"), "").is_none());
    }
}
