//! HA rules and the CRS with real node processes, one cluster for the whole file: a VM
//! and a container kept apart never share a node through a power cut of either; a
//! positive pair of containers is recovered together; a guest a strict rule binds to a
//! dead node stops rather than run outside its nodes; static CRS starts a large guest on
//! the node with the most free memory.

use std::collections::BTreeMap;
use std::time::Duration;

use brigade_api::ha::ResourceRequest;
use brigade_api::ha_rules::RuleRequest;
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_e2e::apart::{Affinity, ApartWatch};
use brigade_e2e::guests::{add_shared_storage, appliance, guest_pid, vm_ticks, wait_tick};
use brigade_e2e::timing::ClusterTiming;
use brigade_e2e::witness::ProcessWatch;
use brigade_e2e::{cluster, eventually, holds_for};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

const VM: u32 = 100;
const CT_APART: u32 = 101;
const CT_PAIR: [u32; 2] = [102, 103];
const CT_PINNED: u32 = 104;
const CT_LARGE: u32 = 105;
/// One more HA container, on n1 at first: it weighs the basic CRS so that placed one by
/// one the pair would be split over n1 and n2 in the last power cut.
const CT_FILLER: u32 = 106;
/// Fence after 6 s without a committed renewal (lease 7.2 s); nodes dead after 3 s.
/// The fence timeout DATACENTER sets.
const FENCE_TIMEOUT_SECS: u64 = 6;
const DATACENTER: &str = "migration: secure\nha: fence_timeout=6\n";
const NODE_TIMEOUT_SECS: u32 = 3;
/// What each node gives guests (MiB): the static CRS's capacities.
const GUEST_MEMORY_MIB: [u64; 3] = [1024, 3072, 2048];
const LARGE_MIB: u64 = 1024;
const BOOT: Duration = Duration::from_secs(40);
const FAILOVER: Duration = Duration::from_secs(60);

/// How long a guest that must not run is watched not running: long enough for an LRM to
/// have acted on the rule (its reaction time) and for a node to be declared dead.
fn stays_down() -> Duration {
    let t = ClusterTiming::new(
        &RaftTuning::default(),
        NODE_TIMEOUT_SECS,
        FENCE_TIMEOUT_SECS,
    );
    t.lrm_reaction() + t.node_timeout
}

fn name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// The node index running guest `vmid`, if one does.
fn runs_on(c: &ProcCluster, vmid: u32) -> Option<usize> {
    (0..c.nodes.len()).find(|i| guest_pid(c, *i, vmid).is_some())
}

async fn create_ct(n1: &Client, node: &str, vmid: u32, memory: u64, template: &str) {
    let mut cfg = BTreeMap::new();
    cfg.insert("hostname".to_string(), format!("ct{vmid}"));
    cfg.insert("memory".to_string(), memory.to_string());
    cfg.insert("rootfs".to_string(), "shared:1".to_string());
    n1.guest_create(node, GuestKind::Lxc, vmid, &cfg, Some(template), false)
        .await
        .unwrap_or_else(|e| panic!("create ct {vmid}: {e}"));
}

async fn ha_add(n1: &Client, sid: &str, state: &str) {
    n1.ha_add(&ResourceRequest {
        sid: Some(sid.into()),
        state: Some(state.into()),
        ..ResourceRequest::default()
    })
    .await
    .unwrap_or_else(|e| panic!("ha add {sid}: {e}"));
}

async fn rule(n1: &Client, id: &str, kind: &str, resources: &str, req: RuleRequest) {
    n1.ha_rule_add(&RuleRequest {
        rule: Some(id.into()),
        kind: Some(kind.into()),
        resources: Some(resources.into()),
        ..req
    })
    .await
    .unwrap_or_else(|e| panic!("rule {id}: {e}"));
}

/// Waits until guest `vmid` runs on a node other than `not`; returns it.
async fn recovered(c: &ProcCluster, vmid: u32, not: usize) -> usize {
    eventually(
        FAILOVER,
        &format!("guest {vmid} runs off {}", name(not)),
        || async { runs_on(c, vmid).is_some_and(|i| i != not) },
    )
    .await;
    runs_on(c, vmid).expect("running")
}

async fn power_back(c: &mut ProcCluster, i: usize) {
    c.start(i).expect("start");
    c.wait_api(i).await.expect("api");
    c.wait_quorate(&[0, 1, 2]).await.expect("quorum");
}

