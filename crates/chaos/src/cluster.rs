//! The cluster a run starts: real node processes on their own 127.0.S.x subnet (never
//! the lab's), each state directory a small tmpfs (so it can be filled) and each
//! daemon under libfaketime reading its wall-clock offset from a file (so its clock can
//! jump while it runs), a shared storage, and the guests: an HA VM and a plain VM that
//! boot the appliance with a witness disk, and HA containers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use brigade_api::ha::ResourceRequest;
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_localcluster::{LocalClusterError, ProcCluster};
use brigade_node::config::RaftTuning;

use crate::error::ChaosError;
use crate::witness;

/// Size of each node's state filesystem (the redb files stay within a few MB).
pub const STATE_TMPFS: &str = "size=96m";
/// The node_timeout the run uses: failures are detected quickly.
pub const NODE_TIMEOUT_SECS: u32 = 3;
/// datacenter.cfg of the run: a short fence timeout, so HA recovers within seconds.
pub const DATACENTER_CFG: &str = "ha: fence_timeout=6\n";
/// The HA VM, the plain (live-migrated) VM and the first HA container.
pub const HA_VM: u32 = 100;
pub const PLAIN_VM: u32 = 101;
pub const FIRST_CT: u32 = 201;
/// HA containers.
pub const CONTAINERS: u32 = 3;
/// Memory of each VM (MiB).
const VM_MEMORY_MIB: u64 = 128;
/// The witness disk of each VM: raw, on shared storage.
const WITNESS_DISK: &str = "shared:2M,format=raw";
/// How long the guests may take to run at first.
pub const GUESTS_UP_TIMEOUT: Duration = Duration::from_secs(180);
/// Where libfaketime may be installed (Debian's faketime package).
const LIBFAKETIME: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];

/// Unmounts the state filesystems when the run ends, however it ends.
pub struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for m in &self.0 {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(m)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Setup {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub subnet: u8,
    pub nodes: usize,
    pub qdevice: bool,
    pub appliance: PathBuf,
}

/// The guests of a run.
#[derive(Debug, Clone)]
pub struct Guests {
    /// VMs with a witness disk (image path by VMID).
    pub vm_disks: BTreeMap<u32, PathBuf>,
    /// HA services (`vm:100`, `ct:201`, ...).
    pub ha: Vec<String>,
    pub containers: Vec<u32>,
}

impl Guests {
    pub fn vms(&self) -> Vec<u32> {
        self.vm_disks.keys().copied().collect()
    }
}

/// A started cluster. Field order matters: the processes go before the mounts.
pub struct ChaosCluster {
    pub c: ProcCluster,
    pub setup: Setup,
    /// Node names by index (the qdevice, if any, is last and not a node).
    pub names: Vec<String>,
    pub guests: Guests,
    _mounts: Mounts,
}

/// The file that holds node `name`'s wall-clock offset (`+0`, `+90s`, `-30s`).
pub fn clock_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.faketime"))
}

fn harness(what: &str) -> impl FnOnce(LocalClusterError) -> ChaosError + '_ {
    move |e| ChaosError::cluster(what, e)
}

fn api(what: &str) -> impl FnOnce(brigade_client::ClientError) -> ChaosError + '_ {
    move |e| ChaosError::cluster(what, e)
}

