//! Real brigade node processes on 127.0.S.x addresses: start, create, join, kill, restart, partition.

pub mod firewall;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use brigade_client::{Client, ClientOptions};
use brigade_core::{poll_until, poll_until_blocking};
use brigade_guest::process::{self, Signal};
use brigade_node::config::{NodeConfig, RaftTuning};
use brigade_node::state_dir::{API_CERT, LOCAL_TOKEN};

/// How long a node may take to answer its API after start.
pub const NODE_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a cluster may take to elect a leader and be quorate.
pub const QUORUM_TIMEOUT: Duration = Duration::from_secs(30);
/// Kills what an earlier run left in `dir` (guests, watchdog) and empties it.
fn clear_run_dir(dir: &Path) {
    if let Ok(run) = brigade_guest::RunDir::open(dir) {
        let pids = brigade_guest::running_guests(&run)
            .into_iter()
            .map(|g| g.pid)
            .chain(
                brigade_guest::process::read_pidfile(&run.watchdog_pid()).filter(|p| {
                    brigade_guest::process::cmdline(*p)
                        .iter()
                        .any(|a| a == "watchdog")
                }),
            );
        for pid in pids {
            let _ = brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Run directories of local-cluster nodes (`/run/brigade/<address>`, unique per address).
pub const TEST_RUN_ROOT: &str = "/run/brigade";

/// Poll interval while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long a node may take to exit after SIGTERM (a clean stop).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a SIGKILLed node (started by an earlier process) may take to be gone.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// One node process.
pub struct NodeProc {
    pub name: String,
    pub addr: IpAddr,
    pub config_path: PathBuf,
    pub config: NodeConfig,
    child: Option<Child>,
    /// The pid of a node started by an earlier process (lab mode).
    pub detached_pid: Option<u32>,
}

impl NodeProc {
    pub fn state_dir(&self) -> PathBuf {
        self.config.state_dir()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id()).or(self.detached_pid)
    }

    pub fn is_running(&mut self) -> bool {
        match (&mut self.child, self.detached_pid) {
            (Some(c), _) => matches!(c.try_wait(), Ok(None)),
            (None, Some(pid)) => pid_alive(pid),
            (None, None) => false,
        }
    }

    /// Signals the node's process group (the daemon and any wrapper such as faketime).
    fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid() {
            let _ = process::send_group(pid as i32, sig);
        }
    }
}

/// A set of node processes forming (or about to form) one cluster.
pub struct ProcCluster {
    pub bin: PathBuf,
    pub dir: PathBuf,
    /// The third octet of 127.0.S.x used by this cluster.
    pub subnet: u8,
    pub nodes: Vec<NodeProc>,
    pub tuning: RaftTuning,
    /// The cluster CA (PEM) once created.
    pub ca_pem: Option<String>,
    /// The root API token once created.
    pub root_token: Option<String>,
    /// Detached processes (own process group) outlive this value (lab mode).
    pub detached: bool,
    /// When set, node i also gets link1 address 127.0.<this>.i.
    pub link1_subnet: Option<u8>,
    /// A command prefix per node index (e.g. faketime), used by `start`.
    pub wrappers: std::collections::HashMap<usize, Vec<String>>,
}

impl ProcCluster {
    /// Prepares `n` node configurations under `dir` on 127.0.`subnet`.1..n (nothing started yet).
    pub fn new(bin: &Path, dir: &Path, subnet: u8, tuning: RaftTuning) -> Self {
        ProcCluster {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            subnet,
            nodes: Vec::new(),
            tuning,
            ca_pem: None,
            root_token: None,
            detached: false,
            link1_subnet: None,
            wrappers: std::collections::HashMap::new(),
        }
    }

    /// Re-attaches to nodes started earlier (lab mode): configs and pids.
    pub fn attach(
        bin: &Path,
        dir: &Path,
        subnet: u8,
        nodes: Vec<(NodeConfig, PathBuf, Option<u32>)>,
    ) -> Self {
        let mut c = ProcCluster::new(bin, dir, subnet, RaftTuning::default());
        c.detached = true;
        for (config, config_path, pid) in nodes {
            c.nodes.push(NodeProc {
                name: config.name.to_string(),
                addr: config.address,
                config_path,
                config,
                child: None,
                detached_pid: pid,
            });
        }
        c
    }

    /// Adds and starts a node process n<i> on 127.0.S.<i>.
    pub fn spawn_node(&mut self) -> anyhow::Result<usize> {
        let i = self.nodes.len() + 1;
        let name = format!("n{i}");
        let mut config = NodeConfig::new(
            name.parse()?,
            format!("127.0.{}.{}", self.subnet, i).parse()?,
        );
        if let Some(s) = self.link1_subnet {
            config.link1 = Some(format!("127.0.{s}.{i}").parse()?);
        }
        self.add_process(config)
    }

    /// Adds and starts a qdevice process ("qdevice" on the next address); returns its index.
    pub fn spawn_qdevice(&mut self) -> anyhow::Result<usize> {
        let i = self.nodes.len() + 1;
        let mut config = NodeConfig::new(
            "qdevice".parse()?,
            format!("127.0.{}.{}", self.subnet, i).parse()?,
        );
        config.qdevice = true;
        self.add_process(config)
    }

    /// Writes DIR/NAME.toml (state in DIR/NAME) and starts the process.
    fn add_process(&mut self, mut config: NodeConfig) -> anyhow::Result<usize> {
        let name = config.name.to_string();
        config.state_dir = Some(self.dir.join(&name));
        config.raft = self.tuning.clone();
        // Short and unique per address: Unix socket paths are limited. A new node
        // starts with an empty one: no guest or serial log of an earlier run.
        let run_dir = PathBuf::from(format!("{TEST_RUN_ROOT}/{}", config.address));
        clear_run_dir(&run_dir);
        config.run_dir = Some(run_dir);
        if let Ok(dir) = std::env::var("BRIGADE_APPLIANCE") {
            config.appliance_dir = Some(PathBuf::from(dir));
        }
        let config_path = self.dir.join(format!("{name}.toml"));
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(&config_path, config.to_toml())?;
        self.nodes.push(NodeProc {
            name,
            addr: config.address,
            config_path,
            config,
            child: None,
            detached_pid: None,
        });
        let i = self.nodes.len() - 1;
        self.start(i)?;
        Ok(i)
    }

    /// `cluster qdevice setup` through node 0: the qdevice at index `q` joins as a voter.
    pub async fn setup_qdevice(&mut self, q: usize) -> anyhow::Result<()> {
        self.wait_api(q).await?;
        let token = self.client(0)?.join_token().await?.token;
        let member = self.nodes[0].config.api_addr().to_string();
        Client::qdevice_adopt(&self.nodes[q].config.api_url(), None, &member, &token).await?;
        Ok(())
    }

    /// Resident memory of node `i`'s daemon in KiB (from /proc), if running.
    pub fn rss_kib(&self, i: usize) -> Option<u64> {
        let pid = self.nodes[i].pid()?;
        // The daemon may run under a wrapper: take the largest RSS in its process group.
        let mut best = None;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().collect())
                .unwrap_or_default();
            if fields.get(2).and_then(|g| g.parse::<u32>().ok()) != Some(pid) {
                continue;
            }
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            let rss = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok());
            best = best.max(rss);
        }
        best
    }

    /// Starts (or restarts) node `i`'s process; its log goes to DIR/nI.log.
    pub fn start(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", node.name)))?;
        let mut cmd = match self.wrappers.get(&i) {
            Some(w) if !w.is_empty() => {
                let mut c = Command::new(&w[0]);
                c.args(&w[1..]).arg(&self.bin);
                c
            }
            _ => Command::new(&self.bin),
        };
        // Its own process group: signals reach wrappers (faketime) and the node
        // alike, and Ctrl-C or closing the terminal does not reach a lab node.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .args(["node", "run", "--config"])
            .arg(&node.config_path)
            .env(
                "BRIGADE_LOG",
                std::env::var("BRIGADE_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        node.detached_pid = Some(child.id());
        node.child = Some(child);
        Ok(())
    }

    /// Rewrites node `i`'s node.toml from `nodes[i].config` (takes effect on restart).
    pub fn save_config(&self, i: usize) -> anyhow::Result<()> {
        let n = &self.nodes[i];
        std::fs::write(&n.config_path, n.config.to_toml())?;
        Ok(())
    }

    /// SIGKILL: a power cut of the daemon.
    pub fn kill(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.signal(Signal::SIGKILL);
        if let Some(mut c) = node.child.take() {
            let _ = c.wait();
        } else if let Some(pid) = node.detached_pid {
            wait_gone(pid, KILL_TIMEOUT);
        }
        node.detached_pid = None;
    }

    /// SIGTERM and wait: a clean stop.
    pub fn stop(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        node.signal(Signal::SIGTERM);
        if node.child.is_none() {
            if let Some(pid) = node.detached_pid.take() {
                if !wait_gone(pid, STOP_TIMEOUT) {
                    node.detached_pid = Some(pid);
                    node.signal(Signal::SIGKILL);
                    node.detached_pid = None;
                    bail!(
                        "{} did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed",
                        node.name
                    );
                }
            }
        }
        node.detached_pid = None;
        if let Some(mut c) = node.child.take() {
            let deadline = Instant::now() + STOP_TIMEOUT;
            let exited = poll_until_blocking(deadline, POLL_INTERVAL, || {
                c.try_wait().map(|s| s.is_some()).unwrap_or(true)
            });
            if exited.is_err() {
                let _ = c.kill();
                let _ = c.wait();
                bail!(
                    "{} did not stop within {STOP_TIMEOUT:?} of SIGTERM",
                    node.name
                );
            }
            c.wait()?;
        }
        Ok(())
    }

    /// SIGSTOP / SIGCONT.
    pub fn pause(&self, i: usize) {
        self.nodes[i].signal(Signal::SIGSTOP);
    }
    pub fn resume(&self, i: usize) {
        self.nodes[i].signal(Signal::SIGCONT);
    }

    /// A client of node `i`: the cluster root token and CA once created,
    /// the node's local token and self-signed certificate before.
    pub fn client(&self, i: usize) -> anyhow::Result<Client> {
        let node = &self.nodes[i];
        let state = node.state_dir();
        let (ca_pem, token) = match (&self.ca_pem, &self.root_token) {
            (Some(ca), Some(t)) => (ca.clone(), t.clone()),
            _ => (
                std::fs::read_to_string(state.join(API_CERT))?,
                std::fs::read_to_string(state.join(LOCAL_TOKEN))?
                    .trim()
                    .to_string(),
            ),
        };
        Ok(Client::new(ClientOptions {
            url: node.config.api_url(),
            ca_pem,
            token: Some(token),
            local_addr: None,
            timeout: None,
        })?)
    }

    /// A client of node `i` authenticated with its node-local token (works before and after join).
    pub fn local_client(&self, i: usize) -> anyhow::Result<Client> {
        let node = &self.nodes[i];
        let state = node.state_dir();
        let ca_path = state.join(brigade_node::state_dir::CA_CERT);
        let ca_pem = std::fs::read_to_string(&ca_path)
            .or_else(|_| std::fs::read_to_string(state.join(API_CERT)))?;
        Ok(Client::new(ClientOptions {
            url: node.config.api_url(),
            ca_pem,
            token: Some(
                std::fs::read_to_string(state.join(LOCAL_TOKEN))?
                    .trim()
                    .to_string(),
            ),
            local_addr: None,
            timeout: None,
        })?)
    }

    /// Waits until node `i` answers its API.
    pub async fn wait_api(&self, i: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + NODE_START_TIMEOUT;
        let answered = poll_until(deadline, POLL_INTERVAL, || async {
            match self.local_client(i) {
                Ok(c) => c.version().await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
        if answered.is_err() {
            bail!(
                "{} did not answer its API within {:?} (see {}/{}.log)",
                self.nodes[i].name,
                NODE_START_TIMEOUT,
                self.dir.display(),
                self.nodes[i].name
            );
        }
        Ok(())
    }

    /// Starts `n` nodes, creates cluster `name` on the first and joins the others.
    pub async fn form(
        bin: &Path,
        dir: &Path,
        subnet: u8,
        n: usize,
        tuning: RaftTuning,
    ) -> anyhow::Result<ProcCluster> {
        Self::form_opts(bin, dir, subnet, n, tuning, false).await
    }

    /// Like [`ProcCluster::form`]; `detached` nodes outlive the returned value (lab mode).
    pub async fn form_opts(
        bin: &Path,
        dir: &Path,
        subnet: u8,
        n: usize,
        tuning: RaftTuning,
        detached: bool,
    ) -> anyhow::Result<ProcCluster> {
        let mut c = ProcCluster::new(bin, dir, subnet, tuning);
        c.detached = detached;
        for _ in 0..n {
            c.spawn_node()?;
        }
        for i in 0..n {
            c.wait_api(i).await?;
        }
        c.create("test").await?;
        for i in 1..n {
            c.join(i).await?;
        }
        Ok(c)
    }

    /// `cluster create` on node 0.
    pub async fn create(&mut self, name: &str) -> anyhow::Result<()> {
        let r = self.local_client(0)?.cluster_create(name).await?;
        self.root_token = Some(r.root_token);
        self.ca_pem = Some(std::fs::read_to_string(
            self.nodes[0]
                .state_dir()
                .join(brigade_node::state_dir::CA_CERT),
        )?);
        Ok(())
    }

    /// Makes a join token on node 0 (or the first running member) and joins node `i`.
    pub async fn join(&mut self, i: usize) -> anyhow::Result<()> {
        let token = self.client(0)?.join_token().await?.token;
        let member = self.nodes[0].config.api_addr().to_string();
        self.local_client(i)?.cluster_join(&member, &token).await?;
        Ok(())
    }

    /// Spawns one more node and joins it.
    pub async fn add_node(&mut self) -> anyhow::Result<usize> {
        let i = self.spawn_node()?;
        self.wait_api(i).await?;
        self.join(i).await?;
        Ok(i)
    }

    /// Waits until every listed node reports itself quorate with the same leader.
    pub async fn wait_quorate(&self, nodes: &[usize]) -> anyhow::Result<u64> {
        let deadline = Instant::now() + QUORUM_TIMEOUT;
        let leader = poll_until(deadline, POLL_INTERVAL, || async {
            let mut leaders = Vec::new();
            for &i in nodes {
                let c = match self.client(i) {
                    Ok(c) => c,
                    Err(e) => return Some(Err(e)),
                };
                match c.status().await {
                    Ok(s) if s.quorate => leaders.push(s.cfs.and_then(|c| c.leader)),
                    _ => return None,
                }
            }
            let agreed = leaders.windows(2).all(|w| w[0] == w[1]);
            leaders
                .first()
                .copied()
                .flatten()
                .filter(|_| agreed)
                .map(Ok)
        })
        .await;
        leader.map_err(|_| {
            anyhow::anyhow!(
                "nodes {nodes:?} did not agree on a quorate leader within {QUORUM_TIMEOUT:?}"
            )
        })?
    }

    /// Edits cluster.conf through the API (compare-and-swap on its version).
    pub async fn edit_cluster_conf(
        &self,
        via: usize,
        edit: impl Fn(&mut brigade_core::cluster_conf::ClusterConf),
    ) -> anyhow::Result<()> {
        let client = self.client(via)?;
        let f = client
            .fs_read(brigade_core::layout::CLUSTER_CONF, true)
            .await?;
        let mut conf =
            brigade_core::cluster_conf::ClusterConf::parse(&f.content.unwrap_or_default())?;
        edit(&mut conf);
        conf.config_version += 1;
        client
            .fs_write(&brigade_client::WriteRequest {
                path: brigade_core::layout::CLUSTER_CONF.into(),
                content: Some(conf.to_text()),
                data: None,
                expect_version: Some(f.version),
                create_exclusive: false,
            })
            .await?;
        Ok(())
    }

    /// The index of the node with this Raft id (ids are assigned in join order).
    pub fn index_of_id(&self, id: u64) -> usize {
        (id as usize).saturating_sub(1)
    }
}

/// Whether a process exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    process::is_alive(pid as i32)
}

/// Waits until `pid` is gone; false on timeout.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    poll_until_blocking(Instant::now() + timeout, POLL_INTERVAL, || !pid_alive(pid)).is_ok()
}

impl Drop for ProcCluster {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        for n in &mut self.nodes {
            n.signal(Signal::SIGCONT);
            n.signal(Signal::SIGKILL);
            if let Some(mut c) = n.child.take() {
                let _ = c.wait();
            }
        }
        for i in 0..self.nodes.len() {
            self.kill_guests(i);
        }
        detach_mounts_under(&self.dir);
    }
}

/// Lazily unmounts every mount below `dir` (FUSE mounts of killed daemons).
pub fn detach_mounts_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for mp in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
        if mp.starts_with(&prefix) {
            let _ = Command::new("umount").arg("-l").arg(mp).status();
        }
    }
}

