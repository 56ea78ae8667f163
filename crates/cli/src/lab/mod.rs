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
        #[arg(long, default_value = DEFAULT_LAB_DIR)]
        dir: PathBuf,
    },
    /// Power-cut a node: SIGKILL its daemon and its guests.
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
        LabCmd::Status { watch: false, dir } => status(g, &dir).await,
        LabCmd::Status { watch: true, dir } => loop {
            // Clear the screen, then draw the view again.
            print!("\x1b[2J\x1b[H");
            println!(
                "brigade lab status (every {} s; Ctrl-C to stop)",
                LAB_WATCH_INTERVAL.as_secs()
            );
            if let Err(e) = status(g, &dir).await {
                println!("{e:#}");
            }
            tokio::time::sleep(LAB_WATCH_INTERVAL).await;
        },
        LabCmd::Kill { node, dir } => {
            let mut state = load(&dir)?;
            let i = node_index(&state, &node)?;
            let mut c = attach(&dir, &state)?;
            c.kill(i);
            let guests = c.guest_pids(i).len();
            c.kill_guests(i);
            record_pids(&mut state, &c);
            save(&dir, &state)?;
            println!("{node} power-cut: daemon and {guests} guest(s) SIGKILLed. Watch with `brigade lab status`.");
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
                c.kill_guests(i);
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

async fn up(
    g: &GlobalArgs,
    nodes: usize,
    with_qdevice: bool,
    guests: usize,
    dir: &Path,
) -> anyhow::Result<()> {
    if nodes == 0 || nodes > MAX_LAB_NODES {
        bail!("--nodes must be between 1 and {MAX_LAB_NODES}");
    }
    if guests > MAX_LAB_GUESTS {
        bail!("--guests must be at most {MAX_LAB_GUESTS}");
    }
    let appliance = crate::cmd::guest::appliance_dir();
    if guests > 0 && !Path::new(&appliance).join("vmlinuz").exists() {
        bail!("the test appliance is missing in {appliance}: run scripts/build-appliance (scripts/lab-up does), or use --guests 0");
    }
    let need = nodes as u64 * NODE_MEMORY_MIB + (guests as u64 + 1) * DEMO_GUEST_MEMORY_MIB;
    let available = brigade_guest::memory::available_mib()?;
    if need > available {
        bail!("not enough memory for this lab: {nodes} node(s) and {guests} guest(s) need about {need} MiB, {available} MiB are available; try fewer --nodes or --guests");
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
        kill_strays(dir);
        // A stopped or crashed lab: start afresh, removing only what the lab made.
        if let Ok(old) = attach(dir, &state) {
            for i in 0..old.nodes.len() {
                old.kill_guests(i);
            }
        }
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
    let formed = ProcCluster::form_opts(
        &std::env::current_exe()?,
        dir,
        LAB_SUBNET,
        nodes,
        RaftTuning::default(),
        true,
    )
    .await;
    let mut c = match formed {
        Ok(c) => c,
        Err(e) => {
            // Leave nothing running behind a failed start.
            kill_strays(dir);
            return Err(e.context("the lab did not start (its processes were stopped)"));
        }
    };
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
    // The nodes are recorded: whatever happens next, `lab down` stops them.
    if guests > 0 {
        if let Err(e) = demo_guests(&c, dir, guests, &appliance).await {
            eprintln!("warning: the lab is up, but its demo guests failed: {e:#}");
        }
    }
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
    if guests > 0 {
        println!("  brigade vm list; brigade ha status          # where each guest runs; VM 100 is HA-managed");
        println!("  brigade lab kill n1                        # VM 100 restarts on a survivor (tick 1 again) in ~13 s");
        println!("  brigade vm console 101 --follow            # its serial ticks");
        println!("  brigade vm migrate 101 n3 --online         # live: the ticks keep counting");
    }
    println!("  brigade lab status                         # nodes, quorum, leader, guests");
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

/// A shared storage in the lab directory, `guests` appliance VMs spread over the nodes,
/// and one container.
async fn demo_guests(
    c: &ProcCluster,
    dir: &Path,
    guests: usize,
    appliance: &str,
) -> anyhow::Result<()> {
    use brigade_core::layout::GuestKind;
    let client = c.client(0)?;
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared)?;
    client
        .storage_add(&brigade_node::guest_messages::StorageAddRequest {
            storage: "shared".into(),
            kind: "dir".into(),
            path: shared.display().to_string(),
            content: None,
            shared: true,
            nodes: None,
        })
        .await
        .context("adding the shared storage")?;
    let node_names: Vec<String> = c
        .nodes
        .iter()
        .filter(|n| !n.config.qdevice)
        .map(|n| n.name.clone())
        .collect();
    for k in 0..guests {
        let vmid = FIRST_DEMO_VMID + k as u32;
        let node = &node_names[k % node_names.len()];
        let mut config = brigade_guest::vm_config::appliance_params(
            appliance,
            DEMO_GUEST_MEMORY_MIB,
            Some("shared:1"),
        );
        config.insert("name".into(), format!("demo{}", k + 1));
        eprintln!("creating VM {vmid} on {node} ...");
        client
            .guest_create(node, GuestKind::Qemu, vmid, &config, None, k != 0)
            .await
            .with_context(|| format!("creating demo VM {vmid}"))?;
        if k == 0 {
            // The first one is HA-managed: HA starts it, and restarts it elsewhere if its node dies.
            client
                .ha_add(&brigade_node::ha::ops::ResourceRequest {
                    sid: Some(format!("vm:{vmid}")),
                    ..Default::default()
                })
                .await
                .with_context(|| format!("making VM {vmid} HA-managed"))?;
        }
    }
    let ctid = FIRST_DEMO_VMID + guests as u32;
    let node = &node_names[guests % node_names.len()];
    let config: std::collections::BTreeMap<String, String> = [
        ("hostname", "democt".to_string()),
        ("memory", "64".to_string()),
        ("rootfs", "local:1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    eprintln!("creating container {ctid} on {node} ...");
    client
        .guest_create(
            node,
            GuestKind::Lxc,
            ctid,
            &config,
            Some(&format!("{appliance}/rootfs")),
            true,
        )
        .await
        .with_context(|| format!("creating demo container {ctid}"))?;
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
    // The guests, as a live and quorate node sees them (else any live one, said so).
    let candidates: Vec<usize> = (0..c.nodes.len())
        .filter(|i| c.nodes[*i].is_running() && !c.nodes[*i].config.qdevice)
        .collect();
    let quorate = |i: &usize| rows[*i]["quorate"].as_bool() == Some(true);
    let live = candidates
        .iter()
        .copied()
        .find(quorate)
        .or_else(|| candidates.first().copied());
    if let Some(i) = live {
        let client = c.client(i)?;
        if quorate(&i) {
            println!("Guests, as seen by {} (quorate):", c.nodes[i].name);
        } else {
            println!(
                "Guests, as seen by {}, which is NOT quorate: this view may be out of date",
                c.nodes[i].name
            );
        }
        let ha = client.ha_status().await.ok();
        if let Ok(rows) = client.resources().await {
            let mut t = table(&["VMID", "Type", "Name", "Node", "Status", "HA", "Lock"]);
            for r in rows {
                let sid = format!(
                    "{}:{}",
                    if r.kind == brigade_core::layout::GuestKind::Qemu {
                        "vm"
                    } else {
                        "ct"
                    },
                    r.vmid
                );
                let ha_state = ha
                    .as_ref()
                    .and_then(|h| h.services.iter().find(|s| s.sid == sid))
                    .map(|s| s.state.clone())
                    .unwrap_or_else(|| "-".into());
                t.add_row(vec![
                    r.vmid.to_string(),
                    r.kind.to_string(),
                    r.name.unwrap_or_default(),
                    r.node,
                    r.status,
                    ha_state,
                    r.lock.unwrap_or_default(),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
