//! A node's own bridges, `nodes/<node>/network.cfg`, in ifupdown2 `/etc/network/interfaces` style.
//!
//! ```text
//! auto vmbr0
//! iface vmbr0 inet static
//!     address 10.0.0.1/24
//!     bridge-ports eth0
//!     bridge-vlan-aware yes
//!     mtu 1500
//! ```
//! An `iface` with `bridge-ports` (possibly `none`) is a bridge brigade creates and owns;
//! other stanzas (`iface eth0 inet manual`) are accepted and left alone. `#` starts a comment.

use crate::cidr::Ipv4Net;
use crate::error::{Result, SdnError};
use crate::is_ifname;

/// The path of `node`'s network config in the replicated tree.
pub fn node_network_path(node: &str) -> String {
    format!("nodes/{node}/network.cfg")
}

const FILE: &str = "network.cfg";

/// A bridge brigade owns on the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeBridge {
    pub name: String,
    /// Existing devices enslaved to the bridge (brigade never creates or deletes them).
    pub ports: Vec<String>,
    pub vlan_aware: bool,
    pub address: Option<Ipv4Net>,
    pub mtu: Option<u32>,
}

/// The node's network config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeNetwork {
    pub bridges: Vec<NodeBridge>,
}

impl NodeNetwork {
    /// The bridge called `name`.
    pub fn bridge(&self, name: &str) -> Option<&NodeBridge> {
        self.bridges.iter().find(|b| b.name == name)
    }
}

fn err(line: usize, message: impl Into<String>) -> SdnError {
    SdnError::Parse {
        file: FILE.to_string(),
        line,
        message: message.into(),
    }
}

struct Stanza {
    bridge: NodeBridge,
    is_bridge: bool,
}

/// Parses a network.cfg.
pub fn parse_node_network(text: &str) -> Result<NodeNetwork> {
    let mut stanzas: Vec<Stanza> = Vec::new();
    let mut current: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let mut words = content.split_whitespace();
        let keyword = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        match keyword {
            "auto" | "allow-hotplug" => {
                current = None;
                if let Some(bad) = rest.iter().find(|n| !is_ifname(n)) {
                    return Err(err(line, format!("{bad:?} is not a valid interface name")));
                }
            }
            "source" | "source-directory" => current = None,
            "iface" => {
                let [name, "inet", method] = rest.as_slice() else {
                    return Err(err(line, "expected `iface NAME inet static|manual`"));
                };
                if !is_ifname(name) {
                    return Err(err(
                        line,
                        format!("{name:?} is not a valid interface name (at most 15 characters)"),
                    ));
                }
                if !matches!(*method, "static" | "manual") {
                    return Err(err(
                        line,
                        format!("method {method:?} (known: static, manual)"),
                    ));
                }
                if stanzas.iter().any(|s| s.bridge.name == *name) {
                    return Err(err(line, format!("{name} is defined twice")));
                }
                stanzas.push(Stanza {
                    bridge: NodeBridge {
                        name: name.to_string(),
                        ..NodeBridge::default()
                    },
                    is_bridge: false,
                });
                current = Some(stanzas.len() - 1);
            }
            option => {
                let Some(stanza) = current.and_then(|i| stanzas.get_mut(i)) else {
                    return Err(err(line, format!("{option:?} outside of an iface stanza")));
                };
                let value = rest.join(" ");
                let b = &mut stanza.bridge;
                match option {
                    "address" => {
                        b.address = Some(Ipv4Net::parse_addr(&value).ok_or_else(|| {
                            err(line, format!("address {value:?}: expected a.b.c.d/n"))
                        })?);
                    }
                    "bridge-ports" | "bridge_ports" => {
                        stanza.is_bridge = true;
                        b.ports = rest
                            .iter()
                            .filter(|p| **p != "none")
                            .map(|p| p.to_string())
                            .collect();
                        if let Some(bad) = b.ports.iter().find(|p| !is_ifname(p)) {
                            return Err(err(
                                line,
                                format!("port {bad:?} is not a valid interface name"),
                            ));
                        }
                    }
                    "bridge-vlan-aware" => {
                        b.vlan_aware = match value.as_str() {
                            "yes" | "1" | "on" => true,
                            "no" | "0" | "off" => false,
                            _ => {
                                return Err(err(
                                    line,
                                    format!("bridge-vlan-aware {value:?}: expected yes or no"),
                                ))
                            }
                        };
                    }
                    "mtu" => {
                        b.mtu =
                            Some(value.parse().map_err(|_| {
                                err(line, format!("mtu {value:?} is not a number"))
                            })?);
                    }
                    // Accepted and not used by brigade.
                    "gateway" | "bridge-stp" | "bridge-fd" | "bridge-vids" | "netmask" => {}
                    other => return Err(err(line, format!("unknown option {other:?}"))),
                }
            }
        }
    }
    Ok(NodeNetwork {
        bridges: stanzas
            .into_iter()
            .filter(|s| s.is_bridge)
            .map(|s| s.bridge)
            .collect(),
    })
}

/// Writes a network.cfg for the bridges (ifupdown2 style).
pub fn write_node_network(net: &NodeNetwork) -> String {
    let mut out = String::new();
    for b in &net.bridges {
        out.push_str(&format!(
            "auto {0}\niface {0} inet {1}\n",
            b.name,
            if b.address.is_some() {
                "static"
            } else {
                "manual"
            }
        ));
        if let Some(a) = b.address {
            out.push_str(&format!("\taddress {a}\n"));
        }
        let ports = if b.ports.is_empty() {
            "none".to_string()
        } else {
            b.ports.join(" ")
        };
        out.push_str(&format!("\tbridge-ports {ports}\n"));
        if b.vlan_aware {
            out.push_str("\tbridge-vlan-aware yes\n");
        }
        if let Some(mtu) = b.mtu {
            out.push_str(&format!("\tmtu {mtu}\n"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_interfaces_stanzas() {
        let text = "auto lo\niface lo inet loopback\n";
        assert!(
            parse_node_network(text).is_err(),
            "loopback method is refused"
        );
        let text = "iface eth0 inet manual\n\nauto vmbr0\niface vmbr0 inet static\n  address 10.0.0.1/24\n  gateway 10.0.0.254\n\
                    \tbridge-ports eth0 # uplink\n\tbridge-stp off\n\tbridge-vlan-aware yes\n\tmtu 9000\n\n\
                    iface vmbr1 inet manual\n\tbridge-ports none\n";
        let net = parse_node_network(text).expect("parse");
        assert_eq!(net.bridges.len(), 2);
        let b = net.bridge("vmbr0").expect("vmbr0");
        assert_eq!(b.ports, vec!["eth0"]);
        assert!(b.vlan_aware);
        assert_eq!(b.mtu, Some(9000));
        assert_eq!(
            parse_node_network(&write_node_network(&net)).expect("reparse"),
            net
        );
        assert_eq!(node_network_path("n1"), "nodes/n1/network.cfg");
    }

    #[test]
    fn refusals_name_the_line() {
        let e = parse_node_network("iface vmbr0 inet manual\n\tbridge-ports eth0\n\tmtu big\n")
            .expect_err("mtu");
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse_node_network("iface averyveryverylongname inet manual\n").expect_err("name");
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_node_network("\tmtu 1500\n").expect_err("orphan");
        assert!(e.to_string().contains("outside"), "{e}");
    }
}
