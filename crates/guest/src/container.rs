//! Containers: a process tree in new mount, pid, uts, ipc and net namespaces,
//! chrooted into its root directory, detached from the daemon and reattached like a VM.

use std::path::Path;
use std::time::Duration;

use brigade_core::poll_until;
use nix::sys::signal::Signal;

use crate::error::{GuestError, Result};
use crate::process;
use crate::rundir::RunDir;

/// How long a container's init has to exit after SIGTERM on `shutdown`.
pub const DEFAULT_CT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long killing a container may take.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the new init has to appear.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

fn marker(rootfs: &Path) -> String {
    format!("--root={}", rootfs.display())
}

/// The supervisor pid (`unshare`) of a running container.
pub fn running_pid(run: &RunDir, vmid: u32) -> Option<i32> {
    let pid = process::read_pidfile(&run.ct_pid(vmid))?;
    (process::is_alive(pid)
        && process::cmdline(pid)
            .iter()
            .any(|a| a.starts_with("--root=")))
    .then_some(pid)
}

/// The container's init (pid 1 inside), a child of the supervisor.
pub fn init_pid(run: &RunDir, vmid: u32) -> Option<i32> {
    running_pid(run, vmid).and_then(|p| process::children(p).into_iter().next())
}

/// A started container whose init has not run yet: its shell waits for a line on its
/// stdin before `exec /sbin/init`, so the host can give it its NICs first.
pub struct HeldInit(Option<tokio::process::ChildStdin>);

impl HeldInit {
    /// Lets init run. Dropping it does too (the shell reads end of file); init's stdin
    /// is then a pipe at end of file, as /dev/null would be.
    pub async fn release(mut self) {
        if let Some(mut stdin) = self.0.take() {
            let _ = tokio::io::AsyncWriteExt::write_all(&mut stdin, b"\n").await;
        }
    }
}

/// Starts the container detached: `setsid unshare ... --root=ROOTFS`, its namespaces
/// made but its init held until [`HeldInit::release`]. `gate` is checked right before
/// the process is spawned.
pub async fn start(
    run: &RunDir,
    vmid: u32,
    rootfs: &Path,
    hostname: &str,
    gate: crate::qemu::StartGate<'_>,
) -> Result<(i32, HeldInit)> {
    if let Some(pid) = running_pid(run, vmid) {
        return Err(GuestError::Conflict(format!(
            "container {vmid} is already running (pid {pid})"
        )));
    }
    if !rootfs.join("sbin/init").exists() {
        return Err(GuestError::NotFound(format!(
            "container {vmid}: {} has no /sbin/init",
            rootfs.display()
        )));
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(run.ct_log(vmid))
        .map_err(GuestError::io("cannot open the container's console log"))?;
    let err = log
        .try_clone()
        .map_err(GuestError::io("cannot open the container's console log"))?;
    let mut command = tokio::process::Command::new("setsid");
    command
        .arg("unshare")
        .args([
            "--fork",
            "--kill-child",
            "--pid",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
        ])
        .arg("--mount-proc")
        .arg(marker(rootfs))
        .args([
            "/bin/sh",
            "-c",
            "hostname \"$1\" 2>/dev/null; read -r _ || :; exec /sbin/init",
            "sh",
            hostname,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(log)
        .stderr(err);
    gate()?;
    let mut child = command
        .spawn()
        .map_err(GuestError::io("cannot run setsid/unshare (util-linux)"))?;
    let held = HeldInit(child.stdin.take());
    let pid = child
        .id()
        .ok_or_else(|| GuestError::Failed("the container exited at once".into()))?
        as i32;
    std::fs::write(run.ct_pid(vmid), format!("{pid}\n"))
        .map_err(GuestError::io("cannot write the container's pidfile"))?;
    // The child stays owned by tokio, which reaps it when it exits.
    drop(child);
    // Its init up, or its supervisor dead; still starting after START_TIMEOUT is fine.
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    let settled = poll_until(deadline, process::EXIT_POLL_INTERVAL, || {
        let up = init_pid(run, vmid).is_some();
        std::future::ready((up || !process::is_alive(pid)).then_some(up))
    })
    .await;
    if settled == Ok(false) {
        let log = std::fs::read_to_string(run.ct_log(vmid)).unwrap_or_default();
        return Err(GuestError::Failed(format!(
            "container {vmid} failed to start: {}",
            log.trim()
        )));
    }
    Ok((pid, held))
}

/// Kills the container at once (its whole pid namespace dies with init). The pidfile
/// stays while the supervisor lives: one that survives SIGKILL is an error.
pub async fn stop(run: &RunDir, vmid: u32) -> Result<()> {
    if let Some(pid) = running_pid(run, vmid) {
        process::send_group(pid, Signal::SIGKILL)?;
        process::send(pid, Signal::SIGKILL)?;
        if !process::wait_gone(pid, KILL_TIMEOUT).await {
            return Err(GuestError::Failed(format!(
                "container {vmid} (pid {pid}) did not exit within {} s of SIGKILL; it is still counted as running",
                KILL_TIMEOUT.as_secs()
            )));
        }
    }
    let _ = std::fs::remove_file(run.ct_pid(vmid));
    Ok(())
}

/// Asks init to exit (SIGTERM) and waits; on timeout kills it if `force`.
pub async fn shutdown(run: &RunDir, vmid: u32, timeout: Duration, force: bool) -> Result<()> {
    let Some(pid) = running_pid(run, vmid) else {
        return Err(GuestError::Conflict(format!(
            "container {vmid} is not running"
        )));
    };
    if let Some(init) = init_pid(run, vmid) {
        process::send(init, Signal::SIGTERM)?;
    }
    if process::wait_gone(pid, timeout).await {
        let _ = std::fs::remove_file(run.ct_pid(vmid));
        return Ok(());
    }
    if force {
        return stop(run, vmid).await;
    }
    // The guest's doing, not the node's: it still runs (409).
    Err(GuestError::Conflict(format!(
        "container {vmid} did not stop within {} s (use --force-stop or stop)",
        timeout.as_secs()
    )))
}
