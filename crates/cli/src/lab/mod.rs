//! `brigade lab ...`: a whole cluster on this machine, on 127.0.1.1..N, to learn by pulling plugs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use brigade_localcluster::{firewall, ProcCluster};
use brigade_node::NodeConfig;

use crate::connect::GlobalArgs;

/// The lab's addresses: 127.0.LAB_SUBNET.1..N.
pub const LAB_SUBNET: u8 = 1;

mod net;
mod status;
mod try_text;
mod up;

use status::status;
use up::up;
/// Default lab directory.
pub const DEFAULT_LAB_DIR: &str = "/var/lib/brigade-lab";
/// The firewall tag of lab partitions.
const LAB_FIREWALL_TAG: &str = "lab";
/// Most nodes a lab may have (addresses 127.0.1.1..254).
const MAX_LAB_NODES: usize = 64;
/// How often `lab status --watch` redraws.
const LAB_WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// Most demo guests.
const MAX_LAB_GUESTS: usize = 32;
/// What one node daemon needs, roughly, MiB.
const NODE_MEMORY_MIB: u64 = 64;
/// Memory of each demo guest, MiB.
const DEMO_GUEST_MEMORY_MIB: u64 = 128;
/// The first demo VMID.
const FIRST_DEMO_VMID: u32 = 100;

