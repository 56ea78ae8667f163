//! brigade's side of `bench migrate`: a 2-node cluster on 127.0.204.x with shared
//! storage, the VM migrated back and forth through the API (mTLS tunnel).

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _};
use brigade_api::tasks::TaskState;
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_core::poll_until;
use brigade_guest::qmp::Qmp;
use brigade_guest::RunDir;
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use serde_json::json;

use super::felt::TickWatch;
use super::{
    appliance_config, connect_events, first_tick, last_tick, stop_to_resume, wait_tick, Figures,
    MigrateBenchArgs, Trial, MIGRATION_TIMEOUT, POLL, VMID,
};

/// Loopback subnet (127.0.S.x) of the benchmark cluster.
const SUBNET: u8 = 204;

pub(super) async fn side(dir: &Path, args: &MigrateBenchArgs) -> anyhow::Result<(Figures, String)> {
    let bin = std::env::current_exe()?;
    let c = ProcCluster::form(&bin, dir, SUBNET, 2, RaftTuning::default()).await?;
    c.wait_quorate(&[0, 1]).await?;
    let client = c.client(0)?;
    brigade_localcluster::add_shared_dir_storage(&client, dir).await?;
    let cfg = appliance_config(&args.appliance, args.memory, "shared:1");
    client
        .guest_create("n1", GuestKind::Qemu, VMID, &cfg, None, true)
        .await
        .context("creating the benchmark VM")?;
    let names = ["n1", "n2"];
    wait_tick(&c.run_dir(0).join(format!("{VMID}.serial.log")), 2).await?;
    let loc = client.locate(VMID).await?;
    let accel = client
        .guest_status(&loc)
        .await?
        .accel
        .unwrap_or_else(|| "?".into());
    let runs = [RunDir::open(&c.run_dir(0))?, RunDir::open(&c.run_dir(1))?];
    let mut f = Figures::default();
    for trial in 0..args.trials {
        let (from, to) = (trial % 2, (trial + 1) % 2);
        let (src_log, dst_log) = (runs[from].serial_log(VMID), runs[to].serial_log(VMID));
        let mut source_events = Qmp::connect(&runs[from].qmp_events(VMID)).await?;
        let target_events = tokio::spawn(connect_events(runs[to].qmp_events(VMID)));
        let watch = TickWatch::start(vec![src_log.clone(), dst_log.clone()]);
        let loc = client.locate(VMID).await?;
        let started = client.guest_migrate(&loc, names[to], true).await?;
        let result = wait_task(&client, &started.node, &started.upid).await?;
        let mut target_events = target_events.await??;
        // Where brigade's part of the pause went (the task logs its phases).
        if let Ok(lines) = client.task_log(&started.upid, 0, 1000).await {
            for l in lines.iter().filter(|l| l.t.contains("switch-over")) {
                eprintln!("brigade trial {}: {}", trial + 1, l.t);
            }
        }
        let stop_to_resume_ms = stop_to_resume(&mut source_events, &mut target_events).await?;
        wait_tick(&dst_log, 1).await?;
        if first_tick(&dst_log) == Some(1) {
            bail!(
                "trial {}: the guest restarted on {} (tick 1)",
                trial + 1,
                names[to]
            );
        }
        // A few ticks after the switch-over, so the gap is closed on both ends.
        wait_tick(&dst_log, last_tick(&dst_log).unwrap_or(0) + 3).await?;
        let tick_gap_ms = watch.finish()?;
        let trial_figures = Trial {
            total: result.total_time_ms as f64,
            downtime: result.downtime_ms.unwrap_or(0) as f64,
            stop_to_resume: stop_to_resume_ms,
            tick_gap: tick_gap_ms,
        };
        f.push(
            &format!("brigade {} -> {}", names[from], names[to]),
            trial + 1,
            trial_figures,
        );
        // Let it settle (dirty pages, ticks) before the next trial.
        wait_tick(&dst_log, last_tick(&dst_log).unwrap_or(0) + 10).await?;
    }
    let loc = client.locate(VMID).await?;
    client.guest_power(&loc, "stop", json!({})).await?;
    drop(c);
    Ok((f, accel))
}

async fn wait_task(
    c: &Client,
    node: &str,
    upid: &str,
) -> anyhow::Result<brigade_api::tasks::MigrationResult> {
    let ended = poll_until(Instant::now() + MIGRATION_TIMEOUT, POLL, || async {
        match c.task_status(node, upid).await {
            Ok(t) if t.status == TaskState::Running => None,
            other => Some(other),
        }
    })
    .await;
    let t = match ended {
        Ok(t) => t?,
        Err(_) => bail!("migration timed out"),
    };
    match t.status {
        TaskState::Ok => t.result.context("no result"),
        _ => bail!("migration failed: {}", t.error.unwrap_or_default()),
    }
}
