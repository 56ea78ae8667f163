//! node.toml: the node's name, address, ports, state directory and Raft tuning.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use brigade_core::NodeName;

/// The API port, as Proxmox's.
pub const DEFAULT_API_PORT: u16 = 8006;
/// The internal mutual-TLS RPC port.
pub const DEFAULT_RPC_PORT: u16 = 8007;
/// Where node state lives by default (one directory per node name).
pub const DEFAULT_STATE_ROOT: &str = "/var/lib/brigade";
/// Where `brigade` looks for the local node's configuration.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/brigade/node.toml";

/// The node configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub name: NodeName,
    /// The node's address on link0; every socket of the node binds to it.
    pub address: IpAddr,
    /// The address the API (and the web UI) listens on, for a management network apart
    /// from the cluster's own; defaults to `address`. Nodes talk to each other over RPC
    /// on `address`, so only people and tools use this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_address: Option<IpAddr>,
    #[serde(default = "default_api_port")]
    pub api_port: u16,
    #[serde(default = "default_rpc_port")]
    pub rpc_port: u16,
    /// A second, redundant link (another network); heartbeats and Raft fail over to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link1: Option<IpAddr>,
    /// UDP port of heartbeats (the same on every node).
    #[serde(default = "default_heartbeat_port")]
    pub heartbeat_port: u16,
    /// Run as a quorum device: a Raft voter that never stands for leader and runs no guests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub qdevice: bool,
    /// Defaults to /var/lib/brigade/<name>.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub raft: RaftTuning,
    /// Guests' pidfiles and sockets; defaults to /run/brigade/<name>. Keep it
    /// short: Unix socket paths are limited to 108 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
    /// Memory this node gives guests, MiB (default: whatever is available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_memory_mib: Option<u64>,
    /// auto (probe KVM with a real boot, else TCG), kvm or tcg.
    #[serde(default)]
    pub accel: brigade_guest::AccelSetting,
    /// The test appliance (vmlinuz, initramfs.img, rootfs/); also the KVM probe's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance_dir: Option<PathBuf>,
    /// Mount the configuration tree here at start (like /etc/pve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<PathBuf>,
    /// The watchdog device the helper keeps alive while this node holds HA guests:
    /// `auto` (the default: /dev/watchdog when it exists), `none`, or a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog_device: Option<String>,
    /// The timeout the device was set up with, in seconds (softdog's soft_margin);
    /// it must be shorter than the cluster's fence_timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog_device_timeout: Option<u64>,
    /// The network namespace (`/run/netns/NAME`) where SDN bridges and guest NICs live;
    /// none: the host's. The daemon itself stays in the host namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_netns: Option<String>,
    /// This node's VXLAN underlay address (in `guest_netns` when set); defaults to
    /// `address`. A vxlan zone's `peers` lists these addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdn_underlay: Option<std::net::Ipv4Addr>,
}

/// The watchdog device used when it exists and node.toml does not say otherwise.
pub const DEFAULT_WATCHDOG_DEVICE: &str = "/dev/watchdog";
/// The watchdog device's timeout assumed when node.toml gives none (seconds).
pub const DEFAULT_WATCHDOG_DEVICE_TIMEOUT_SECS: u64 = 5;

/// Where the test appliance is looked for by default.
pub const DEFAULT_APPLIANCE_DIR: &str = "/var/cache/brigade/appliance";
/// Root of run directories by default.
pub const DEFAULT_RUN_ROOT: &str = "/run/brigade";

/// Optional Raft tuning (milliseconds and entry counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftTuning {
    pub heartbeat_ms: Option<u64>,
    pub election_min_ms: Option<u64>,
    pub election_max_ms: Option<u64>,
    pub lease_ms: Option<u64>,
    pub snapshot_logs: Option<u64>,
    pub keep_logs: Option<u64>,
    /// Bytes of log since the last snapshot that trigger one (default 8 MiB; 0: count only).
    pub snapshot_log_bytes: Option<u64>,
}

fn default_api_port() -> u16 {
    DEFAULT_API_PORT
}
fn default_rpc_port() -> u16 {
    DEFAULT_RPC_PORT
}
fn default_heartbeat_port() -> u16 {
    brigade_membership::service::DEFAULT_HEARTBEAT_PORT
}

/// Why a node configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The reason is the source (printed once by whoever prints the chain).
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is there but not a valid configuration (the source says why).
    #[error("invalid node configuration {path}")]
    Invalid {
        path: PathBuf,
        source: ConfigProblem,
    },
}

/// What is wrong with a node configuration's text.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    /// Not TOML, or a key or value node.toml does not have.
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    #[error("api_port and rpc_port must differ")]
    SamePorts,
    #[error("watchdog_device_timeout must be at least 1 second")]
    ZeroWatchdogTimeout,
}

impl NodeConfig {
    pub fn new(name: NodeName, address: IpAddr) -> Self {
        NodeConfig {
            name,
            address,
            api_address: None,
            api_port: DEFAULT_API_PORT,
            rpc_port: DEFAULT_RPC_PORT,
            link1: None,
            heartbeat_port: default_heartbeat_port(),
            qdevice: false,
            state_dir: None,
            raft: RaftTuning::default(),
            run_dir: None,
            guest_memory_mib: None,
            accel: brigade_guest::AccelSetting::Auto,
            appliance_dir: None,
            mount: None,
            watchdog_device: None,
            watchdog_device_timeout: None,
            guest_netns: None,
            sdn_underlay: None,
        }
    }

