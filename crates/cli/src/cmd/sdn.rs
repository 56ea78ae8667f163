//! `brigade sdn ...`: guest networks as Proxmox SDN. Zones, vnets and subnets are pending
//! until `brigade sdn apply`, which every node applies and reports (`brigade sdn status`).

use anyhow::Context as _;
use brigade_api::sdn::{SubnetRequest, VnetRequest, ZoneRequest};
use clap::Subcommand;

use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
pub enum SdnCmd {
    /// Zones: how vnets reach other nodes (simple: one isolated bridge per node; vlan: tags
    /// on a node bridge; vxlan: an L2 overlay over UDP 4789 between the peers).
    #[command(subcommand)]
    Zone(ZoneCmd),
    /// Vnets: a bridge of the vnet's name on every node of its zone; guests use `bridge=VNET`.
    #[command(subcommand)]
    Vnet(VnetCmd),
    /// Subnets of a vnet: gateway, SNAT, DHCP range.
    #[command(subcommand)]
    Subnet(SubnetCmd),
    /// Validate the pending configuration as a whole and have every node apply it
    /// (refused, changing nothing anywhere, when it is broken).
    Apply,
    /// Every node's state against the applied version (available, pending, error).
    Status,
}

#[derive(Subcommand, Debug)]
pub enum ZoneCmd {
    /// Add a zone: `sdn zone add ovl --type vxlan --peers 10.0.0.1,10.0.0.2,10.0.0.3`.
    Add {
        zone: String,
        /// simple, vlan or vxlan.
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// vxlan: every node's underlay address, comma separated (default: the nodes' addresses).
        #[arg(long)]
        peers: Option<String>,
        /// vlan: the node bridge (network.cfg) carrying the tags.
        #[arg(long)]
        bridge: Option<String>,
        /// The vnets' MTU (vxlan default: the link's minus 50).
        #[arg(long)]
        mtu: Option<u32>,
        /// Only these nodes, comma separated.
        #[arg(long)]
        nodes: Option<String>,
    },
    /// The zones (pending configuration).
    List,
    /// Remove a zone no vnet uses.
    Remove { zone: String },
}

#[derive(Subcommand, Debug)]
pub enum VnetCmd {
    /// Add a vnet: `sdn vnet add web --zone ovl --tag 100` (tag: VLAN id or VNI).
    Add {
        vnet: String,
        #[arg(long)]
        zone: String,
        /// The VLAN id (vlan zone) or the VNI (vxlan zone).
        #[arg(long)]
        tag: Option<u32>,
        /// A description.
        #[arg(long)]
        alias: Option<String>,
        /// Guests on it may use tag= (VLAN-aware bridge).
        #[arg(long)]
        vlanaware: bool,
    },
    /// The vnets (pending configuration).
    List,
    /// Remove a vnet without subnets.
    Remove { vnet: String },
}

