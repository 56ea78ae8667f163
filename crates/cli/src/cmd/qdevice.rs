//! `brigade qdevice run` (the tie-breaker daemon) and `brigade cluster qdevice setup|remove`.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use brigade_client::Client;
use brigade_core::NodeName;
use brigade_node::NodeConfig;

use crate::connect::{client, normalize_url, GlobalArgs};
use crate::output::print_json;

/// `brigade qdevice ...`.
#[derive(Subcommand, Debug)]
pub enum QdeviceDaemonCmd {
    /// Run a quorum device: a Raft voter that never stands for leader and runs no guests.
    ///
    /// Start it on a third machine, then on a cluster member run
    /// `brigade cluster qdevice setup ADDR`.
    Run {
        /// The address to serve on (API 8006, cluster RPC 8007, heartbeats 5405).
        #[arg(long)]
        listen: IpAddr,
        /// State directory (default /var/lib/brigade/qdevice).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Its name in the cluster.
        #[arg(long, default_value = "qdevice")]
        name: NodeName,
    },
}

/// `brigade cluster qdevice ...`.
#[derive(Subcommand, Debug)]
pub enum QdeviceCmd {
    /// Add the qdevice running at ADDR as the cluster's tie-breaking vote.
    Setup {
        /// The qdevice's address (IP or IP:PORT of its API).
        address: String,
        /// SHA-256 fingerprint of the qdevice's certificate, as `qdevice run` printed it.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Remove the cluster's qdevice.
    Remove,
}

pub async fn run_daemon(cmd: QdeviceDaemonCmd) -> anyhow::Result<()> {
    match cmd {
        QdeviceDaemonCmd::Run {
            listen,
            state_dir,
            name,
        } => {
            let mut cfg = NodeConfig::new(name, listen);
            cfg.qdevice = true;
            cfg.state_dir = state_dir;
            Ok(brigade_node::daemon::run(cfg).await?)
        }
    }
}

pub async fn run(g: &GlobalArgs, cmd: QdeviceCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        QdeviceCmd::Setup {
            address,
            fingerprint,
        } => {
            let member = c.base_url().trim_start_matches("https://").to_string();
            let token = c
                .join_token()
                .await
                .context("cannot make a join token for the qdevice")?
                .token;
            let url = normalize_url(&address);
            let r = Client::qdevice_adopt(&url, fingerprint.clone(), &member, &token)
                .await
                .with_context(|| format!("the qdevice at {url} did not join"))?;
            if g.json() {
                return print_json(&r);
            }
            if fingerprint.is_none() {
                eprintln!("note: the qdevice's certificate was not pinned; pass --fingerprint (printed by 'brigade qdevice run') to check it");
            }
            outln!(
                "Qdevice joined cluster {} with nodeid {}; it votes but never leads.",
                r.cluster,
                r.node_id
            );
        }
        QdeviceCmd::Remove => {
            c.qdevice_remove()
                .await
                .context("cannot remove the qdevice")?;
            if g.json() {
                return print_json(&serde_json::json!({ "removed": true }));
            }
            outln!("Qdevice removed.");
        }
    }
    Ok(())
}
