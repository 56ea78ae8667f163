//! HA with real processes and real QEMU: a power cut, an isolated node, a hung daemon
//! and maintenance. Every test watches all QEMU processes of the VM and asserts there
//! was never more than one at a time.

use std::time::Duration;

use brigade_client::Client;
use brigade_e2e::guests::{guest_pid, ha_vm_on_n2, qemu_processes, vm_ticks, wait_tick};
use brigade_e2e::timing::ClusterTiming;
use brigade_e2e::witness::ProcessWatch;
use brigade_e2e::{eventually, holds_for, settle, HealOnDrop};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

const VMID: u32 = 100;
/// Short HA timing for the tests: fence after 6 s without a committed renewal (lease
/// 7.2 s), still longer than a Raft leader election (about 3.5 s here), which a
/// healthy node must ride out without fencing itself.
const DATACENTER: &str = "migration: secure\nha: fence_timeout=6\n";
/// The fence timeout DATACENTER sets.
const FENCE_TIMEOUT_SECS: u64 = 6;
const NODE_TIMEOUT_SECS: u32 = 3;
const BOOT: Duration = Duration::from_secs(40);
const FAILOVER: Duration = Duration::from_secs(60);

/// The timing of the clusters `setup` makes.
fn timing() -> ClusterTiming {
    ClusterTiming::new(
        &RaftTuning::default(),
        NODE_TIMEOUT_SECS,
        FENCE_TIMEOUT_SECS,
    )
}

/// A 3-node cluster with shared storage and HA VM 100 running on n2.
async fn setup(name: &str, subnet: u8) -> (ProcCluster, Client) {
    ha_vm_on_n2(name, subnet, NODE_TIMEOUT_SECS, DATACENTER, VMID, BOOT).await
}

/// Waits until VM 100 runs on a node other than `not` with its config there; returns that node.
async fn recovered_elsewhere(c: &ProcCluster, via: &Client, not: usize) -> usize {
    let runs_elsewhere = || {
        (0..3)
            .filter(|i| *i != not)
            .find(|i| guest_pid(c, *i, VMID).is_some() && !vm_ticks(c, *i, VMID).is_empty())
    };
    eventually(FAILOVER, "VM 100 runs on another node", || async {
        runs_elsewhere().is_some()
    })
    .await;
    let i = runs_elsewhere().expect("a node");
    let loc = via.locate(VMID).await.expect("locate");
    assert_eq!(
        loc.node, c.nodes[i].name,
        "the config moved to where it runs"
    );
    i
}

