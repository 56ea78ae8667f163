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
    /// Show the cluster and quorum state (like `pvecm status`).
    Status,
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
        ClusterCmd::Status => {
            let s = c.status().await?;
            if g.json() {
                return print_json(&s);
            }
            print_status(&s);
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

fn print_status(s: &brigade_client::ClusterStatus) {
    let (Some(cluster), Some(cfs), Some(conf)) = (&s.cluster, &s.cfs, &s.config) else {
        outln!("Node {} is not in a cluster.", s.node);
        return;
    };
    let voters: Vec<&brigade_cfs::MemberInfo> = cfs.members.iter().filter(|m| m.voter).collect();
    let alive = |id: u64| s.members.iter().any(|m| m.id == id && m.alive);
    let total_votes = voters.iter().filter(|m| alive(m.id)).count();
    let quorum = voters.len() / 2 + 1;
    outln!("Cluster information\n-------------------");
    outln!("Name:             {cluster}");
    outln!("Config Version:   {}", conf.config_version);
    outln!("Transport:        raft over mutual TLS, heartbeats over UDP");
    outln!("Secure auth:      on\n");
    outln!("Quorum information\n------------------");
    outln!(
        "Date:             {} UTC",
        crate::output::format_time(brigade_core::unix_now_secs())
    );
    outln!("Quorum provider:  brigade raft lease");
    outln!("Nodes:            {}", conf.nodes.len());
    outln!("Node ID:          0x{:08x}", s.node_id.unwrap_or(0));
    outln!("Ring ID:          {}.{}", cfs.leader.unwrap_or(0), cfs.term);
    outln!(
        "Quorate:          {}\n",
        if s.quorate { "Yes" } else { "No" }
    );
    outln!("Votequorum information\n----------------------");
    outln!("Expected votes:   {}", voters.len());
    outln!("Highest expected: {}", voters.len());
    outln!("Total votes:      {total_votes}");
    outln!(
        "Quorum:           {quorum} {}",
        if s.quorate { "" } else { " Activity blocked" }
    );
    let qdevice_alive = conf
        .qdevice
        .as_ref()
        .is_some_and(|q| s.members.iter().any(|m| m.id == q.nodeid && m.alive));
    let mut flags = Vec::new();
    if s.quorate {
        flags.push("Quorate");
    }
    if conf.qdevice.is_some() {
        flags.push(if qdevice_alive {
            "Qdevice"
        } else {
            "Qdevice(dead)"
        });
    }
    outln!("Flags:            {}\n", flags.join(" "));
    outln!("Membership information\n----------------------");
    let mut t = table(&[
        "Nodeid",
        "Votes",
        "Name",
        "Role",
        "State",
        "link0",
        "link1",
        "Clock offset",
    ]);
    for n in &conf.nodes {
        let m = cfs.members.iter().find(|m| m.id == n.nodeid);
        let hb = s.members.iter().find(|p| p.id == n.nodeid);
        let role = match m {
            Some(m) if cfs.leader == Some(m.id) => "leader",
            Some(m) if m.voter => "voter",
            Some(_) => "learner",
            None => "joining",
        };
        let local = if Some(n.nodeid) == s.node_id {
            " (local)"
        } else {
            ""
        };
        let link = |i: usize, addr: Option<std::net::IpAddr>| -> String {
            let Some(addr) = addr else { return "-".into() };
            match hb.and_then(|h| h.links.get(i)) {
                _ if hb.is_some_and(|h| h.local) => format!("{addr} local"),
                Some(l) if l.up => format!(
                    "{addr} up {}",
                    l.rtt_ms.map(|r| format!("{r:.2} ms")).unwrap_or_default()
                ),
                Some(_) => format!("{addr} DOWN"),
                None => format!("{addr} ?"),
            }
        };
        let clock = match hb {
            Some(h) if h.local => "-".to_string(),
            Some(h) => match h.clock_offset_ms {
                Some(o) => format!(
                    "{:+.3} s{}",
                    o / 1000.0,
                    if h.clock == "ok" {
                        String::new()
                    } else {
                        format!(" {}", h.clock.to_uppercase())
                    }
                ),
                None => "?".into(),
            },
            None => "?".into(),
        };
        t.add_row(vec![
            format!("0x{:08x}", n.nodeid),
            if m.is_some_and(|m| m.voter) {
                n.votes.to_string()
            } else {
                "0".into()
            },
            format!("{}{local}", n.name),
            role.to_string(),
            if hb.is_some_and(|h| h.alive) {
                "alive".into()
            } else {
                "DEAD".into()
            },
            link(0, Some(n.link0)),
            link(1, n.link1),
            clock,
        ]);
    }
    if let Some(q) = &conf.qdevice {
        let voter = cfs.members.iter().any(|m| m.id == q.nodeid && m.voter);
        t.add_row(vec![
            format!("0x{:08x}", q.nodeid),
            if voter { "1".into() } else { "0".into() },
            format!("{} (qdevice)", q.name),
            if voter {
                "voter, never leads".into()
            } else {
                "joining".into()
            },
            if qdevice_alive {
                "alive".into()
            } else {
                "DEAD".into()
            },
            q.address.to_string(),
            "-".into(),
            "-".into(),
        ]);
    }
    outln!("{t}\n");
    if let Some(f) = &s.format {
        crate::cmd::cluster_format::print_format(f);
    }
    let h = &s.heartbeats;
    outln!(
        "Heartbeats: {} accepted, dropped {} bad key, {} replayed, {} malformed, {} unknown sender",
        h.received,
        h.dropped_auth,
        h.dropped_replay,
        h.dropped_malformed,
        h.dropped_unknown
    );
    if !s.warnings.is_empty() {
        outln!("\nWarnings\n--------");
        for w in &s.warnings {
            outln!("- {w}");
        }
    }
}
