//! `brigade cluster ...`: create, join-token, join, nodes, delnode, status (like `pvecm`).

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
    Delnode { name: String },
    /// Show the cluster and quorum state (like `pvecm status`).
    Status,
}

pub async fn run(g: &GlobalArgs, cmd: ClusterCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        ClusterCmd::Create { name } => {
            let r = c
                .cluster_create(&name)
                .await
                .context("cluster create failed")?;
            if g.json() {
                return print_json(&r);
            }
            println!(
                "Cluster {} created; this node has id {}.",
                r.cluster, r.node_id
            );
            println!("CA fingerprint (SHA-256): {}", r.ca_fingerprint);
            println!("Root API token (shown once; stored for the local CLI, mode 0600):");
            println!("  {}", r.root_token);
            println!("Next: on this node run `brigade cluster join-token`, then on each new node");
            println!("      `brigade cluster join <this node's IP> --token <token>`.");
        }
        ClusterCmd::JoinToken => {
            let r = c.join_token().await.context("cannot make a join token")?;
            if g.json() {
                return print_json(&r);
            }
            println!("{}", r.token);
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
            println!("Joined cluster {} as node id {}.", r.cluster, r.node_id);
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
            println!("{t}");
        }
        ClusterCmd::Delnode { name } => {
            c.delnode(&name)
                .await
                .with_context(|| format!("cannot remove {name}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "removed": name }));
            }
            println!("Node {name} removed from the cluster.");
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

fn print_status(s: &brigade_client::ClusterStatus) {
    let (Some(cluster), Some(cfs), Some(conf)) = (&s.cluster, &s.cfs, &s.config) else {
        println!("Node {} is not in a cluster.", s.node);
        return;
    };
    let voters = cfs.members.iter().filter(|m| m.voter).count();
    let quorum = voters / 2 + 1;
    println!("Cluster information\n-------------------");
    println!("Name:             {cluster}");
    println!("Config Version:   {}", conf.config_version);
    println!("Transport:        raft over mutual TLS");
    println!("Secure auth:      on\n");
    println!("Quorum information\n------------------");
    println!("Quorum provider:  brigade raft lease");
    println!("Nodes:            {}", conf.nodes.len());
    println!("Node ID:          {}", s.node_id.unwrap_or(0));
    println!("Ring ID:          {}.{}", cfs.leader.unwrap_or(0), cfs.term);
    println!(
        "Quorate:          {}\n",
        if s.quorate { "Yes" } else { "No" }
    );
    println!("Votequorum information\n----------------------");
    println!("Expected votes:   {voters}");
    println!("Quorum:           {quorum}");
    println!(
        "Flags:            {}\n",
        if s.quorate { "Quorate" } else { "" }
    );
    println!("Membership information\n----------------------");
    let mut t = table(&["Nodeid", "Votes", "Name", "Address", "Role"]);
    for n in &conf.nodes {
        let m = cfs.members.iter().find(|m| m.id == n.nodeid);
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
        t.add_row(vec![
            format!("0x{:08x}", n.nodeid),
            if m.is_some_and(|m| m.voter) {
                n.votes.to_string()
            } else {
                "0".into()
            },
            format!("{}{local}", n.name),
            n.link0.to_string(),
            role.to_string(),
        ]);
    }
    println!("{t}");
}
