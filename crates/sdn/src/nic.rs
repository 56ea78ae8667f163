//! PURE: guest NICs: `netN` property strings parsed and checked (bridges, tags, duplicate
//! MACs) and stable MACs. The host devices and plug commands are in [`crate::plug`].
//!
//! VM form: `virtio=MAC,bridge=vmbr0[,tag=30][,firewall=0][,rate=MBps][,link_down=1][,mtu=N]`;
//! container form: `name=eth0,bridge=vmbr0[,hwaddr=MAC][,tag=..][,ip=..][,gw=..][,ip6=..][,gw6=..][,type=veth]...`.

use std::collections::BTreeMap;

use crate::config::SdnConfig;
use crate::error::{Result, SdnError};
pub use crate::mac::{Mac, PROXMOX_OUI};
use crate::node_net::NodeNetwork;
use crate::plan::DEFAULT_LINK_MTU;
use crate::plug::BridgeInfo;
use crate::validate::MAX_VLAN;

/// The NIC models QEMU gets, with their `-device` driver.
pub const NIC_MODELS: &[(&str, &str)] = &[
    ("virtio", "virtio-net-pci"),
    ("e1000", "e1000"),
    ("rtl8139", "rtl8139"),
    ("vmxnet3", "vmxnet3"),
];

/// A parsed guest NIC.
#[derive(Debug, Clone, PartialEq)]
pub struct Nic {
    /// The config key, `net0`.
    pub key: String,
    /// `virtio`, ... for VMs; `veth` for containers.
    pub model: String,
    pub mac: Option<Mac>,
    pub bridge: String,
    pub tag: Option<u16>,
    pub firewall: bool,
    /// MB/s.
    pub rate: Option<f64>,
    pub link_down: bool,
    pub mtu: Option<u32>,
    /// The container's interface name (`name=eth0`).
    pub ct_name: Option<String>,
    /// Container `ip=`/`gw=` (kept as text for the container driver).
    pub ct_ip: Option<String>,
    pub ct_gw: Option<String>,
    /// Container `ip6=`/`gw6=` (an IPv6 address/prefix, `auto`, `dhcp` or `manual`).
    pub ct_ip6: Option<String>,
    pub ct_gw6: Option<String>,
}

fn nic_err(key: &str, message: impl Into<String>) -> SdnError {
    SdnError::Nic {
        key: key.to_string(),
        message: message.into(),
    }
}

fn flag(key: &str, name: &str, v: &str) -> Result<bool> {
    match v {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(nic_err(key, format!("{name}={v:?}: expected 0 or 1"))),
    }
}