#[tokio::test(flavor = "multi_thread")]
async fn a_power_cut_restarts_the_vm_on_a_survivor() {
    let (mut c, n1) = setup("ha-power", 43).await;
    let watch = ProcessWatch::start(&c, VMID);
    let cut = std::time::Instant::now();
    c.power_cut(1);
    let to = recovered_elsewhere(&c, &n1, 1).await;
    eprintln!(
        "recovered on {} {:.1} s after the power cut",
        c.nodes[to].name,
        cut.elapsed().as_secs_f64()
    );
    let ticks = wait_tick(&c, to, VMID, 2, BOOT).await;
    assert_eq!(ticks[0], 1, "a recovery is a cold start: {ticks:?}");
    assert!(watch.finish() <= 1, "VM 100 ran twice at once");
    let status = n1.ha_status().await.expect("status");
    let svc = status
        .services
        .iter()
        .find(|s| s.sid == "vm:100")
        .expect("service");
    assert_eq!(
        (svc.state.as_str(), svc.node.as_str()),
        ("started", c.nodes[to].name.as_str())
    );
    let log = n1
        .fs_read("cluster.log", false)
        .await
        .expect("log")
        .content
        .unwrap_or_default();
    assert!(
        log.contains("recover from n2"),
        "the decision is in the cluster log"
    );
    // The recovery and the start are tasks: harecover on the CRM's node, hastart on the new one.
    let all = n1
        .cluster_tasks(&brigade_client::tasks::TaskQuery {
            vmid: Some(VMID),
            ..Default::default()
        })
        .await
        .expect("cluster tasks");
    let ok = |kind: &str, node: Option<&str>| {
        all.tasks.iter().any(|t| {
            t.kind == kind
                && node.is_none_or(|n| t.node == n)
                && t.status == brigade_api::tasks::TaskState::Ok
        })
    };
    assert!(ok("harecover", None), "no harecover task: {:?}", all.tasks);
    assert!(
        all.nodes
            .iter()
            .any(|n| n.node == "n2" && n.state == "unreachable"),
        "the powered-off n2 is listed as unreachable: {:?}",
        all.nodes
    );
    assert!(
        ok("hastart", Some(c.nodes[to].name.as_str())),
        "no hastart task on the new node: {:?}",
        all.tasks
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_isolated_node_kills_its_vm_before_it_starts_elsewhere() {
    let (c, n1) = setup("ha-isolate", 44).await;
    let watch = ProcessWatch::start(&c, VMID);
    let _heal = HealOnDrop("ha-isolate");
    let others: Vec<_> = [0, 2].iter().map(|i| c.nodes[*i].addr).collect();
    brigade_localcluster::firewall::partition(&[c.nodes[1].addr], &others, "ha-isolate")
        .expect("partition");
    let to = recovered_elsewhere(&c, &n1, 1).await;
    assert!(guest_pid(&c, 1, VMID).is_none(), "n2 still runs VM 100");
    eprintln!("recovered on {}", c.nodes[to].name);
    // n2's daemon is alive all along and knows why it killed the VM.
    let log = std::fs::read_to_string(c.dir.join("n2.log")).unwrap_or_default();
    assert!(
        log.contains("self-fenced"),
        "n2 did not self-fence: see {}",
        c.dir.join("n2.log").display()
    );
    drop(_heal);
    brigade_localcluster::firewall::heal("ha-isolate").expect("heal");
    // n2 returns; the VM must stay single (and running) through the reunion.
    settle(timing().reunion(), "n2 returns to the cluster").await;
    eventually(
        Duration::from_secs(30),
        "VM 100 runs once after healing",
        || async { qemu_processes(&c, VMID).len() == 1 },
    )
    .await;
    let max = watch.finish();
    assert!(max <= 1, "VM 100 ran on two nodes at once ({max} nodes)");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_daemon_is_fenced_by_its_watchdog_and_does_not_restart_the_vm() {
    let (c, n1) = setup("ha-sigstop", 45).await;
    let watch = ProcessWatch::start(&c, VMID);
    let qemu = guest_pid(&c, 1, VMID).expect("running on n2");
    c.pause(1);
    eventually(
        Duration::from_secs(30),
        "the watchdog kills VM 100 on n2",
        || async { !brigade_guest::process::is_alive(qemu) },
    )
    .await;
    let to = recovered_elsewhere(&c, &n1, 1).await;
    c.resume(1);
    c.wait_api(1).await.expect("n2 answers again");
    // Give n2's LRM time to act: it must not start the VM again.
    holds_for(
        timing().lrm_reaction(),
        "n2 does not start VM 100 again",
        || async { guest_pid(&c, 1, VMID).is_none() },
    )
    .await;
    assert!(
        guest_pid(&c, 1, VMID).is_none(),
        "n2 started VM 100 again after resuming"
    );
    assert!(guest_pid(&c, to, VMID).is_some());
    assert!(watch.finish() <= 1, "VM 100 ran twice at once");
    let wlog = std::fs::read_to_string(c.run_dir(1).join("watchdog.log")).unwrap_or_default();
    assert!(
        wlog.contains("killed HA guests [100]"),
        "watchdog log: {wlog}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn maintenance_migrates_live_and_back() {
    // A live migration has two QEMUs by design (the target waits paused): the ticks,
    // not the process count, show the guest ran once and moved.
    let (c, n1) = setup("ha-maint", 46).await;
    let before = vm_ticks(&c, 1, VMID).last().copied().unwrap_or(0);
    n1.ha_maintenance("n2", true).await.expect("enable");
    let to = recovered_elsewhere(&c, &n1, 1).await;
    let moved = wait_tick(&c, to, VMID, before + 2, Duration::from_secs(30)).await;
    assert!(
        moved[0] > 1,
        "the VM restarted instead of migrating live: {moved:?}"
    );
    assert!(guest_pid(&c, 1, VMID).is_none());
    n1.ha_maintenance("n2", false).await.expect("disable");
    eventually(Duration::from_secs(30), "VM 100 is back on n2", || async {
        guest_pid(&c, 1, VMID).is_some() && n1.locate(VMID).await.is_ok_and(|l| l.node == "n2")
    })
    .await;
    let last = vm_ticks(&c, to, VMID).last().copied().unwrap_or(0);
    let back = wait_tick(&c, 1, VMID, last + 1, Duration::from_secs(30)).await;
    assert!(
        back.iter().rev().take(2).all(|t| *t > 1),
        "it restarted on the way back"
    );
    // HA-managed guests are moved by HA, not by hand.
    let loc = n1.locate(VMID).await.expect("locate");
    let e = n1
        .guest_migrate(&loc, "n1", true)
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("HA-managed"), "{e}");
}