fn mount_tmpfs(at: &Path) -> Result<(), ChaosError> {
    std::fs::create_dir_all(at).map_err(ChaosError::io(format!("mkdir {}", at.display())))?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", STATE_TMPFS, "tmpfs"])
        .arg(at)
        .output()
        .map_err(ChaosError::io("cannot run mount"))?;
    if !out.status.success() {
        return Err(ChaosError::Invalid(format!(
            "mount tmpfs on {}: {} (chaos runs need root)",
            at.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The command prefix that runs a daemon under libfaketime with its offset in `file`.
fn faketime_wrapper(file: &Path) -> Result<Vec<String>, ChaosError> {
    let lib = LIBFAKETIME
        .iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            ChaosError::Invalid(
                "libfaketime is missing (apt-get install faketime; scripts/install-deps does)"
                    .into(),
            )
        })?;
    Ok(vec![
        "env".into(),
        format!("LD_PRELOAD={lib}"),
        format!("FAKETIME_TIMESTAMP_FILE={}", file.display()),
        // Re-read the offset every second, so a jump takes effect while it runs.
        "FAKETIME_CACHE_DURATION=1".into(),
        "FAKETIME_DONT_FAKE_MONOTONIC=1".into(),
    ])
}

impl ChaosCluster {
    /// Starts and forms the cluster, then creates and starts the guests.
    pub async fn start(setup: Setup, say: &dyn Fn(&str)) -> Result<ChaosCluster, ChaosError> {
        let dir = &setup.dir;
        brigade_localcluster::detach_mounts_under(dir);
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(ChaosError::io(format!("mkdir {}", dir.display())))?;
        let mut c = ProcCluster::new(&setup.bin, dir, setup.subnet, RaftTuning::default());
        let mut mounts = Mounts(Vec::new());
        let mut names = Vec::new();
        for i in 0..setup.nodes {
            let name = format!("n{}", i + 1);
            let state = dir.join(&name);
            mount_tmpfs(&state)?;
            mounts.0.push(state);
            let clock = clock_file(dir, &name);
            std::fs::write(&clock, "+0\n").map_err(ChaosError::io("write the clock file"))?;
            c.wrappers.insert(i, faketime_wrapper(&clock)?);
            names.push(name);
        }
        say(&format!(
            "starting {} nodes on 127.0.{}.1-{} in {}",
            setup.nodes,
            setup.subnet,
            setup.nodes,
            dir.display()
        ));
        for _ in 0..setup.nodes {
            c.spawn_node().map_err(harness("start a node"))?;
        }
        for i in 0..setup.nodes {
            c.wait_api(i).await.map_err(harness("a node's API"))?;
        }
        c.create("chaos").await.map_err(harness("cluster create"))?;
        for i in 1..setup.nodes {
            c.join(i).await.map_err(harness("cluster join"))?;
        }
        if setup.qdevice {
            let q = c.spawn_qdevice().map_err(harness("start the qdevice"))?;
            c.setup_qdevice(q).await.map_err(harness("qdevice setup"))?;
        }
        let all: Vec<usize> = (0..setup.nodes).collect();
        c.wait_quorate(&all).await.map_err(harness("quorum"))?;
        c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = NODE_TIMEOUT_SECS)
            .await
            .map_err(harness("set node_timeout"))?;
        let n1 = c.client(0).map_err(harness("client"))?;
        n1.fs_put("datacenter.cfg", DATACENTER_CFG)
            .await
            .map_err(api("datacenter.cfg"))?;
        let shared = brigade_localcluster::add_shared_dir_storage(&n1, dir)
            .await
            .map_err(harness("add the shared storage"))?;
        let guests = create_guests(&n1, &names, &shared, &setup.appliance).await?;
        say(&format!(
            "guests: HA {}; plain VM {PLAIN_VM}",
            guests.ha.join(", ")
        ));
        Ok(ChaosCluster {
            c,
            setup,
            names,
            guests,
            _mounts: mounts,
        })
    }

    /// A client of node `i` (the cluster's CA and root token).
    pub fn client(&self, i: usize) -> Result<Client, ChaosError> {
        self.c.client(i).map_err(harness("client"))
    }

    /// Node `i`'s run directory (its guests' pidfiles, consoles).
    pub fn run_dir(&self, i: usize) -> PathBuf {
        self.c.run_dir(i)
    }
}

fn vm_config(appliance: &Path) -> BTreeMap<String, String> {
    let mut config = brigade_guest::vm_config::appliance_params(
        &appliance.display().to_string(),
        VM_MEMORY_MIB,
        None,
    );
    config.insert("virtio0".into(), WITNESS_DISK.into());
    config
}

/// The image of a VM's witness disk, from its config.
async fn witness_disk(client: &Client, vmid: u32, shared: &Path) -> Result<PathBuf, ChaosError> {
    let loc = client.locate(vmid).await.map_err(api("locate a VM"))?;
    let text = client
        .guest_config(&loc)
        .await
        .map_err(api("a VM's config"))?
        .text;
    let volume = text
        .lines()
        .find_map(|l| l.strip_prefix("virtio0: shared:"))
        .and_then(|v| v.split(',').next())
        .ok_or_else(|| ChaosError::Invalid(format!("VM {vmid} has no witness disk: {text}")))?;
    Ok(shared.join("images").join(volume))
}

async fn create_guests(
    n1: &Client,
    names: &[String],
    shared: &Path,
    appliance: &Path,
) -> Result<Guests, ChaosError> {
    let on = |k: usize| names[k % names.len()].clone();
    let mut vm_disks = BTreeMap::new();
    for (k, vmid) in [(1, HA_VM), (2, PLAIN_VM)] {
        n1.guest_create(
            &on(k),
            GuestKind::Qemu,
            vmid,
            &vm_config(appliance),
            None,
            false,
        )
        .await
        .map_err(api("create a VM"))?;
        let disk = witness_disk(n1, vmid, shared).await?;
        witness::init_disk(&disk).map_err(ChaosError::io(format!("mark {}", disk.display())))?;
        vm_disks.insert(vmid, disk);
    }
    let rootfs = appliance.join("rootfs").display().to_string();
    let mut containers = Vec::new();
    let mut ha = vec![format!("vm:{HA_VM}")];
    for k in 0..CONTAINERS {
        let vmid = FIRST_CT + k;
        let config = BTreeMap::from([
            ("rootfs".to_string(), "shared:1".to_string()),
            ("memory".to_string(), "64".to_string()),
        ]);
        n1.guest_create(
            &on(k as usize),
            GuestKind::Lxc,
            vmid,
            &config,
            Some(&rootfs),
            false,
        )
        .await
        .map_err(api("create a container"))?;
        containers.push(vmid);
        ha.push(format!("ct:{vmid}"));
    }
    for sid in &ha {
        n1.ha_add(&ResourceRequest {
            sid: Some(sid.clone()),
            ..ResourceRequest::default()
        })
        .await
        .map_err(api("ha add"))?;
    }
    let loc = n1.locate(PLAIN_VM).await.map_err(api("locate a VM"))?;
    n1.guest_power(&loc, "start", serde_json::json!({}))
        .await
        .map_err(api("start the plain VM"))?;
    Ok(Guests {
        vm_disks,
        ha,
        containers,
    })
}