/// Parses the value of `key` (`net0`), VM or container form.
pub fn parse_nic(key: &str, value: &str) -> Result<Nic> {
    let mut nic = Nic {
        key: key.to_string(),
        model: String::new(),
        mac: None,
        bridge: String::new(),
        tag: None,
        firewall: false,
        rate: None,
        link_down: false,
        mtu: None,
        ct_name: None,
        ct_ip: None,
        ct_gw: None,
        ct_ip6: None,
        ct_gw6: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    for (i, item) in value.split(',').enumerate() {
        let (k, v) = item
            .split_once('=')
            .map(|(k, v)| (k.trim(), Some(v.trim())))
            .unwrap_or((item.trim(), None));
        if seen.contains(&k) {
            return Err(nic_err(key, format!("{k} given twice")));
        }
        seen.push(k);
        let need = || {
            v.filter(|v| !v.is_empty())
                .ok_or_else(|| nic_err(key, format!("{k} needs a value")))
        };
        let mac = |v: &str| {
            Mac::parse(v).ok_or_else(|| nic_err(key, format!("invalid MAC address {v:?}")))
        };
        match k {
            model if i == 0 && NIC_MODELS.iter().any(|(m, _)| *m == model) => {
                nic.model = model.to_string();
                nic.mac = v.map(mac).transpose()?;
            }
            "name" if i == 0 => {
                nic.model = "veth".into();
                let name = need()?;
                if !crate::is_ifname(name) {
                    return Err(nic_err(
                        key,
                        format!("name={name:?} is not a valid interface name"),
                    ));
                }
                nic.ct_name = Some(name.to_string());
            }
            _ if i == 0 => {
                let known: Vec<&str> = NIC_MODELS.iter().map(|(m, _)| *m).collect();
                return Err(nic_err(
                    key,
                    format!(
                        "unknown NIC model {k:?} (known: {}, or name= for containers)",
                        known.join(", ")
                    ),
                ));
            }
            "bridge" => nic.bridge = need()?.to_string(),
            "tag" => {
                let t: u16 = need()?.parse().map_err(|_| {
                    nic_err(key, format!("tag={:?} is not a number", v.unwrap_or("")))
                })?;
                if !(1..=MAX_VLAN as u16).contains(&t) {
                    return Err(nic_err(key, format!("tag={t} is outside 1-{MAX_VLAN}")));
                }
                nic.tag = Some(t);
            }
            "firewall" => nic.firewall = flag(key, k, need()?)?,
            "link_down" => nic.link_down = flag(key, k, need()?)?,
            "rate" => {
                let r: f64 = need()?
                    .parse()
                    .map_err(|_| nic_err(key, "rate is not a number (MB/s)"))?;
                if !(r.is_finite() && r > 0.0) {
                    return Err(nic_err(key, format!("rate={r} must be above 0 MB/s")));
                }
                nic.rate = Some(r);
            }
            "mtu" => {
                let m: u32 = need()?
                    .parse()
                    .map_err(|_| nic_err(key, "mtu is not a number"))?;
                if !(crate::validate::MIN_MTU..=crate::validate::MAX_MTU).contains(&m) {
                    return Err(nic_err(key, format!("mtu={m} is out of range")));
                }
                nic.mtu = Some(m);
            }
            "hwaddr" if nic.ct_name.is_some() => nic.mac = Some(mac(need()?)?),
            "ip" if nic.ct_name.is_some() => {
                let ip = need()?;
                if !matches!(ip, "dhcp" | "manual")
                    && crate::cidr::Ipv4Net::parse_addr(ip).is_none()
                {
                    return Err(nic_err(
                        key,
                        format!("ip={ip:?}: expected an IPv4 address/prefix, dhcp or manual"),
                    ));
                }
                nic.ct_ip = Some(ip.to_string());
            }
            "gw" if nic.ct_name.is_some() => {
                let gw = need()?;
                if gw.parse::<std::net::Ipv4Addr>().is_err() {
                    return Err(nic_err(key, format!("gw={gw:?} is not an IPv4 address")));
                }
                nic.ct_gw = Some(gw.to_string());
            }
            "ip6" if nic.ct_name.is_some() => {
                let ip = need()?;
                let cidr = ip.split_once('/').is_some_and(|(a, p)| {
                    a.parse::<std::net::Ipv6Addr>().is_ok()
                        && p.parse::<u8>().is_ok_and(|p| p <= 128)
                });
                if !cidr && !matches!(ip, "auto" | "dhcp" | "manual") {
                    return Err(nic_err(
                        key,
                        format!(
                            "ip6={ip:?}: expected an IPv6 address/prefix, auto, dhcp or manual"
                        ),
                    ));
                }
                nic.ct_ip6 = Some(ip.to_string());
            }
            "gw6" if nic.ct_name.is_some() => {
                let gw = need()?;
                if gw.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(nic_err(key, format!("gw6={gw:?} is not an IPv6 address")));
                }
                nic.ct_gw6 = Some(gw.to_string());
            }
            "type" if nic.ct_name.is_some() => {
                if need()? != "veth" {
                    return Err(nic_err(key, "type must be veth"));
                }
            }
            other => return Err(nic_err(key, format!("unknown property {other:?}"))),
        }
    }
    if nic.bridge.is_empty() {
        return Err(nic_err(key, "bridge= is required"));
    }
    Ok(nic)
}

impl Nic {
    /// The property string again (VM or container form), e.g. after [`Nic::with_mac`]
    /// filled in a generated MAC to be written back so it is kept.
    pub fn to_property_string(&self) -> String {
        let mut parts = Vec::new();
        match (&self.ct_name, self.mac) {
            (Some(name), _) => parts.push(format!("name={name}")),
            (None, Some(mac)) => parts.push(format!("{}={mac}", self.model)),
            (None, None) => parts.push(self.model.clone()),
        }
        parts.push(format!("bridge={}", self.bridge));
        if let (Some(_), Some(mac)) = (&self.ct_name, self.mac) {
            parts.push(format!("hwaddr={mac}"));
        }
        if let Some(tag) = self.tag {
            parts.push(format!("tag={tag}"));
        }
        if self.firewall {
            parts.push("firewall=1".into());
        }
        if let Some(rate) = self.rate {
            parts.push(format!("rate={rate}"));
        }
        if self.link_down {
            parts.push("link_down=1".into());
        }
        if let Some(mtu) = self.mtu {
            parts.push(format!("mtu={mtu}"));
        }
        if let Some(ip) = &self.ct_ip {
            parts.push(format!("ip={ip}"));
        }
        if let Some(gw) = &self.ct_gw {
            parts.push(format!("gw={gw}"));
        }
        if let Some(ip) = &self.ct_ip6 {
            parts.push(format!("ip6={ip}"));
        }
        if let Some(gw) = &self.ct_gw6 {
            parts.push(format!("gw6={gw}"));
        }
        parts.join(",")
    }