#[derive(Subcommand, Debug)]
pub enum LabCmd {
    /// Start N node daemons on 127.0.1.1..N and form a cluster.
    Up {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Add a qdevice: `--qdevice`, `--qdevice false` (default: on for an even number of nodes).
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        qdevice: Option<bool>,
        /// Demo VMs to create and start (the test appliance, on shared storage; the first
        /// one HA-managed), plus one container.
        #[arg(long, default_value_t = 2)]
        guests: usize,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Show the lab's nodes, their processes and the cluster's view.
    Status {
        /// Refresh every second until interrupted (a live view while you pull plugs).
        #[arg(short, long)]
        watch: bool,
        /// List every node and guest (past 32 nodes only those worth a look are, and
        /// past 100 guests the first 100).
        #[arg(long)]
        all: bool,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Power-cut a node: SIGKILL its daemon and its guests.
    Kill {
        #[arg(value_name = "NODE")]
        name: String,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Start a killed or stopped node again.
    Start {
        #[arg(value_name = "NODE")]
        name: String,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Cut a node off from all others, or split groups apart: `lab partition n1,n2 n3,n4`
    /// (iptables rules on the loopback addresses).
    Partition {
        /// A node, or a comma-separated group.
        #[arg(value_name = "NODE")]
        group: String,
        /// Further groups; every group is cut from every other.
        more: Vec<String>,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Restart a node with its wall clock shifted by SECONDS (libfaketime; monotonic time untouched).
    Skew {
        #[arg(value_name = "NODE")]
        name: String,
        /// Seconds to shift (negative: behind); 0 restarts it with the real clock.
        #[arg(allow_hyphen_values = true)]
        seconds: i64,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Remove every lab partition.
    Heal {
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Stop every node the lab started (its files stay for inspection).
    Down {
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
}

/// lab.json: what `lab up` started.
#[derive(Debug, Serialize, Deserialize)]
struct LabState {
    nodes: Vec<LabNode>,
    root_token: String,
    ca_path: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct LabNode {
    name: String,
    config_path: PathBuf,
    pid: Option<u32>,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("lab.json")
}

fn load(dir: &Path) -> anyhow::Result<LabState> {
    let text = std::fs::read_to_string(state_path(dir))
        .with_context(|| format!("no lab in {}: run `brigade lab up` first", dir.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn save(dir: &Path, state: &LabState) -> anyhow::Result<()> {
    std::fs::write(state_path(dir), serde_json::to_vec_pretty(state)?)?;
    Ok(())
}

fn attach(dir: &Path, state: &LabState) -> anyhow::Result<ProcCluster> {
    let mut nodes = Vec::new();
    for n in &state.nodes {
        nodes.push((
            NodeConfig::load(&n.config_path)?,
            n.config_path.clone(),
            n.pid,
        ));
    }
    let mut c = ProcCluster::attach(&std::env::current_exe()?, dir, LAB_SUBNET, nodes);
    c.ca_pem = Some(std::fs::read_to_string(&state.ca_path)?);
    c.root_token = Some(state.root_token.clone());
    Ok(c)
}

fn record_pids(state: &mut LabState, c: &ProcCluster) {
    for (n, p) in state.nodes.iter_mut().zip(&c.nodes) {
        n.pid = p.pid();
    }
}

fn node_index(state: &LabState, name: &str) -> anyhow::Result<usize> {
    state
        .nodes
        .iter()
        .position(|n| n.name == name)
        .with_context(|| {
            format!(
                "no lab node {name:?} (nodes: {})",
                state
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// SIGKILLs node daemons started from this lab directory that lab.json does not know.
fn kill_strays(dir: &Path) {
    let prefix = dir.display().to_string();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in rd
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
    {
        let args = brigade_guest::process::cmdline(pid);
        let ours = args.iter().any(|a| a == "run")
            && args
                .iter()
                .any(|a| a.starts_with(&prefix) && a.ends_with(".toml"));
        if ours && pid as u32 != std::process::id() {
            let _ = brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL);
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

fn require_root(what: &str) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("{what} needs root (guests' namespaces, /run/brigade, iptables rules on loopback addresses): run it with sudo");
    }
    Ok(())
}

pub async fn run(g: &GlobalArgs, cmd: LabCmd) -> anyhow::Result<()> {
    match cmd {
        LabCmd::Up {
            nodes,
            qdevice,
            guests,
            dir,
        } => {
            require_root("lab up")?;
            up(g, nodes, qdevice.unwrap_or(nodes % 2 == 0), guests, &dir).await
        }
        LabCmd::Status {
            watch: false,
            all,
            dir,
        } => status(g, &dir, all).await,
        LabCmd::Status {
            watch: true,
            all,
            dir,
        } => loop {
            // Clear the screen, then draw the view again.
            out!("\x1b[2J\x1b[H");
            outln!(
                "brigade lab status (every {} s; Ctrl-C to stop)",
                LAB_WATCH_INTERVAL.as_secs()
            );
            if let Err(e) = status(g, &dir, all).await {
                outln!("{e:#}");
            }
            tokio::time::sleep(LAB_WATCH_INTERVAL).await;
        },
        LabCmd::Kill { name: node, dir } => {
            let mut state = load(&dir)?;
            let i = node_index(&state, &node)?;
            let mut c = attach(&dir, &state)?;
            c.kill(i);
            let guests = c.guest_pids(i).len();
            c.kill_guests(i);
            // Its guest network goes dark with it (its VXLAN underlay link).
            let cut = c.nodes[i].config.guest_netns.is_some()
                && net::lab_nets(state.nodes.len()).set_link(i, false).is_ok();
            record_pids(&mut state, &c);
            save(&dir, &state)?;
            outln!(
                "{node} power-cut: daemon and {guests} guest(s) SIGKILLed{}. Watch with `brigade lab status`.",
                if cut { ", its guest network link cut" } else { "" }
            );
            Ok(())
        }
        LabCmd::Start { name: node, dir } => {
            let mut state = load(&dir)?;
            let i = node_index(&state, &node)?;
            let mut c = attach(&dir, &state)?;
            if c.nodes[i].is_running() {
                bail!("{node} is already running");
            }
            if c.nodes[i].config.guest_netns.is_some() {
                let _ = net::lab_nets(state.nodes.len()).set_link(i, true);
            }
            c.start(i)?;
            c.wait_api(i).await?;
            record_pids(&mut state, &c);
            save(&dir, &state)?;
            outln!("{node} started.");
            Ok(())
        }
        LabCmd::Partition {
            group: node,
            more,
            dir,
        } => {
            require_root("lab partition")?;
            let state = load(&dir)?;
            let c = attach(&dir, &state)?;
            let mut groups: Vec<Vec<usize>> = Vec::new();
            for g in std::iter::once(&node).chain(&more) {
                groups.push(
                    g.split(',')
                        .map(|n| node_index(&state, n.trim()))
                        .collect::<Result<_, _>>()?,
                );
            }
            if groups.len() == 1 {
                // One group: cut it from everybody else.
                let rest: Vec<usize> = (0..c.nodes.len())
                    .filter(|i| !groups[0].contains(i))
                    .collect();
                groups.push(rest);
            }
            let addrs = |g: &Vec<usize>| g.iter().map(|i| c.nodes[*i].addr).collect::<Vec<_>>();
            for a in 0..groups.len() {
                for b in a + 1..groups.len() {
                    firewall::partition(&addrs(&groups[a]), &addrs(&groups[b]), LAB_FIREWALL_TAG)?;
                }
            }
            let names: Vec<String> = groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|i| c.nodes[*i].name.clone())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            outln!(
                "Partitioned: {}. Undo with `brigade lab heal`.",
                names.join(" | ")
            );
            Ok(())
        }
        LabCmd::Skew {
            name: node,
            seconds,
            dir,
        } => {
            let mut state = load(&dir)?;
            let i = node_index(&state, &node)?;
            let mut c = attach(&dir, &state)?;
            if seconds != 0 && which("faketime").is_none() {
                bail!("lab skew needs libfaketime: apt-get install faketime");
            }
            if c.nodes[i].is_running() {
                c.stop(i)?;
            }
            if seconds != 0 {
                c.wrappers.insert(
                    i,
                    [
                        "env",
                        "FAKETIME_DONT_FAKE_MONOTONIC=1",
                        "faketime",
                        "-f",
                        &format!("{seconds:+}s"),
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                );
            }
            c.start(i)?;
            c.wait_api(i).await?;
            record_pids(&mut state, &c);
            save(&dir, &state)?;
            outln!("{node} restarted with its clock {seconds:+} s off. `brigade cluster status` shows the offset; over 10 s is an alarm.");
            Ok(())
        }
        LabCmd::Heal { dir: _ } => {
            require_root("lab heal")?;
            firewall::heal(LAB_FIREWALL_TAG)?;
            outln!("All lab partitions removed.");
            Ok(())
        }
        LabCmd::Down { dir } => {
            let mut state = load(&dir)?;
            let mut c = attach(&dir, &state)?;
            for i in 0..c.nodes.len() {
                if let Err(e) = c.stop(i) {
                    eprintln!("warning: {e}");
                }
                c.kill_guests(i);
            }
            let _ = firewall::heal(LAB_FIREWALL_TAG);
            net::lab_nets(state.nodes.len()).delete();
            record_pids(&mut state, &c);
            save(&dir, &state)?;
            outln!(
                "Lab stopped ({} nodes). Its files stay in {}.",
                state.nodes.len(),
                dir.display()
            );
            Ok(())
        }
    }
}
