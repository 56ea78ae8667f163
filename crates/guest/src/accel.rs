//! Choosing the accelerator: KVM only when a real boot under KVM works, else TCG.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brigade_core::poll_until;

use serde::{Deserialize, Serialize};

/// How long a probe boot may take to print its first tick under KVM.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(8);
/// How often the probe looks for its first tick.
const PROBE_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Without a probe image: how long QEMU must keep running its firmware under KVM for
/// KVM to count as working (a host whose KVM cannot set up a vCPU fails at once).
pub const KVM_BARE_PROBE_SETTLE: Duration = Duration::from_secs(2);
/// The machine-wide cache of the probe's verdict (cleared at reboot).
pub const PROBE_CACHE: &str = "/run/brigade-accel";

/// The accelerator QEMU runs guests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The decision and why it was taken (shown in `vm status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelChoice {
    pub accel: Accel,
    pub reason: String,
}

/// The node's accelerator setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelSetting {
    #[default]
    Auto,
    Kvm,
    Tcg,
}

/// A kernel and initrd that print `tick 1` on ttyS0 once booted.
#[derive(Debug, Clone)]
pub struct ProbeImage {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// Decides the accelerator: the setting, else a cached verdict, else a probe.
pub async fn choose(setting: AccelSetting, image: Option<&ProbeImage>) -> AccelChoice {
    match setting {
        AccelSetting::Kvm => {
            return AccelChoice {
                accel: Accel::Kvm,
                reason: "set in node.toml".into(),
            }
        }
        AccelSetting::Tcg => {
            return AccelChoice {
                accel: Accel::Tcg,
                reason: "set in node.toml".into(),
            }
        }
        AccelSetting::Auto => {}
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return AccelChoice {
            accel: Accel::Tcg,
            reason: format!("/dev/kvm is not usable ({e}); falling back to TCG"),
        };
    }
    if let Some(cached) = std::fs::read_to_string(PROBE_CACHE)
        .ok()
        .and_then(|s| serde_json::from_str::<AccelChoice>(&s).ok())
    {
        return cached;
    }
    let choice = match image {
        None => probe_bare().await,
        Some(img) => probe(img).await,
    };
    if let Ok(s) = serde_json::to_string(&choice) {
        let _ = std::fs::write(PROBE_CACHE, s);
    }
    choice
}

/// Boots the probe image under KVM and waits for its first tick.
async fn probe(img: &ProbeImage) -> AccelChoice {
    let dir = std::env::temp_dir().join(format!("brigade-kvm-probe-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join("serial.log");
    let started = Instant::now();
    let mut cmd = kvm_probe_command("64");
    cmd.arg("-kernel")
        .arg(&img.kernel)
        .arg("-initrd")
        .arg(&img.initrd)
        .args(["-append", crate::vm_config::APPLIANCE_APPEND])
        .arg("-serial")
        .arg(format!("file:{}", log.display()));
    let mut child = match spawn_probe(cmd) {
        Ok(c) => c,
        Err(choice) => return choice,
    };
    let deadline = started + KVM_PROBE_TIMEOUT;
    let booted = poll_until(deadline, PROBE_POLL_INTERVAL, || {
        let verdict = if read_contains(&log, "tick 1") {
            Some(AccelChoice {
                accel: Accel::Kvm,
                reason: format!(
                    "KVM probe booted in {:.1} s",
                    started.elapsed().as_secs_f64()
                ),
            })
        } else if let Ok(Some(status)) = child.try_wait() {
            Some(AccelChoice {
                accel: Accel::Tcg,
                reason: format!("KVM probe exited before booting ({status}); falling back to TCG"),
            })
        } else {
            None
        };
        std::future::ready(verdict)
    })
    .await;
    let verdict = booted.unwrap_or_else(|_| AccelChoice {
        accel: Accel::Tcg,
        reason: format!(
            "KVM probe did not boot within {} s; falling back to TCG",
            KVM_PROBE_TIMEOUT.as_secs()
        ),
    });
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    tracing::info!(accel = verdict.accel.as_str(), "{}", verdict.reason);
    verdict
}

/// Without a probe image: runs QEMU's own firmware under KVM with no devices; KVM works
/// when QEMU is still running after [`KVM_BARE_PROBE_SETTLE`] (it fails at once on a
/// host whose KVM cannot set up a vCPU, as nested KVM sometimes does).
async fn probe_bare() -> AccelChoice {
    let mut child = match spawn_probe(kvm_probe_command("16")) {
        Ok(c) => c,
        Err(choice) => return choice,
    };
    let verdict = match tokio::time::timeout(KVM_BARE_PROBE_SETTLE, child.wait()).await {
        Err(_) => AccelChoice {
            accel: Accel::Kvm,
            reason: format!(
                "KVM probe (firmware, no image) ran for {} s",
                KVM_BARE_PROBE_SETTLE.as_secs()
            ),
        },
        Ok(status) => {
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = err.read_to_string(&mut stderr).await;
            }
            let first = stderr.lines().next().unwrap_or("").trim().to_string();
            AccelChoice {
                accel: Accel::Tcg,
                reason: format!(
                    "KVM probe exited at once ({}{}); falling back to TCG",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                    if first.is_empty() {
                        String::new()
                    } else {
                        format!(": {first}")
                    }
                ),
            }
        }
    };
    let _ = child.kill().await;
    tracing::info!(accel = verdict.accel.as_str(), "{}", verdict.reason);
    verdict
}

/// QEMU under KVM with no devices and `memory_mib` of memory: what both probes start from.
fn kvm_probe_command(memory_mib: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("qemu-system-x86_64");
    cmd.args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args([
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            memory_mib,
            "-no-reboot",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Starts a probe; when QEMU cannot even be run, the verdict (TCG) instead.
fn spawn_probe(mut cmd: tokio::process::Command) -> Result<tokio::process::Child, AccelChoice> {
    cmd.spawn().map_err(|e| AccelChoice {
        accel: Accel::Tcg,
        reason: format!("cannot run qemu-system-x86_64 for the KVM probe: {e}"),
    })
}

fn read_contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).contains(needle))
        .unwrap_or(false)
}
