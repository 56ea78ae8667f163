//! Helpers of the guest tests: the appliance, a shared storage, serial ticks, QEMU processes.

use std::path::PathBuf;
use std::time::Duration;

use brigade_client::Client;
use brigade_localcluster::ProcCluster;

/// The test appliance (built by scripts/build-appliance, which scripts/test runs).
pub fn appliance() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("BRIGADE_APPLIANCE")
            .unwrap_or_else(|_| "/var/cache/brigade/appliance".into()),
    );
    assert!(
        dir.join("vmlinuz").exists()
            && dir.join("initramfs.img").exists()
            && dir.join("rootfs/sbin/init").exists(),
        "the test appliance is missing in {}: run scripts/build-appliance",
        dir.display()
    );
    dir
}

/// Adds storage `shared` (shared 1) in the test's directory.
pub async fn add_shared_storage(c: &ProcCluster, client: &Client) -> PathBuf {
    brigade_localcluster::add_shared_dir_storage(client, &c.dir)
        .await
        .expect("add shared storage")
}

/// Adds the shared `dir` storage `backups` (content backup) through the CLI on node 1, as
/// an administrator would; its path.
pub fn add_backup_storage(c: &ProcCluster) -> PathBuf {
    let backups = c.dir.join("backups");
    crate::brigade_ok(
        &c.nodes[0].config_path,
        &[
            "storage",
            "add",
            "backups",
            "--path",
            backups.to_str().expect("utf-8"),
            "--content",
            "backup",
            "--shared",
        ],
    );
    backups
}

/// Runs a human monitor command in VM `vmid` on node `i` (QMP's `human-monitor-command`);
/// its output.
pub async fn hmp(c: &ProcCluster, i: usize, vmid: u32, line: &str) -> String {
    let run = brigade_guest::RunDir::open(&c.run_dir(i)).expect("run dir");
    let mut q = brigade_guest::qemu::monitor(&run, vmid)
        .await
        .expect("the VM's QMP socket");
    let r = q
        .execute(
            "human-monitor-command",
            Some(serde_json::json!({ "command-line": line })),
        )
        .await
        .expect("hmp");
    r.as_str().unwrap_or_default().to_string()
}

/// The `tick N` numbers in a serial or console log, in order.
pub fn ticks(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("tick ")?.trim().parse().ok())
        .collect()
}

/// The ticks a VM printed on node `i` (its serial log there).
pub fn vm_ticks(c: &ProcCluster, i: usize, vmid: u32) -> Vec<u64> {
    let log = std::fs::read(c.run_dir(i).join(format!("{vmid}.serial.log"))).unwrap_or_default();
    ticks(&String::from_utf8_lossy(&log))
}

/// The ticks a container printed on node `i`.
pub fn ct_ticks(c: &ProcCluster, i: usize, vmid: u32) -> Vec<u64> {
    let log = std::fs::read(c.run_dir(i).join(format!("ct-{vmid}.log"))).unwrap_or_default();
    ticks(&String::from_utf8_lossy(&log))
}

/// The pid of node `i`'s guest `vmid`, if running there.
pub fn guest_pid(c: &ProcCluster, i: usize, vmid: u32) -> Option<i32> {
    c.guest_pids(i)
        .into_iter()
        .find(|(v, _)| *v == vmid)
        .map(|(_, p)| p)
}

/// Every live QEMU process on this machine for `vmid` whose run dir is one of the cluster's.
pub fn qemu_processes(c: &ProcCluster, vmid: u32) -> Vec<i32> {
    let dirs: Vec<String> = (0..c.nodes.len())
        .map(|i| c.run_dir(i).display().to_string())
        .collect();
    qemu_processes_in(&dirs, vmid)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// Live QEMU processes for `vmid` under any of `dirs`, with their command lines.
pub fn qemu_processes_in(dirs: &[String], vmid: u32) -> Vec<(i32, String)> {
    let name = format!("brigade-{vmid},");
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
                .filter(|pid| brigade_guest::process::is_alive(*pid))
                .filter_map(|pid| {
                    let args = brigade_guest::process::cmdline(pid);
                    let ours = args.iter().any(|a| a.starts_with(&name))
                        && args
                            .iter()
                            .any(|a| dirs.iter().any(|d| a.contains(d.as_str())));
                    ours.then(|| (pid, args.join(" ")))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the VM's ticks on node `i` reach `at_least`.
pub async fn wait_tick(
    c: &ProcCluster,
    i: usize,
    vmid: u32,
    at_least: u64,
    timeout: Duration,
) -> Vec<u64> {
    crate::eventually(
        timeout,
        &format!("VM {vmid} on node {i} prints tick {at_least}"),
        || async { vm_ticks(c, i, vmid).last().is_some_and(|t| *t >= at_least) },
    )
    .await;
    vm_ticks(c, i, vmid)
}

/// A 3-node cluster with `node_timeout_secs`, `datacenter` as datacenter.cfg, a shared
/// storage and HA VM `vmid` (the appliance, its disk on the shared storage) ticking on n2.
pub async fn ha_vm_on_n2(
    name: &str,
    subnet: u8,
    node_timeout_secs: u32,
    datacenter: &str,
    vmid: u32,
    boot: Duration,
) -> (ProcCluster, Client) {
    let appliance = appliance();
    let c = crate::cluster(name, subnet, 3, brigade_node::config::RaftTuning::default()).await;
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = node_timeout_secs)
        .await
        .expect("node_timeout");
    let n1 = c.client(0).expect("client");
    n1.fs_put("datacenter.cfg", datacenter)
        .await
        .expect("datacenter.cfg");
    add_shared_storage(&c, &n1).await;
    let config = brigade_guest::vm_config::appliance_params(
        appliance.to_str().expect("utf-8"),
        128,
        Some("shared:1"),
    );
    n1.guest_create(
        "n2",
        brigade_core::layout::GuestKind::Qemu,
        vmid,
        &config,
        None,
        false,
    )
    .await
    .expect("create");
    n1.ha_add(&brigade_node::ha::ops::ResourceRequest {
        sid: Some(format!("vm:{vmid}")),
        ..brigade_node::ha::ops::ResourceRequest::default()
    })
    .await
    .expect("ha add");
    wait_tick(&c, 1, vmid, 2, boot).await;
    // HA started it as a task on n2 (type hastart, user root@pam).
    let q = brigade_client::tasks::TaskQuery {
        vmid: Some(vmid),
        ..Default::default()
    };
    crate::eventually(
        Duration::from_secs(10),
        "n2 lists the hastart task of the HA VM",
        || async {
            n1.task_list("n2", &q).await.is_ok_and(|t| {
                t.iter().any(|x| {
                    x.kind == "hastart"
                        && x.user == "root@pam"
                        && x.status == brigade_api::tasks::TaskState::Ok
                })
            })
        },
    )
    .await;
    (c, n1)
}
