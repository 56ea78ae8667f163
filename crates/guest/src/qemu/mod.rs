//! The QEMU driver: the command line, a detached start, reattachment, stop and shutdown.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;

use crate::accel::Accel;
use crate::error::{GuestError, Result};
use crate::process;
use crate::qmp::Qmp;
use crate::rundir::RunDir;
use crate::vm_config::{Disk, VmConfig};

mod command_line;
use command_line::marker;
pub use command_line::{command_line, default_mac};

/// The QEMU binary.
pub const QEMU_BIN: &str = "qemu-system-x86_64";
/// Runs QEMU in a guest network namespace (util-linux).
pub const NSENTER_BIN: &str = "nsenter";
/// How long QEMU may take to set up and daemonize.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `quit` may take before QEMU is killed.
pub const QUIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a process may take to exit after SIGKILL.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a guest gets to power off after an ACPI request.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the incoming migration stream arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A Unix socket (fed by the mTLS tunnel).
    Unix(PathBuf),
    /// Plain TCP (`migration: insecure`).
    Tcp(std::net::SocketAddr),
}

/// Everything needed to start one VM.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub vmid: u32,
    pub config: VmConfig,
    /// Each disk with its resolved image path.
    pub disks: Vec<(Disk, PathBuf)>,
    pub accel: Accel,
    pub incoming: Option<Incoming>,
    /// Start with the CPUs stopped (`-S`): nothing of the guest runs until `cont`.
    pub paused: bool,
    /// NICs on a bridge: slot (`net0`) to the TAP device QEMU opens (plugged already);
    /// the others get QEMU's user networking.
    pub taps: BTreeMap<String, String>,
    /// The network namespace (`/run/netns/NAME`) QEMU runs in (where its TAPs are).
    pub netns: Option<String>,
}

impl LaunchSpec {
    /// A plain start: running at once, no incoming migration, user networking, this namespace.
    pub fn plain(vmid: u32, config: VmConfig, disks: Vec<(Disk, PathBuf)>, accel: Accel) -> Self {
        LaunchSpec {
            vmid,
            config,
            disks,
            accel,
            incoming: None,
            paused: false,
            taps: BTreeMap::new(),
            netns: None,
        }
    }
}

/// Checked immediately before a guest process is spawned (and again before it is
/// resumed): a start that lost its right to run (quorum, the HA lease) stops there.
pub type StartGate<'a> = &'a (dyn Fn() -> Result<()> + Send + Sync);

/// The pid of the guest's QEMU if it runs (reattaching after a daemon restart).
pub fn running_pid(run: &RunDir, vmid: u32) -> Option<i32> {
    process::live_pid(&run.qemu_pid(vmid), &marker(run, vmid))
}

