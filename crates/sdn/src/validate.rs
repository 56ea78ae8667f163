//! Checks a whole SDN configuration before anything is applied; every problem is listed.

use std::collections::BTreeMap;

use crate::config::SdnConfig;
use crate::error::{Result, SdnError};
use crate::zones_cfg::ZoneKind;
use crate::{is_ifname, is_sdn_id};

/// The largest VLAN id.
pub const MAX_VLAN: u32 = 4094;
/// The largest VXLAN network identifier (24 bits).
pub const MAX_VNI: u32 = 16_777_215;
/// The smallest MTU a zone may ask for (IPv4's minimum datagram).
pub const MIN_MTU: u32 = 576;
/// The largest MTU a zone may ask for.
pub const MAX_MTU: u32 = 65_535;

/// Refuses `cfg` with [`SdnError::Invalid`] naming each problem, or accepts it.
pub fn validate(cfg: &SdnConfig) -> Result<()> {
    let mut problems = Vec::new();
    for z in &cfg.zones {
        if !is_sdn_id(&z.id) {
            problems.push(format!(
                "zone {:?}: ids are a letter then letters or digits, at most 8",
                z.id
            ));
        }
        if let Some(mtu) = z.mtu.filter(|m| !(MIN_MTU..=MAX_MTU).contains(m)) {
            problems.push(format!(
                "zone {}: mtu {mtu} is outside {MIN_MTU}-{MAX_MTU}",
                z.id
            ));
        }
        match &z.kind {
            ZoneKind::Vlan { bridge } if !is_ifname(bridge) => {
                problems.push(format!(
                    "zone {}: bridge {bridge:?} is not a valid interface name",
                    z.id
                ));
            }
            ZoneKind::Vxlan { peers } => {
                for (i, p) in peers.iter().enumerate() {
                    if peers[..i].contains(p) {
                        problems.push(format!("zone {}: peer {p} listed twice", z.id));
                    }
                }
            }
            _ => {}
        }
    }
    // VNIs across the cluster; VLAN tags per bridge.
    let mut vnis: BTreeMap<u32, &str> = BTreeMap::new();
    let mut vlans: BTreeMap<(&str, u32), &str> = BTreeMap::new();
    for v in &cfg.vnets {
        if !is_sdn_id(&v.id) {
            problems.push(format!(
                "vnet {:?}: ids are a letter then letters or digits, at most 8 (the vnet is a bridge of that name)",
                v.id
            ));
        }
        let Some(zone) = cfg.zone(&v.zone) else {
            problems.push(format!("vnet {}: unknown zone {:?}", v.id, v.zone));
            continue;
        };
        match (&zone.kind, v.tag) {
            (ZoneKind::Simple, Some(tag)) => {
                problems.push(format!(
                    "vnet {}: tag {tag} given but zone {} is simple",
                    v.id, zone.id
                ));
            }
            (ZoneKind::Simple, None) => {}
            (ZoneKind::Vlan { .. } | ZoneKind::Vxlan { .. }, None) => {
                problems.push(format!(
                    "vnet {}: zone {} ({}) needs a tag",
                    v.id,
                    zone.id,
                    zone.type_name()
                ));
            }
            (ZoneKind::Vlan { bridge }, Some(tag)) => {
                if !(1..=MAX_VLAN).contains(&tag) {
                    problems.push(format!(
                        "vnet {}: VLAN tag {tag} is outside 1-{MAX_VLAN}",
                        v.id
                    ));
                } else if let Some(other) = vlans.insert((bridge.as_str(), tag), &v.id) {
                    problems.push(format!("vnet {}: VLAN tag {tag} on bridge {bridge} is already used by vnet {other}", v.id));
                }
            }
            (ZoneKind::Vxlan { .. }, Some(tag)) => {
                if !(1..=MAX_VNI).contains(&tag) {
                    problems.push(format!("vnet {}: VNI {tag} is outside 1-{MAX_VNI}", v.id));
                } else if let Some(other) = vnis.insert(tag, &v.id) {
                    problems.push(format!(
                        "vnet {}: VNI {tag} is already used by vnet {other}",
                        v.id
                    ));
                }
            }
        }
    }
    for (i, s) in cfg.subnets.iter().enumerate() {
        let id = s.id();
        match cfg.vnets.iter().find(|v| v.id == s.vnet) {
            None => problems.push(format!("subnet {id}: unknown vnet {:?}", s.vnet)),
            Some(v) if v.zone != s.zone => {
                problems.push(format!(
                    "subnet {id}: vnet {} is in zone {}, not {}",
                    v.id, v.zone, s.zone
                ));
            }
            Some(_) => {}
        }
        if let Some(other) = cfg.subnets[..i].iter().find(|o| o.cidr.overlaps(&s.cidr)) {
            problems.push(format!("subnet {id}: overlaps subnet {}", other.id()));
        }
        if let Some(gw) = s.gateway.filter(|gw| !s.cidr.is_host(*gw)) {
            problems.push(format!(
                "subnet {id}: gateway {gw} is not a host address of {}",
                s.cidr
            ));
        }
        for r in &s.dhcp_ranges {
            if !s.cidr.is_host(r.start) || !s.cidr.is_host(r.end) {
                problems.push(format!(
                    "subnet {id}: dhcp-range {}-{} is outside {}",
                    r.start, r.end, s.cidr
                ));
            } else if r.start > r.end {
                problems.push(format!(
                    "subnet {id}: dhcp-range starts at {} after its end {}",
                    r.start, r.end
                ));
            } else if s.gateway.is_some_and(|gw| (r.start..=r.end).contains(&gw)) {
                problems.push(format!(
                    "subnet {id}: dhcp-range {}-{} contains the gateway",
                    r.start, r.end
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SdnError::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONES: &str =
        "simple: s1\n\nvlan: vl1\n\tbridge vmbr0\n\nvxlan: vx1\n\tpeers 10.0.0.1,10.0.0.2\n";

    fn check(vnets: &str, subnets: &str) -> Result<()> {
        validate(&SdnConfig::parse(ZONES, vnets, subnets).expect("parse"))
    }

    fn refused(vnets: &str, subnets: &str, needle: &str) {
        let e = check(vnets, subnets).expect_err(needle);
        assert!(
            e.to_string().contains(needle),
            "{e} should mention {needle:?}"
        );
    }

    #[test]
    fn a_good_config_passes() {
        check(
            "vnet: a\n\tzone s1\n\nvnet: b\n\tzone vl1\n\ttag 30\n\nvnet: c\n\tzone vx1\n\ttag 100\n",
            "subnet: s1-10.1.0.0-24\n\tvnet a\n\tgateway 10.1.0.1\n\tdhcp-range start-address=10.1.0.10,end-address=10.1.0.20\n\n\
             subnet: vx1-10.2.0.0-24\n\tvnet c\n",
        )
        .expect("valid");
    }

    #[test]
    fn every_refusal() {
        refused("vnet: a\n\tzone nope\n", "", "unknown zone");
        refused(
            "vnet: a\n\tzone vx1\n\ttag 16777216\n",
            "",
            "VNI 16777216 is outside",
        );
        refused("vnet: a\n\tzone vx1\n\ttag 0\n", "", "outside");
        refused("vnet: a\n\tzone vl1\n\ttag 4095\n", "", "VLAN tag 4095");
        refused(
            "vnet: a\n\tzone vx1\n\ttag 5\n\nvnet: b\n\tzone vx1\n\ttag 5\n",
            "",
            "VNI 5 is already used by vnet a",
        );
        refused(
            "vnet: a\n\tzone vl1\n\ttag 5\n\nvnet: b\n\tzone vl1\n\ttag 5\n",
            "",
            "VLAN tag 5 on bridge vmbr0",
        );
        refused("vnet: a\n\tzone vx1\n", "", "needs a tag");
        refused("vnet: a\n\tzone s1\n\ttag 3\n", "", "zone s1 is simple");
        refused("vnet: toolongname\n\tzone s1\n", "", "at most 8");
        refused("vnet: 1a\n\tzone s1\n", "", "at most 8");
        let two = "vnet: a\n\tzone s1\n\nvnet: b\n\tzone vx1\n\ttag 7\n";
        refused(
            two,
            "subnet: s1-10.1.0.0-16\n\tvnet a\n\nsubnet: vx1-10.1.5.0-24\n\tvnet b\n",
            "overlaps subnet s1-10.1.0.0-16",
        );
        refused(
            two,
            "subnet: s1-10.1.0.0-24\n\tvnet a\n\tgateway 10.2.0.1\n",
            "gateway 10.2.0.1",
        );
        refused(
            two,
            "subnet: s1-10.1.0.0-24\n\tvnet a\n\tgateway 10.1.0.255\n",
            "not a host address",
        );
        refused(two, "subnet: s1-10.1.0.0-24\n\tvnet a\n\tdhcp-range start-address=10.1.0.10,end-address=10.1.1.9\n", "outside");
        refused(two, "subnet: s1-10.1.0.0-24\n\tvnet a\n\tdhcp-range start-address=10.1.0.10,end-address=10.1.0.9\n", "after its end");
        refused(two, "subnet: s1-10.1.0.0-24\n\tvnet a\n\tgateway 10.1.0.10\n\tdhcp-range start-address=10.1.0.5,end-address=10.1.0.20\n", "contains the gateway");
        refused(two, "subnet: s1-10.1.0.0-24\n\tvnet zz\n", "unknown vnet");
        refused(two, "subnet: vx1-10.1.0.0-24\n\tvnet a\n", "is in zone s1");
        let e = validate(
            &SdnConfig::parse("vxlan: z\n\tpeers 10.0.0.1,10.0.0.1\n\tmtu 100\n", "", "")
                .expect("parse"),
        )
        .expect_err("zone");
        let text = e.to_string();
        assert!(
            text.contains("listed twice") && text.contains("mtu 100"),
            "{text}"
        );
    }
}
