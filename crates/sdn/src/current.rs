//! Parses what the kernel reports (`ip -json -details link show`, `ip -json addr show`,
//! `bridge -json fdb show`, `bridge -json vlan show`) into a [`CurrentState`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::cidr::Ipv4Net;
use crate::error::{Result, SdnError};
use crate::plan::VlanFlags;
use crate::OWNED_ALIAS_PREFIX;

/// What kind of device a current link is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrentKind {
    Bridge {
        vlan_filtering: bool,
    },
    Vxlan {
        vni: u32,
        local: Option<Ipv4Addr>,
        dstport: u16,
    },
    Veth {
        peer: Option<String>,
    },
    Vlan {
        link: Option<String>,
        vid: u16,
    },
    Other(String),
}

/// One device as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentLink {
    pub ifindex: u32,
    pub name: String,
    pub kind: CurrentKind,
    pub alias: Option<String>,
    pub master: Option<String>,
    pub mtu: u32,
    pub up: bool,
}

impl CurrentLink {
    /// Whether `sdn apply` created this device.
    pub fn owned(&self) -> bool {
        self.alias
            .as_deref()
            .is_some_and(|a| a.starts_with(OWNED_ALIAS_PREFIX))
    }
}

/// The node's devices, addresses, VLANs and all-zero FDB entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentState {
    pub links: BTreeMap<String, CurrentLink>,
    pub addresses: BTreeSet<(String, Ipv4Net)>,
    pub port_vlans: BTreeMap<String, BTreeMap<u16, VlanFlags>>,
    pub fdb: BTreeSet<(String, Ipv4Addr)>,
}

impl CurrentState {
    /// The MTU of the device holding `ip` (the underlay link of a VXLAN).
    pub fn mtu_of_address(&self, ip: Ipv4Addr) -> Option<u32> {
        let (dev, _) = self.addresses.iter().find(|(_, a)| a.addr == ip)?;
        self.links.get(dev).map(|l| l.mtu)
    }
}

#[derive(Deserialize)]
struct JsonLink {
    ifindex: u32,
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    mtu: u32,
    master: Option<String>,
    ifalias: Option<String>,
    link: Option<String>,
    linkinfo: Option<JsonLinkInfo>,
}

#[derive(Deserialize)]
struct JsonLinkInfo {
    info_kind: Option<String>,
    info_data: Option<serde_json::Value>,
}

fn json<'a, T: Deserialize<'a>>(command: &str, text: &'a str) -> Result<T> {
    let text = if text.trim().is_empty() { "[]" } else { text };
    serde_json::from_str(text).map_err(|source| SdnError::Json {
        command: command.to_string(),
        source,
    })
}

/// Parses `ip -json -details link show`.
pub fn parse_links(text: &str) -> Result<BTreeMap<String, CurrentLink>> {
    let links: Vec<JsonLink> = json("ip -json -details link show", text)?;
    Ok(links
        .into_iter()
        .map(|l| {
            let info = l.linkinfo.as_ref();
            let data = info.and_then(|i| i.info_data.as_ref());
            let num = |key: &str| {
                data.and_then(|d| d.get(key))
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0)
            };
            let kind = match info.and_then(|i| i.info_kind.as_deref()) {
                Some("bridge") => CurrentKind::Bridge {
                    vlan_filtering: num("vlan_filtering") == 1,
                },
                Some("vxlan") => CurrentKind::Vxlan {
                    vni: u32::try_from(num("id")).unwrap_or(0),
                    local: data
                        .and_then(|d| d.get("local"))
                        .and_then(|v| v.as_str())
                        .and_then(|s| s.parse().ok()),
                    dstport: u16::try_from(num("port")).unwrap_or(0),
                },
                Some("veth") => CurrentKind::Veth {
                    peer: l.link.clone(),
                },
                Some("vlan") => CurrentKind::Vlan {
                    link: l.link.clone(),
                    vid: u16::try_from(num("id")).unwrap_or(0),
                },
                other => CurrentKind::Other(other.unwrap_or("").to_string()),
            };
            let link = CurrentLink {
                ifindex: l.ifindex,
                name: l.ifname.clone(),
                kind,
                alias: l.ifalias,
                master: l.master,
                mtu: l.mtu,
                up: l.flags.iter().any(|f| f == "UP"),
            };
            (l.ifname, link)
        })
        .collect())
}

#[derive(Deserialize)]
struct JsonAddrLink {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<JsonAddr>,
}

#[derive(Deserialize)]
struct JsonAddr {
    family: Option<String>,
    local: Option<String>,
    prefixlen: Option<u8>,
}

