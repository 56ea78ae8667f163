//! PURE: API requests into zones, vnets and subnets (a change on top of the old one), and
//! back into rows. A bad value is refused with its key named.

use std::net::Ipv4Addr;

use brigade_api::sdn::{SubnetRequest, SubnetRow, VnetRequest, VnetRow, ZoneRequest, ZoneRow};
use brigade_sdn::cidr::Ipv4Net;
use brigade_sdn::subnets_cfg::{DhcpRange, Subnet};
use brigade_sdn::vnets_cfg::Vnet;
use brigade_sdn::zones_cfg::{Zone, ZoneKind};
use brigade_sdn::{is_ifname, is_sdn_id};

use crate::error::NodeError;

fn bad(key: &str, m: impl std::fmt::Display) -> NodeError {
    NodeError::Invalid(format!("{key}: {m}"))
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ' ', ';']).filter(|x| !x.is_empty())
}

fn check_id(key: &str, id: &str) -> Result<(), NodeError> {
    if is_sdn_id(id) {
        Ok(())
    } else {
        Err(bad(
            key,
            format!("{id:?} is not a letter then letters or digits, at most 8"),
        ))
    }
}

/// The zone `req` describes: new (`old` None, id from the request) or a change of `old`.
pub fn zone(old: Option<&Zone>, req: &ZoneRequest) -> Result<Zone, NodeError> {
    let id = match (old, &req.zone) {
        (Some(o), _) => o.id.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => return Err(bad("zone", "the zone id is required")),
    };
    check_id("zone", &id)?;
    let kind_name = match (old, req.kind.as_deref()) {
        (Some(o), Some(t)) if t != o.type_name() => {
            return Err(bad(
                "type",
                format!(
                    "zone {id} is {}; its type cannot change (remove it and add a new one)",
                    o.type_name()
                ),
            ))
        }
        (Some(o), _) => o.type_name(),
        (None, Some(t)) => t,
        (None, None) => return Err(bad("type", "simple, vlan or vxlan is required")),
    };
    let kind = match kind_name {
        "simple" => {
            if req.peers.is_some() || req.bridge.is_some() {
                return Err(bad("type", "a simple zone takes neither peers nor bridge"));
            }
            ZoneKind::Simple
        }
        "vlan" => {
            let bridge = match (&req.bridge, old.map(|o| &o.kind)) {
                (Some(b), _) => b.clone(),
                (None, Some(ZoneKind::Vlan { bridge })) => bridge.clone(),
                _ => return Err(bad("bridge", "a vlan zone needs the node bridge")),
            };
            if !is_ifname(&bridge) {
                return Err(bad(
                    "bridge",
                    format!("{bridge:?} is not an interface name"),
                ));
            }
            ZoneKind::Vlan { bridge }
        }
        "vxlan" => {
            let peers = match (&req.peers, old.map(|o| &o.kind)) {
                (Some(p), _) => list(p)
                    .map(|a| {
                        a.parse::<Ipv4Addr>()
                            .map_err(|_| bad("peers", format!("{a:?} is not an IPv4 address")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                (None, Some(ZoneKind::Vxlan { peers })) => peers.clone(),
                _ => Vec::new(),
            };
            ZoneKind::Vxlan { peers }
        }
        t => return Err(bad("type", format!("{t:?} is not simple, vlan or vxlan"))),
    };
    Ok(Zone {
        id,
        kind,
        mtu: req.mtu.or(old.and_then(|o| o.mtu)),
        nodes: match &req.nodes {
            Some(n) => list(n).map(String::from).collect(),
            None => old.map(|o| o.nodes.clone()).unwrap_or_default(),
        },
        line: 0,
    })
}

pub fn zone_row(z: &Zone) -> ZoneRow {
    let (peers, bridge) = match &z.kind {
        ZoneKind::Simple => (None, None),
        ZoneKind::Vlan { bridge } => (None, Some(bridge.clone())),
        ZoneKind::Vxlan { peers } => (
            Some(
                peers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            None,
        ),
    };
    ZoneRow {
        zone: z.id.clone(),
        kind: z.type_name().into(),
        peers,
        bridge,
        mtu: z.mtu,
        nodes: z.nodes.clone(),
    }
}

/// The vnet `req` describes, new or a change of `old`.
pub fn vnet(old: Option<&Vnet>, req: &VnetRequest) -> Result<Vnet, NodeError> {
    let id = match (old, &req.vnet) {
        (Some(o), _) => o.id.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => return Err(bad("vnet", "the vnet id is required")),
    };
    check_id("vnet", &id)?;
    let zone = match (&req.zone, old) {
        (Some(z), _) => z.clone(),
        (None, Some(o)) => o.zone.clone(),
        (None, None) => return Err(bad("zone", "a vnet needs its zone")),
    };
    check_id("zone", &zone)?;
    Ok(Vnet {
        id,
        zone,
        tag: req.tag.or(old.and_then(|o| o.tag)),
        alias: req
            .alias
            .clone()
            .or(old.and_then(|o| o.alias.clone()))
            .filter(|a| !a.is_empty()),
        vlanaware: req.vlanaware.unwrap_or(old.is_some_and(|o| o.vlanaware)),
        line: 0,
    })
}

pub fn vnet_row(v: &Vnet) -> VnetRow {
    VnetRow {
        vnet: v.id.clone(),
        zone: v.zone.clone(),
        tag: v.tag,
        alias: v.alias.clone(),
        vlanaware: v.vlanaware,
    }
}

fn range(s: &str) -> Result<DhcpRange, NodeError> {
    let (mut start, mut end) = (None, None);
    for item in s.split(',') {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| bad("dhcp-range", format!("expected key=value in {s:?}")))?;
        let ip: Ipv4Addr = v
            .trim()
            .parse()
            .map_err(|_| bad("dhcp-range", format!("{v:?} is not an IPv4 address")))?;
        match k.trim() {
            "start-address" => start = Some(ip),
            "end-address" => end = Some(ip),
            k => return Err(bad("dhcp-range", format!("unknown key {k:?}"))),
        }
    }
    match (start, end) {
        (Some(start), Some(end)) => Ok(DhcpRange { start, end }),
        _ => Err(bad("dhcp-range", "needs start-address and end-address")),
    }
}

/// The subnet `req` describes, new (its zone is its vnet's, `zone_of` finds it) or a change.
pub fn subnet(
    old: Option<&Subnet>,
    req: &SubnetRequest,
    zone_of: impl Fn(&str) -> Option<String>,
) -> Result<Subnet, NodeError> {
    let (cidr, vnet, zone) = if let Some(o) = old {
        if req.subnet.is_some() || req.vnet.is_some() {
            return Err(bad(
                "subnet",
                "the network and vnet of a subnet cannot change (remove it and add a new one)",
            ));
        }
        (o.cidr, o.vnet.clone(), o.zone.clone())
    } else {
        let s = req
            .subnet
            .as_deref()
            .ok_or_else(|| bad("subnet", "the network (10.5.0.0/24) is required"))?;
        let cidr = Ipv4Net::parse_network(s)
            .ok_or_else(|| bad("subnet", format!("{s:?} is not a network address/prefix")))?;
        let vnet = req
            .vnet
            .clone()
            .ok_or_else(|| bad("vnet", "a subnet needs its vnet"))?;
        let zone =
            zone_of(&vnet).ok_or_else(|| bad("vnet", format!("vnet {vnet:?} does not exist")))?;
        (cidr, vnet, zone)
    };
    let gateway = match &req.gateway {
        Some(g) if g.is_empty() => None,
        Some(g) => Some(
            g.parse::<Ipv4Addr>()
                .map_err(|_| bad("gateway", format!("{g:?} is not an IPv4 address")))?,
        ),
        None => old.and_then(|o| o.gateway),
    };
    let dhcp_ranges = match &req.dhcp_range {
        Some(r) if r.is_empty() => Vec::new(),
        Some(r) => vec![range(r)?],
        None => old.map(|o| o.dhcp_ranges.clone()).unwrap_or_default(),
    };
    Ok(Subnet {
        zone,
        cidr,
        vnet,
        gateway,
        snat: req.snat.unwrap_or(old.is_some_and(|o| o.snat)),
        dhcp_ranges,
        line: 0,
    })
}

pub fn subnet_row(s: &Subnet) -> SubnetRow {
    SubnetRow {
        id: s.id(),
        cidr: s.cidr.to_string(),
        zone: s.zone.clone(),
        vnet: s.vnet.clone(),
        gateway: s.gateway.map(|g| g.to_string()),
        snat: s.snat,
        dhcp_range: s
            .dhcp_ranges
            .iter()
            .map(|r| format!("start-address={},end-address={}", r.start, r.end))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_from_requests_name_the_bad_key() {
        let req = ZoneRequest {
            zone: Some("ovl".into()),
            kind: Some("vxlan".into()),
            peers: Some("10.0.0.1,10.0.0.2".into()),
            ..Default::default()
        };
        let z = zone(None, &req).expect("zone");
        assert_eq!(zone_row(&z).peers.as_deref(), Some("10.0.0.1,10.0.0.2"));
        let changed = zone(
            Some(&z),
            &ZoneRequest {
                mtu: Some(1400),
                ..Default::default()
            },
        )
        .expect("change");
        assert_eq!(changed.mtu, Some(1400));
        assert_eq!(changed.kind, z.kind);
        let e = |r: ZoneRequest| zone(None, &r).expect_err("refused").to_string();
        assert!(e(ZoneRequest {
            zone: Some("ovl".into()),
            kind: Some("vxlan".into()),
            peers: Some("10.0.0.x".into()),
            ..Default::default()
        })
        .starts_with("peers:"));
        assert!(e(ZoneRequest {
            zone: Some("1bad".into()),
            kind: Some("simple".into()),
            ..Default::default()
        })
        .starts_with("zone:"));
        assert!(e(ZoneRequest {
            zone: Some("v".into()),
            kind: Some("vlan".into()),
            ..Default::default()
        })
        .starts_with("bridge:"));
        assert!(e(ZoneRequest {
            zone: Some("v".into()),
            kind: Some("evpn".into()),
            ..Default::default()
        })
        .starts_with("type:"));
        let retype = zone(
            Some(&z),
            &ZoneRequest {
                kind: Some("simple".into()),
                ..Default::default()
            },
        );
        assert!(retype.is_err());
    }

    #[test]
    fn vnets_and_subnets_from_requests() {
        let v = vnet(
            None,
            &VnetRequest {
                vnet: Some("web".into()),
                zone: Some("ovl".into()),
                tag: Some(100),
                ..Default::default()
            },
        )
        .expect("vnet");
        assert_eq!(vnet_row(&v).tag, Some(100));
        assert!(vnet(None, &VnetRequest::default())
            .expect_err("no id")
            .to_string()
            .starts_with("vnet:"));
        let zone_of = |n: &str| (n == "web").then(|| "ovl".to_string());
        let s = subnet(
            None,
            &SubnetRequest {
                subnet: Some("10.5.0.0/24".into()),
                vnet: Some("web".into()),
                gateway: Some("10.5.0.1".into()),
                dhcp_range: Some("start-address=10.5.0.10,end-address=10.5.0.20".into()),
                ..Default::default()
            },
            zone_of,
        )
        .expect("subnet");
        let row = subnet_row(&s);
        assert_eq!(row.id, "ovl-10.5.0.0-24");
        assert_eq!(row.dhcp_range.len(), 1);
        let refused = |r: SubnetRequest, key: &str| {
            let e = subnet(None, &r, zone_of).expect_err(key).to_string();
            assert!(e.starts_with(key), "{e}");
        };
        refused(
            SubnetRequest {
                subnet: Some("10.5.0.0/24".into()),
                vnet: Some("nope".into()),
                ..Default::default()
            },
            "vnet:",
        );
        refused(
            SubnetRequest {
                subnet: Some("10.5.0.1".into()),
                vnet: Some("web".into()),
                ..Default::default()
            },
            "subnet:",
        );
        refused(
            SubnetRequest {
                subnet: Some("10.5.0.0/24".into()),
                vnet: Some("web".into()),
                gateway: Some("x".into()),
                ..Default::default()
            },
            "gateway:",
        );
    }
}
