//! Real dnsmasq on a simple zone's vnet in a namespace: a guest gets its fixed address.

// Test support: a failed expectation ends the test with its message.
#![allow(clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};

use brigade_sdn::config::SdnConfig;
use brigade_sdn::dhcp::{dnsmasq_args, hosts_file, DhcpHost};
use brigade_sdn::nic::Mac;
use brigade_sdn::node_net::NodeNetwork;
use common::{apply, guest, Netns};

/// Kills the dnsmasq it holds when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_guest_gets_its_fixed_address_from_dnsmasq() {
    assert!(
        Command::new("dnsmasq").arg("--version").output().is_ok(),
        "dnsmasq is not installed (apt-get install dnsmasq-base)"
    );
    let ns = Netns::new("d");
    let sdn = SdnConfig::parse(
        "simple: sz\n",
        "vnet: v1\n\tzone sz\n",
        "subnet: sz-10.6.0.0-24\n\tvnet v1\n\tgateway 10.6.0.1\n\tdhcp-range start-address=10.6.0.10,end-address=10.6.0.20\n",
    )
    .expect("parse");
    apply(
        &ns,
        "n1",
        &NodeNetwork::default(),
        &sdn,
        &std::collections::BTreeMap::default(),
    );
    let dir = std::env::temp_dir().join(format!("bsdn-dhcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mac = Mac::parse("BC:24:11:00:00:42").expect("mac");
    let fixed = "10.6.0.77".parse().expect("ip");
    std::fs::write(
        dir.join("v1.hosts"),
        hosts_file(&[DhcpHost { mac, ip: fixed }]),
    )
    .expect("hosts");
    let subnets: Vec<_> = sdn.subnets_of("v1").collect();
    let _dnsmasq = Daemon(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "dnsmasq"])
            .args(dnsmasq_args("v1", &subnets, &dir))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq"),
    );
    let g = guest(
        &ns,
        "g",
        400,
        &format!("name=eth0,bridge=v1,hwaddr={mac}"),
        "169.254.0.2/16",
        false,
    );
    // udhcpc retries (-t 10, 1 s apart) while dnsmasq starts; `-s /bin/true` leaves the address alone.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &g.name,
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "10",
            "-T",
            "1",
            "-s",
            "/bin/true",
        ])
        .output()
        .expect("udhcpc");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("lease of 10.6.0.77 obtained"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