/// Parses `ip -json addr show` (IPv4 only).
pub fn parse_addresses(text: &str) -> Result<BTreeSet<(String, Ipv4Net)>> {
    let links: Vec<JsonAddrLink> = json("ip -json addr show", text)?;
    let mut out = BTreeSet::new();
    for l in links {
        for a in l
            .addr_info
            .iter()
            .filter(|a| a.family.as_deref() == Some("inet"))
        {
            if let (Some(Ok(addr)), Some(prefix)) =
                (a.local.as_deref().map(str::parse::<Ipv4Addr>), a.prefixlen)
            {
                out.insert((l.ifname.clone(), Ipv4Net { addr, prefix }));
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct JsonFdb {
    mac: String,
    ifname: String,
    dst: Option<String>,
}

/// Parses `bridge -json fdb show`, keeping the all-zero entries with a `dst` (head-end replication).
pub fn parse_fdb(text: &str) -> Result<BTreeSet<(String, Ipv4Addr)>> {
    let entries: Vec<JsonFdb> = json("bridge -json fdb show", text)?;
    Ok(entries
        .into_iter()
        .filter(|e| e.mac == "00:00:00:00:00:00")
        .filter_map(|e| Some((e.ifname, e.dst?.parse().ok()?)))
        .collect())
}

#[derive(Deserialize)]
struct JsonVlanPort {
    ifname: String,
    #[serde(default)]
    vlans: Vec<JsonVlan>,
}

#[derive(Deserialize)]
struct JsonVlan {
    vlan: u16,
    #[serde(rename = "vlanEnd")]
    vlan_end: Option<u16>,
    #[serde(default)]
    flags: Vec<String>,
}

/// Parses `bridge -json vlan show` (ranges expanded).
pub fn parse_vlans(text: &str) -> Result<BTreeMap<String, BTreeMap<u16, VlanFlags>>> {
    let ports: Vec<JsonVlanPort> = json("bridge -json vlan show", text)?;
    Ok(ports
        .into_iter()
        .map(|p| {
            let mut vids = BTreeMap::new();
            for v in p.vlans {
                let flags = VlanFlags {
                    pvid: v.flags.iter().any(|f| f == "PVID"),
                    untagged: v.flags.iter().any(|f| f == "Egress Untagged"),
                };
                for vid in v.vlan..=v.vlan_end.unwrap_or(v.vlan) {
                    vids.insert(vid, flags);
                }
            }
            (p.ifname, vids)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_json() {
        let links = parse_links(
            r#"[{"ifindex":7,"ifname":"vxlan_v1","flags":["BROADCAST","UP"],"mtu":1450,"master":"v1",
                "ifalias":"brigade:sdn:vxlan","linkinfo":{"info_kind":"vxlan","info_data":{"id":100,"local":"10.0.0.1","port":4789,"learning":false}}},
               {"ifindex":8,"ifname":"ln_v1","link":"pr_v1","flags":[],"mtu":1500,"linkinfo":{"info_kind":"veth"}},
               {"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536}]"#,
        )
        .expect("links");
        let vx = &links["vxlan_v1"];
        assert!(vx.owned() && vx.up);
        assert_eq!(
            vx.kind,
            CurrentKind::Vxlan {
                vni: 100,
                local: Some(Ipv4Addr::new(10, 0, 0, 1)),
                dstport: 4789
            }
        );
        assert_eq!(
            links["ln_v1"].kind,
            CurrentKind::Veth {
                peer: Some("pr_v1".into())
            }
        );
        assert!(!links["lo"].owned());
        let fdb = parse_fdb(
            r#"[{"mac":"00:00:00:00:00:00","ifname":"vxlan_v1","dst":"10.0.0.2","flags":["self"],"state":"permanent"},
               {"mac":"aa:bb:cc:00:00:01","ifname":"vxlan_v1","dst":"10.0.0.3"}]"#,
        )
        .expect("fdb");
        assert_eq!(fdb.len(), 1);
        let addrs = parse_addresses(
            r#"[{"ifname":"v1","addr_info":[{"family":"inet","local":"10.5.0.1","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]}]"#,
        )
        .expect("addr");
        assert_eq!(addrs.len(), 1);
        let vlans = parse_vlans(r#"[{"ifname":"eth0","vlans":[{"vlan":1,"flags":["PVID","Egress Untagged"]},{"vlan":5,"vlanEnd":7}]}]"#)
            .expect("vlans");
        assert_eq!(vlans["eth0"].len(), 4);
        assert!(vlans["eth0"][&1].pvid && !vlans["eth0"][&6].untagged);
        assert!(parse_links("not json").is_err());
    }
}
