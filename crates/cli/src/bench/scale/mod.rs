//! `brigade bench scale`: N node daemons on one machine joined one by one, then what N
//! members cost and how fast they still are: joins, convergence, idle CPU and memory,
//! heartbeat traffic, write latency, and the detection and replacement of lost members.

mod idle;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use brigade_client::Client;
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

use crate::output::{print_json, table};

/// Loopback subnet (127.0.S.x) of the benchmark cluster.
const SUBNET: u8 = 207;
/// The most nodes one loopback subnet holds here (127.0.S.1 ..= 127.0.S.250).
pub(super) const MAX_NODES: usize = 250;
/// How often status is polled.
const POLL: Duration = Duration::from_millis(200);
/// Generous bound for one observation at many nodes on a small machine.
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(600);
/// Where the write-latency probe writes in the tree.
const WRITE_PATH: &str = "bench/scale";

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// How many node daemons (the first creates the cluster, the others join one by one).
    #[arg(long, default_value_t = 16)]
    pub nodes: usize,
    /// Sequential cfs writes for the write-latency figure.
    #[arg(long, default_value_t = 100)]
    pub writes: usize,
    /// Seconds of idle cluster over which CPU and heartbeat traffic are measured.
    #[arg(long, default_value_t = 15)]
    pub idle_secs: u64,
    /// Work directory (default: a new directory under /tmp, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Everything `bench scale` measured.
#[derive(Debug, Serialize)]
pub struct ScaleFigures {
    pub nodes: usize,
    /// `cluster join` of each node after the first, seconds.
    pub join_s: Vec<f64>,
    /// From the last join until every node reports every node alive.
    pub converge_s: f64,
    /// CPU of all daemons together while idle, in cores.
    pub idle_cpu_cores: f64,
    /// CPU of one daemon while idle by its Raft role, milliseconds a second.
    pub idle_cpu_by_role: idle::CpuByRole,
    /// Resident memory of each daemon (its process group), MiB: all, own pages, mapped files.
    pub memory: idle::Memory,
    /// Raft heartbeats the leader did not send to learners per second while idle
    /// (each would only have repeated what the learner had acknowledged).
    pub learner_beats_spared_s: f64,
    /// Heartbeats each node receives per second while idle (mean over nodes).
    pub heartbeats_received_per_node_s: f64,
    /// Voters in the Raft configuration.
    pub voters: usize,
    /// Sequential cfs writes through the first node, milliseconds.
    pub write_ms: Vec<f64>,
    /// SIGKILL of a learner until the first node reports it dead.
    pub learner_detection_s: Option<f64>,
    /// SIGKILL of a voter (not the leader) until the first node reports it dead.
    pub voter_detection_s: Option<f64>,
    /// SIGKILL of that voter until a learner holds its vote (as many voters as before).
    pub voter_replaced_s: Option<f64>,
    /// Whether the cluster still took writes after losing two voters.
    pub quorate_after_two_voters_lost: Option<bool>,
}

async fn wait_for<F, Fut>(what: &str, check: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    super::wait_for(what, POLL, OBSERVE_TIMEOUT, check).await
}

/// Percentile `q` (0..=1) of `v`, NaN when empty.
pub(super) fn percentile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    s[((s.len() as f64 - 1.0) * q).round() as usize]
}

/// Whether every node's status lists all `n` members alive.
pub(super) async fn all_see_all(clients: &[Client], n: usize) -> bool {
    let views = futures::future::join_all(clients.iter().map(Client::status)).await;
    views.iter().all(|v| {
        v.as_ref()
            .is_ok_and(|s| s.quorate && s.members.len() == n && s.members.iter().all(|m| m.alive))
    })
}

/// Heartbeats received so far by each node.
async fn heartbeats(clients: &[Client]) -> Vec<u64> {
    futures::future::join_all(clients.iter().map(Client::status))
        .await
        .into_iter()
        .map(|s| s.map(|s| s.heartbeats.received).unwrap_or(0))
        .collect()
}

/// The voters' names, as the first node's Raft status lists them.
async fn voters(c: &Client) -> Option<Vec<String>> {
    let s = c.status().await.ok()?;
    Some(
        s.cfs?
            .members
            .into_iter()
            .filter(|m| m.voter)
            .map(|m| m.name)
            .collect(),
    )
}

/// Raft heartbeats to learners a node spared so far (as leader).
async fn learner_beats_spared(c: &Client) -> u64 {
    c.status()
        .await
        .ok()
        .and_then(|s| s.cfs)
        .map_or(0, |f| f.learner_beats_spared)
}

async fn reported_dead(c: &Client, name: &str) -> bool {
    c.status().await.is_ok_and(|s| {
        s.members
            .iter()
            .find(|m| m.name == name)
            .is_some_and(|m| !m.alive)
    })
}

