//! An HA VM keeps its address on its vnet across a power cut (subnet 128, namespaces
//! bsd128*): HA appliance VM 1282 (n2, `ipconfig0` 10.54.0.2 on vxlan vnet blue) is pinged
//! every second by VM 1281 on n1; n2 loses power (daemon, watchdog helper and guests
//! SIGKILLed, its link to the switch cut); once HA recovered 1282 on a survivor, 1281's
//! pings of the same address answer again and so does its TCP counter. The outage (first
//! lost to first answered ping, as seen by the test polling 1281's console) is printed.
//! The HA VM's second NIC is on bridge vmbr9, which only n1 and n2 have (their
//! network.cfg): recovery skips n3, saying so in the cluster log, and picks n1.

use std::time::{Duration, Instant};

use brigade_core::layout::GuestKind;
use brigade_e2e::guests::guest_pid;
use brigade_e2e::netns::{ip, NodeNets};
use brigade_e2e::{eventually, EVENTUALLY_INTERVAL};

use crate::sdn::{overlay, pings, sdn_cluster, serial, vm_params, VM_NET_TIMEOUT};

const SUBNET: u8 = 128;
const NS_PREFIX: &str = "bsd128";
const PEER: u32 = 1281;
const HA_VM: u32 = 1282;
const PEER_IP: &str = "10.54.0.1";
const HA_IP: &str = "10.54.0.2";
/// An address of n1's namespace on blue, for the TCP counter.
const PROBE_CIDR: &str = "10.54.0.254/24";
/// Short HA timing, as the other HA tests have it.
const DATACENTER: &str = "ha: fence_timeout=6\n";
const NODE_TIMEOUT_SECS: u32 = 3;
/// A node bridge only n1 and n2 have, and the HA VM's second NIC on it.
const ONLY_N1_N2: &str = "auto vmbr9\niface vmbr9 inet manual\n    bridge-ports none\n";
/// Fencing (6 s after the node timeout), recovery and a cold boot under TCG.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// One connection to the HA VM's TCP counter from n1's namespace: its answer.
fn counter(ns: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "busybox", "nc", "-w", "3", HA_IP, "8"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn nc");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ha_vm_is_reachable_at_the_same_address_after_a_power_cut() {
    let nets = NodeNets::new(NS_PREFIX, SUBNET, 3);
    let mut c = sdn_cluster("ha_network", SUBNET, &nets).await;
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = NODE_TIMEOUT_SECS)
        .await
        .expect("node_timeout");
    let cfg = c.nodes[0].config_path.clone();
    overlay(&cfg).await;
    let n1 = c.client(0).expect("client");
    n1.fs_put("datacenter.cfg", DATACENTER)
        .await
        .expect("datacenter.cfg");
    n1.guest_create(
        "n1",
        GuestKind::Qemu,
        PEER,
        &vm_params("blue", PEER_IP, HA_IP),
        None,
        true,
    )
    .await
    .expect("create and start the peer on n1");
    for (k, node) in ["n1", "n2"].iter().enumerate() {
        n1.fs_put(&format!("nodes/{node}/network.cfg"), ONLY_N1_N2)
            .await
            .expect("network.cfg");
        let ns = nets.nodes[k].clone();
        eventually(VM_NET_TIMEOUT, "the node made vmbr9", || async {
            NodeNets::links(&ns).iter().any(|l| l == "vmbr9")
        })
        .await;
    }
    let mut ha_params = vm_params("blue", HA_IP, PEER_IP);
    ha_params.insert("net1".into(), "virtio,bridge=vmbr9".into());
    n1.guest_create("n2", GuestKind::Qemu, HA_VM, &ha_params, None, false)
        .await
        .expect("create the HA VM on n2");
    n1.ha_add(&brigade_node::ha::ops::ResourceRequest {
        sid: Some(format!("vm:{HA_VM}")),
        ..Default::default()
    })
    .await
    .expect("ha add");
    eventually(VM_NET_TIMEOUT, "the peer pings the HA VM on n2", || async {
        pings(&serial(&c, 0, PEER), HA_IP).0 >= 2
    })
    .await;
    ip(&[
        "-n",
        &nets.nodes[0],
        "addr",
        "add",
        PROBE_CIDR,
        "dev",
        "blue",
    ]);
    assert_eq!(counter(&nets.nodes[0]), "count 1", "the counter before");

    // The power cut: n2's daemon, watchdog helper and guests die, its link goes dark.
    let before = pings(&serial(&c, 0, PEER), HA_IP);
    let cut = Instant::now();
    c.power_cut(1);
    ip(&["-n", &nets.nodes[1], "link", "set", "u0", "down"]);

    // Sample the peer's console: the first lost ping, then the first answered one.
    let mut first_lost: Option<Instant> = None;
    let answered = brigade_core::poll_until(cut + RECOVERY_TIMEOUT, EVENTUALLY_INTERVAL, || {
        let (ok, fail) = pings(&serial(&c, 0, PEER), HA_IP);
        if first_lost.is_none() && fail > before.1 {
            first_lost = Some(Instant::now());
        }
        let back = first_lost.is_some() && ok > before.0 && fail > before.1;
        std::future::ready(back.then(Instant::now))
    })
    .await;
    let answered =
        answered.unwrap_or_else(|e| panic!("the peer's pings never answered again: {e}"));
    let lost = first_lost.expect("a ping was lost");
    let on = (0..3)
        .filter(|i| *i != 1)
        .find(|i| guest_pid(&c, *i, HA_VM).is_some())
        .expect("the HA VM runs on a survivor");
    let loc = n1.locate(HA_VM).await.expect("locate");
    assert_eq!(loc.node, c.nodes[on].name, "its config moved where it runs");
    assert_eq!(loc.node, "n1", "recovered where vmbr9 is, never on n3");
    let log = n1
        .fs_read("cluster.log", false)
        .await
        .expect("cluster log")
        .content
        .unwrap_or_default();
    assert!(
        log.contains("n3 lacks bridge vmbr9 (net1)"),
        "the cluster log says why not n3:\n{log}"
    );
    let tap = ip(&["-n", &nets.nodes[on], "-o", "link", "show", "tap1282i0"]);
    assert!(
        tap.contains("master blue"),
        "plugged on {}: {tap}",
        loc.node
    );
    eprintln!(
        "HA VM {HA_VM} at {HA_IP} back on {}: outage {:.1} s from the first lost to the first answered ping (1 s apart); {:.1} s after the power cut",
        loc.node,
        answered.duration_since(lost).as_secs_f64(),
        answered.duration_since(cut).as_secs_f64()
    );
    // The counter answers at the same address: a new boot counts from 1 again.
    eventually(
        VM_NET_TIMEOUT,
        "the recovered VM's counter answers",
        || async { counter(&nets.nodes[0]) == "count 1" },
    )
    .await;
    assert_eq!(counter(&nets.nodes[0]), "count 2", "the counter after");
    drop(c);
}
