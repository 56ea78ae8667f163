//! `brigade cluster ...`: create, join-token, join, nodes, delnode, status, format (like `pvecm`).

use anyhow::Context as _;
use clap::Subcommand;

use crate::connect::{client, GlobalArgs};
use crate::output::{format_time, print_json, table};

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Create a new cluster on this node (makes the cluster CA and prints the root API token).
    Create {
        /// Cluster name (lowercase letters, digits, '-').
        name: String,
    },
    /// Print a one-time token that lets one more node join (valid one hour).
    JoinToken,
    /// Join this node to the cluster a member at ADDR belongs to.
    Join {
        /// A member's address: IP or IP:PORT (API port, default 8006).
        address: String,
        /// The token from `brigade cluster join-token` on a member.
        #[arg(long, env = "BRIGADE_JOIN_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// List the cluster's nodes with their Raft role.
    Nodes,
    /// Remove a node from the cluster (run on another member; power the node off first).
    ///
    /// Refused while guests' configs are still under `nodes/NAME` (move them first),
    /// unless --force: then their configs stay there, on a node that is gone.
    Delnode {
        name: String,
        /// Remove it even though guests' configs are still in its directory.
        #[arg(long)]
        force: bool,
    },
    /// Show the cluster and quorum state (like `pvecm status`), a summary first.
    ///
    /// Past 32 nodes the table lists only the nodes worth a look (this one, the
    /// voters, the dead, those with a link down or a clock off, joiners); --all lists
    /// every node, --state/--role/--filter choose, --sort orders.
    Status(crate::cmd::cluster_status::StatusArgs),
    /// The cluster's format version: show it, raise it at the end of a rolling upgrade.
    #[command(subcommand)]
    Format(crate::cmd::cluster_format::FormatCmd),
    /// Add or remove the quorum device (tie-breaker for 2 or 4 nodes).
    #[command(subcommand)]
    Qdevice(crate::cmd::qdevice::QdeviceCmd),
    /// Emergency: make this node the only voter after the majority is lost for good.
    ///
    /// Stop this node's daemon first. The node's own stores are rewritten so
    /// that it alone forms the quorum; the lost nodes must never come back
    /// with their old state (re-install and re-join them). Afterwards start
    /// the daemon and remove the lost nodes with `brigade cluster delnode`.
    Recover {
        /// Required: this is not reversible.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(g: &GlobalArgs, cmd: ClusterCmd) -> anyhow::Result<()> {
    let c = match cmd {
        // Works on the stopped node's own files, not through the API.
        ClusterCmd::Recover { force, yes } => return recover(g, force, yes).await,
        _ => client(g)?,
    };
    match cmd {
        ClusterCmd::Recover { .. } => {}
        ClusterCmd::Qdevice(q) => return crate::cmd::qdevice::run(g, q).await,
        ClusterCmd::Format(f) => return crate::cmd::cluster_format::run(g, &c, f).await,
        ClusterCmd::Create { name } => {
            let r = c
                .cluster_create(&name)
                .await
                .context("cluster create failed")?;
            if g.json() {
                return print_json(&r);
            }
            outln!(
                "Cluster {} created; this node has id {}.",
                r.cluster,
                r.node_id
            );
            outln!("CA fingerprint (SHA-256): {}", r.ca_fingerprint);
            outln!("Root API token (shown once; stored for the local CLI, mode 0600):");
            outln!("  {}", r.root_token);
            outln!("Next: on this node run `brigade cluster join-token`, then on each new node");
            outln!("      `brigade cluster join <this node's IP> --token <token>`.");
        }
        ClusterCmd::JoinToken => {
            let r = c.join_token().await.context("cannot make a join token")?;
            if g.json() {
                return print_json(&r);
            }
            outln!("{}", r.token);
            eprintln!(
                "(one-time token, valid until {} UTC)",
                format_time(r.expires)
            );
        }
        ClusterCmd::Join { address, token } => {
            let r = c
                .cluster_join(&address, &token)
                .await
                .context("join failed")?;
            if g.json() {
                return print_json(&r);
            }
            outln!("Joined cluster {} as node id {}.", r.cluster, r.node_id);
        }
        ClusterCmd::Nodes => {
            let rows = c.nodes().await?;
            if g.json() {
                return print_json(&rows);
            }
            let mut t = table(&[
                "Nodeid",
                "Votes",
                "Name",
                "Address",
                "Role",
                "Leader",
                "Matched index",
            ]);
            for r in rows {
                let name = if r.local {
                    format!("{} (local)", r.name)
                } else {
                    r.name
                };
                t.add_row(vec![
                    r.nodeid.to_string(),
                    r.votes.to_string(),
                    name,
                    r.address,
                    r.role,
                    if r.leader {
                        "yes".into()
                    } else {
                        String::new()
                    },
                    r.matched_index.map(|i| i.to_string()).unwrap_or_default(),
                ]);
            }
            outln!("{t}");
        }
        ClusterCmd::Delnode { name, force } => {
            c.delnode(&name, force)
                .await
                .with_context(|| format!("cannot remove {name}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "removed": name }));
            }
            outln!("Node {name} removed from the cluster.");
        }
        ClusterCmd::Status(args) => {
            let s = c.status().await?;
            if g.json() {
                return print_json(&s);
            }
            crate::cmd::cluster_status::print_status(&s, &args);
        }
    }
    Ok(())
}

async fn recover(g: &GlobalArgs, force: bool, yes: bool) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Write as _};
    let Some(cfg) = g.node_config()? else {
        anyhow::bail!("recover works on the local node: give --config FILE (or install /etc/brigade/node.toml)");
    };
    if !force {
        anyhow::bail!("recover rewrites this node's stores so it alone has quorum; add --force if the other voters are gone for good");
    }
    if std::net::TcpStream::connect_timeout(&cfg.api_addr(), std::time::Duration::from_millis(300))
        .is_ok()
    {
        anyhow::bail!(
            "the node daemon is running on {}: stop it first (recovery rewrites its local stores)",
            cfg.api_addr()
        );
    }
    let state = brigade_node::state_dir::StateDir::open(&cfg.state_dir())?;
    let Some(m) = state.membership()? else {
        anyhow::bail!("{} is not in a cluster", cfg.name);
    };
    let data = state.path(brigade_node::state_dir::CFS_DIR);
    let voters = brigade_cfs::recover::current_voters(&data)?;
    let lost: Vec<String> = voters
        .iter()
        .filter(|v| **v != m.node_id)
        .map(|v| format!("nodeid {v}"))
        .collect();
    outln!(
        "This makes {} (nodeid {}) the only voter of cluster {}.",
        cfg.name,
        m.node_id,
        m.cluster
    );
    outln!(
        "Voters losing their vote: {}.",
        if lost.is_empty() {
            "none".to_string()
        } else {
            lost.join(", ")
        }
    );
    outln!("Everything in this node's Raft log is applied, even entries the old majority may not have committed.");
    outln!("The lost nodes must not come back with their old state: re-install and re-join them.");
    if !yes {
        out!("Continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            anyhow::bail!("aborted; nothing changed");
        }
    }
    let report = brigade_cfs::recover::force_single_voter(&data, m.node_id).await?;
    if g.json() {
        return print_json(&report);
    }
    outln!(
        "Done: {} log entries replayed ({} past the last known commit); restarting from index {}.",
        report.replayed_entries,
        report.beyond_known_commit,
        report.restart_index
    );
    outln!("Next: start the daemon, then `brigade cluster delnode NAME` for each lost node.");
    Ok(())
}
