//! `brigade bench detection`: SIGKILL of a node until both survivors report it
//! dead (quorum recalculated), and restart until it is a member again; also
//! SIGKILL of the leader until the survivors have a new quorate leader.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use brigade_client::Client;
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

use crate::output::{print_json, table};

/// Loopback subnet (127.0.S.x) of the benchmark cluster.
const SUBNET: u8 = 203;
/// How often status is polled.
const POLL: Duration = Duration::from_millis(50);
/// Generous bound for one observation.
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Args, Debug)]
pub struct DetectionArgs {
    /// Trials per node_timeout.
    #[arg(long, default_value_t = 5)]
    pub trials: usize,
    /// node_timeout values to measure, in seconds.
    #[arg(long, value_delimiter = ',', default_values_t = vec![10, 2])]
    pub node_timeouts: Vec<u32>,
    /// Work directory (default: a new directory under /tmp).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Figures for one node_timeout.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub node_timeout_secs: u32,
    pub detection_s: Vec<f64>,
    pub rejoin_s: Vec<f64>,
    pub leader_failover_s: Vec<f64>,
}

async fn wait_for<F, Fut>(what: &str, check: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    super::wait_for(what, POLL, OBSERVE_TIMEOUT, check).await
}

async fn view(c: &Client, name: &str) -> Option<(bool, bool)> {
    let s = c.status().await.ok()?;
    let alive = s.members.iter().find(|m| m.name == name)?.alive;
    Some((alive, s.quorate))
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    (
        s[s.len() / 2],
        s[((s.len() as f64 - 1.0) * 0.99).round() as usize],
        s[s.len() - 1],
    )
}

async fn measure(
    dir: &std::path::Path,
    node_timeout: u32,
    trials: usize,
) -> anyhow::Result<Figures> {
    let bin = std::env::current_exe()?;
    let _ = std::fs::remove_dir_all(dir);
    let mut c = ProcCluster::form(&bin, dir, SUBNET, 3, RaftTuning::default()).await?;
    c.wait_quorate(&[0, 1, 2]).await?;
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = node_timeout)
        .await?;
    let mut f = Figures {
        node_timeout_secs: node_timeout,
        detection_s: Vec::new(),
        rejoin_s: Vec::new(),
        leader_failover_s: Vec::new(),
    };
    for trial in 0..trials {
        let clients: Vec<Client> = (0..3).map(|i| c.client(i)).collect::<Result<_, _>>()?;
        // Everyone sees everyone before each trial.
        for client in &clients {
            for n in ["n1", "n2", "n3"] {
                let cl = client.clone();
                wait_for("all alive", || {
                    let cl = cl.clone();
                    async move { view(&cl, n).await.is_some_and(|(a, q)| a && q) }
                })
                .await?;
            }
        }
        let leader_id = c.wait_quorate(&[0, 1, 2]).await?;
        let leader = c.index_of_id(leader_id);
        let victim = (leader + 1) % 3;
        let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
        let name = c.nodes[victim].name.clone();
        c.kill(victim);
        let killed = Instant::now();
        for &s in &survivors {
            let cl = clients[s].clone();
            let name = name.clone();
            wait_for("dead", || {
                let (cl, name) = (cl.clone(), name.clone());
                async move { view(&cl, &name).await.is_some_and(|(a, q)| !a && q) }
            })
            .await?;
        }
        f.detection_s.push(killed.elapsed().as_secs_f64());
        c.start(victim)?;
        let started = Instant::now();
        for &s in &survivors {
            let cl = clients[s].clone();
            let name = name.clone();
            wait_for("alive", || {
                let (cl, name) = (cl.clone(), name.clone());
                async move { view(&cl, &name).await.is_some_and(|(a, q)| a && q) }
            })
            .await?;
        }
        let back = clients[victim].clone();
        wait_for("rejoined quorate", || {
            let back = back.clone();
            async move { back.status().await.is_ok_and(|s| s.quorate) }
        })
        .await?;
        f.rejoin_s.push(started.elapsed().as_secs_f64());

        // Leader loss: time until the survivors agree on a new quorate leader.
        c.kill(leader);
        let killed = Instant::now();
        let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let (a, b) = (clients[others[0]].clone(), clients[others[1]].clone());
        wait_for("new leader", || {
            let (a, b) = (a.clone(), b.clone());
            async move {
                let (Ok(x), Ok(y)) = (a.status().await, b.status().await) else {
                    return false;
                };
                let lx = x.cfs.and_then(|s| s.leader);
                x.quorate
                    && y.quorate
                    && lx.is_some()
                    && lx != Some(leader_id)
                    && lx == y.cfs.and_then(|s| s.leader)
            }
        })
        .await?;
        f.leader_failover_s.push(killed.elapsed().as_secs_f64());
        c.start(leader)?;
        c.wait_quorate(&[0, 1, 2]).await?;
        eprintln!(
            "node_timeout {node_timeout} s, trial {}: detection {:.2} s, rejoin {:.2} s, leader failover {:.2} s",
            trial + 1,
            f.detection_s[trial],
            f.rejoin_s[trial],
            f.leader_failover_s[trial]
        );
    }
    Ok(f)
}

pub async fn run(args: DetectionArgs) -> anyhow::Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("brigade-bench-detection-{}", std::process::id()))
    });
    let mut all = Vec::new();
    for &t in &args.node_timeouts {
        all.push(measure(&root.join(format!("t{t}")), t, args.trials).await?);
    }
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    if args.json {
        return print_json(&all);
    }
    outln!(
        "failure detection, 3 nodes on loopback, SIGKILL, {} trials each",
        args.trials
    );
    let mut t = table(&[
        "node_timeout",
        "what",
        "p50 s",
        "p99 s",
        "max s",
        "corosync (ANCHORS.md)",
    ]);
    for f in &all {
        for (what, v, peer) in [
            (
                "kill -> both survivors report it dead, still quorate",
                &f.detection_s,
                "7.9-8.0 s (token 3650 ms)",
            ),
            (
                "restart -> member again, all quorate",
                &f.rejoin_s,
                "2.8-3.0 s",
            ),
            (
                "leader kill -> new quorate leader",
                &f.leader_failover_s,
                "-",
            ),
        ] {
            let (p50, p99, max) = stats(v);
            t.add_row(vec![
                format!("{} s", f.node_timeout_secs),
                what.to_string(),
                format!("{p50:.2}"),
                format!("{p99:.2}"),
                format!("{max:.2}"),
                peer.to_string(),
            ]);
        }
    }
    outln!("{t}");
    Ok(())
}
