//! `brigade bench ...`: benchmarks printing brigade's figure next to a peer's from the same run.

pub mod backup;
mod backup_live;
pub mod cfs;
pub mod detection;
pub mod failover;
pub mod migrate;
pub mod mount;
pub mod scale;
pub mod ui;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;

use crate::connect::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// A full and a second backup of a stopped VM's disk next to qemu-img convert of it.
    Backup(backup::BackupBenchArgs),
    /// cfs write throughput and latency against a 3-member etcd, both on loopback.
    Cfs(cfs::CfsBenchArgs),
    /// Failure detection and rejoin times (SIGKILL of a node), at several node_timeouts.
    Detection(detection::DetectionArgs),
    /// Live migration of the appliance VM through brigade next to raw QEMU, same run.
    Migrate(migrate::MigrateBenchArgs),
    /// HA failover after a power cut: detection and kill -> VM running elsewhere.
    Failover(failover::FailoverBenchArgs),
    /// Small-file write latency through the FUSE mount next to the API.
    Mount(mount::MountBenchArgs),
    /// N node daemons on this machine: joins, convergence, idle CPU and RSS, heartbeat
    /// traffic, write latency, detection and replacement of lost members.
    Scale(scale::ScaleArgs),
    /// The web UI in headless Chromium against N daemons and M guests: time to a usable
    /// page and bytes transferred.
    Ui(ui::UiArgs),
}

pub async fn run(_g: &GlobalArgs, cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Backup(args) => backup::run_bench(args).await,
        BenchCmd::Cfs(args) => cfs::run(args).await,
        BenchCmd::Detection(args) => detection::run(args).await,
        BenchCmd::Migrate(args) => migrate::run(args).await,
        BenchCmd::Failover(args) => failover::run(args).await,
        BenchCmd::Mount(args) => mount::run(args).await,
        BenchCmd::Scale(args) => scale::run(args).await,
        BenchCmd::Ui(args) => ui::run(args).await,
    }
}

/// Polls `check` every `poll` until it holds; its time, or an error after `timeout`.
pub async fn wait_for<F, Fut>(
    what: &str,
    poll: Duration,
    timeout: Duration,
    check: F,
) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    brigade_core::poll_until(start + timeout, poll, check)
        .await
        .map_err(|_| anyhow::anyhow!("timed out waiting for {what}"))?;
    Ok(start.elapsed())
}

/// Runs `measure` in `given`, or in a scratch directory `brigade-bench-NAME-PID` under the
/// temporary directory that is removed afterwards (its FUSE mounts detached first).
pub(crate) async fn in_bench_dir<T, F, Fut>(
    given: Option<&Path>,
    name: &str,
    measure: F,
) -> anyhow::Result<T>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let dir = given.map_or_else(
        || std::env::temp_dir().join(format!("brigade-bench-{name}-{}", std::process::id())),
        Path::to_path_buf,
    );
    let result = measure(dir.clone()).await;
    if given.is_none() {
        brigade_localcluster::detach_mounts_under(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}
