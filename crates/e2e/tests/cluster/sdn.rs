//! SDN on a 3-node cluster whose nodes each have their own network namespace (bsd117n1-3,
//! underlay 10.117.0.x through the switch namespace bsd117sw): a vxlan zone with two vnets
//! applied through the CLI gives every node the bridges and VXLAN devices at the same
//! version, the overlay carries traffic between nodes, and broken configurations (a VNI used
//! twice, an unknown zone, overlapping subnets) are refused by `sdn apply`, changing nothing.
//! With VMs (subnet 118, namespaces bsd118*): two appliance VMs on different nodes on vnet
//! blue ping each other, a third on vnet red (same IP subnet, another VNI) reaches neither,
//! and the appliance's TCP counter answers across the overlay.

use std::path::Path;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_e2e::netns::{ip, NodeNets};
use brigade_e2e::{bin, brigade, brigade_json, brigade_ok, eventually, holds_for, test_dir};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

const SUBNET: u8 = 117;
/// The namespaces' prefix and the underlay's second octet (10.117.0.x).
const NS_PREFIX: &str = "bsd117";
/// Two 10 s samples of a guest (a rate needs both), with margin for a loaded machine.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long every node may take to apply a configuration (1 s rounds, a few rounds).
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused configuration is watched for not reaching any node.
const REFUSED_WATCH: Duration = Duration::from_secs(3);
/// The VNIs of the two vnets.
const BLUE_VNI: &str = "11000";
const RED_VNI: &str = "12000";

/// Forms a 3-node cluster on 127.0.`subnet`.x whose node i has guest_netns `nets.nodes[i]`
/// and its underlay address.
pub async fn sdn_cluster(name: &str, subnet: u8, nets: &NodeNets) -> ProcCluster {
    sdn_cluster_with(name, subnet, nets, None).await
}

/// [`sdn_cluster`] whose node i also has link1 127.0.`link1_subnet`.i when given.
pub async fn sdn_cluster_with(
    name: &str,
    subnet: u8,
    nets: &NodeNets,
    link1_subnet: Option<u8>,
) -> ProcCluster {
    let mut c = ProcCluster::new(&bin(), &test_dir(name), subnet, RaftTuning::default());
    c.link1_subnet = link1_subnet;
    let names = nets.nodes.clone();
    let underlays: Vec<_> = (0..names.len()).map(|k| nets.underlay(k)).collect();
    c.configure = Some(Box::new(move |i, config| {
        config.guest_netns = names.get(i).cloned();
        config.sdn_underlay = underlays.get(i).copied();
    }));
    for _ in 0..nets.nodes.len() {
        c.spawn_node().expect("spawn node");
    }
    for i in 0..c.nodes.len() {
        c.wait_api(i).await.expect("api up");
    }
    c.create("test").await.expect("cluster create");
    for i in 1..c.nodes.len() {
        c.join(i).await.expect("join");
    }
    let all: Vec<usize> = (0..c.nodes.len()).collect();
    c.wait_quorate(&all).await.expect("quorum");
    c
}

/// `sdn status`: the running version, and whether every node has it applied.
pub fn all_applied(cfg: &Path) -> (Option<String>, bool, serde_json::Value) {
    let st = brigade_json(cfg, &["sdn", "status"]);
    let version = st["version"].as_str().map(str::to_string);
    let nodes = st["nodes"].as_array().cloned().unwrap_or_default();
    let ok = nodes.len() == 3
        && nodes.iter().all(|n| {
            n["state"] == "available" && n["applied_version"].as_str() == version.as_deref()
        });
    (version, ok, st)
}

/// Adds zone `ovl` (vxlan, peers from the nodes' underlays) with vnets `blue` and `red`,
/// applies it and waits until every node runs it; the version.
pub async fn overlay(cfg: &Path) -> String {
    brigade_ok(cfg, &["sdn", "zone", "add", "ovl", "--type", "vxlan"]);
    for (vnet, vni) in [("blue", BLUE_VNI), ("red", RED_VNI)] {
        brigade_ok(
            cfg,
            &["sdn", "vnet", "add", vnet, "--zone", "ovl", "--tag", vni],
        );
    }
    let applied = brigade_json(cfg, &["sdn", "apply"]);
    let version = applied["version"].as_str().expect("version").to_string();
    eventually(APPLY_TIMEOUT, "every node applied the overlay", || async {
        let (v, ok, _) = all_applied(cfg);
        ok && v.as_deref() == Some(version.as_str())
    })
    .await;
    version
}