async fn cluster_log(n1: &Client) -> String {
    n1.fs_read("cluster.log", false)
        .await
        .expect("log")
        .content
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_hold_through_power_cuts_and_static_crs_places_by_free_memory() {
    let appliance = appliance();
    let template = appliance.join("rootfs").display().to_string();
    let mut c = cluster("ha-rules", 151, 3, RaftTuning::default()).await;
    // Each node gives guests a different amount of memory (its capacity for the CRS).
    for (i, mib) in GUEST_MEMORY_MIB.iter().enumerate() {
        c.nodes[i].config.guest_memory_mib = Some(*mib);
        c.save_config(i).expect("save");
        c.stop(i).expect("stop");
        power_back(&mut c, i).await;
    }
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = NODE_TIMEOUT_SECS)
        .await
        .expect("node_timeout");
    let n1 = c.client(0).expect("client");
    n1.fs_put("datacenter.cfg", DATACENTER)
        .await
        .expect("datacenter.cfg");
    add_shared_storage(&c, &n1).await;

    // VM 100 on n1 and container 101 on n2, kept apart; 102 and 103 together on n3;
    // 104 on n3, free for now; 106 on n1.
    let vm = brigade_guest::vm_config::appliance_params(
        appliance.to_str().expect("utf-8"),
        128,
        Some("shared:1"),
    );
    n1.guest_create("n1", GuestKind::Qemu, VM, &vm, None, false)
        .await
        .expect("create vm");
    create_ct(&n1, "n2", CT_APART, 64, &template).await;
    for ct in CT_PAIR {
        create_ct(&n1, "n3", ct, 64, &template).await;
    }
    create_ct(&n1, "n3", CT_PINNED, 64, &template).await;
    create_ct(&n1, "n1", CT_FILLER, 64, &template).await;
    for sid in ["vm:100", "ct:101", "ct:102", "ct:103", "ct:104", "ct:106"] {
        ha_add(&n1, sid, "started").await;
    }
    rule(
        &n1,
        "apart",
        "resource-affinity",
        "vm:100,ct:101",
        RuleRequest {
            affinity: Some("negative".into()),
            ..RuleRequest::default()
        },
    )
    .await;
    rule(
        &n1,
        "pair",
        "resource-affinity",
        "ct:102,ct:103",
        RuleRequest {
            affinity: Some("positive".into()),
            ..RuleRequest::default()
        },
    )
    .await;
    wait_tick(&c, 0, VM, 2, BOOT).await;
    eventually(
        BOOT,
        "every container runs where it was created",
        || async {
            runs_on(&c, CT_APART) == Some(1)
                && CT_PAIR.iter().all(|ct| runs_on(&c, *ct) == Some(2))
                && runs_on(&c, CT_PINNED) == Some(2)
                && runs_on(&c, CT_FILLER) == Some(0)
        },
    )
    .await;
    let apart = ApartWatch::start(&c, VM, CT_APART);
    let together = ApartWatch::watch(&c, CT_PAIR[0], CT_PAIR[1], Affinity::Together);
    let once = ProcessWatch::start(&c, VM);

    // Power cut of VM 100's node: it goes to n3, not to n2 where container 101 runs.
    c.power_cut(0);
    let to = recovered(&c, VM, 0).await;
    assert_eq!(name(to), "n3", "VM 100 must avoid container 101's n2");
    let ticks = wait_tick(&c, to, VM, 1, BOOT).await;
    assert_eq!(ticks[0], 1, "a recovery is a cold start");
    power_back(&mut c, 0).await;

    // Power cut of container 101's node: it goes to n1, not to n3 where VM 100 runs.
    // Meanwhile a strict rule binds container 104 (on n3) to the dead n2: it stops
    // rather than run outside its nodes, and starts on n2 once n2 is back.
    c.power_cut(1);
    let to = recovered(&c, CT_APART, 1).await;
    assert_eq!(name(to), "n1", "container 101 must avoid VM 100's n3");
    rule(
        &n1,
        "pin",
        "node-affinity",
        "ct:104",
        RuleRequest {
            nodes: Some("n2".into()),
            strict: Some(true),
            ..RuleRequest::default()
        },
    )
    .await;
    eventually(FAILOVER, "container 104 stops on n3", || async {
        runs_on(&c, CT_PINNED).is_none()
    })
    .await;
    holds_for(
        stays_down(),
        "container 104 does not run outside its strict rule's nodes",
        || async { runs_on(&c, CT_PINNED).is_none() },
    )
    .await;
    let status = n1.ha_status().await.expect("status");
    let held = status
        .services
        .iter()
        .find(|s| s.sid == "ct:104")
        .and_then(|s| s.held.clone())
        .unwrap_or_default();
    assert!(held.contains("rule pin allows only n2"), "{status:?}");
    power_back(&mut c, 1).await;
    eventually(FAILOVER, "container 104 runs on n2", || async {
        runs_on(&c, CT_PINNED) == Some(1)
    })
    .await;

    // Power cut of the pair's node (VM 100's too): both containers are recovered to
    // one node; VM 100 goes to n2, away from container 101 on n1.
    c.power_cut(2);
    let a = recovered(&c, CT_PAIR[0], 2).await;
    let b = recovered(&c, CT_PAIR[1], 2).await;
    assert_eq!(a, b, "the positive pair was split: {a} and {b}");
    let to = recovered(&c, VM, 2).await;
    assert_eq!(name(to), "n2", "VM 100 must avoid container 101's n1");
    wait_tick(&c, to, VM, 1, BOOT).await;
    power_back(&mut c, 2).await;
    assert!(
        apart.finish().is_empty(),
        "VM 100 and container 101 shared a node"
    );
    let split = together.finish();
    assert!(
        split.is_empty(),
        "the positive pair ran on two nodes at once: {split:?}"
    );
    assert!(once.finish() <= 1, "VM 100 ran twice at once");

    // Static CRS with rebalance on start: a large stopped guest asked to start goes to
    // the node with the most free memory for its size (capacity minus what HA guests
    // there are configured with), not to its own node.
    n1.fs_put(
        "datacenter.cfg",
        &format!("{DATACENTER}crs: ha=static,ha-rebalance-on-start=1\n"),
    )
    .await
    .expect("crs");
    create_ct(&n1, "n1", CT_LARGE, LARGE_MIB, &template).await;
    ha_add(&n1, "ct:105", "stopped").await;
    eventually(FAILOVER, "HA has container 105 stopped", || async {
        n1.ha_status().await.is_ok_and(|s| {
            s.services
                .iter()
                .any(|x| x.sid == "ct:105" && x.state == "stopped")
        })
    })
    .await;
    let mut used = [0u64; 3];
    for (vmid, mib) in [
        (VM, 128),
        (CT_APART, 64),
        (CT_PAIR[0], 64),
        (CT_PAIR[1], 64),
        (CT_PINNED, 64),
        (CT_FILLER, 64),
    ] {
        if let Some(i) = runs_on(&c, vmid) {
            used[i] += mib;
        }
    }
    let free: Vec<u64> = (0..3).map(|i| GUEST_MEMORY_MIB[i] - used[i]).collect();
    let best = (0..3).max_by_key(|i| free[*i]).expect("a node");
    assert_ne!(
        best, 0,
        "the test needs the best node elsewhere: free {free:?}"
    );
    n1.ha_set(
        "ct:105",
        &ResourceRequest {
            state: Some("started".into()),
            ..ResourceRequest::default()
        },
    )
    .await
    .expect("start");
    eventually(
        FAILOVER,
        "container 105 runs on the freest node",
        || async { runs_on(&c, CT_LARGE).is_some() },
    )
    .await;
    assert_eq!(
        runs_on(&c, CT_LARGE),
        Some(best),
        "free memory before: {free:?}"
    );
    let log = cluster_log(&n1).await;
    for line in [
        "vm:100: to n3: rule apart keeps it apart from ct:101 on n2",
        "ct:101: to n1: rule apart keeps it apart from vm:100 on n3",
        "rule pin allows only n2 and none of them is available",
        "keeps it with ct:102 on",
        "ct:105: start requested: relocate from n1 to",
        "CRS static:",
    ] {
        assert!(log.contains(line), "the cluster log lacks {line:?}:\n{log}");
    }
    eprintln!(
        "VM 100 ticks on its last node: {:?}",
        vm_ticks(&c, to, VM).len()
    );
}
