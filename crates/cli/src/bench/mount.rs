//! `brigade bench mount`: small-file write latency through the FUSE mount, next to the
//! same writes through the API, on one node of a 3-node cluster.

use std::path::PathBuf;
use std::time::Instant;

use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use clap::Args;
use serde::Serialize;

use crate::output::{print_json, table};

/// Loopback subnet (127.0.S.x) of the benchmark cluster.
const SUBNET: u8 = 206;

#[derive(Args, Debug)]
pub struct MountBenchArgs {
    /// Writes per path.
    #[arg(long, default_value_t = 1000)]
    pub writes: usize,
    /// Bytes per write.
    #[arg(long, default_value_t = 512)]
    pub size: usize,
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub path: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub writes_per_s: f64,
}

fn figures(path: &str, mut ms: Vec<f64>, total_s: f64) -> Figures {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    Figures {
        path: path.into(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        writes_per_s: ms.len() as f64 / total_s,
    }
}

pub async fn run(args: MountBenchArgs) -> anyhow::Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!("/tmp/brigade-bench-mount-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&root);
    let bin = std::env::current_exe()?;
    let c = ProcCluster::form(
        &bin,
        &root.join("cluster"),
        SUBNET,
        3,
        RaftTuning::default(),
    )
    .await?;
    c.wait_quorate(&[0, 1, 2]).await?;
    let mnt = root.join("mnt");
    std::fs::create_dir_all(&mnt)?;
    let client = c.client(0)?;
    client.local_mount(&mnt, false).await?;
    let value = "x".repeat(args.size.saturating_sub(1)) + "\n";
    let (mut fuse, mut api) = (Vec::new(), Vec::new());
    let start = Instant::now();
    for i in 0..args.writes {
        let t = Instant::now();
        std::fs::write(mnt.join(format!("bench-{}", i % 64)), &value)?;
        fuse.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let fuse_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for i in 0..args.writes {
        let t = Instant::now();
        client
            .fs_put(&format!("bench-api-{}", i % 64), &value)
            .await?;
        api.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let api_s = start.elapsed().as_secs_f64();
    client.local_mount(&mnt, true).await?;
    drop(c);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    let rows = vec![
        figures("FUSE mount (open, write, close)", fuse, fuse_s),
        figures("HTTPS API (POST /fs/write)", api, api_s),
    ];
    if args.json {
        return print_json(&rows);
    }
    outln!(
        "small-file writes ({} bytes) on one node of 3, one writer, {} writes each",
        args.size,
        args.writes
    );
    let mut t = table(&["path", "p50", "p99", "writes/s"]);
    for r in &rows {
        t.add_row(vec![
            r.path.clone(),
            format!("{:.2} ms", r.p50_ms),
            format!("{:.2} ms", r.p99_ms),
            format!("{:.0}", r.writes_per_s),
        ]);
    }
    outln!("{t}");
    outln!(
        "ratio mount / API: p50 {:.2}x",
        rows[0].p50_ms / rows[1].p50_ms
    );
    Ok(())
}