    /// The NIC with a MAC: its own, or one generated from `seed` (e.g. `"<cluster>/<vmid>/net0"`).
    pub fn with_mac(mut self, seed: &str) -> Nic {
        self.mac = Some(self.mac.unwrap_or_else(|| Mac::generate(seed)));
        self
    }
}

/// The bridges a NIC may name on a node: network.cfg bridges and the vnets deployed there,
/// each with whether a `tag=` is allowed (VLAN-aware) and its MTU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownBridges(pub BTreeMap<String, BridgeInfo>);

impl KnownBridges {
    /// The bridges of `node` (vnets over an underlay of [`DEFAULT_LINK_MTU`], as `sdn apply` plans them).
    pub fn of_node(node: &str, network: &NodeNetwork, sdn: &SdnConfig) -> KnownBridges {
        let mut m: BTreeMap<String, BridgeInfo> = network
            .bridges
            .iter()
            .map(|b| {
                let info = BridgeInfo {
                    vlan_aware: b.vlan_aware,
                    mtu: b.mtu,
                };
                (b.name.clone(), info)
            })
            .collect();
        for v in &sdn.vnets {
            if let Some(z) = sdn.zone(&v.zone).filter(|z| z.on_node(node)) {
                let info = BridgeInfo {
                    vlan_aware: v.vlanaware,
                    mtu: z.vnet_mtu(DEFAULT_LINK_MTU),
                };
                m.insert(v.id.clone(), info);
            }
        }
        KnownBridges(m)
    }

    /// What plugging into `bridge` needs, if it is known.
    pub fn info(&self, bridge: &str) -> Option<BridgeInfo> {
        self.0.get(bridge).copied()
    }
}

/// Refuses a NIC naming an unknown bridge, a tag on a bridge that is not VLAN-aware, or an
/// `mtu=` above the bridge's (a bridge without one has [`DEFAULT_LINK_MTU`]).
pub fn check_nic(nic: &Nic, bridges: &KnownBridges) -> Result<()> {
    let Some(info) = bridges.info(&nic.bridge) else {
        let known: Vec<&str> = bridges.0.keys().map(String::as_str).collect();
        return Err(nic_err(
            &nic.key,
            format!(
                "unknown bridge {:?} (known here: {})",
                nic.bridge,
                known.join(", ")
            ),
        ));
    };
    if let (Some(tag), false) = (nic.tag, info.vlan_aware) {
        return Err(nic_err(
            &nic.key,
            format!("tag={tag} needs a VLAN-aware bridge; {} is not", nic.bridge),
        ));
    }
    let limit = info.mtu.unwrap_or(DEFAULT_LINK_MTU);
    if let Some(mtu) = nic.mtu.filter(|m| *m > limit) {
        return Err(nic_err(
            &nic.key,
            format!(
                "mtu={mtu} is above the MTU of bridge {} ({limit})",
                nic.bridge
            ),
        ));
    }
    Ok(())
}

