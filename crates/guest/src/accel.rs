//! Choosing the accelerator: KVM only when a real boot under KVM works, else TCG.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brigade_core::poll_until;

use serde::{Deserialize, Serialize};

/// How long a probe boot may take to print its first tick under KVM.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(8);
/// How often the probe looks for its first tick.
const PROBE_POLL_INTERVAL: Duration = Duration::from_millis(100);
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
        None => AccelChoice {
            accel: Accel::Kvm,
            reason: "/dev/kvm opens (not probed: no probe image)".into(),
        },
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
    let child = tokio::process::Command::new("qemu-system-x86_64")
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args(["-accel", "kvm", "-cpu", "host", "-m", "64"])
        .arg("-kernel")
        .arg(&img.kernel)
        .arg("-initrd")
        .arg(&img.initrd)
        .args(["-append", "console=ttyS0 quiet panic=-1", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return AccelChoice {
                accel: Accel::Tcg,
                reason: format!("cannot run qemu-system-x86_64 for the KVM probe: {e}"),
            }
        }
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

fn read_contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).contains(needle))
        .unwrap_or(false)
}
