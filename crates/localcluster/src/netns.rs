//! Per-node guest network stacks for a local cluster: a switch namespace `<prefix>sw`
//! (bridge `sw0`) and one namespace `<prefix>n<i>` per node joined to it by a veth (`u0`,
//! the node's VXLAN underlay `10.<octet>.0.<i>/24`). A node's `guest_netns` and
//! `sdn_underlay` point there, so its bridges, VXLAN devices and guest NICs are its own
//! while the daemon stays in the host namespace; cutting a node's `u0` cuts its guests off.

use std::net::Ipv4Addr;
use std::process::Command;

use crate::{LocalClusterError, Result};

/// Runs `ip ARGS`; its stdout.
fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(LocalClusterError::io("cannot run ip (iproute2)"))?;
    if !out.status.success() {
        return Err(LocalClusterError::Command(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The namespaces of a local cluster's guest networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNets {
    pub switch: String,
    /// Node `i`'s (0-based) namespace.
    pub nodes: Vec<String>,
    pub octet: u8,
}

impl GuestNets {
    /// The names for `n` nodes (nothing is created).
    pub fn named(prefix: &str, octet: u8, n: usize) -> GuestNets {
        GuestNets {
            switch: format!("{prefix}sw"),
            nodes: (1..=n).map(|i| format!("{prefix}n{i}")).collect(),
            octet,
        }
    }

    /// Node `k`'s (0-based) underlay address.
    pub fn underlay(&self, k: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, 0, u8::try_from(k + 1).unwrap_or(u8::MAX))
    }

    /// Creates them, deleting leftovers of an earlier run first.
    pub fn create(&self) -> Result<()> {
        self.delete();
        let sw = self.switch.as_str();
        ip(&["netns", "add", sw])?;
        ip(&["-n", sw, "link", "add", "sw0", "type", "bridge"])?;
        ip(&["-n", sw, "link", "set", "sw0", "up"])?;
        for (k, ns) in self.nodes.iter().enumerate() {
            let port = format!("p{}", k + 1);
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n", ns, "link", "add", "u0", "type", "veth", "peer", "name", &port, "netns", sw,
            ])?;
            ip(&["-n", sw, "link", "set", &port, "master", "sw0", "up"])?;
            let addr = format!("{}/24", self.underlay(k));
            ip(&["-n", ns, "addr", "add", &addr, "dev", "u0"])?;
            ip(&["-n", ns, "link", "set", "u0", "up"])?;
        }
        Ok(())
    }

    /// Deletes them (and every device in them); missing ones are fine.
    pub fn delete(&self) {
        for ns in self.nodes.iter().chain(std::iter::once(&self.switch)) {
            let _ = ip(&["netns", "del", ns]);
        }
    }

    /// Cuts (`up = false`) or restores node `k`'s link to the switch.
    pub fn set_link(&self, k: usize, up: bool) -> Result<()> {
        let ns = self
            .nodes
            .get(k)
            .ok_or_else(|| LocalClusterError::Command(format!("no node {k}")))?;
        ip(&[
            "-n",
            ns,
            "link",
            "set",
            "u0",
            if up { "up" } else { "down" },
        ])
        .map(|_| ())
    }
}