/// Refuses a MAC used by two NICs; `nics` are (guest id, NIC) across the cluster.
pub fn check_unique_macs(nics: &[(u32, &Nic)]) -> Result<()> {
    let mut seen: BTreeMap<Mac, (u32, &str)> = BTreeMap::new();
    for (vmid, nic) in nics {
        if let Some(mac) = nic.mac {
            if let Some((other, key)) = seen.insert(mac, (*vmid, &nic.key)) {
                return Err(nic_err(
                    &nic.key,
                    format!("MAC {mac} of guest {vmid} is already used by {key} of guest {other}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_net::parse_node_network;

    fn nic(v: &str) -> Result<Nic> {
        parse_nic("net0", v)
    }

    #[test]
    fn parses_vm_and_container_forms() {
        let n =
            nic("virtio=bc:24:11:00:00:01,bridge=vmbr0,tag=30,firewall=1,rate=12.5,link_down=1")
                .expect("vm");
        assert_eq!(
            n.mac.map(|m| m.to_string()).as_deref(),
            Some("BC:24:11:00:00:01")
        );
        assert_eq!(
            (n.tag, n.firewall, n.rate, n.link_down),
            (Some(30), true, Some(12.5), true)
        );
        let c = nic(
            "name=eth0,bridge=v1,hwaddr=BC:24:11:AA:BB:CC,ip=10.1.0.5/24,gw=10.1.0.1,type=veth",
        )
        .expect("ct");
        assert_eq!(c.ct_name.as_deref(), Some("eth0"));
        assert_eq!(c.model, "veth");
    }

    #[test]
    fn refusals_name_the_key() {
        for (v, needle) in [
            ("pcnet,bridge=vmbr0", "unknown NIC model"),
            ("virtio=zz,bridge=vmbr0", "invalid MAC"),
            ("virtio=01:00:00:00:00:01,bridge=vmbr0", "invalid MAC"),
            ("virtio,bridge=vmbr0,tag=4095", "tag=4095"),
            ("virtio,bridge=vmbr0,tag=0", "tag=0"),
            ("virtio,bridge=vmbr0,tag=x", "not a number"),
            ("virtio,tag=3", "bridge= is required"),
            ("virtio,bridge=vmbr0,rate=-1", "rate"),
            ("virtio,bridge=vmbr0,link_down=yes", "link_down"),
            ("virtio,bridge=vmbr0,bridge=vmbr1", "twice"),
            (
                "virtio,bridge=vmbr0,hwaddr=BC:24:11:00:00:01",
                "unknown property",
            ),
            ("name=eth0,bridge=v1,ip=10.1.0.5", "ip=\"10.1.0.5\""),
            ("name=eth0,bridge=v1,ip=10.1.0.5/24,gw=x", "gw=\"x\""),
            ("name=eth/0,bridge=v1", "not a valid interface name"),
            ("name=eth0,bridge=v1,ip6=fd00::5", "ip6=\"fd00::5\""),
            ("name=eth0,bridge=v1,gw6=10.0.0.1", "gw6="),
        ] {
            let e = nic(v).expect_err(v);
            assert!(
                e.to_string().starts_with("net0: ") && e.to_string().contains(needle),
                "{v}: {e}"
            );
        }
    }

    #[test]
    fn checks_bridges_tags_and_duplicate_macs() {
        let net = parse_node_network("iface vmbr0 inet manual\n\tbridge-ports none\n\tbridge-vlan-aware yes\n\niface vmbr1 inet manual\n\tbridge-ports none\n")
            .expect("net");
        let sdn = SdnConfig::parse("vxlan: z\n", "vnet: v1\n\tzone z\n\ttag 5\n", "").expect("sdn");
        let known = KnownBridges::of_node("n1", &net, &sdn);
        check_nic(&nic("virtio,bridge=vmbr0,tag=30").expect("n"), &known).expect("vlan-aware");
        check_nic(&nic("virtio,bridge=v1").expect("n"), &known).expect("vnet");
        let e = check_nic(&nic("virtio,bridge=vmbr7").expect("n"), &known).expect_err("unknown");
        assert!(e.to_string().contains("unknown bridge \"vmbr7\""), "{e}");
        let e = check_nic(&nic("virtio,bridge=vmbr1,tag=3").expect("n"), &known).expect_err("tag");
        assert!(e.to_string().contains("VLAN-aware"), "{e}");
        // MTUs: a vxlan vnet has the link's minus 50; a NIC may go lower, not above.
        assert_eq!(known.info("v1").and_then(|b| b.mtu), Some(1450));
        assert_eq!(known.info("vmbr0").and_then(|b| b.mtu), None);
        check_nic(&nic("virtio,bridge=v1,mtu=1400").expect("n"), &known).expect("lower");
        check_nic(&nic("virtio,bridge=v1,mtu=1450").expect("n"), &known).expect("equal");
        let e = check_nic(&nic("virtio,bridge=v1,mtu=1500").expect("n"), &known).expect_err("mtu");
        assert!(
            e.to_string()
                .contains("net0: mtu=1500 is above the MTU of bridge v1 (1450)"),
            "{e}"
        );
        let e =
            check_nic(&nic("virtio,bridge=vmbr0,mtu=9000").expect("n"), &known).expect_err("mtu");
        assert!(e.to_string().contains("(1500)"), "{e}");
        let a = nic("virtio=BC:24:11:00:00:01,bridge=v1").expect("a");
        let mut b = a.clone();
        b.key = "net1".into();
        let e = check_unique_macs(&[(100, &a), (101, &b)]).expect_err("dup");
        assert!(
            e.to_string().contains("net1") && e.to_string().contains("guest 100"),
            "{e}"
        );
        check_unique_macs(&[(100, &a)]).expect("single");
    }

    #[test]
    fn a_generated_mac_is_written_back_and_kept() {
        for v in [
            "virtio,bridge=vmbr0,tag=30,firewall=1,rate=12.5,link_down=1,mtu=1450",
            "name=eth0,bridge=v1,ip=10.1.0.5/24,gw=10.1.0.1,ip6=fd00::5/64,gw6=fd00::1",
        ] {
            let n = nic(v).expect("parse").with_mac("c1/100/net0");
            let text = n.to_property_string();
            assert!(
                text.contains(&Mac::generate("c1/100/net0").to_string()),
                "{text}"
            );
            let back = nic(&text).expect("reparse");
            assert_eq!(back, n);
            assert_eq!(
                back.clone().with_mac("other seed"),
                back,
                "an existing MAC is kept"
            );
        }
    }
}
