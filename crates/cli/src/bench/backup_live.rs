//! The live rows of `brigade bench backup`: the same disk backed up while an appliance VM
//! runs on it (image fleecing, QEMU's NBD export, a persistent dirty bitmap), full and then
//! incremental after the guest changed some MiB.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;

use brigade_backup::{backup_live, BackupMode, Datastore, LiveBackupRequest};
use brigade_guest::qemu::{self, LaunchSpec};
use brigade_guest::qmp::Qmp;
use brigade_guest::vm_config::APPLIANCE_APPEND;
use brigade_guest::{Accel, RunDir, VmConfig};

use super::backup::Run;

/// The VM the live rows run.
const VMID: u32 = 100;
/// Seconds added to the live snapshots' times, past the file-based ones (named by the second).
const LIVE_TIME_OFFSET_SECS: i64 = 10;

/// A live full and a live incremental backup of `disk` while an appliance VM runs on it.
pub(super) async fn measure_live(
    dir: &Path,
    disk: &Path,
    ds: &Datastore,
    appliance: &Path,
    change_mib: u64,
) -> anyhow::Result<Vec<Run>> {
    let run = RunDir::open(&dir.join("run")).context("the VM's run directory")?;
    let config = format!(
        "memory: 128\nkernel: {0}/vmlinuz\ninitrd: {0}/initramfs.img\nappend: {APPLIANCE_APPEND}\n\
         scsi0: local:{VMID}/vm-{VMID}-disk-0.qcow2\n",
        appliance.display()
    );
    let cfg = VmConfig::parse(&config)?;
    let disks = vec![(cfg.disks[0].clone(), disk.to_path_buf())];
    let spec = LaunchSpec::plain(VMID, cfg, disks, Accel::Tcg);
    qemu::launch(&run, &spec, &|| Ok(()))
        .await
        .context("starting the VM")?;
    let measured = live_pair(dir, ds, &run, &config, change_mib).await;
    let stopped = qemu::stop(&run, VMID).await;
    let runs = measured?;
    stopped.context("stopping the VM")?;
    Ok(runs)
}

async fn live_pair(
    dir: &Path,
    ds: &Datastore,
    run: &RunDir,
    config: &str,
    change_mib: u64,
) -> anyhow::Result<Vec<Run>> {
    let mut full = live_backup(dir, ds, run, config, 0).await?;
    full.what = "brigade live backup of the running VM, first in this QEMU (whole disk read, chunks compared)".into();
    let mut q = Qmp::connect(&run.qmp(VMID)).await?;
    let line = format!("qemu-io drive-scsi0 \"write -q -P 254 0 {change_mib}M\"");
    q.execute(
        "human-monitor-command",
        Some(json!({ "command-line": line })),
    )
    .await?;
    q.execute(
        "human-monitor-command",
        Some(json!({ "command-line": "qemu-io drive-scsi0 flush" })),
    )
    .await?;
    drop(q);
    let mut second = live_backup(dir, ds, run, config, 1).await?;
    second.what = format!(
        "brigade live backup after the guest changed {change_mib} MiB (dirty bitmap: only those read)"
    );
    Ok(vec![full, second])
}

async fn live_backup(
    dir: &Path,
    ds: &Datastore,
    run: &RunDir,
    config: &str,
    n: i64,
) -> anyhow::Result<Run> {
    let req = LiveBackupRequest {
        vmid: VMID,
        config: config.to_string(),
        slots: vec!["scsi0".into()],
        qmp_socket: run.qmp(VMID),
        time: chrono::Utc::now() + chrono::Duration::seconds(LIVE_TIME_OFFSET_SECS + n),
        mode: BackupMode::Snapshot,
        bwlimit_kib: None,
        work_dir: dir.join(format!("live{n}")),
        abort: brigade_backup::Abort::default(),
    };
    let t = Instant::now();
    let report = backup_live(ds, &req).await?;
    Ok(Run {
        what: String::new(),
        seconds: t.elapsed().as_secs_f64(),
        read_bytes: report.stats.read_bytes,
        written_bytes: report.stats.written_bytes,
    })
}
