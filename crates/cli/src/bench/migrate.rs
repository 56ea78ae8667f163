//! `brigade bench migrate`: live-migrates the appliance VM back and forth between two
//! nodes through brigade (mTLS tunnel, orchestration, config handover), and the same
//! guest with raw QEMU over a local Unix socket in the same run; prints total time and
//! QEMU-reported downtime, p50 and max, and brigade's ratio to raw QEMU.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use brigade_api::storage::StorageAddRequest;
use brigade_api::tasks::TaskState;
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_core::poll_until;
use brigade_guest::qemu::{self, Incoming, LaunchSpec};
use brigade_guest::{Accel, RunDir, VmConfig};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};

use crate::output::{print_json, table};

/// Loopback subnet (127.0.S.x) of the benchmark cluster.
const SUBNET: u8 = 204;
const VMID: u32 = 100;
/// How long the appliance may take to print its second tick.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one migration may take.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(50);

#[derive(Args, Debug)]
pub struct MigrateBenchArgs {
    /// Migrations per side.
    #[arg(long, default_value_t = 5)]
    pub trials: usize,
    /// Guest memory, MiB.
    #[arg(long, default_value_t = 128)]
    pub memory: u64,
    /// The test appliance (scripts/build-appliance).
    #[arg(long, default_value_t = crate::cmd::guest::appliance_dir())]
    pub appliance: String,
    /// Work directory (default: a new directory under /tmp).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One side's figures, milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Figures {
    pub total_ms: Vec<f64>,
    pub downtime_ms: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub memory_mib: u64,
    pub accel: String,
    pub brigade: Figures,
    pub raw_qemu: Figures,
}

fn p50_max(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => (f64::NAN, f64::NAN),
        n => (s[n / 2], s[n - 1]),
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

fn appliance_config(dir: &str, memory: u64, disk: &str) -> BTreeMap<String, String> {
    brigade_guest::vm_config::appliance_params(dir, memory, Some(disk))
}

fn last_tick(log: &Path) -> Option<u64> {
    let text = String::from_utf8_lossy(&std::fs::read(log).ok()?).into_owned();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("tick ")?.parse().ok())
        .next_back()
}

fn first_tick(log: &Path) -> Option<u64> {
    let text = String::from_utf8_lossy(&std::fs::read(log).ok()?).into_owned();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("tick ")?.parse().ok())
}

async fn wait_tick(log: &Path, at_least: u64) -> anyhow::Result<()> {
    let ticked = poll_until(Instant::now() + BOOT_TIMEOUT, POLL, || {
        std::future::ready(last_tick(log).is_some_and(|t| t >= at_least))
    })
    .await;
    if ticked.is_err() {
        bail!(
            "no tick {at_least} in {} after {BOOT_TIMEOUT:?}",
            log.display()
        );
    }
    Ok(())
}

async fn brigade_side(dir: &Path, args: &MigrateBenchArgs) -> anyhow::Result<(Figures, String)> {
    let bin = std::env::current_exe()?;
    let c = ProcCluster::form(&bin, dir, SUBNET, 2, RaftTuning::default()).await?;
    c.wait_quorate(&[0, 1]).await?;
    let client = c.client(0)?;
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared)?;
    client
        .storage_add(&StorageAddRequest {
            storage: "shared".into(),
            kind: "dir".into(),
            path: shared.display().to_string(),
            content: None,
            shared: true,
            nodes: None,
        })
        .await?;
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
    let mut f = Figures::default();
    for trial in 0..args.trials {
        let (from, to) = (trial % 2, (trial + 1) % 2);
        let loc = client.locate(VMID).await?;
        let started = client.guest_migrate(&loc, names[to], true).await?;
        let result = wait_task(&client, &started.node, &started.upid).await?;
        let log = c.run_dir(to).join(format!("{VMID}.serial.log"));
        wait_tick(&log, 1).await?;
        if first_tick(&log) == Some(1) {
            bail!(
                "trial {}: the guest restarted on {} (tick 1)",
                trial + 1,
                names[to]
            );
        }
        let total = result.total_time_ms as f64;
        let down = result.downtime_ms.unwrap_or(0) as f64;
        eprintln!(
            "brigade trial {}: {} -> {}: total {total:.0} ms, downtime {down:.0} ms",
            trial + 1,
            names[from],
            names[to]
        );
        f.total_ms.push(total);
        f.downtime_ms.push(down);
        // Let it settle (dirty pages, a tick) before the next trial.
        wait_tick(&log, last_tick(&log).unwrap_or(0) + 1).await?;
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

async fn raw_side(dir: &Path, args: &MigrateBenchArgs, accel: Accel) -> anyhow::Result<Figures> {
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
            let total = started.elapsed().as_secs_f64() * 1000.0;
            let down = info.get("downtime").and_then(Value::as_u64).unwrap_or(0) as f64;
            qemu::stop(from, VMID).await?;
            eprintln!(
                "raw QEMU trial {}: total {total:.0} ms, downtime {down:.0} ms",
                trial + 1
            );
            f.total_ms.push(total);
            f.downtime_ms.push(down);
            let log = to.serial_log(VMID);
            wait_tick(&log, last_tick(&log).unwrap_or(0) + 1).await?;
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

pub async fn run(args: MigrateBenchArgs) -> anyhow::Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!("/tmp/brigade-bench-migrate-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let (brigade, accel) = brigade_side(&root.join("cluster"), &args).await?;
    let accel_kind = if accel == "kvm" {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    let raw = raw_side(&root, &args, accel_kind).await?;
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    let report = Report {
        memory_mib: args.memory,
        accel,
        brigade,
        raw_qemu: raw,
    };
    if args.json {
        return print_json(&report);
    }
    outln!(
        "live migration of the appliance VM ({} MiB, {}), {} trials each, same run",
        report.memory_mib,
        report.accel,
        args.trials
    );
    let mut t = table(&[
        "",
        "total p50",
        "total max",
        "downtime p50",
        "downtime mean",
        "downtime max",
    ]);
    let row = |name: &str, f: &Figures| {
        let (tp, tm) = p50_max(&f.total_ms);
        let (dp, dm) = p50_max(&f.downtime_ms);
        vec![
            name.to_string(),
            format!("{tp:.0} ms"),
            format!("{tm:.0} ms"),
            format!("{dp:.0} ms"),
            format!("{:.1} ms", mean(&f.downtime_ms)),
            format!("{dm:.0} ms"),
        ]
    };
    t.add_row(row("brigade (mTLS tunnel, 2 nodes)", &report.brigade));
    t.add_row(row("raw QEMU (unix socket)", &report.raw_qemu));
    outln!("{t}");
    let (bt, _) = p50_max(&report.brigade.total_ms);
    let (rt, _) = p50_max(&report.raw_qemu.total_ms);
    let (bd, rd) = (
        mean(&report.brigade.downtime_ms),
        mean(&report.raw_qemu.downtime_ms),
    );
    let downtime_ratio = if rd > 0.0 {
        format!("{:.2}x", bd / rd)
    } else {
        format!("n/a (raw QEMU's mean is 0 ms; brigade's {bd:.1} ms)")
    };
    outln!(
        "ratio brigade / raw QEMU: total p50 {:.2}x, downtime mean {downtime_ratio} (goal: downtime within 1.5x)",
        bt / rt
    );
    Ok(())
}
