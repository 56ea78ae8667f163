//! `brigade ha ...`: like `ha-manager`: resources, rules, groups (a thin layer over
//! node-affinity rules), status, migrate, simulate.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use brigade_api::ha::{GroupRequest, ResourceRequest};
use clap::{Args, Subcommand};

use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Args, Debug, Default)]
pub struct ResourceOpts {
    /// started, stopped, disabled or ignored.
    #[arg(long)]
    state: Option<String>,
    /// A group: the node-affinity rule of that name (`ha group-add` makes one).
    #[arg(long)]
    group: Option<String>,
    /// Move back to a higher-priority node of its node-affinity rule when one returns
    /// (1, the default) or stay (0; a group's nofailback before PVE 9).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=1))]
    failback: Option<u8>,
    /// Restarts on the same node after a failed start (default 1).
    #[arg(long)]
    max_restart: Option<u32>,
    /// Moves to another node after failed restarts (default 1).
    #[arg(long)]
    max_relocate: Option<u32>,
    #[arg(long)]
    comment: Option<String>,
}

impl ResourceOpts {
    fn request(self, sid: Option<String>) -> ResourceRequest {
        ResourceRequest {
            sid,
            state: self.state,
            group: self.group,
            max_restart: self.max_restart,
            max_relocate: self.max_relocate,
            comment: self.comment,
            failback: self.failback.map(|f| f == 1),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum HaCmd {
    /// Put a guest under HA: `brigade ha add vm:100` (its disks must be on shared storage).
    Add {
        sid: String,
        #[command(flatten)]
        opts: ResourceOpts,
    },
    /// Change an HA resource: `brigade ha set vm:100 --state stopped`.
    Set {
        sid: String,
        #[command(flatten)]
        opts: ResourceOpts,
    },
    /// Take a guest out of HA (the guest itself is left as it is).
    Remove { sid: String },
    /// Quorum, master, each node's LRM and each service, like `ha-manager status`.
    Status,
    /// Ask HA to migrate a service (live for running VMs): `brigade ha migrate vm:100 n2`.
    Migrate {
        sid: String,
        /// The node to move it to.
        #[arg(value_name = "NODE")]
        target: String,
    },
    /// HA rules: `ha rules add|list|set|remove` (node-affinity, resource-affinity).
    Rules {
        #[command(subcommand)]
        cmd: super::ha_rules::RulesCmd,
    },
    /// List HA groups (node-affinity rules, shown as groups).
    Groups,
    /// Add a group: a node-affinity rule `--nodes n1:2,n2:1` (higher priority preferred).
    GroupAdd {
        name: String,
        #[arg(long)]
        nodes: String,
        /// Only these nodes may run its services (a strict rule).
        #[arg(long)]
        restricted: bool,
        /// Replaced by each resource's `--failback 0` (says so).
        #[arg(long)]
        nofailback: bool,
    },
    /// Remove a group (refused while services use it).
    GroupRemove { name: String },
    /// Run a scenario directory (cmdlist, log.expect) in the deterministic simulator.
    Simulate {
        dir: PathBuf,
        /// Write log.expect from this run instead of comparing.
        #[arg(long)]
        write: bool,
    },
}

pub async fn run(g: &GlobalArgs, cmd: HaCmd) -> anyhow::Result<()> {
    if let HaCmd::Simulate { dir, write } = cmd {
        return simulate(&dir, write);
    }
    let c = client(g)?;
    match cmd {
        HaCmd::Rules { cmd } => return super::ha_rules::run(g, &c, cmd).await,
        HaCmd::Add { sid, opts } => {
            let out = c
                .ha_add(&opts.request(Some(sid.clone())))
                .await
                .with_context(|| format!("cannot add {sid} to HA"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("{sid} is HA-managed");
        }
        HaCmd::Set { sid, opts } => {
            let out = c
                .ha_set(&sid, &opts.request(None))
                .await
                .with_context(|| format!("cannot change {sid}"))?;
            if g.json() {
                return print_json(&out);
            }
        }
        HaCmd::Remove { sid } => {
            let out = c
                .ha_remove(&sid)
                .await
                .with_context(|| format!("cannot remove {sid}"))?;
            if g.json() {
                return print_json(&out);
            }
        }
        HaCmd::Migrate { sid, target } => {
            let out = c
                .ha_migrate(&sid, &target)
                .await
                .with_context(|| format!("cannot migrate {sid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("migration of {sid} to {target} requested; `brigade ha status` follows it");
        }
        HaCmd::Status => {
            let s = c.ha_status().await?;
            if g.json() {
                return print_json(&s);
            }
            if let Some(why) = &s.stale {
                outln!("WARNING: {why}");
            }
            outln!(
                "quorum {} (view of {})",
                if s.quorate { "OK" } else { "NOT OK" },
                s.view_of
            );
            outln!(
                "master {} (fence_timeout {} ms, lease {} ms)",
                s.master.as_deref().unwrap_or("none"),
                s.fence_timeout_ms,
                s.lease_ms
            );
            for n in &s.nodes {
                let heard = match (n.alive, n.renewal_age_ms) {
                    (false, _) => ", DEAD: no heartbeats".to_string(),
                    (true, Some(a)) if a > s.lease_ms => {
                        format!(", no lease renewal for {} s", a / 1000)
                    }
                    _ => String::new(),
                };
                outln!("lrm {} ({}, {}{heard})", n.name, n.state, n.mode);
            }
            for sv in &s.services {
                let target = sv
                    .target
                    .as_ref()
                    .map(|t| format!(" -> {t}"))
                    .unwrap_or_default();
                let running = match (sv.state.as_str(), sv.running) {
                    ("started", Some(false)) => ", NOT RUNNING",
                    ("started", None) => ", running unknown",
                    _ => "",
                };
                let mut error = sv
                    .last_error
                    .as_ref()
                    .map(|e| format!(" (last command failed: {e})"))
                    .unwrap_or_default();
                if let Some(h) = &sv.held {
                    error.push_str(&format!(" (held: {h})"));
                }
                outln!(
                    "service {} ({}{target}, {}{running}) requested {}{error}",
                    sv.sid,
                    sv.node,
                    sv.state,
                    sv.request
                );
            }
        }
        HaCmd::Groups => {
            let out = c.ha_groups().await?;
            if g.json() {
                return print_json(&out);
            }
            let mut t = table(&["Group", "Nodes", "Restricted", "Nofailback"]);
            for grp in out.as_array().cloned().unwrap_or_default() {
                let nodes = grp["nodes"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}:{v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                t.add_row(vec![
                    grp["name"].as_str().unwrap_or_default().to_string(),
                    nodes,
                    grp["restricted"].to_string(),
                    grp["nofailback"].to_string(),
                ]);
            }
            outln!("{t}");
        }
        HaCmd::GroupAdd {
            name,
            nodes,
            restricted,
            nofailback,
        } => {
            let out = c
                .ha_group_add(&GroupRequest {
                    group: name.clone(),
                    nodes,
                    restricted,
                    nofailback,
                })
                .await
                .with_context(|| format!("cannot add group {name}"))?;
            if g.json() {
                return print_json(&out);
            }
        }
        HaCmd::GroupRemove { name } => {
            let out = c.ha_group_remove(&name).await?;
            if g.json() {
                return print_json(&out);
            }
        }
        HaCmd::Simulate { .. } => {}
    }
    Ok(())
}

fn simulate(dir: &std::path::Path, write: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(dir.join("cmdlist"))
        .with_context(|| format!("no cmdlist in {}", dir.display()))?;
    let scenario = brigade_ha::sim::Scenario::parse(&text)?;
    let log = match brigade_ha::sim::simulate(&scenario) {
        Ok(log) => log,
        Err((v, log)) => {
            outln!("{}", log.join("\n"));
            bail!("invariant violated: {v}");
        }
    };
    let got = log.join("\n") + "\n";
    out!("{got}");
    let expect = dir.join("log.expect");
    if write {
        std::fs::write(&expect, &got)?;
        eprintln!("wrote {}", expect.display());
    } else if let Ok(want) = std::fs::read_to_string(&expect) {
        if want != got {
            bail!("the log differs from {}", expect.display());
        }
        eprintln!("matches {}", expect.display());
    }
    Ok(())
}