/// Applies a broken pending configuration: refused naming `why`, the running version unchanged.
async fn refused(cfg: &Path, nets: &NodeNets, version: &str, why: &str, absent: &str) {
    let (ok, out, err) = brigade(cfg, &["sdn", "apply"]);
    assert!(
        !ok,
        "sdn apply accepted a broken configuration ({why}): {out}"
    );
    assert!(err.contains(why), "the refusal names {why:?}: {err}");
    let (v, all, st) = all_applied(cfg);
    assert_eq!(v.as_deref(), Some(version), "running version changed: {st}");
    assert!(all, "every node still runs {version}: {st}");
    assert_eq!(st["pending"], true, "the broken edit is pending: {st}");
    holds_for(
        REFUSED_WATCH,
        "no node applies the refused config",
        || async {
            nets.nodes
                .iter()
                .all(|ns| !NodeNets::links(ns).iter().any(|l| l == absent))
                && all_applied(cfg).1
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vxlan_zone_reaches_every_node_and_broken_configs_are_refused() {
    let nets = NodeNets::new(NS_PREFIX, SUBNET, 3);
    let c = sdn_cluster("sdn", SUBNET, &nets).await;
    let cfg = c.nodes[0].config_path.clone();
    let version = overlay(&cfg).await;

    let underlays: Vec<String> = (0..3).map(|k| nets.underlay(k).to_string()).collect();
    for (k, ns) in nets.nodes.iter().enumerate() {
        let links = NodeNets::links(ns);
        for dev in ["blue", "red", "vxlan_blue", "vxlan_red"] {
            assert!(
                links.iter().any(|l| l == dev),
                "{ns} lacks {dev}: {links:?}"
            );
        }
        let details = ip(&["-n", ns, "-d", "link", "show", "vxlan_blue"]);
        assert!(
            details.contains(&format!("id {BLUE_VNI}")) && details.contains("dstport 4789"),
            "{details}"
        );
        let mut peers: Vec<String> = underlays.clone();
        peers.remove(k);
        eventually(
            APPLY_TIMEOUT,
            "the VXLAN floods to both other nodes",
            || {
                let want = peers.clone();
                async move { NodeNets::flood_dsts(ns, "vxlan_blue") == want }
            },
        )
        .await;
    }

    // The overlay carries traffic: addresses on blue in n1 and n3 ping each other.
    ip(&[
        "-n",
        &nets.nodes[0],
        "addr",
        "add",
        "10.51.0.1/24",
        "dev",
        "blue",
    ]);
    ip(&[
        "-n",
        &nets.nodes[2],
        "addr",
        "add",
        "10.51.0.3/24",
        "dev",
        "blue",
    ]);
    let ping = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &nets.nodes[0],
            "busybox",
            "ping",
            "-c",
            "3",
            "-W",
            "2",
        ])
        .arg("10.51.0.3")
        .output()
        .expect("spawn ping");
    assert!(
        ping.status.success(),
        "n1 -> n3 over vxlan blue: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    ip(&[
        "-n",
        &nets.nodes[0],
        "addr",
        "del",
        "10.51.0.1/24",
        "dev",
        "blue",
    ]);
    ip(&[
        "-n",
        &nets.nodes[2],
        "addr",
        "del",
        "10.51.0.3/24",
        "dev",
        "blue",
    ]);

    // A VNI used twice.
    brigade_ok(
        &cfg,
        &[
            "sdn", "vnet", "add", "dup", "--zone", "ovl", "--tag", BLUE_VNI,
        ],
    );
    refused(&cfg, &nets, &version, "is already used by vnet", "dup").await;
    brigade_ok(&cfg, &["sdn", "vnet", "remove", "dup"]);

    // An unknown zone.
    brigade_ok(&cfg, &["sdn", "vnet", "add", "lost", "--zone", "nozone"]);
    refused(&cfg, &nets, &version, "unknown zone", "lost").await;
    brigade_ok(&cfg, &["sdn", "vnet", "remove", "lost"]);

    // Overlapping subnets.
    brigade_ok(
        &cfg,
        &["sdn", "subnet", "add", "10.50.0.0/24", "--vnet", "blue"],
    );
    brigade_ok(
        &cfg,
        &["sdn", "subnet", "add", "10.50.0.0/25", "--vnet", "red"],
    );
    refused(&cfg, &nets, &version, "overlaps subnet", "vxlan_dup").await;

    // Fixed, it applies: a new version on every node.
    brigade_ok(&cfg, &["sdn", "subnet", "remove", "ovl-10.50.0.0-25"]);
    let next = brigade_json(&cfg, &["sdn", "apply"]);
    let next = next["version"].as_str().expect("version").to_string();
    assert_ne!(next, version, "the subnet changes the version");
    eventually(
        APPLY_TIMEOUT,
        "every node applied the fixed config",
        || async {
            let (v, ok, _) = all_applied(&cfg);
            ok && v.as_deref() == Some(next.as_str())
        },
    )
    .await;
    drop(c);
}

