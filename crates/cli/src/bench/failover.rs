//! `brigade bench failover`: power cuts (daemon, watchdog and guests SIGKILLed) of the
//! node running an HA VM on a 3-node cluster; time until the survivors report the node
//! lost (detection), until the VM's QEMU runs on another node (process start), and until
//! the guest there writes its first serial line (what a user waits for), at default and
//! at aggressive timing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use brigade_api::ha::ResourceRequest;
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use clap::Args;
use serde::Serialize;

use crate::output::{print_json, table};

/// Loopback subnet (127.0.S.x) of the benchmark cluster.
const SUBNET: u8 = 205;
const VMID: u32 = 100;
const POLL: Duration = Duration::from_millis(50);
/// How often the new node's serial log is read once the VM's process runs there.
const SERIAL_POLL: Duration = Duration::from_millis(10);
/// Generous bound for one observation.
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Args, Debug)]
pub struct FailoverBenchArgs {
    /// Power cuts per profile.
    #[arg(long, default_value_t = 5)]
    pub trials: usize,
    /// The test appliance (scripts/build-appliance).
    #[arg(long, default_value_t = crate::cmd::guest::appliance_dir())]
    pub appliance: String,
    /// Only the default profile (node_timeout 10 s, fence_timeout 10 s).
    #[arg(long)]
    pub default_only: bool,
    /// Only the aggressive profile (node_timeout 2 s, fence_timeout 1.5 s).
    #[arg(long, conflicts_with = "default_only")]
    pub aggressive_only: bool,
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// One timing profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    pub node_timeout_secs: u32,
    pub fence_timeout_secs: f64,
    #[serde(skip)]
    pub raft: RaftTuning,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub profile: Profile,
    pub detection_s: Vec<f64>,
    /// Power cut -> the VM's QEMU process exists on another node.
    pub failover_s: Vec<f64>,
    /// Power cut -> the guest's first serial line on that node (it answers).
    pub first_line_s: Vec<f64>,
    /// That first line (the appliance's kernel runs `quiet`: its first tick).
    #[serde(skip)]
    pub first_lines: Vec<String>,
}

