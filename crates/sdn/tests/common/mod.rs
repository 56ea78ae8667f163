//! Real network namespaces for the integration tests: uniquely named, deleted on drop.

// Test support: a failed expectation ends the test with its message.
#![allow(clippy::expect_used)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use brigade_sdn::apply::{apply_node, ApplyReport, Runner};
use brigade_sdn::config::SdnConfig;
use brigade_sdn::nic::parse_nic;
use brigade_sdn::node_net::NodeNetwork;
use brigade_sdn::plan::PlanInput;
use brigade_sdn::plug::{plug_commands, veth_name, BridgeInfo, HostDevice};

/// Seconds busybox ping waits for a reply.
pub const PING_WAIT_S: &str = "2";

/// Runs a command, panicking with its stderr when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace that is deleted (with its devices) when dropped.
pub struct Netns {
    pub name: String,
}

/// Namespaces made by this process so far: tests running as threads of one process
/// (plain `cargo test`) get distinct names.
static MADE: AtomicU32 = AtomicU32::new(0);

impl Netns {
    /// Creates `bsdn-<pid>-<n>-<suffix>` with its loopback up.
    pub fn new(suffix: &str) -> Netns {
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("bsdn-{}-{n}-{suffix}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS ARGS`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", self.name.as_str()];
        full.extend(args);
        sh(&full)
    }

    /// The runner for brigade-sdn.
    pub fn runner(&self) -> Runner {
        Runner::netns(&self.name)
    }

    /// Whether `ping -c COUNT -s SIZE` from here to `ip` gets a reply.
    pub fn pings_size(&self, ip: &str, count: u32, size: u32) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "busybox",
                "ping",
                "-c",
                &count.to_string(),
                "-s",
                &size.to_string(),
                "-W",
                PING_WAIT_S,
                ip,
            ])
            .output()
            .expect("spawn ping")
            .status
            .success()
    }

    /// Whether `ping -c COUNT` from here to `ip` gets a reply.
    pub fn pings(&self, ip: &str, count: u32) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "busybox",
                "ping",
                "-c",
                &count.to_string(),
                "-W",
                PING_WAIT_S,
                ip,
            ])
            .output()
            .expect("spawn ping")
            .status
            .success()
    }

    /// The names of every device.
    pub fn link_names(&self) -> Vec<String> {
        let links: serde_json::Value =
            serde_json::from_str(&self.ip(&["-json", "link", "show"])).expect("json");
        let mut names: Vec<String> = links
            .as_array()
            .expect("array")
            .iter()
            .map(|l| l["ifname"].as_str().expect("name").to_string())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two "nodes" joined by a veth underlay: `na` 10.99.0.1, `nb` 10.99.0.2.
pub struct TwoNodes {
    pub a: Netns,
    pub b: Netns,
    pub addresses: BTreeMap<String, Ipv4Addr>,
}

impl TwoNodes {
    pub fn new() -> TwoNodes {
        let a = Netns::new("a");
        let b = Netns::new("b");
        a.ip(&[
            "link", "add", "ua", "type", "veth", "peer", "name", "ub", "netns", &b.name,
        ]);
        a.ip(&["addr", "add", "10.99.0.1/24", "dev", "ua"]);
        b.ip(&["addr", "add", "10.99.0.2/24", "dev", "ub"]);
        a.ip(&["link", "set", "ua", "up"]);
        b.ip(&["link", "set", "ub", "up"]);
        let addresses = BTreeMap::from([
            ("na".to_string(), Ipv4Addr::new(10, 99, 0, 1)),
            ("nb".to_string(), Ipv4Addr::new(10, 99, 0, 2)),
        ]);
        TwoNodes { a, b, addresses }
    }
}

/// Applies `sdn` on node `node` (in `ns`) and asserts every step succeeded.
pub fn apply(
    ns: &Netns,
    node: &str,
    network: &NodeNetwork,
    sdn: &SdnConfig,
    addresses: &BTreeMap<String, Ipv4Addr>,
) -> ApplyReport {
    let report = apply_node(
        &ns.runner(),
        &PlanInput {
            node,
            network,
            sdn,
            node_addresses: addresses,
            link_mtu: None,
        },
    )
    .expect("apply");
    assert!(report.ok(), "{:?}", report.errors());
    report
}

/// A container-like guest: a namespace whose `eth0` (address `cidr`) is a veth plugged into `bridge` on `host`.
pub fn guest(
    host: &Netns,
    suffix: &str,
    vmid: u32,
    nic: &str,
    cidr: &str,
    vlan_aware: bool,
) -> Netns {
    let bridge = BridgeInfo {
        vlan_aware,
        mtu: None,
    };
    guest_with_mtu(host, suffix, vmid, nic, cidr, bridge)
}

/// [`guest`] with the bridge's MTU given to both veth ends.
pub fn guest_with_mtu(
    host: &Netns,
    suffix: &str,
    vmid: u32,
    nic: &str,
    cidr: &str,
    bridge: BridgeInfo,
) -> Netns {
    let g = Netns::new(suffix);
    let nic = parse_nic("net0", nic).expect("nic");
    let dev = HostDevice::Veth {
        name: veth_name(vmid, 0),
        guest_netns: g.name.clone(),
        guest_name: "eth0".into(),
    };
    let runner = host.runner();
    for c in plug_commands(&dev, &nic, bridge) {
        runner.run(&c).expect("plug");
    }
    g.ip(&["addr", "add", cidr, "dev", "eth0"]);
    g.ip(&["link", "set", "eth0", "up"]);
    g
}

/// Three "nodes" `n1`-`n3` (10.98.0.1-3) on an underlay switch (a bridge in its own namespace).
pub struct ThreeNodes {
    pub switch: Netns,
    pub nodes: Vec<Netns>,
    pub addresses: BTreeMap<String, Ipv4Addr>,
}

impl ThreeNodes {
    pub fn new() -> ThreeNodes {
        let switch = Netns::new("sw");
        switch.ip(&["link", "add", "sw0", "type", "bridge"]);
        switch.ip(&["link", "set", "sw0", "up"]);
        let mut nodes = Vec::new();
        let mut addresses = BTreeMap::new();
        for i in 1..=3u8 {
            let node = Netns::new(&format!("n{i}"));
            let port = format!("p{i}");
            node.ip(&[
                "link",
                "add",
                "u0",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &switch.name,
            ]);
            switch.ip(&["link", "set", &port, "master", "sw0", "up"]);
            node.ip(&["addr", "add", &format!("10.98.0.{i}/24"), "dev", "u0"]);
            node.ip(&["link", "set", "u0", "up"]);
            addresses.insert(format!("n{i}"), Ipv4Addr::new(10, 98, 0, i));
            nodes.push(node);
        }
        ThreeNodes {
            switch,
            nodes,
            addresses,
        }
    }
}