/// The second cluster's subnet and namespaces (VMs on the overlay).
const VM_SUBNET: u8 = 118;
const VM_NS_PREFIX: &str = "bsd118";
/// How long an appliance VM may take to boot and configure eth0 (TCG on a busy machine).
pub const VM_NET_TIMEOUT: Duration = Duration::from_secs(90);
/// The appliance's memory (the cloud kernel does not boot in 64 MiB).
const VM_MEMORY_MIB: u64 = 128;
/// How many of 1181's pings (1 s apart, 1 s timeout) may fail across 1182's live migration.
const MIGRATION_LOST_PINGS: usize = 2;
/// How many pings of the isolated VM must fail while its peers' succeed.
const ISOLATED_PINGS: usize = 5;

/// The serial log of VM `vmid` on node `i`.
pub fn serial(c: &ProcCluster, i: usize, vmid: u32) -> String {
    let log = std::fs::read(c.run_dir(i).join(format!("{vmid}.serial.log"))).unwrap_or_default();
    String::from_utf8_lossy(&log).into_owned()
}

/// How many `ping PEER ok` and `ping PEER fail` lines a VM printed.
pub fn pings(log: &str, peer: &str) -> (usize, usize) {
    let ok = format!("ping {peer} ok");
    let fail = format!("ping {peer} fail");
    let count = |want: &str| log.lines().filter(|l| l.trim() == want).count();
    (count(&ok), count(&fail))
}

