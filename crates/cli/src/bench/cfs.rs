//! `brigade bench cfs`: write throughput and latency of cfs next to a
//! 3-member etcd (Debian's etcd-server), both on loopback, in the same run.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Args;
use serde::Serialize;

use brigade_client::{Client, WriteRequest};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

use crate::output::{print_json, table};

/// Loopback subnets (127.0.S.x) used by the benchmark's two clusters.
const BRIGADE_SUBNET: u8 = 201;
const ETCD_SUBNET: u8 = 202;
/// How long etcd may take to become healthy.
const ETCD_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a starting etcd member is asked whether it is healthy.
const ETCD_HEALTH_POLL: Duration = Duration::from_millis(100);

#[derive(Args, Debug)]
pub struct CfsBenchArgs {
    /// Seconds of measured load per phase (after one second of warm-up).
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Client counts to run.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 64])]
    pub clients: Vec<usize>,
    /// Value size in bytes.
    #[arg(long, default_value_t = 512)]
    pub value_size: usize,
    /// Work directory (default: a new directory under /tmp).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Skip etcd (print brigade's figures only).
    #[arg(long)]
    pub no_etcd: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Also measure reads (local replica) through the API, to show the HTTPS round trip alone.
    #[arg(long)]
    pub with_reads: bool,
}

/// One measured phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub system: String,
    pub clients: usize,
    pub writes: usize,
    pub errors: usize,
    pub writes_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs `clients` concurrent writers for warm-up plus `seconds`, recording latencies after warm-up.