#[derive(Subcommand, Debug)]
pub enum SubnetCmd {
    /// Add a subnet: `sdn subnet add 10.5.0.0/24 --vnet web --gateway 10.5.0.1`.
    Add {
        /// The network, address/prefix.
        subnet: String,
        #[arg(long)]
        vnet: String,
        #[arg(long)]
        gateway: Option<String>,
        /// Masquerade traffic leaving the subnet (simple zones).
        #[arg(long)]
        snat: bool,
        /// `start-address=A,end-address=B`.
        #[arg(long = "dhcp-range")]
        dhcp_range: Option<String>,
    },
    /// The subnets (pending configuration).
    List,
    /// Remove a subnet by its id (`<zone>-10.5.0.0-24`, see `sdn subnet list`).
    Remove { id: String },
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

pub async fn run(g: &GlobalArgs, cmd: SdnCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        SdnCmd::Zone(ZoneCmd::Add {
            zone,
            kind,
            peers,
            bridge,
            mtu,
            nodes,
        }) => {
            let req = ZoneRequest {
                zone: Some(zone.clone()),
                kind: Some(kind),
                peers,
                bridge,
                mtu,
                nodes,
            };
            let row = c
                .sdn_zone_add(&req)
                .await
                .with_context(|| format!("cannot add zone {zone}"))?;
            if g.json() {
                return print_json(&row);
            }
            outln!("zone {zone} added (pending: run 'brigade sdn apply')");
        }
        SdnCmd::Zone(ZoneCmd::List) => {
            let rows = c.sdn_zones().await?;
            if g.json() {
                return print_json(&rows);
            }
            let mut t = table(&["Zone", "Type", "Peers", "Bridge", "MTU", "Nodes"]);
            for z in rows {
                t.add_row(vec![
                    z.zone,
                    z.kind,
                    opt(&z.peers),
                    opt(&z.bridge),
                    opt(&z.mtu),
                    if z.nodes.is_empty() {
                        "all".into()
                    } else {
                        z.nodes.join(",")
                    },
                ]);
            }
            outln!("{t}");
        }
        SdnCmd::Zone(ZoneCmd::Remove { zone }) => {
            let out = c
                .sdn_zone_remove(&zone)
                .await
                .with_context(|| format!("cannot remove zone {zone}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("zone {zone} removed (pending: run 'brigade sdn apply')");
        }
        SdnCmd::Vnet(VnetCmd::Add {
            vnet,
            zone,
            tag,
            alias,
            vlanaware,
        }) => {
            let req = VnetRequest {
                vnet: Some(vnet.clone()),
                zone: Some(zone),
                tag,
                alias,
                vlanaware: vlanaware.then_some(true),
            };
            let row = c
                .sdn_vnet_add(&req)
                .await
                .with_context(|| format!("cannot add vnet {vnet}"))?;
            if g.json() {
                return print_json(&row);
            }
            outln!("vnet {vnet} added (pending: run 'brigade sdn apply')");
        }
        SdnCmd::Vnet(VnetCmd::List) => {
            let rows = c.sdn_vnets().await?;
            if g.json() {
                return print_json(&rows);
            }
            let mut t = table(&["Vnet", "Zone", "Tag", "Alias", "VLAN-aware"]);
            for v in rows {
                t.add_row(vec![
                    v.vnet,
                    v.zone,
                    opt(&v.tag),
                    opt(&v.alias),
                    if v.vlanaware { "yes" } else { "no" }.into(),
                ]);
            }
            outln!("{t}");
        }
        SdnCmd::Vnet(VnetCmd::Remove { vnet }) => {
            let out = c
                .sdn_vnet_remove(&vnet)
                .await
                .with_context(|| format!("cannot remove vnet {vnet}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("vnet {vnet} removed (pending: run 'brigade sdn apply')");
        }
        SdnCmd::Subnet(SubnetCmd::Add {
            subnet,
            vnet,
            gateway,
            snat,
            dhcp_range,
        }) => {
            let req = SubnetRequest {
                subnet: Some(subnet.clone()),
                vnet: Some(vnet),
                gateway,
                snat: snat.then_some(true),
                dhcp_range,
            };
            let row = c
                .sdn_subnet_add(&req)
                .await
                .with_context(|| format!("cannot add subnet {subnet}"))?;
            if g.json() {
                return print_json(&row);
            }
            outln!("subnet {} added (pending: run 'brigade sdn apply')", row.id);
        }
        SdnCmd::Subnet(SubnetCmd::List) => {
            let rows = c.sdn_subnets().await?;
            if g.json() {
                return print_json(&rows);
            }
            let mut t = table(&["Subnet", "CIDR", "Vnet", "Gateway", "SNAT", "DHCP"]);
            for s in rows {
                t.add_row(vec![
                    s.id,
                    s.cidr,
                    s.vnet,
                    opt(&s.gateway),
                    if s.snat { "yes" } else { "no" }.into(),
                    s.dhcp_range.join(" "),
                ]);
            }
            outln!("{t}");
        }
        SdnCmd::Subnet(SubnetCmd::Remove { id }) => {
            let out = c
                .sdn_subnet_remove(&id)
                .await
                .with_context(|| format!("cannot remove subnet {id}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("subnet {id} removed (pending: run 'brigade sdn apply')");
        }
        SdnCmd::Apply => {
            let out = c
                .sdn_apply()
                .await
                .context("the SDN configuration was not applied")?;
            if g.json() {
                return print_json(&out);
            }
            outln!(
                "applying version {} on every node ('brigade sdn status' shows each)",
                out.version
            );
        }
        SdnCmd::Status => {
            let st = c.sdn_status().await?;
            if g.json() {
                return print_json(&st);
            }
            match &st.version {
                Some(v) => outln!("applied version {v}"),
                None => outln!("never applied: run 'brigade sdn apply'"),
            }
            if st.pending {
                outln!("pending changes: run 'brigade sdn apply'");
            }
            let mut t = table(&["Node", "State", "Applied", "Errors"]);
            for n in st.nodes {
                t.add_row(vec![
                    n.node,
                    n.state,
                    n.applied_version
                        .map(|v| v.chars().take(12).collect())
                        .unwrap_or_default(),
                    n.errors.join("; "),
                ]);
            }
            outln!("{t}");
        }
    }
    Ok(())
}