fn profiles(default_only: bool) -> Vec<Profile> {
    let mut v = vec![Profile {
        name: "default".into(),
        node_timeout_secs: 10,
        fence_timeout_secs: 10.0,
        raft: RaftTuning::default(),
    }];
    if !default_only {
        // The shortest fence timeout brigade accepts: the lease is 2.5 s (the margin of
        // 1 s stays), so a dead node's guest is started elsewhere 2.5 s after its last
        // renewal at most.
        v.push(Profile {
            name: "aggressive".into(),
            node_timeout_secs: 2,
            fence_timeout_secs: 1.5,
            raft: RaftTuning {
                heartbeat_ms: Some(100),
                election_min_ms: Some(400),
                election_max_ms: Some(800),
                lease_ms: Some(800),
                ..RaftTuning::default()
            },
        });
    }
    v
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

async fn wait_for<F, Fut>(what: &str, check: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    super::wait_for(what, POLL, OBSERVE_TIMEOUT, check).await
}

fn running_on(c: &ProcCluster) -> Option<usize> {
    (0..c.nodes.len()).find(|i| c.guest_pids(*i).iter().any(|(v, _)| *v == VMID))
}

fn serial_log(c: &ProcCluster, i: usize) -> Vec<u8> {
    std::fs::read(c.run_dir(i).join(format!("{VMID}.serial.log"))).unwrap_or_default()
}

/// The first complete line of node `i`'s serial log.
fn first_line(c: &ProcCluster, i: usize) -> Option<String> {
    let log = serial_log(c, i);
    let end = log.iter().position(|b| *b == b'\n')?;
    Some(String::from_utf8_lossy(&log[..end]).trim().to_string())
}

/// Removes the serial logs an earlier trial left on the nodes the VM does not run on, so
/// the first line in the log of the node it fails over to is that guest's first line.
fn clear_stale_serial_logs(c: &ProcCluster, running_on: usize) -> anyhow::Result<()> {
    for i in (0..c.nodes.len()).filter(|i| *i != running_on) {
        let path = c.run_dir(i).join(format!("{VMID}.serial.log"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}

async fn measure(
    dir: &Path,
    p: &Profile,
    trials: usize,
    appliance: &str,
) -> anyhow::Result<Figures> {
    let bin = std::env::current_exe()?;
    let _ = std::fs::remove_dir_all(dir);
    let mut c = ProcCluster::form(&bin, dir, SUBNET, 3, p.raft.clone()).await?;
    c.wait_quorate(&[0, 1, 2]).await?;
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = p.node_timeout_secs)
        .await?;
    let n1 = c.client(0)?;
    n1.fs_put(
        "datacenter.cfg",
        &format!(
            "migration: secure\nha: fence_timeout={}\n",
            p.fence_timeout_secs
        ),
    )
    .await?;
    brigade_localcluster::add_shared_dir_storage(&n1, dir).await?;
    let config = brigade_guest::vm_config::appliance_params(appliance, 128, Some("shared:1"));
    n1.guest_create("n2", GuestKind::Qemu, VMID, &config, None, false)
        .await
        .context("creating the benchmark VM")?;
    n1.ha_add(&ResourceRequest {
        sid: Some("vm:100".into()),
        ..ResourceRequest::default()
    })
    .await?;
    let mut f = Figures {
        profile: p.clone(),
        detection_s: Vec::new(),
        failover_s: Vec::new(),
        first_line_s: Vec::new(),
        first_lines: Vec::new(),
    };
    for trial in 0..trials {
        // Settled: the VM runs, every node online in HA's view.
        let clients: Vec<Client> = (0..3).map(|i| c.client(i)).collect::<Result<_, _>>()?;
        wait_for("the VM running and all nodes online", || {
            let cl = clients.clone();
            let running = running_on(&c).is_some();
            async move {
                if !running {
                    return false;
                }
                for x in &cl {
                    match x.ha_status().await {
                        Ok(s)
                            if s.nodes.iter().all(|n| n.state == "online")
                                && s.services.iter().all(|sv| sv.state == "started") => {}
                        _ => return false,
                    }
                }
                true
            }
        })
        .await?;
        let victim = running_on(&c).context("the VM runs nowhere")?;
        let name = c.nodes[victim].name.clone();
        let survivors: Vec<Client> = (0..3)
            .filter(|i| *i != victim)
            .map(|i| clients[i].clone())
            .collect();
        clear_stale_serial_logs(&c, victim)?;
        c.power_cut(victim);
        let cut = Instant::now();
        let mut detection = None;
        let failover = loop {
            if detection.is_none() {
                for s in &survivors {
                    if let Ok(st) = s.ha_status().await {
                        if st
                            .nodes
                            .iter()
                            .any(|n| n.name == name && n.state != "online")
                        {
                            detection = Some(cut.elapsed().as_secs_f64());
                            break;
                        }
                    }
                }
            }
            if let Some(i) = running_on(&c).filter(|i| *i != victim) {
                break (i, cut.elapsed().as_secs_f64());
            }
            if cut.elapsed() > OBSERVE_TIMEOUT {
                bail!(
                    "{}: VM 100 did not run elsewhere within {OBSERVE_TIMEOUT:?}",
                    p.name
                );
            }
            tokio::time::sleep(POLL).await;
        };
        let (to, failover) = failover;
        let line = loop {
            if let Some(l) = first_line(&c, to) {
                break l;
            }
            if cut.elapsed() > OBSERVE_TIMEOUT {
                bail!(
                    "{}: VM 100 wrote no serial line on {} within {OBSERVE_TIMEOUT:?}",
                    p.name,
                    c.nodes[to].name
                );
            }
            tokio::time::sleep(SERIAL_POLL).await;
        };
        f.first_line_s.push(cut.elapsed().as_secs_f64());
        f.first_lines.push(line);
        f.detection_s.push(detection.unwrap_or(failover));
        f.failover_s.push(failover);
        eprintln!(
            "{} trial {}: {name} power-cut: detected {:.2} s, QEMU running on {} {:.2} s, first serial line {:.2} s ({:?})",
            p.name,
            trial + 1,
            f.detection_s[trial],
            c.nodes[to].name,
            f.failover_s[trial],
            f.first_line_s[trial],
            f.first_lines[trial]
        );
        c.start(victim)?;
        c.wait_api(victim).await?;
    }
    Ok(f)
}

pub async fn run(args: FailoverBenchArgs) -> anyhow::Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "/tmp/brigade-bench-failover-{}",
            std::process::id()
        ))
    });
    let mut all = Vec::new();
    for p in profiles(args.default_only)
        .into_iter()
        .filter(|p| !args.aggressive_only || p.name == "aggressive")
    {
        all.push(measure(&root.join(&p.name), &p, args.trials, &args.appliance).await?);
    }
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    if args.json {
        return print_json(&all);
    }
    outln!(
        "HA failover, 3 nodes on loopback, power cut (daemon, watchdog, guests SIGKILLed), appliance VM under TCG, {} trials each",
        args.trials
    );
    let mut t = table(&[
        "profile",
        "detection p50 / p99",
        "cut -> QEMU runs elsewhere p50 / p99 / max",
        "cut -> first serial line p50 / p99 / max",
    ]);
    let three = |v: &[f64]| {
        format!(
            "{:.2} / {:.2} / {:.2} s",
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 1.0)
        )
    };
    for f in &all {
        t.add_row(vec![
            format!(
                "{} (node_timeout {} s, fence_timeout {} s)",
                f.profile.name, f.profile.node_timeout_secs, f.profile.fence_timeout_secs
            ),
            format!(
                "{:.2} / {:.2} s",
                percentile(&f.detection_s, 0.5),
                percentile(&f.detection_s, 0.99)
            ),
            three(&f.failover_s),
            three(&f.first_line_s),
        ]);
    }
    outln!("{t}");
    if let Some(l) = all.iter().find_map(|f| f.first_lines.first()) {
        outln!("the first serial line is the guest's own output ({l:?}): the appliance's kernel boots quiet under TCG");
    }
    outln!("goal (ANCHORS): a guest that answers within 15 s p99 at defaults, 5 s aggressive; Proxmox ha-manager about 120 s");
    Ok(())
}