async fn load<F, Fut>(system: &str, clients: usize, seconds: u64, write: F) -> Phase
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let write = Arc::new(write);
    let warm_until = Instant::now() + Duration::from_secs(1);
    let end = warm_until + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let write = write.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut seq = 0u64;
            while Instant::now() < end {
                let t = Instant::now();
                let ok = write(c, seq).await;
                seq += 1;
                if t >= warm_until {
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    all.sort();
    Phase {
        system: system.to_string(),
        clients,
        writes: all.len(),
        errors,
        writes_per_sec: all.len() as f64 / seconds as f64,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
    }
}

struct Etcd {
    children: Vec<Child>,
    endpoints: Vec<String>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn start_etcd(dir: &std::path::Path) -> anyhow::Result<Etcd> {
    let ips: Vec<IpAddr> = (1..=3)
        .map(|i| format!("127.0.{ETCD_SUBNET}.{i}").parse())
        .collect::<Result<_, _>>()?;
    let initial: Vec<String> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("e{}=http://{ip}:2380", i + 1))
        .collect();
    let mut etcd = Etcd {
        children: Vec::new(),
        endpoints: Vec::new(),
    };
    for (i, ip) in ips.iter().enumerate() {
        let name = format!("e{}", i + 1);
        let data = dir.join(&name);
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let child = Command::new("etcd")
            .args(["--name", &name, "--data-dir"])
            .arg(&data)
            .args([
                "--listen-client-urls",
                &format!("http://{ip}:2379"),
                "--advertise-client-urls",
                &format!("http://{ip}:2379"),
                "--listen-peer-urls",
                &format!("http://{ip}:2380"),
                "--initial-advertise-peer-urls",
                &format!("http://{ip}:2380"),
                "--initial-cluster",
                &initial.join(","),
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "brigade-bench",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context(
                "cannot start etcd: install Debian's etcd-server (apt-get install etcd-server)",
            )?;
        etcd.children.push(child);
        etcd.endpoints.push(format!("http://{ip}:2379"));
    }
    let http = reqwest::Client::new();
    let deadline = Instant::now() + ETCD_START_TIMEOUT;
    for ep in &etcd.endpoints {
        let healthy = brigade_core::poll_until(deadline, ETCD_HEALTH_POLL, || async {
            match http.get(format!("{ep}/health")).send().await {
                Ok(r) => r.text().await.is_ok_and(|t| t.contains("true")),
                Err(_) => false,
            }
        })
        .await;
        if healthy.is_err() {
            bail!(
                "etcd at {ep} did not become healthy (see {})",
                dir.display()
            );
        }
    }
    Ok(etcd)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

pub async fn run(args: CfsBenchArgs) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("brigade-bench-cfs-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let bin = std::env::current_exe()?;
    eprintln!("starting a 3-node brigade cluster on 127.0.{BRIGADE_SUBNET}.1-3 ...");
    let cluster = ProcCluster::form(
        &bin,
        &dir.join("brigade"),
        BRIGADE_SUBNET,
        3,
        RaftTuning::default(),
    )
    .await?;
    cluster.wait_quorate(&[0, 1, 2]).await?;
    let clients: Vec<Client> = (0..3)
        .map(|i| cluster.client(i))
        .collect::<Result<_, _>>()?;
    let value = "x".repeat(args.value_size);

    let etcd = if args.no_etcd {
        None
    } else {
        eprintln!("starting a 3-member etcd cluster on 127.0.{ETCD_SUBNET}.1-3 ...");
        std::fs::create_dir_all(dir.join("etcd"))?;
        Some(start_etcd(&dir.join("etcd")).await?)
    };

    let mut phases = Vec::new();
    for &n in &args.clients {
        eprintln!("brigade: {n} client(s), {} s ...", args.seconds);
        let (cs, v) = (clients.clone(), value.clone());
        phases.push(
            load("brigade", n, args.seconds, move |c, seq| {
                let client = cs[c % cs.len()].clone();
                let req = WriteRequest {
                    path: format!("bench/c{c}/k{}", seq % 1000),
                    content: Some(v.clone()),
                    data: None,
                    expect_version: None,
                    create_exclusive: false,
                };
                async move { client.fs_write(&req).await.is_ok() }
            })
            .await,
        );
        if let Some(etcd) = &etcd {
            eprintln!("etcd: {n} client(s), {} s ...", args.seconds);
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()?;
            let eps = etcd.endpoints.clone();
            let v64 = STANDARD.encode(&value);
            phases.push(
                load("etcd", n, args.seconds, move |c, seq| {
                    let url = format!("{}/v3/kv/put", eps[c % eps.len()]);
                    let body = serde_json::json!({
                        "key": STANDARD.encode(format!("bench/c{c}/k{}", seq % 1000)),
                        "value": v64,
                    });
                    let http = http.clone();
                    async move {
                        match http.post(url).json(&body).send().await {
                            Ok(r) => r.status().is_success(),
                            Err(_) => false,
                        }
                    }
                })
                .await,
            );
        }
    }
    if args.with_reads {
        let cs = clients.clone();
        eprintln!("brigade reads: 1 client, {} s ...", args.seconds);
        phases.push(
            load("brigade-read", 1, args.seconds, move |c, seq| {
                let client = cs[c % cs.len()].clone();
                async move {
                    client
                        .fs_read(&format!("bench/c0/k{}", seq % 1000), false)
                        .await
                        .is_ok()
                }
            })
            .await,
        );
    }
    drop(etcd);
    drop(cluster);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }

    if args.json {
        return print_json(&phases);
    }
    outln!(
        "cfs write benchmark: 3 members each on loopback, {}-byte values, {} s per phase, fsync on, clients spread over all members",
        args.value_size, args.seconds
    );
    let mut t = table(&[
        "system", "clients", "writes/s", "p50 ms", "p99 ms", "errors",
    ]);
    for p in &phases {
        t.add_row(vec![
            p.system.clone(),
            p.clients.to_string(),
            format!("{:.0}", p.writes_per_sec),
            format!("{:.2}", p.p50_ms),
            format!("{:.2}", p.p99_ms),
            p.errors.to_string(),
        ]);
    }
    outln!("{t}");
    for &n in &args.clients {
        let b = phases
            .iter()
            .find(|p| p.system == "brigade" && p.clients == n);
        let e = phases.iter().find(|p| p.system == "etcd" && p.clients == n);
        if let (Some(b), Some(e)) = (b, e) {
            outln!(
                "{n} client(s): brigade/etcd throughput {}, p50 latency {}, p99 latency {} (latency below 1x is better)",
                ratio(b.writes_per_sec, e.writes_per_sec),
                ratio(b.p50_ms, e.p50_ms),
                ratio(b.p99_ms, e.p99_ms)
            );
        }
    }
    Ok(())
}
