//! PURE: DHCP for a simple zone's vnet through dnsmasq: its arguments, the static hosts file
//! (MAC → address, kept in the cluster so a guest's lease follows it to any node) and a tiny
//! allocator picking a free address in a subnet's `dhcp-range`.
//!
//! dnsmasq serves from the vnet bridge's own address, so this is for simple zones (whose
//! gateway is on the bridge), as in Proxmox.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::cidr::Ipv4Net;
use crate::nic::Mac;
use crate::subnets_cfg::Subnet;

/// How long a lease lasts.
pub const LEASE_TIME: &str = "12h";

/// A fixed address for a guest NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DhcpHost {
    pub mac: Mac,
    pub ip: Ipv4Addr,
}

/// The dnsmasq arguments serving `subnets` (those of one vnet) on bridge `vnet`, with its
/// files under `dir` (`<vnet>.hosts`, `<vnet>.leases`, `<vnet>.pid`). DNS is off (`--port=0`);
/// dnsmasq stays in the foreground so its supervisor sees it exit.
pub fn dnsmasq_args(vnet: &str, subnets: &[&Subnet], dir: &Path) -> Vec<String> {
    let file = |ext: &str| dir.join(format!("{vnet}.{ext}")).display().to_string();
    let mut args = vec![
        "--conf-file=/dev/null".to_string(),
        "--keep-in-foreground".to_string(),
        "--no-resolv".to_string(),
        "--no-hosts".to_string(),
        "--port=0".to_string(),
        "--bind-interfaces".to_string(),
        format!("--interface={vnet}"),
        "--except-interface=lo".to_string(),
        format!("--dhcp-hostsfile={}", file("hosts")),
        format!("--dhcp-leasefile={}", file("leases")),
        format!("--pid-file={}", file("pid")),
    ];
    for s in subnets {
        let mask = Ipv4Addr::from(s.cidr.mask());
        let tag = format!("{vnet}-{}", s.cidr.prefix);
        for r in &s.dhcp_ranges {
            args.push(format!(
                "--dhcp-range=set:{tag},{},{},{mask},{LEASE_TIME}",
                r.start, r.end
            ));
        }
        if !s.dhcp_ranges.is_empty() {
            // Fixed hosts may lie outside the ranges but inside the subnet.
            args.push(format!(
                "--dhcp-range=set:{tag},{},static,{mask},{LEASE_TIME}",
                s.cidr.network()
            ));
        }
        if let Some(gw) = s.gateway {
            args.push(format!("--dhcp-option=tag:{tag},option:router,{gw}"));
        }
    }
    args
}

/// The dnsmasq hosts file: one `MAC,IP` line per host (dnsmasq rereads it on SIGHUP).
pub fn hosts_file(hosts: &[DhcpHost]) -> String {
    hosts
        .iter()
        .map(|h| format!("{},{}\n", h.mac, h.ip))
        .collect()
}

/// The first address of `subnet`'s DHCP ranges not in `used` (and not its gateway).
pub fn allocate(subnet: &Subnet, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    subnet.dhcp_ranges.iter().find_map(|r| {
        (u32::from(r.start)..=u32::from(r.end))
            .map(Ipv4Addr::from)
            .find(|ip| {
                !used.contains(ip)
                    && Some(*ip) != subnet.gateway
                    && Ipv4Net::is_host(&subnet.cidr, *ip)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subnets_cfg::parse_subnets;

    #[test]
    fn args_hosts_and_allocation() {
        let s = parse_subnets(
            "subnet: z-10.6.0.0-24\n\tvnet v1\n\tgateway 10.6.0.1\n\tdhcp-range start-address=10.6.0.10,end-address=10.6.0.11\n",
        )
        .expect("parse");
        let args = dnsmasq_args("v1", &[&s[0]], Path::new("/run/brigade/dhcp"));
        assert!(
            args.contains(
                &"--dhcp-range=set:v1-24,10.6.0.10,10.6.0.11,255.255.255.0,12h".to_string()
            ),
            "{args:?}"
        );
        assert!(
            args.contains(&"--dhcp-option=tag:v1-24,option:router,10.6.0.1".to_string()),
            "{args:?}"
        );
        assert!(
            args.contains(&"--dhcp-hostsfile=/run/brigade/dhcp/v1.hosts".to_string()),
            "{args:?}"
        );
        let mac = Mac::parse("BC:24:11:00:00:01").expect("mac");
        assert_eq!(
            hosts_file(&[DhcpHost {
                mac,
                ip: Ipv4Addr::new(10, 6, 0, 10)
            }]),
            "BC:24:11:00:00:01,10.6.0.10\n"
        );
        let mut used = BTreeSet::new();
        assert_eq!(allocate(&s[0], &used), Some(Ipv4Addr::new(10, 6, 0, 10)));
        used.insert(Ipv4Addr::new(10, 6, 0, 10));
        assert_eq!(allocate(&s[0], &used), Some(Ipv4Addr::new(10, 6, 0, 11)));
        used.insert(Ipv4Addr::new(10, 6, 0, 11));
        assert_eq!(allocate(&s[0], &used), None, "range exhausted");
    }
}
