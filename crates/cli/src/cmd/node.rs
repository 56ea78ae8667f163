//! `brigade node ...`: run the daemon.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;

use brigade_core::NodeName;
use brigade_node::NodeConfig;

use crate::connect::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// Run the node daemon in the foreground (HTTPS API on port 8006, cluster RPC on 8007).
    ///
    /// Either give `--config FILE` (see node.toml in the README) or at least
    /// `--name` and `--addr`; flags override the file.
    Run {
        /// Node name (a DNS label, e.g. n1).
        #[arg(long)]
        name: Option<NodeName>,
        /// The node's address; every socket of the node binds to it.
        #[arg(long)]
        addr: Option<IpAddr>,
        /// State directory (default /var/lib/brigade/NAME).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        #[arg(long)]
        api_port: Option<u16>,
        #[arg(long)]
        rpc_port: Option<u16>,
    },
    /// Write this machine's node.toml (flags, or questions on a terminal) and print the next command.
    Init(crate::cmd::node_init::InitArgs),
    /// Drain a node for maintenance: its HA guests migrate live to others; `disable` brings them back.
    Maintenance {
        #[arg(value_parser = ["enable", "disable"])]
        action: String,
        /// The node to drain or bring back.
        #[arg(value_name = "NODE")]
        target: String,
    },
    /// A node's graph history (or, with --vmid, a guest's), the rows that have a sample.
    Rrd {
        /// The node (`localhost`: the one asked).
        #[arg(value_name = "NODE", default_value = "localhost")]
        target: String,
        /// hour (10 s steps), day (1 min), week (30 min), month (6 h) or year (1 day).
        #[arg(long, default_value = "hour")]
        timeframe: String,
        /// AVERAGE or MAX.
        #[arg(long, default_value = "AVERAGE")]
        cf: String,
        /// A guest's history instead (answered by the node that runs it).
        #[arg(long)]
        vmid: Option<u32>,
        /// The guest's type.
        #[arg(long, value_parser = ["qemu", "lxc"], default_value = "qemu")]
        kind: String,
    },
    /// The watchdog helper (started by the daemon): kills the node's HA guests when
    /// the daemon stops feeding it before the lease deadline.
    #[command(hide = true)]
    Watchdog {
        #[arg(long)]
        run_dir: PathBuf,
        /// The feed protocol the starting daemon speaks (a daemon replaces a helper of
        /// another protocol).
        #[arg(long, default_value_t = brigade_node::ha::watchdog::HELPER_PROTOCOL)]
        protocol: u32,
        /// A watchdog device to keep alive until the lease's deadline.
        #[arg(long)]
        device: Option<PathBuf>,
        /// The device's timeout in seconds.
        #[arg(long, default_value_t = brigade_node::config::DEFAULT_WATCHDOG_DEVICE_TIMEOUT_SECS)]
        device_timeout: u64,
    },
}

/// Runs the watchdog helper if that is the command (on the main thread, before any
/// runtime exists).
pub fn watchdog_main(cmd: &NodeCmd) -> Option<anyhow::Result<()>> {
    let NodeCmd::Watchdog {
        run_dir,
        device,
        device_timeout,
        protocol: _,
    } = cmd
    else {
        return None;
    };
    let device = device
        .clone()
        .map(|path| brigade_node::ha::watchdog::Device {
            path,
            timeout: std::time::Duration::from_secs(*device_timeout),
        });
    Some(brigade_node::ha::watchdog::run(run_dir, device).map_err(anyhow::Error::from))
}

pub async fn run(g: &GlobalArgs, cmd: NodeCmd) -> anyhow::Result<()> {
    match cmd {
        NodeCmd::Run {
            name,
            addr,
            state_dir,
            api_port,
            rpc_port,
        } => {
            let mut cfg = match (g.node_config()?, name.clone(), addr) {
                (Some(c), _, _) => c,
                (None, Some(n), Some(a)) => NodeConfig::new(n, a),
                (None, _, _) => bail!("give --config FILE or both --name and --addr"),
            };
            if let Some(n) = name {
                cfg.name = n;
            }
            if let Some(a) = addr {
                cfg.address = a;
            }
            if state_dir.is_some() {
                cfg.state_dir = state_dir;
            }
            if let Some(p) = api_port {
                cfg.api_port = p;
            }
            if let Some(p) = rpc_port {
                cfg.rpc_port = p;
            }
            Ok(brigade_node::daemon::run(cfg).await?)
        }
        NodeCmd::Maintenance { action, target } => {
            let c = crate::connect::client(g)?;
            let enable = action == "enable";
            let out = c.ha_maintenance(&target, enable).await?;
            if g.json() {
                return crate::output::print_json(&out);
            }
            outln!(
                "node {target}: maintenance {} ({})",
                if enable { "enabled" } else { "disabled" },
                if enable {
                    "its HA guests migrate to other nodes; `brigade ha status` shows them"
                } else {
                    "its HA guests come back"
                }
            );
            Ok(())
        }
        NodeCmd::Rrd {
            target,
            timeframe,
            cf,
            vmid,
            kind,
        } => {
            let c = crate::connect::client(g)?;
            let rows = match vmid {
                Some(vmid) => {
                    let kind = if kind == "lxc" {
                        brigade_core::layout::GuestKind::Lxc
                    } else {
                        brigade_core::layout::GuestKind::Qemu
                    };
                    c.guest_rrd(kind, vmid, &timeframe, &cf).await?
                }
                None => c.node_rrd(&target, &timeframe, &cf).await?,
            };
            let rows: Vec<_> = rows
                .into_iter()
                .filter(|r| r.cpu.is_some() || r.mem.is_some())
                .collect();
            if g.json() {
                return crate::output::print_json(&rows);
            }
            let mut t = crate::output::table(&[
                "time (UTC)",
                "cpu %",
                "mem MiB",
                "maxmem MiB",
                "netin B/s",
                "netout B/s",
                "read B/s",
                "write B/s",
                "load",
            ]);
            let f = |v: Option<f64>, scale: f64, digits: usize| {
                v.map_or_else(|| "-".to_string(), |v| format!("{:.digits$}", v / scale))
            };
            const MIB: f64 = 1024.0 * 1024.0;
            for r in &rows {
                t.add_row(vec![
                    crate::output::format_time(r.time),
                    f(r.cpu.map(|c| c * 100.0), 1.0, 1),
                    f(r.mem, MIB, 0),
                    f(r.maxmem, MIB, 0),
                    f(r.netin, 1.0, 0),
                    f(r.netout, 1.0, 0),
                    f(r.diskread, 1.0, 0),
                    f(r.diskwrite, 1.0, 0),
                    f(r.loadavg, 1.0, 2),
                ]);
            }
            outln!("{t}");
            Ok(())
        }
        NodeCmd::Init(a) => crate::cmd::node_init::run(g, &a),
        NodeCmd::Watchdog { .. } => bail!("the watchdog helper runs outside the async runtime"),
    }
}
