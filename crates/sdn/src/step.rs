//! One change to a node's network ([`Step`]) and the `ip`/`bridge` commands that make it.

use std::fmt;
use std::net::Ipv4Addr;

use crate::cidr::Ipv4Net;
use crate::command::Command;
use crate::plan::{DesiredLink, LinkKind, VlanFlags};

/// One change to the node's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    DeleteLink {
        name: String,
    },
    CreateLink {
        link: DesiredLink,
    },
    SetMtu {
        name: String,
        mtu: u32,
    },
    SetVlanFiltering {
        name: String,
        on: bool,
    },
    SetMaster {
        name: String,
        master: Option<String>,
    },
    SetUp {
        name: String,
    },
    AddAddress {
        dev: String,
        addr: Ipv4Net,
    },
    DelAddress {
        dev: String,
        addr: Ipv4Net,
    },
    /// Replace the port's VLANs by exactly these.
    SetPortVlans {
        dev: String,
        vlans: Vec<(u16, VlanFlags)>,
    },
    AddFdb {
        dev: String,
        dst: Ipv4Addr,
    },
    DelFdb {
        dev: String,
        dst: Ipv4Addr,
    },
}

/// The all-zero MAC of head-end replication entries.
pub const ZERO_MAC: &str = "00:00:00:00:00:00";

impl Step {
    /// The command lines that carry the step out, in order.
    pub fn commands(&self) -> Vec<Command> {
        match self {
            Step::DeleteLink { name } => vec![Command::ip(&["link", "del", "dev", name])],
            Step::CreateLink { link } => create_commands(link),
            Step::SetMtu { name, mtu } => vec![Command::ip(&[
                "link",
                "set",
                "dev",
                name,
                "mtu",
                &mtu.to_string(),
            ])],
            Step::SetVlanFiltering { name, on } => {
                vec![Command::ip(&[
                    "link",
                    "set",
                    "dev",
                    name,
                    "type",
                    "bridge",
                    "vlan_filtering",
                    if *on { "1" } else { "0" },
                ])]
            }
            Step::SetMaster {
                name,
                master: Some(m),
            } => vec![Command::ip(&["link", "set", "dev", name, "master", m])],
            Step::SetMaster { name, master: None } => {
                vec![Command::ip(&["link", "set", "dev", name, "nomaster"])]
            }
            Step::SetUp { name } => vec![Command::ip(&["link", "set", "dev", name, "up"])],
            Step::AddAddress { dev, addr } => {
                vec![Command::ip(&["addr", "add", &addr.to_string(), "dev", dev])]
            }
            Step::DelAddress { dev, addr } => {
                vec![Command::ip(&["addr", "del", &addr.to_string(), "dev", dev])]
            }
            Step::SetPortVlans { dev, vlans } => {
                let mut c = vec![Command::bridge(&[
                    "vlan", "del", "dev", dev, "vid", "1-4094",
                ])];
                for (vid, flags) in vlans {
                    let vid = vid.to_string();
                    let mut args = vec!["vlan", "add", "dev", dev.as_str(), "vid", vid.as_str()];
                    if flags.pvid {
                        args.push("pvid");
                    }
                    if flags.untagged {
                        args.push("untagged");
                    }
                    c.push(Command::bridge(&args));
                }
                c
            }
            Step::AddFdb { dev, dst } => {
                vec![Command::bridge(&[
                    "fdb",
                    "append",
                    ZERO_MAC,
                    "dev",
                    dev,
                    "dst",
                    &dst.to_string(),
                ])]
            }
            Step::DelFdb { dev, dst } => vec![Command::bridge(&[
                "fdb",
                "del",
                ZERO_MAC,
                "dev",
                dev,
                "dst",
                &dst.to_string(),
            ])],
        }
    }
}

fn create_commands(link: &DesiredLink) -> Vec<Command> {
    let name = link.name.as_str();
    let alias = |n: &str| Command::ip(&["link", "set", "dev", n, "alias", &link.alias]);
    match &link.kind {
        // `vlan_filtering` only when asked: kernels without CONFIG_BRIDGE_VLAN_FILTERING refuse even `0`.
        LinkKind::Bridge {
            vlan_filtering: true,
        } => vec![
            Command::ip(&[
                "link",
                "add",
                "name",
                name,
                "type",
                "bridge",
                "vlan_filtering",
                "1",
            ]),
            alias(name),
        ],
        LinkKind::Bridge {
            vlan_filtering: false,
        } => {
            vec![
                Command::ip(&["link", "add", "name", name, "type", "bridge"]),
                alias(name),
            ]
        }
        LinkKind::Vxlan {
            vni,
            local,
            dstport,
        } => vec![
            Command::ip(&[
                "link",
                "add",
                "name",
                name,
                "type",
                "vxlan",
                "id",
                &vni.to_string(),
                "local",
                &local.to_string(),
                "dstport",
                &dstport.to_string(),
                "nolearning",
            ]),
            alias(name),
        ],
        LinkKind::Veth { peer, .. } => vec![
            Command::ip(&[
                "link", "add", "name", name, "type", "veth", "peer", "name", peer,
            ]),
            alias(name),
            alias(peer),
        ],
        LinkKind::Vlan { link: parent, vid } => vec![
            Command::ip(&[
                "link",
                "add",
                "link",
                parent,
                "name",
                name,
                "type",
                "vlan",
                "id",
                &vid.to_string(),
            ]),
            alias(name),
        ],
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::DeleteLink { name } => write!(f, "remove {name}"),
            Step::CreateLink { link } => write!(f, "create {} ({:?})", link.name, link.kind),
            Step::SetMtu { name, mtu } => write!(f, "set {name} mtu {mtu}"),
            Step::SetVlanFiltering { name, on } => write!(f, "set {name} vlan_filtering {on}"),
            Step::SetMaster { name, master } => write!(
                f,
                "set {name} master {}",
                master.as_deref().unwrap_or("none")
            ),
            Step::SetUp { name } => write!(f, "set {name} up"),
            Step::AddAddress { dev, addr } => write!(f, "add address {addr} to {dev}"),
            Step::DelAddress { dev, addr } => write!(f, "remove address {addr} from {dev}"),
            Step::SetPortVlans { dev, vlans } => {
                let vids: Vec<String> = vlans.iter().map(|(v, _)| v.to_string()).collect();
                write!(f, "set VLANs of {dev} to {}", vids.join(","))
            }
            Step::AddFdb { dev, dst } => write!(f, "add peer {dst} to {dev}"),
            Step::DelFdb { dev, dst } => write!(f, "remove peer {dst} from {dev}"),
        }
    }
}
