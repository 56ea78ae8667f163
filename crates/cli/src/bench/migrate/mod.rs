//! `brigade bench migrate`: live-migrates the appliance VM back and forth between two
//! nodes through brigade (mTLS tunnel, orchestration, config handover), and the same
//! guest with raw QEMU over a local Unix socket in the same run; per trial the total
//! time, QEMU's downtime, the source's STOP to the target's RESUME (QMP event times) and
//! the gap in the guest's own serial ticks; p50/p99/max and brigade's ratio to raw QEMU.

mod brigade;
mod felt;
mod raw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;
use brigade_core::poll_until;
use brigade_guest::qmp::Qmp;
use brigade_guest::Accel;
use clap::Args;
use serde::Serialize;

use crate::output::{print_json, table};

pub(super) const VMID: u32 = 100;
/// How long the appliance may take to print its second tick.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one migration may take.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long after a migration its STOP and RESUME events may take to be read.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);
/// How often the target's event monitor is tried while its QEMU starts.
const CONNECT_POLL: Duration = Duration::from_millis(5);

#[derive(Args, Debug)]
pub struct MigrateBenchArgs {
    /// Migrations per side.
    #[arg(long, default_value_t = 20)]
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

/// One side's figures, milliseconds, one entry per trial.
#[derive(Debug, Default, Serialize)]
pub struct Figures {
    #[serde(rename = "total_ms")]
    pub total: Vec<f64>,
    #[serde(rename = "downtime_ms")]
    pub downtime: Vec<f64>,
    /// The source's QMP STOP event to the target's RESUME event.
    #[serde(rename = "stop_to_resume_ms")]
    pub stop_to_resume: Vec<f64>,
    /// The largest gap between two new serial ticks (a tick every `felt::TICK_MS`).
    #[serde(rename = "tick_gap_ms")]
    pub tick_gap: Vec<f64>,
}

/// Which figure of a side a report row shows.
type Pick = fn(&Figures) -> &Vec<f64>;

impl Figures {
    fn push(&mut self, side: &str, trial: usize, t: Trial) {
        eprintln!(
            "{side} trial {trial}: total {:.0} ms, downtime {:.0} ms, STOP->RESUME {:.1} ms, tick gap {:.1} ms",
            t.total, t.downtime, t.stop_to_resume, t.tick_gap
        );
        self.total.push(t.total);
        self.downtime.push(t.downtime);
        self.stop_to_resume.push(t.stop_to_resume);
        self.tick_gap.push(t.tick_gap);
    }
}

/// One migration's figures, ms.
struct Trial {
    total: f64,
    downtime: f64,
    stop_to_resume: f64,
    tick_gap: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub memory_mib: u64,
    pub accel: String,
    pub tick_ms: u64,
    pub brigade: Figures,
    pub raw_qemu: Figures,
}

/// p50, p99 (nearest rank) and max.
fn percentiles(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let rank = |p: f64| s[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    (rank(0.5), rank(0.99), s[n - 1])
}

/// The appliance with fast ticks, so a switch-over's pause shows in its output.
fn appliance_config(dir: &str, memory: u64, disk: &str) -> BTreeMap<String, String> {
    let mut cfg = brigade_guest::vm_config::appliance_params(dir, memory, Some(disk));
    cfg.insert(
        "append".into(),
        format!(
            "{} brigade.tick={}",
            brigade_guest::vm_config::APPLIANCE_APPEND,
            felt::TICK_MS
        ),
    );
    cfg
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

/// Connects to a QEMU's event monitor as soon as it listens (the target's starts during
/// the migration's preparation).
async fn connect_events(path: PathBuf) -> anyhow::Result<Qmp> {
    let connected = poll_until(Instant::now() + MIGRATION_TIMEOUT, CONNECT_POLL, || async {
        Qmp::connect(&path).await.ok()
    })
    .await;
    match connected {
        Ok(q) => Ok(q),
        Err(_) => bail!("no QMP event monitor at {}", path.display()),
    }
}

/// The source's STOP and the target's RESUME events of one migration, ms apart.
async fn stop_to_resume(source: &mut Qmp, target: &mut Qmp) -> anyhow::Result<f64> {
    let stop = source.wait_event("STOP", EVENT_TIMEOUT).await?;
    let resume = target.wait_event("RESUME", EVENT_TIMEOUT).await?;
    felt::stop_to_resume_ms(&stop, &resume)
}

pub async fn run(args: MigrateBenchArgs) -> anyhow::Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!("/tmp/brigade-bench-migrate-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let (brigade, accel) = brigade::side(&root.join("cluster"), &args).await?;
    let accel_kind = if accel == "kvm" {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    let raw = raw::side(&root, &args, accel_kind).await?;
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    let report = Report {
        memory_mib: args.memory,
        accel,
        tick_ms: felt::TICK_MS,
        brigade,
        raw_qemu: raw,
    };
    if args.json {
        return print_json(&report);
    }
    print_report(&report, args.trials);
    Ok(())
}

fn print_report(report: &Report, trials: usize) {
    outln!(
        "live migration of the appliance VM ({} MiB, {}, a serial tick every {} ms), {trials} trials each, same run",
        report.memory_mib,
        report.accel,
        report.tick_ms,
    );
    let mut t = table(&[
        "figure",
        "side",
        "p50",
        "p99",
        "max",
        "brigade / raw (p50, p99)",
    ]);
    let figures: [(&str, Pick); 4] = [
        ("guest tick gap", |f| &f.tick_gap),
        ("STOP -> RESUME", |f| &f.stop_to_resume),
        ("QEMU downtime", |f| &f.downtime),
        ("total", |f| &f.total),
    ];
    for (name, get) in figures {
        let (bp, b99, bm) = percentiles(get(&report.brigade));
        let (rp, r99, rm) = percentiles(get(&report.raw_qemu));
        let ratio = |b: f64, r: f64| {
            if r > 0.0 {
                format!("{:.2}x", b / r)
            } else {
                "n/a".to_string()
            }
        };
        t.add_row(vec![
            name.to_string(),
            "brigade (mTLS tunnel, 2 nodes)".to_string(),
            format!("{bp:.1} ms"),
            format!("{b99:.1} ms"),
            format!("{bm:.1} ms"),
            format!("{}, {}", ratio(bp, rp), ratio(b99, r99)),
        ]);
        t.add_row(vec![
            String::new(),
            "raw QEMU (unix socket)".to_string(),
            format!("{rp:.1} ms"),
            format!("{r99:.1} ms"),
            format!("{rm:.1} ms"),
            String::new(),
        ]);
    }
    outln!("{t}");
    let (bp, _, _) = percentiles(&report.brigade.tick_gap);
    let (rp, _, _) = percentiles(&report.raw_qemu.tick_gap);
    outln!(
        "guest-felt switch-over (tick gap p50): brigade {:.2}x raw QEMU (goal: at most 1.5x)",
        bp / rp
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentiles(&v), (10.0, 20.0, 20.0));
        assert_eq!(percentiles(&[3.0]), (3.0, 3.0, 3.0));
        assert!(percentiles(&[]).0.is_nan());
    }
}
