//! Raw QEMU's side of `bench migrate`: the same guest and disk, two QEMU processes on
//! this host, `migrate` over a Unix socket, the target starting the guest on its own.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use brigade_guest::qemu::{self, Incoming, LaunchSpec};
use brigade_guest::qmp::Qmp;
use brigade_guest::{Accel, RunDir, VmConfig};
use serde_json::{json, Value};

use super::felt::TickWatch;
use super::{
    appliance_config, last_tick, stop_to_resume, wait_tick, Figures, MigrateBenchArgs, Trial,
    MIGRATION_TIMEOUT, POLL, VMID,
};

pub(super) async fn side(
    dir: &Path,
    args: &MigrateBenchArgs,
    accel: Accel,
) -> anyhow::Result<Figures> {
    let disk = dir.join("raw-disk.qcow2");
    let out = tokio::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("1G")
        .output()
        .await?;
    if !out.status.success() {
        bail!("qemu-img failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let cfg = appliance_config(&args.appliance, args.memory, "raw:100/disk.qcow2");
    let text: String = cfg.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    let config = VmConfig::parse(&text)?;
    let disks = config
        .disks
        .iter()
        .map(|d| (d.clone(), disk.clone()))
        .collect();
    let spec = |incoming: Option<Incoming>| LaunchSpec {
        vmid: VMID,
        config: config.clone(),
        disks: Vec::clone(&disks),
        accel,
        incoming,
        paused: false,
        taps: std::collections::BTreeMap::new(),
        netns: None,
    };
    let runs = [
        RunDir::open(&dir.join("ra"))?,
        RunDir::open(&dir.join("rb"))?,
    ];
    qemu::launch(&runs[0], &spec(None), &|| Ok(())).await?;
    wait_tick(&runs[0].serial_log(VMID), 2).await?;
    let mut f = Figures::default();
    let result = async {
        for trial in 0..args.trials {
            let (from, to) = (&runs[trial % 2], &runs[(trial + 1) % 2]);
            qemu::launch(
                to,
                &spec(Some(Incoming::Unix(to.migrate_in(VMID)))),
                &|| Ok(()),
            )
            .await?;
            let mut source_events = Qmp::connect(&from.qmp_events(VMID)).await?;
            let mut target_events = Qmp::connect(&to.qmp_events(VMID)).await?;
            let dst_log = to.serial_log(VMID);
            let watch = TickWatch::start(vec![from.serial_log(VMID), dst_log.clone()]);
            let started = Instant::now();
            let mut mon = qemu::monitor(from, VMID).await?;
            qemu::prepare_migration(&mut mon, None).await?;
            mon.execute(
                "migrate",
                Some(json!({ "uri": format!("unix:{}", to.migrate_in(VMID).display()) })),
            )
            .await?;
            let info = loop {
                tokio::time::sleep(POLL).await;
                let info = mon.execute("query-migrate", None).await?;
                match info.get("status").and_then(Value::as_str) {
                    Some("completed") => break info,
                    Some("failed" | "cancelled") => bail!("raw migration failed: {info}"),
                    _ if started.elapsed() > MIGRATION_TIMEOUT => bail!("raw migration timed out"),
                    _ => {}
                }
            };
            let mut target = qemu::monitor(to, VMID).await?;
            while target.status().await? != "running" {
                tokio::time::sleep(POLL).await;
            }
            let total_ms = started.elapsed().as_secs_f64() * 1000.0;
            let stop_to_resume_ms = stop_to_resume(&mut source_events, &mut target_events).await?;
            // QEMU serves one client per monitor: free them for the stop's own.
            drop((mon, target));
            qemu::stop(from, VMID).await?;
            wait_tick(&dst_log, last_tick(&dst_log).unwrap_or(0) + 3).await?;
            let tick_gap_ms = watch.finish()?;
            f.push(
                "raw QEMU",
                trial + 1,
                Trial {
                    total: total_ms,
                    downtime: info.get("downtime").and_then(Value::as_u64).unwrap_or(0) as f64,
                    stop_to_resume: stop_to_resume_ms,
                    tick_gap: tick_gap_ms,
                },
            );
            wait_tick(&dst_log, last_tick(&dst_log).unwrap_or(0) + 10).await?;
        }
        anyhow::Ok(())
    }
    .await;
    for r in &runs {
        let _ = qemu::stop(r, VMID).await;
    }
    result?;
    Ok(f)
}