/// An appliance VM with `net0` on `bridge`, address `ip` and pinging `peer`.
pub fn vm_params(bridge: &str, ip: &str, peer: &str) -> std::collections::BTreeMap<String, String> {
    let appliance = brigade_e2e::guests::appliance();
    let mut p = brigade_guest::vm_config::appliance_params(
        appliance.to_str().expect("utf-8"),
        VM_MEMORY_MIB,
        None,
    );
    p.insert(
        "append".into(),
        format!(
            "{} brigade.ping={peer}",
            brigade_guest::vm_config::APPLIANCE_APPEND
        ),
    );
    p.insert("net0".into(), format!("virtio,bridge={bridge}"));
    p.insert("ipconfig0".into(), format!("ip={ip}/24"));
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn vms_on_one_vxlan_vnet_ping_across_nodes_and_another_vnet_cannot_reach_them() {
    let nets = NodeNets::new(VM_NS_PREFIX, VM_SUBNET, 3);
    let c = sdn_cluster("sdn_vms", VM_SUBNET, &nets).await;
    let cfg = c.nodes[0].config_path.clone();
    overlay(&cfg).await;
    let n1 = c.client(0).expect("client");
    let vms = [
        (0, 1181, "blue", "10.50.0.1", "10.50.0.2"),
        (1, 1182, "blue", "10.50.0.2", "10.50.0.1"),
        (2, 1183, "red", "10.50.0.3", "10.50.0.1"),
    ];
    for (i, vmid, bridge, addr, peer) in vms {
        let node = format!("n{}", i + 1);
        n1.guest_create(
            &node,
            brigade_core::layout::GuestKind::Qemu,
            vmid,
            &vm_params(bridge, addr, peer),
            None,
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("create and start {vmid} on {node}: {e}"));
        let tap = format!("tap{vmid}i0");
        let master = ip(&["-n", &nets.nodes[i], "-o", "link", "show", &tap]);
        assert!(
            master.contains(&format!("master {bridge}")),
            "{tap} on {bridge}: {master}"
        );
    }
    // The MAC was generated once and written in; config writes refuse an unknown bridge,
    // a tag on a bridge that is not VLAN-aware and a MAC another VM uses, naming the key.
    let f = n1
        .fs_read("nodes/n1/qemu-server/1181.conf", false)
        .await
        .expect("read 1181.conf");
    let text = f.content.unwrap_or(f.data);
    let mac = text
        .lines()
        .find_map(|l| {
            l.split_once("net0: virtio=")
                .map(|(_, r)| r.chars().take(17).collect::<String>())
        })
        .unwrap_or_else(|| panic!("no MAC written into net0: {text}"));
    for (net0, why) in [
        ("virtio,bridge=nope".to_string(), "unknown bridge"),
        ("virtio,bridge=blue,tag=7".to_string(), "VLAN-aware"),
        (
            format!("virtio={mac},bridge=red"),
            "is already used by net0 of VM 1181",
        ),
    ] {
        let mut p = vm_params("blue", "10.50.0.9", "10.50.0.1");
        p.insert("net0".into(), net0.clone());
        let e = n1
            .guest_create(
                "n3",
                brigade_core::layout::GuestKind::Qemu,
                1189,
                &p,
                None,
                false,
            )
            .await
            .expect_err(&net0);
        let text = e.to_string();
        assert!(
            text.contains("net0") && text.contains(why),
            "{net0}: {text}"
        );
    }
    eventually(
        VM_NET_TIMEOUT,
        "VMs 1181 (n1) and 1182 (n2) ping each other on blue",
        || async {
            pings(&serial(&c, 0, 1181), "10.50.0.2").0 >= 2
                && pings(&serial(&c, 1, 1182), "10.50.0.1").0 >= 2
        },
    )
    .await;
    eventually(
        VM_NET_TIMEOUT,
        "VM 1183 (n3, red) tried to reach 1181",
        || async { pings(&serial(&c, 2, 1183), "10.50.0.1").1 >= ISOLATED_PINGS },
    )
    .await;
    let (ok, fail) = pings(&serial(&c, 2, 1183), "10.50.0.1");
    assert_eq!(ok, 0, "VM 1183 on red reached 1181 on blue ({fail} failed)");
    let a = pings(&serial(&c, 0, 1181), "10.50.0.2");
    eprintln!(
        "1181 -> 1182: {} ok, {} failed; 1183 -> 1181: {ok} ok, {fail} failed",
        a.0, a.1
    );

    // A bridged VM's network is graphed from its TAP's counters (user-mode networking has
    // none): 1181's pings give both directions.
    eventually(
        GRAPH_TIMEOUT,
        "VM 1181's history with network rates",
        || async {
            n1.guest_rrd(GuestKind::Qemu, 1181, "hour", "AVERAGE")
                .await
                .is_ok_and(|rows| {
                    rows.iter().any(|r| {
                        r.netin.is_some_and(|v| v > 0.0) && r.netout.is_some_and(|v| v > 0.0)
                    })
                })
        },
    )
    .await;

    // The appliance's TCP counter answers across the overlay (from n3's namespace on blue).
    ip(&[
        "-n",
        &nets.nodes[2],
        "addr",
        "add",
        "10.50.0.254/24",
        "dev",
        "blue",
    ]);
    let counter = || {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &nets.nodes[2],
                "busybox",
                "nc",
                "-w",
                "3",
                "10.50.0.1",
                "8",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("spawn nc");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        counter(),
        "count 1",
        "the first connection to 1181's counter"
    );
    assert_eq!(counter(), "count 2", "the second");

    // Live migration keeps the network: 1182 moves to n3, its TAP with it; 1181's pings of
    // it go on, losing at most the switch-over.
    let before = pings(&serial(&c, 0, 1181), "10.50.0.2");
    brigade_ok(&cfg, &["vm", "migrate", "1182", "n3", "--online"]);
    let tap = "tap1182i0";
    assert!(
        NodeNets::links(&nets.nodes[2]).iter().any(|l| l == tap),
        "the target plugged {tap}"
    );
    assert!(
        !NodeNets::links(&nets.nodes[1]).iter().any(|l| l == tap),
        "the source unplugged {tap}"
    );
    eventually(VM_NET_TIMEOUT, "1181 pings 1182 on n3", || async {
        pings(&serial(&c, 0, 1181), "10.50.0.2").0 >= before.0 + 3
    })
    .await;
    let after = pings(&serial(&c, 0, 1181), "10.50.0.2");
    eprintln!(
        "pings of 1182 across its live migration: {} ok, {} failed (1 s apart)",
        after.0 - before.0,
        after.1 - before.1
    );
    assert!(
        after.1 - before.1 <= MIGRATION_LOST_PINGS,
        "too many pings lost across the migration: {}",
        after.1 - before.1
    );
    drop(c);
}