    /// This node's VXLAN underlay address: `sdn_underlay`, else `address` when IPv4.
    pub fn sdn_underlay(&self) -> Option<std::net::Ipv4Addr> {
        self.sdn_underlay.or(match self.address {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        })
    }

    /// The watchdog device to arm, if any.
    pub fn watchdog_device(&self) -> Option<crate::ha::watchdog::Device> {
        let path = match self.watchdog_device.as_deref() {
            None | Some("auto") => {
                let p = PathBuf::from(DEFAULT_WATCHDOG_DEVICE);
                p.exists().then_some(p)?
            }
            Some("none") => return None,
            Some(p) => PathBuf::from(p),
        };
        Some(crate::ha::watchdog::Device {
            path,
            timeout: std::time::Duration::from_secs(
                self.watchdog_device_timeout
                    .unwrap_or(DEFAULT_WATCHDOG_DEVICE_TIMEOUT_SECS),
            ),
        })
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Invalid {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn parse(text: &str) -> Result<Self, ConfigProblem> {
        let cfg: NodeConfig = toml::from_str(text)?;
        if cfg.api_port == cfg.rpc_port {
            return Err(ConfigProblem::SamePorts);
        }
        if cfg.watchdog_device_timeout == Some(0) {
            return Err(ConfigProblem::ZeroWatchdogTimeout);
        }
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| Path::new(DEFAULT_STATE_ROOT).join(self.name.as_str()))
    }

    pub fn run_dir(&self) -> PathBuf {
        self.run_dir
            .clone()
            .unwrap_or_else(|| Path::new(DEFAULT_RUN_ROOT).join(self.name.as_str()))
    }

    pub fn appliance_dir(&self) -> PathBuf {
        self.appliance_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_APPLIANCE_DIR))
    }

    /// Where the API listens: `api_address` when set, else `address`.
    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::new(self.api_address.unwrap_or(self.address), self.api_port)
    }

    /// Every address of this node that its certificates must name.
    pub fn cert_ips(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = std::iter::once(self.address).chain(self.link1).collect();
        if let Some(api) = self.api_address.filter(|a| !ips.contains(a)) {
            ips.push(api);
        }
        ips
    }

    pub fn rpc_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.rpc_port)
    }

    /// The RPC address on link1, if configured.
    pub fn rpc_addr1(&self) -> Option<SocketAddr> {
        self.link1.map(|ip| SocketAddr::new(ip, self.rpc_port))
    }

    /// The API's base URL.
    pub fn api_url(&self) -> String {
        format!("https://{}", self.api_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_defaults_and_errors() {
        let c = NodeConfig::parse("name = \"n1\"\naddress = \"127.0.1.1\"\n").expect("parses");
        assert_eq!(c.api_port, 8006);
        assert_eq!(c.state_dir(), PathBuf::from("/var/lib/brigade/n1"));
        assert_eq!(NodeConfig::parse(&c.to_toml()).expect("round trip"), c);
        assert!(NodeConfig::parse("name = \"N1\"\naddress = \"127.0.1.1\"\n").is_err());
        assert!(NodeConfig::parse("name = \"n1\"\naddress = \"x\"\n").is_err());
        assert!(NodeConfig::parse("name = \"n1\"\naddress = \"127.0.1.1\"\nbogus = 1\n").is_err());
        assert!(NodeConfig::parse(
            "name = \"n1\"\naddress = \"127.0.1.1\"\napi_port = 1\nrpc_port = 1\n"
        )
        .is_err());
    }

    #[test]
    fn the_api_listens_on_its_own_address_when_given_and_certificates_name_it() {
        let c = NodeConfig::parse(
            "name = \"n1\"\naddress = \"127.0.1.1\"\napi_address = \"127.0.2.1\"\nlink1 = \"127.0.3.1\"\n",
        )
        .expect("parses");
        assert_eq!(c.api_addr().to_string(), "127.0.2.1:8006");
        assert_eq!(c.rpc_addr().to_string(), "127.0.1.1:8007");
        let ips: Vec<String> = c.cert_ips().iter().map(ToString::to_string).collect();
        assert_eq!(ips, ["127.0.1.1", "127.0.3.1", "127.0.2.1"]);
        assert_eq!(NodeConfig::parse(&c.to_toml()).expect("round trip"), c);
        let plain = NodeConfig::parse("name = \"n1\"\naddress = \"127.0.1.1\"\n").expect("parses");
        assert_eq!(plain.api_addr().to_string(), "127.0.1.1:8006");
        assert!(!plain.to_toml().contains("api_address"));
    }

    #[test]
    fn a_missing_file_names_its_reason_once() {
        let e = NodeConfig::load(Path::new("/nonexistent/brigade/node.toml")).expect_err("missing");
        let chain: Vec<String> =
            std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .map(|e| e.to_string())
            .collect();
        let all = chain.join(": ");
        assert_eq!(all.matches("No such file or directory").count(), 1, "{all}");
        assert!(
            all.starts_with("cannot read /nonexistent/brigade/node.toml"),
            "{all}"
        );
    }
}
