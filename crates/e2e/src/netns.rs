//! Per-node network namespaces for the SDN tests: a switch namespace with a bridge, one
//! namespace per node joined to it by a veth (the node's underlay), all deleted on drop.

use std::net::Ipv4Addr;
use std::process::Command;

use brigade_localcluster::netns::GuestNets;

/// Runs `ip ARGS`, panicking with its stderr when it fails; its stdout.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("spawn ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A switch namespace `<prefix>sw` (bridge `sw0`) and node namespaces `<prefix>n1..N`, node
/// `i` (1-based) at `10.<octet>.0.i/24` on its `u0`: [`GuestNets`], deleted on drop.
pub struct NodeNets {
    pub switch: String,
    pub nodes: Vec<String>,
    pub octet: u8,
    nets: GuestNets,
}

impl NodeNets {
    /// Creates them (deleting leftovers of an earlier run first).
    pub fn new(prefix: &str, octet: u8, n: u8) -> NodeNets {
        let nets = GuestNets::named(prefix, octet, usize::from(n));
        nets.create().expect("create the test's network namespaces");
        NodeNets {
            switch: nets.switch.clone(),
            nodes: nets.nodes.clone(),
            octet,
            nets,
        }
    }

    /// Node `k`'s (0-based) underlay address.
    pub fn underlay(&self, k: usize) -> Ipv4Addr {
        self.nets.underlay(k)
    }

    /// The names of the devices in namespace `ns`.
    pub fn links(ns: &str) -> Vec<String> {
        let out = ip(&["-n", ns, "-json", "link", "show"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("ip -json");
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The flood (all-zero MAC) destinations of `dev`'s forwarding database in `ns`.
    pub fn flood_dsts(ns: &str, dev: &str) -> Vec<String> {
        let out = Command::new("bridge")
            .args(["-n", ns, "-json", "fdb", "show", "dev", dev])
            .output()
            .expect("spawn bridge");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut dsts: Vec<String> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["mac"] == "00:00:00:00:00:00")
                    .filter_map(|e| e["dst"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        dsts.sort();
        dsts
    }
}

impl Drop for NodeNets {
    fn drop(&mut self) {
        self.nets.delete();
    }
}
