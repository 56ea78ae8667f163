//! `brigade lab ...`: a whole cluster on this machine, on 127.0.1.1..N, to learn by pulling plugs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use brigade_harness::{firewall, pid_alive, ProcCluster};
use brigade_node::config::RaftTuning;
use brigade_node::NodeConfig;

use crate::connect::GlobalArgs;
use crate::output::{print_json, table};

/// The lab's addresses: 127.0.LAB_SUBNET.1..N.
pub const LAB_SUBNET: u8 = 1;
/// Default lab directory.
pub const DEFAULT_LAB_DIR: &str = "/var/lib/brigade-lab";
/// The firewall tag of lab partitions.
const LAB_FIREWALL_TAG: &str = "lab";
/// Most nodes a lab may have (addresses 127.0.1.1..254).
const MAX_LAB_NODES: usize = 64;

#[derive(Subcommand, Debug)]
pub enum LabCmd {
    /// Start N node daemons on 127.0.1.1..N and form a cluster.
    Up {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Add a qdevice: `--qdevice`, `--qdevice false` (default: on for an even number of nodes).
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        qdevice: Option<bool>,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Show the lab's nodes, their processes and the cluster's view.
    Status {
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Power-cut a node: SIGKILL its daemon.
    Kill {
        node: String,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Start a killed or stopped node again.
    Start {
        node: String,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Cut a node off from all others, or split groups apart: `lab partition n1,n2 n3,n4`
    /// (iptables rules on the loopback addresses).
    Partition {
        /// A node, or a comma-separated group.
        node: String,
        /// Further groups; every group is cut from every other.
        more: Vec<String>,
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Restart a node with its wall clock shifted by SECONDS (libfaketime; monotonic time untouched).
    Skew {
        node: String,
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

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

fn require_root(what: &str) -> anyhow::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        bail!("{what} needs root (iptables rules on loopback addresses): run it with sudo");
    }
    Ok(())
}

pub async fn run(g: &GlobalArgs, cmd: LabCmd) -> anyhow::Result<()> {
    match cmd {
        LabCmd::Up {
            nodes,
            qdevice,
            dir,
        } => up(g, nodes, qdevice.unwrap_or(nodes % 2 == 0), &dir).await,
        LabCmd::Status { dir } => status(g, &dir).await,
        LabCmd::Kill { node, dir } => {
            let mut state = load(&dir)?;
            let i = node_index(&state, &node)?;
            let mut c = attach(&dir, &state)?;
            c.kill(i);
            record_pids(&mut state, &c);
            save(&dir, &state)?;
            println!("{node} power-cut (SIGKILL). Watch with `brigade lab status`.");
            Ok(())
        }
        LabCmd::Start { node, dir } => {
            let mut state = load(&dir)?;
            let i = node_index(&state, &node)?;
            let mut c = attach(&dir, &state)?;
            if c.nodes[i].is_running() {
                bail!("{node} is already running");
            }
            c.start(i)?;
            c.wait_api(i).await?;
            record_pids(&mut state, &c);
            save(&dir, &state)?;
            println!("{node} started.");
            Ok(())
        }
        LabCmd::Partition { node, more, dir } => {
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
            println!(
                "Partitioned: {}. Undo with `brigade lab heal`.",
                names.join(" | ")
            );
            Ok(())
        }
        LabCmd::Skew { node, seconds, dir } => {
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
            println!("{node} restarted with its clock {seconds:+} s off. `brigade cluster status` shows the offset; over 10 s is an alarm.");
            Ok(())
        }
        LabCmd::Heal { dir: _ } => {
            require_root("lab heal")?;
            firewall::heal(LAB_FIREWALL_TAG)?;
            println!("All lab partitions removed.");
            Ok(())
        }
        LabCmd::Down { dir } => {
            let mut state = load(&dir)?;
            let mut c = attach(&dir, &state)?;
            for i in 0..c.nodes.len() {
                if let Err(e) = c.stop(i) {
                    eprintln!("warning: {e}");
                }
            }
            let _ = firewall::heal(LAB_FIREWALL_TAG);
            record_pids(&mut state, &c);
            save(&dir, &state)?;
            println!(
                "Lab stopped ({} nodes). Its files stay in {}.",
                state.nodes.len(),
                dir.display()
            );
            Ok(())
        }
    }
}

async fn up(g: &GlobalArgs, nodes: usize, with_qdevice: bool, dir: &Path) -> anyhow::Result<()> {
    if nodes == 0 || nodes > MAX_LAB_NODES {
        bail!("--nodes must be between 1 and {MAX_LAB_NODES}");
    }
    if let Ok(state) = load(dir) {
        let running: Vec<&str> = state
            .nodes
            .iter()
            .filter(|n| n.pid.is_some_and(pid_alive))
            .map(|n| n.name.as_str())
            .collect();
        if !running.is_empty() {
            bail!("the lab in {} is already up ({} running); `brigade lab status` shows it, `brigade lab down` stops it", dir.display(), running.join(", "));
        }
        // A stopped or crashed lab: start afresh, removing only what the lab made.
        for n in &state.nodes {
            if let Ok(cfg) = NodeConfig::load(&n.config_path) {
                let _ = std::fs::remove_dir_all(cfg.state_dir());
            }
            let _ = std::fs::remove_file(&n.config_path);
        }
    }
    for i in 1..=nodes {
        let addr = format!("127.0.{LAB_SUBNET}.{i}:8006");
        if std::net::TcpStream::connect_timeout(&addr.parse()?, Duration::from_millis(200)).is_ok()
        {
            bail!("port {addr} is in use: another brigade node (or lab) is running; stop it first");
        }
    }
    std::fs::create_dir_all(dir)?;
    eprintln!(
        "starting {nodes} node(s) on 127.0.{LAB_SUBNET}.1-{nodes} in {} ...",
        dir.display()
    );
    let mut c = ProcCluster::form_opts(
        &std::env::current_exe()?,
        dir,
        LAB_SUBNET,
        nodes,
        RaftTuning::default(),
        true,
    )
    .await?;
    if with_qdevice {
        eprintln!("adding a qdevice on 127.0.{LAB_SUBNET}.{} ...", nodes + 1);
        let q = c.spawn_qdevice()?;
        c.setup_qdevice(q).await?;
    }
    let all: Vec<usize> = (0..nodes).collect();
    c.wait_quorate(&all).await?;
    let ca_path = dir.join("brigade-root-ca.pem");
    std::fs::write(&ca_path, c.ca_pem.clone().unwrap_or_default())?;
    let state = LabState {
        nodes: c
            .nodes
            .iter()
            .map(|n| LabNode {
                name: n.name.clone(),
                config_path: n.config_path.clone(),
                pid: n.pid(),
            })
            .collect(),
        root_token: c.root_token.clone().unwrap_or_default(),
        ca_path: ca_path.clone(),
    };
    save(dir, &state)?;
    if g.json() {
        return print_json(&state);
    }
    println!("Lab up: {nodes} node(s), cluster \"test\".");
    println!("  API:        https://127.0.{LAB_SUBNET}.1:8006/api2/json (every node serves it)");
    println!("  Token:      {}", state.root_token);
    println!("  CA:         {}", ca_path.display());
    println!("  Logs:       {}/n*.log", dir.display());
    println!();
    println!("Try:");
    println!(
        "  export BRIGADE_CONFIG={}",
        c.nodes[0].config_path.display()
    );
    println!("  brigade cluster status");
    println!("  brigade fs write nodes/n1/qemu-server/100.conf 'memory: 256'");
    println!(
        "  brigade lab kill n1; brigade lab status     # a power cut: a new leader takes over"
    );
    println!(
        "  brigade lab partition n2; brigade --config {} cluster status",
        c.nodes
            .get(1)
            .map(|n| n.config_path.display().to_string())
            .unwrap_or_default()
    );
    println!("  brigade lab heal; brigade lab down");
    Ok(())
}

async fn status(g: &GlobalArgs, dir: &Path) -> anyhow::Result<()> {
    let state = load(dir)?;
    let mut c = attach(dir, &state)?;
    let mut rows = Vec::new();
    for i in 0..c.nodes.len() {
        let running = c.nodes[i].is_running();
        let s = if running {
            c.client(i)?.status().await.ok()
        } else {
            None
        };
        rows.push(serde_json::json!({
            "node": c.nodes[i].name,
            "address": c.nodes[i].addr.to_string(),
            "pid": c.nodes[i].pid(),
            "running": running,
            "quorate": s.as_ref().map(|s| s.quorate),
            "role": s.as_ref().and_then(|s| s.cfs.as_ref()).map(|c| c.role.clone()),
            "leader": s.as_ref().and_then(|s| s.cfs.as_ref()).and_then(|c| c.leader_name.clone()),
        }));
    }
    if g.json() {
        return print_json(&rows);
    }
    let mut t = table(&[
        "Node",
        "Address",
        "PID",
        "Daemon",
        "Quorate",
        "Role",
        "Leader (its view)",
    ]);
    for r in &rows {
        let s = |k: &str| {
            r[k].as_str()
                .map(String::from)
                .unwrap_or_else(|| "-".into())
        };
        t.add_row(vec![
            s("node"),
            s("address"),
            r["pid"]
                .as_u64()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            if r["running"].as_bool() == Some(true) {
                "running".into()
            } else {
                "dead".into()
            },
            match r["quorate"].as_bool() {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
            s("role"),
            s("leader"),
        ]);
    }
    println!("{t}");
    Ok(())
}
