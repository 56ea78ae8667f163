//! `brigade network list [--on NODE]`: a node's bridges (network.cfg) and the vnets there
//! (`--on`, as `storage status`: the global `--node` is the node to talk to).

use clap::Subcommand;

use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// The bridges of a node: its network.cfg and the applied vnets deployed there.
    List {
        /// The node whose bridges to list (default: the one answering).
        #[arg(long = "on", value_name = "NODE")]
        on: Option<String>,
    },
}

pub async fn run(g: &GlobalArgs, cmd: NetworkCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    let NetworkCmd::List { on } = cmd;
    let node = match on {
        Some(n) => n,
        None => c.status().await?.node,
    };
    let rows = c.node_network(&node).await?;
    if g.json() {
        return print_json(&rows);
    }
    let mut t = table(&["Iface", "Type", "Ports", "Zone", "Address", "VLAN-aware"]);
    for r in rows {
        t.add_row(vec![
            r.iface,
            r.kind,
            r.ports.join(","),
            r.zone.unwrap_or_default(),
            r.address.unwrap_or_default(),
            if r.vlan_aware { "yes" } else { "no" }.into(),
        ]);
    }
    outln!("{t}");
    Ok(())
}