impl ProcCluster {
    /// The run directory of node `i` (its guests' pidfiles and sockets).
    pub fn run_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].config.run_dir()
    }

    /// The pids of the guests (QEMU and containers) node `i` runs.
    pub fn guest_pids(&self, i: usize) -> Vec<(u32, i32)> {
        let Ok(run) = brigade_guest::RunDir::open(&self.run_dir(i)) else {
            return Vec::new();
        };
        brigade_guest::running_guests(&run)
            .into_iter()
            .map(|g| (g.vmid, g.pid))
            .collect()
    }

    /// A power cut: SIGKILL of node `i`'s daemon, watchdog helper and guests.
    pub fn power_cut(&mut self, i: usize) {
        self.kill(i);
        self.kill_guests(i);
    }

    /// SIGKILLs node `i`'s guests and its watchdog helper.
    pub fn kill_guests(&self, i: usize) {
        if let Ok(run) = brigade_guest::RunDir::open(&self.run_dir(i)) {
            if let Some(pid) = brigade_guest::process::read_pidfile(&run.watchdog_pid()) {
                if brigade_guest::process::cmdline(pid)
                    .iter()
                    .any(|a| a == "watchdog")
                {
                    let _ =
                        brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL);
                }
            }
        }
        for (_, pid) in self.guest_pids(i) {
            let _ =
                brigade_guest::process::send_group(pid, brigade_guest::process::Signal::SIGKILL);
            let _ = brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL);
        }
    }
}
