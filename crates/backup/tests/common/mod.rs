//! Helpers of the backup tests: images written by qemu-io, their checksums, a running appliance VM killed on drop, a small tmpfs.

// Test support: a failed expectation ends it with its message.
#![allow(clippy::expect_used)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use brigade_guest::accel::Accel;
use brigade_guest::process::{self, Signal};
use brigade_guest::qemu::{self, LaunchSpec};
use brigade_guest::{RunDir, VmConfig};

/// How long the appliance may take to print its first ticks under TCG.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
/// How often the serial log is read while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long a killed QEMU may take to go.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(10);

pub const MIB: u64 = 1 << 20;

/// The test appliance directory.
pub fn appliance() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("BRIGADE_APPLIANCE")
            .unwrap_or_else(|_| "/var/cache/brigade/appliance".into()),
    );
    assert!(
        dir.join("vmlinuz").exists() && dir.join("initramfs.img").exists(),
        "the test appliance is missing in {}: run scripts/build-appliance",
        dir.display()
    );
    dir
}

/// A short private directory under /tmp (Unix socket paths are limited), removed on drop.
pub fn short_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bbk")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `qemu-img create -f FORMAT PATH SIZE`.
pub fn create_image(path: &Path, format: &str, size: &str) {
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", format])
        .arg(path)
        .arg(size));
}

/// `qemu-io -c CMD` on an image not in use.
pub fn qemu_io(path: &Path, format: &str, cmd: &str) {
    run(Command::new("qemu-io")
        .args(["-f", format, "-c", cmd])
        .arg(path));
}

/// SHA-256 of an image's content (its raw bytes), read with `-U` (it may be in use).
pub fn image_sha256(path: &Path) -> String {
    let dir = short_tempdir();
    let raw = dir.path().join("content.raw");
    run(Command::new("qemu-img")
        .args(["convert", "-U", "-O", "raw"])
        .arg(path)
        .arg(&raw));
    file_sha256(&raw)
}

pub fn file_sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    out.split_whitespace().next().expect("sum").to_string()
}

/// A running appliance VM with one scsi0 disk; SIGKILLed on drop.
pub struct Vm {
    pub vmid: u32,
    pub run: RunDir,
    pub config: String,
    _dir: tempfile::TempDir,
}

impl Vm {
    pub async fn start(vmid: u32, image: &Path) -> Vm {
        let dir = short_tempdir();
        let run = RunDir::open(&dir.path().join("r")).expect("run dir");
        let app = appliance();
        let format = if image.extension().is_some_and(|e| e == "qcow2") {
            "qcow2"
        } else {
            "raw"
        };
        let config = format!(
            "memory: 128\nkernel: {0}/vmlinuz\ninitrd: {0}/initramfs.img\nappend: {1}\n\
             scsi0: local:{vmid}/vm-{vmid}-disk-0.{format}\n",
            app.display(),
            brigade_guest::vm_config::APPLIANCE_APPEND
        );
        let cfg = VmConfig::parse(&config).expect("config");
        let disks = vec![(cfg.disks[0].clone(), image.to_path_buf())];
        let spec = LaunchSpec::plain(vmid, cfg, disks, Accel::Tcg);
        let vm = Vm {
            vmid,
            run,
            config,
            _dir: dir,
        };
        qemu::launch(&vm.run, &spec, &|| Ok(()))
            .await
            .expect("QEMU starts");
        vm
    }

    pub fn qmp_socket(&self) -> PathBuf {
        self.run.qmp(self.vmid)
    }

    /// The `tick N` numbers the guest printed so far.
    pub fn ticks(&self) -> Vec<u64> {
        let log = std::fs::read(self.run.serial_log(self.vmid)).unwrap_or_default();
        String::from_utf8_lossy(&log)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("tick ")?.trim().parse().ok())
            .collect()
    }

    /// Waits until the guest printed at least `n` ticks.
    pub async fn wait_ticks(&self, n: usize) {
        let start = Instant::now();
        while self.ticks().len() < n {
            assert!(
                start.elapsed() < BOOT_TIMEOUT,
                "VM {} printed {:?} within {} s",
                self.vmid,
                self.ticks(),
                BOOT_TIMEOUT.as_secs()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// QEMU's run state.
    pub async fn status(&self) -> String {
        qemu::monitor(&self.run, self.vmid)
            .await
            .expect("qmp")
            .status()
            .await
            .expect("status")
    }

    /// A command of the human monitor (e.g. `qemu-io drive-scsi0 "write ..."`).
    pub async fn hmp(&self, cmd: &str) -> String {
        let mut q = qemu::monitor(&self.run, self.vmid).await.expect("qmp");
        let r = q
            .execute(
                "human-monitor-command",
                Some(serde_json::json!({ "command-line": cmd })),
            )
            .await
            .expect("hmp");
        r.as_str().unwrap_or_default().to_string()
    }

    pub async fn qmp(&self, cmd: &str, args: serde_json::Value) -> serde_json::Value {
        let mut q = qemu::monitor(&self.run, self.vmid).await.expect("qmp");
        q.execute(cmd, Some(args)).await.expect(cmd)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(pid) = qemu::running_pid(&self.run, self.vmid) {
            let _ = process::send(pid, Signal::SIGKILL);
            let start = Instant::now();
            while process::is_alive(pid) && start.elapsed() < KILL_TIMEOUT {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
pub struct Tmpfs {
    pub dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Tmpfs {
        let dir = short_tempdir();
        run(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "brigade-backup-test",
            ])
            .arg(dir.path()));
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Writes `len` bytes of pseudo-random data (different in every 4 KiB) at `path`.
pub fn write_random_raw(path: &Path, len: u64, seed: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create");
    let mut x = seed | 1;
    let mut buf = vec![0u8; MIB as usize];
    for _ in 0..len / MIB {
        for b in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).expect("write");
    }
}

/// The dirty bitmaps of the VM's first drive that count changes for a datastore (not the
/// instance marker).
pub fn change_bitmaps(blocks: &serde_json::Value) -> Vec<serde_json::Value> {
    blocks[0]["inserted"]["dirty-bitmaps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b["name"] != brigade_backup::live::INSTANCE_BITMAP)
        .collect()
}