/// Starts `nodes` daemons of this binary on 127.0.`subnet`.x under `dir` (emptied first):
/// the first creates cluster `name`, the others join one by one. The cluster and each
/// join's time in seconds.
pub(super) async fn start_joined(
    dir: &std::path::Path,
    subnet: u8,
    nodes: usize,
    name: &str,
) -> anyhow::Result<(ProcCluster, Vec<f64>)> {
    let bin = std::env::current_exe()?;
    let _ = std::fs::remove_dir_all(dir);
    let mut c = ProcCluster::new(&bin, dir, subnet, RaftTuning::default());
    c.spawn_node()?;
    c.wait_api(0).await?;
    c.create(name).await?;
    let mut join_s = Vec::new();
    for _ in 1..nodes {
        let i = c.spawn_node()?;
        c.wait_api(i).await?;
        let t = Instant::now();
        c.join(i).await?;
        join_s.push(t.elapsed().as_secs_f64());
        eprintln!(
            "n{} joined in {:.2} s",
            i + 1,
            join_s.last().copied().unwrap_or_default()
        );
    }
    Ok((c, join_s))
}

async fn measure(dir: &std::path::Path, args: &ScaleArgs) -> anyhow::Result<ScaleFigures> {
    let (mut c, join_s) = start_joined(dir, SUBNET, args.nodes, "scale").await?;
    let clients: Vec<Client> = (0..args.nodes)
        .map(|i| c.client(i))
        .collect::<Result<_, _>>()?;
    let converge = wait_for("every node to see every node alive", || {
        all_see_all(&clients, args.nodes)
    })
    .await?;
    eprintln!("all {} nodes see each other alive", args.nodes);

    let window = Duration::from_secs(args.idle_secs);
    let (ticks0, beats0) = (idle::cpu_ticks(&c, args.nodes), heartbeats(&clients).await);
    let spared0 = learner_beats_spared(&clients[0]).await;
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let (ticks1, beats1) = (idle::cpu_ticks(&c, args.nodes), heartbeats(&clients).await);
    let spared1 = learner_beats_spared(&clients[0]).await;
    let secs = t0.elapsed().as_secs_f64();
    let per_daemon = idle::per_daemon_ms_s(&ticks0, &ticks1, secs);
    let idle_cpu_cores = per_daemon.iter().sum::<f64>() / 1000.0;
    let learner_beats_spared_s = spared1.saturating_sub(spared0) as f64 / secs;
    let beats: u64 = beats1
        .iter()
        .zip(&beats0)
        .map(|(b, a)| b.saturating_sub(*a))
        .sum();
    let heartbeats_received_per_node_s = beats as f64 / args.nodes as f64 / secs;
    let memory = idle::memory(&c, args.nodes);

    let mut write_ms = Vec::new();
    for k in 0..args.writes {
        let t = Instant::now();
        clients[0]
            .fs_put(&format!("{WRITE_PATH}/k{k}"), "x")
            .await?;
        write_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    let first = &clients[0];
    let voter_names = voters(first).await.unwrap_or_default();
    let leader = first
        .status()
        .await
        .ok()
        .and_then(|s| s.cfs.and_then(|f| f.leader_name));
    let names: Vec<String> = c.nodes.iter().map(|n| n.name.clone()).collect();
    let name_of = |i: usize| names[i].clone();
    let index_of = |name: &str| names.iter().position(|n| n == name);
    let idle_cpu_by_role = idle::by_role(
        &per_daemon,
        leader.as_deref().and_then(index_of),
        &voter_names
            .iter()
            .filter_map(|v| index_of(v))
            .collect::<Vec<_>>(),
    );
    let learner = (1..args.nodes).find(|i| !voter_names.contains(&name_of(*i)));
    let mut learner_detection_s = None;
    if let Some(l) = learner {
        let name = name_of(l);
        c.kill(l);
        let d = wait_for("the learner reported dead", || reported_dead(first, &name)).await?;
        learner_detection_s = Some(d.as_secs_f64());
        eprintln!(
            "learner {name} reported dead after {:.2} s",
            d.as_secs_f64()
        );
    }
    let victims: Vec<usize> = (1..args.nodes)
        .filter(|i| voter_names.contains(&name_of(*i)) && leader.as_deref() != Some(&name_of(*i)))
        .collect();
    let (mut voter_detection_s, mut voter_replaced_s, mut quorate_after) = (None, None, None);
    if let Some(&v) = victims.first() {
        let name = name_of(v);
        c.kill(v);
        let killed = Instant::now();
        wait_for("the voter reported dead", || reported_dead(first, &name)).await?;
        voter_detection_s = Some(killed.elapsed().as_secs_f64());
        eprintln!(
            "voter {name} reported dead after {:.2} s",
            killed.elapsed().as_secs_f64()
        );
        // A learner still alive can take the vote.
        if args.nodes > voter_names.len() + usize::from(learner.is_some()) {
            let want = voter_names.len();
            let gone = name.clone();
            wait_for("a learner to take the lost vote", || async {
                voters(first)
                    .await
                    .is_some_and(|v| v.len() == want && !v.contains(&gone))
            })
            .await?;
            voter_replaced_s = Some(killed.elapsed().as_secs_f64());
        }
        // Then two more voters at once: the rest must still take writes.
        let now_voters = voters(first).await.unwrap_or_default();
        let two: Vec<usize> = (1..args.nodes)
            .filter(|i| {
                *i != v
                    && Some(*i) != learner
                    && now_voters.contains(&name_of(*i))
                    && leader.as_deref() != Some(&name_of(*i))
            })
            .take(2)
            .collect();
        if two.len() == 2 {
            for &w in &two {
                c.kill(w);
            }
            let path = format!("{WRITE_PATH}/after-two-voters");
            let write = first.fs_put(&path, "x");
            quorate_after = Some(
                tokio::time::timeout(OBSERVE_TIMEOUT, write)
                    .await
                    .is_ok_and(|r| r.is_ok()),
            );
        }
    }
    Ok(ScaleFigures {
        nodes: args.nodes,
        join_s,
        converge_s: converge.as_secs_f64(),
        idle_cpu_cores,
        idle_cpu_by_role,
        memory,
        learner_beats_spared_s,
        heartbeats_received_per_node_s,
        voters: voter_names.len(),
        write_ms,
        learner_detection_s,
        voter_detection_s,
        voter_replaced_s,
        quorate_after_two_voters_lost: quorate_after,
    })
}

fn seconds(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |s| format!("{s:.2} s"))
}

