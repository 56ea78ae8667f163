//! SDN on a 3-node cluster whose nodes each have their own network namespace (bsd117n1-3,
//! underlay 10.117.0.x through the switch namespace bsd117sw): a vxlan zone with two vnets
//! applied through the CLI gives every node the bridges and VXLAN devices at the same
//! version, the overlay carries traffic between nodes, and broken configurations (a VNI used
//! twice, an unknown zone, overlapping subnets) are refused by `sdn apply`, changing nothing.

use std::path::Path;
use std::time::Duration;

use brigade_e2e::netns::{ip, NodeNets};
use brigade_e2e::{bin, brigade, brigade_json, brigade_ok, eventually, holds_for, test_dir};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

const SUBNET: u8 = 117;
/// The namespaces' prefix and the underlay's second octet (10.117.0.x).
const NS_PREFIX: &str = "bsd117";
/// How long every node may take to apply a configuration (1 s rounds, a few rounds).
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused configuration is watched for not reaching any node.
const REFUSED_WATCH: Duration = Duration::from_secs(3);
/// The VNIs of the two vnets.
const BLUE_VNI: &str = "11000";
const RED_VNI: &str = "12000";

/// Forms a 3-node cluster on 127.0.117.x whose node i has guest_netns bsd117n<i> and
/// underlay 10.117.0.<i>.
pub async fn sdn_cluster(name: &str, nets: &NodeNets) -> ProcCluster {
    let mut c = ProcCluster::new(&bin(), &test_dir(name), SUBNET, RaftTuning::default());
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
    let c = sdn_cluster("sdn", &nets).await;
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