/// Starts QEMU detached (it daemonizes itself), so the daemon can stop and come back.
/// `gate` is checked right before the process is spawned.
pub async fn launch(run: &RunDir, spec: &LaunchSpec, gate: StartGate<'_>) -> Result<i32> {
    let v = spec.vmid;
    if let Some(pid) = running_pid(run, v) {
        return Err(GuestError::Conflict(format!(
            "VM {v} is already running (pid {pid})"
        )));
    }
    for (d, path) in &spec.disks {
        if !path.exists() {
            return Err(GuestError::NotFound(format!(
                "{}: volume {} not found at {}",
                d.slot,
                d.volume,
                path.display()
            )));
        }
    }
    for (what, p) in [
        ("kernel", &spec.config.kernel),
        ("initrd", &spec.config.initrd),
    ] {
        if let Some(p) = p {
            if !std::path::Path::new(p).exists() {
                return Err(GuestError::NotFound(format!(
                    "{what} {p} does not exist on this node"
                )));
            }
        }
    }
    run.clean_qemu(v);
    let args = command_line(run, spec);
    tracing::debug!(vmid = v, ?args, "starting QEMU");
    gate()?;
    let mut cmd = match &spec.netns {
        Some(ns) => {
            let mut c = tokio::process::Command::new(NSENTER_BIN);
            c.arg(format!("--net=/run/netns/{ns}")).arg(QEMU_BIN);
            c
        }
        None => tokio::process::Command::new(QEMU_BIN),
    };
    let child = cmd
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(GuestError::io(format!(
            "cannot run {QEMU_BIN} (apt-get install qemu-system-x86)"
        )))?;
    let out = tokio::time::timeout(START_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            GuestError::Failed(format!(
                "QEMU did not start within {} s",
                START_TIMEOUT.as_secs()
            ))
        })?
        .map_err(GuestError::io("waiting for QEMU"))?;
    if !out.status.success() {
        return Err(GuestError::Failed(format!(
            "QEMU failed to start VM {v}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    running_pid(run, v)
        .ok_or_else(|| GuestError::Failed(format!("QEMU for VM {v} exited right after starting")))
}

/// Connects to a running guest's monitor.
pub async fn monitor(run: &RunDir, vmid: u32) -> Result<Qmp> {
    Qmp::connect(&run.qmp(vmid)).await
}

/// Resumes a guest started paused (or paused by an incoming migration).
pub async fn resume(run: &RunDir, vmid: u32) -> Result<()> {
    monitor(run, vmid).await?.execute("cont", None).await?;
    Ok(())
}

/// `announce-self` timing: the first gratuitous ARP/RARP after this many ms, then `step` more
/// each round, at most `max`, `rounds` rounds (QEMU's defaults for migration).
const ANNOUNCE_INITIAL_MS: u64 = 50;
const ANNOUNCE_MAX_MS: u64 = 550;
const ANNOUNCE_ROUNDS: u64 = 5;
const ANNOUNCE_STEP_MS: u64 = 100;

/// Has the guest's NICs announce themselves (QMP `announce-self`: gratuitous ARP), so
/// switches and peers learn where it runs now (after a migration's resume).
pub async fn announce(run: &RunDir, vmid: u32) -> Result<()> {
    let args = json!({
        "initial": ANNOUNCE_INITIAL_MS,
        "max": ANNOUNCE_MAX_MS,
        "rounds": ANNOUNCE_ROUNDS,
        "step": ANNOUNCE_STEP_MS,
    });
    monitor(run, vmid)
        .await?
        .execute("announce-self", Some(args))
        .await?;
    Ok(())
}

/// Stops the guest at once (QMP `quit`, then SIGKILL), like `qm stop`. The pidfile
/// stays while the process lives: a QEMU that survives SIGKILL (stuck in
/// uninterruptible I/O) is an error, and stays visible to the fence.
pub async fn stop(run: &RunDir, vmid: u32) -> Result<()> {
    let Some(pid) = running_pid(run, vmid) else {
        run.clean_qemu(vmid);
        return Ok(());
    };
    if let Ok(mut q) = monitor(run, vmid).await {
        let _ = q.execute("quit", None).await;
    }
    if !process::wait_gone(pid, QUIT_TIMEOUT).await {
        process::send(pid, Signal::SIGKILL)?;
        if !process::wait_gone(pid, KILL_TIMEOUT).await {
            return Err(GuestError::Failed(format!(
                "VM {vmid} (pid {pid}) did not exit within {} s of SIGKILL (stuck in uninterruptible I/O?); it is still counted as running",
                KILL_TIMEOUT.as_secs()
            )));
        }
    }
    run.clean_qemu(vmid);
    Ok(())
}

/// Asks the guest to power off (ACPI) and waits; on timeout stops it if `force`.
pub async fn shutdown(run: &RunDir, vmid: u32, timeout: Duration, force: bool) -> Result<()> {
    let Some(pid) = running_pid(run, vmid) else {
        return Err(GuestError::Conflict(format!("VM {vmid} is not running")));
    };
    monitor(run, vmid)
        .await?
        .execute("system_powerdown", None)
        .await?;
    if process::wait_gone(pid, timeout).await {
        run.clean_qemu(vmid);
        return Ok(());
    }
    if force {
        return stop(run, vmid).await;
    }
    // The guest's doing, not the node's: it still runs, which the request cannot change (409).
    Err(GuestError::Conflict(format!(
        "VM {vmid} did not shut down within {} s (the guest may ignore ACPI; use --force-stop or stop)",
        timeout.as_secs()
    )))
}

/// Resets the guest (QMP `system_reset`), keeping its process.
pub async fn reset(run: &RunDir, vmid: u32) -> Result<()> {
    if running_pid(run, vmid).is_none() {
        return Err(GuestError::Conflict(format!("VM {vmid} is not running")));
    }
    monitor(run, vmid)
        .await?
        .execute("system_reset", None)
        .await?;
    Ok(())
}

/// On an incoming guest started with `-S`: take over its disks only when it is
/// resumed, not when the migration completes (QEMU's `late-block-activate`); and receive the
/// disks' dirty bitmaps (`dirty-bitmaps`, also set on the source), so the first backup after
/// the move is still incremental.
pub async fn late_block_activation(run: &RunDir, vmid: u32) -> Result<()> {
    monitor(run, vmid)
        .await?
        .execute(
            "migrate-set-capabilities",
            Some(json!({"capabilities": [
                {"capability": "late-block-activate", "state": true},
                {"capability": "dirty-bitmaps", "state": true},
            ]})),
        )
        .await?;
    Ok(())
}

/// Live migration tuning sent before `migrate`: events, and the disks' dirty bitmaps sent
/// along (`dirty-bitmaps`, as on the target; persistent ones stay persistent there).
pub async fn prepare_migration(q: &mut Qmp, downtime_limit_ms: Option<u64>) -> Result<()> {
    q.execute(
        "migrate-set-capabilities",
        Some(json!({"capabilities": [
            {"capability": "events", "state": true},
            {"capability": "dirty-bitmaps", "state": true},
        ]})),
    )
    .await?;
    if let Some(ms) = downtime_limit_ms {
        q.execute(
            "migrate-set-parameters",
            Some(json!({"downtime-limit": ms})),
        )
        .await?;
    }
    Ok(())
}