pub async fn run(args: ScaleArgs) -> anyhow::Result<()> {
    if !(2..=MAX_NODES).contains(&args.nodes) {
        anyhow::bail!("--nodes must be between 2 and {MAX_NODES}");
    }
    let f = super::in_bench_dir(args.dir.as_deref(), "scale", |dir| {
        let args = &args;
        async move { measure(&dir, args).await }
    })
    .await?;
    if args.json {
        return print_json(&f);
    }
    outln!(
        "{} node daemons on one machine (loopback), no guests",
        f.nodes
    );
    let mut t = table(&["what", "figure"]);
    let rows = [
        (
            "join (cluster join), p50 / p99",
            format!(
                "{:.2} s / {:.2} s",
                percentile(&f.join_s, 0.5),
                percentile(&f.join_s, 0.99)
            ),
        ),
        (
            "last join -> every node sees every node alive",
            format!("{:.2} s", f.converge_s),
        ),
        (
            "idle CPU, all daemons together",
            format!("{:.2} cores", f.idle_cpu_cores),
        ),
        (
            "idle CPU of one daemon: leader / voter p50 / learner p50 / learner max",
            format!(
                "{:.1} / {:.1} / {:.1} / {:.1} ms/s",
                f.idle_cpu_by_role.leader,
                f.idle_cpu_by_role.voter,
                f.idle_cpu_by_role.learner,
                f.idle_cpu_by_role.learner_max
            ),
        ),
        (
            "RSS per daemon, p50 / max",
            format!(
                "{:.1} MiB / {:.1} MiB",
                percentile(&f.memory.rss, 0.5),
                percentile(&f.memory.rss, 1.0)
            ),
        ),
        (
            "  own (anonymous) pages, p50 / max",
            format!(
                "{:.1} MiB / {:.1} MiB",
                percentile(&f.memory.anon, 0.5),
                percentile(&f.memory.anon, 1.0)
            ),
        ),
        (
            "  mapped files (the binary, shared), p50 / max",
            format!(
                "{:.1} MiB / {:.1} MiB",
                percentile(&f.memory.file, 0.5),
                percentile(&f.memory.file, 1.0)
            ),
        ),
        (
            "Raft heartbeats to learners spared per second",
            format!("{:.1}", f.learner_beats_spared_s),
        ),
        (
            "heartbeats received per node per second",
            format!("{:.1}", f.heartbeats_received_per_node_s),
        ),
        ("voters", f.voters.to_string()),
        (
            "cfs write latency, p50 / p99",
            format!(
                "{:.1} ms / {:.1} ms",
                percentile(&f.write_ms, 0.5),
                percentile(&f.write_ms, 0.99)
            ),
        ),
        (
            "SIGKILL of a learner -> reported dead",
            seconds(f.learner_detection_s),
        ),
        (
            "SIGKILL of a voter -> reported dead",
            seconds(f.voter_detection_s),
        ),
        (
            "SIGKILL of a voter -> a learner holds its vote",
            seconds(f.voter_replaced_s),
        ),
        (
            "writes after losing two more voters",
            match f.quorate_after_two_voters_lost {
                Some(true) => "accepted".into(),
                Some(false) => "refused".into(),
                None => "-".into(),
            },
        ),
    ];
    for (what, figure) in rows {
        t.add_row(vec![what.to_string(), figure]);
    }
    outln!("{t}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&v, 1.0), 5.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
