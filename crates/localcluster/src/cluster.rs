//! A set of node processes: adding, starting, stopping, killing and pausing them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use brigade_core::poll_until_blocking;
use brigade_guest::process::Signal;
use brigade_node::config::{NodeConfig, RaftTuning};

use crate::error::LocalClusterError;
use crate::guests::detach_mounts_under;
use crate::node_proc::{clear_run_dir, wait_gone, NodeProc};
use crate::{Result, KILL_TIMEOUT, POLL_INTERVAL, STOP_TIMEOUT, TEST_RUN_ROOT};

/// A daemon's resident memory in KiB: all of it, its own (anonymous) pages, and the
/// pages of mapped files (mostly the binary's code, shared by every daemon of a host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryKib {
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
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
    /// Called with each new node's index (0-based) and node.toml before it is written
    /// (e.g. to give it its own `guest_netns`).
    pub configure: Option<NodeConfigHook>,
}

/// A change made to every new node's configuration: [`ProcCluster::configure`].
pub type NodeConfigHook = Box<dyn Fn(usize, &mut NodeConfig) + Send + Sync>;

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
            configure: None,
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
    pub fn spawn_node(&mut self) -> Result<usize> {
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
    pub fn spawn_qdevice(&mut self) -> Result<usize> {
        let i = self.nodes.len() + 1;
        let mut config = NodeConfig::new(
            "qdevice".parse()?,
            format!("127.0.{}.{}", self.subnet, i).parse()?,
        );
        config.qdevice = true;
        self.add_process(config)
    }

    /// Writes DIR/NAME.toml (state in DIR/NAME) and starts the process.
    fn add_process(&mut self, mut config: NodeConfig) -> Result<usize> {
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
        if let Some(hook) = &self.configure {
            hook(self.nodes.len(), &mut config);
        }
        let config_path = self.dir.join(format!("{name}.toml"));
        std::fs::create_dir_all(&self.dir).map_err(LocalClusterError::io(format!(
            "creating {}",
            self.dir.display()
        )))?;
        std::fs::write(&config_path, config.to_toml()).map_err(LocalClusterError::io(format!(
            "writing {}",
            config_path.display()
        )))?;
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

    /// Resident memory of node `i`'s daemon in KiB (from /proc), if running.
    pub fn rss_kib(&self, i: usize) -> Option<u64> {
        self.memory_kib(i).map(|m| m.rss)
    }

    /// Resident memory of node `i`'s daemon (from /proc/PID/status), if running.
    pub fn memory_kib(&self, i: usize) -> Option<MemoryKib> {
        let pid = self.nodes[i].pid()?;
        // The daemon may run under a wrapper: take the largest RSS in its process group.
        crate::node_proc::process_group(pid)
            .iter()
            .filter_map(|p| {
                let status = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
                let field = |name: &str| {
                    status
                        .lines()
                        .find(|l| l.starts_with(name))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                Some(MemoryKib {
                    rss: field("VmRSS:")?,
                    anon: field("RssAnon:").unwrap_or(0),
                    file: field("RssFile:").unwrap_or(0),
                })
            })
            .max_by_key(|m| m.rss)
    }

    /// CPU time (user + system, in clock ticks) of node `i`'s process group so far.
    pub fn cpu_ticks(&self, i: usize) -> Option<u64> {
        let pid = self.nodes[i].pid()?;
        Some(
            crate::node_proc::process_group(pid)
                .iter()
                .filter_map(|p| {
                    let fields = crate::node_proc::stat_fields(*p)?;
                    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
                    Some(tick(11).unwrap_or(0) + tick(12).unwrap_or(0))
                })
                .sum(),
        )
    }

    /// Starts (or restarts) node `i`'s process; its log goes to DIR/nI.log.
    pub fn start(&mut self, i: usize) -> Result<()> {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", node.name)))
            .map_err(LocalClusterError::io(format!(
                "opening the log of {}",
                node.name
            )))?;
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
            .stdout(
                log.try_clone()
                    .map_err(LocalClusterError::io("duplicating the log file"))?,
            )
            .stderr(log)
            .spawn()
            .map_err(LocalClusterError::io(format!(
                "cannot start {}",
                self.bin.display()
            )))?;
        node.detached_pid = Some(child.id());
        node.child = Some(child);
        Ok(())
    }

    /// Rewrites node `i`'s node.toml from `nodes[i].config` (takes effect on restart).
    pub fn save_config(&self, i: usize) -> Result<()> {
        let n = &self.nodes[i];
        std::fs::write(&n.config_path, n.config.to_toml()).map_err(LocalClusterError::io(
            format!("writing {}", n.config_path.display()),
        ))?;
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
    pub fn stop(&mut self, i: usize) -> Result<()> {
        let node = &mut self.nodes[i];
        node.signal(Signal::SIGTERM);
        if node.child.is_none() {
            if let Some(pid) = node.detached_pid.take() {
                if !wait_gone(pid, STOP_TIMEOUT) {
                    node.detached_pid = Some(pid);
                    node.signal(Signal::SIGKILL);
                    node.detached_pid = None;
                    return Err(LocalClusterError::Timeout(format!(
                        "{} did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed",
                        node.name
                    )));
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
                return Err(LocalClusterError::Timeout(format!(
                    "{} did not stop within {STOP_TIMEOUT:?} of SIGTERM",
                    node.name
                )));
            }
            c.wait()
                .map_err(LocalClusterError::io(format!("waiting for {}", node.name)))?;
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
    /// The index of the node with this Raft id (ids are assigned in join order).
    pub fn index_of_id(&self, id: u64) -> usize {
        (id as usize).saturating_sub(1)
    }
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
