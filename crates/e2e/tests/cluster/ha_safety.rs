//! HA schedules reproduced exactly with real processes and QEMU (faults injected at
//! named steps of the debug build): the source of an HA migration loses power after the
//! target holds the guest; a failover shutdown whose LRM could restart a guest while it
//! stops; a start that loses its lease between spawning QEMU and running it; and the
//! watchdog helper, killed, comes back.

use std::time::Duration;

use brigade_client::Client;
use brigade_e2e::faults::{fault_consumed, set_fault};
use brigade_e2e::guests::{guest_pid, ha_vm_on_n2, vm_ticks, wait_tick};
use brigade_e2e::witness::{ProcessWatch, TickWitness};
use brigade_e2e::{eventually, HealOnDrop};
use brigade_localcluster::{firewall, ProcCluster};
use brigade_node::ha::ops::ResourceRequest;

const VMID: u32 = 100;
const NODE_TIMEOUT_SECS: u32 = 3;
const BOOT: Duration = Duration::from_secs(40);
const FAILOVER: Duration = Duration::from_secs(60);
/// How long the clean-stop test watches for a QEMU reappearing on the stopping node.
const STOP_WATCH: Duration = Duration::from_secs(6);
/// How often it looks.
const STOP_WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// A 3-node cluster with shared storage and HA VM 100 running on n2.
async fn setup(name: &str, subnet: u8, datacenter: &str) -> (ProcCluster, Client) {
    ha_vm_on_n2(name, subnet, NODE_TIMEOUT_SECS, datacenter, VMID, BOOT).await
}

/// The node (index) whose run dir has a live QEMU of VM 100 printing ticks, other than `not`.
fn running_elsewhere(c: &ProcCluster, not: usize) -> Option<usize> {
    (0..c.nodes.len())
        .filter(|i| *i != not)
        .find(|i| guest_pid(c, *i, VMID).is_some() && !vm_ticks(c, *i, VMID).is_empty())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ha_migration_whose_source_loses_power_is_recovered_and_runs() {
    // Issue 13.1: the CRM recovered VM 100 to a survivor but the config kept the dead
    // node's `lock: migrate`, so the start failed once and never again.
    let (mut c, n1) = setup("ha-mig-power", 71, "ha: fence_timeout=6\n").await;
    let watch = TickWitness::start(&c, VMID);
    // The source holds right after QEMU completed: the target holds the whole guest.
    set_fault(&c, 1, "migrate.completed pause 4000");
    n1.ha_migrate("vm:100", "n3").await.expect("ha migrate");
    eventually(FAILOVER, "n2's migration completed in QEMU", || async {
        fault_consumed(&c, 1)
    })
    .await;
    c.power_cut(1);
    eventually(FAILOVER, "VM 100 runs again on a survivor", || async {
        running_elsewhere(&c, 1).is_some()
    })
    .await;
    let i = running_elsewhere(&c, 1).expect("a node");
    wait_tick(&c, i, VMID, 2, BOOT).await;
    let loc = n1.locate(VMID).await.expect("locate");
    assert_eq!(loc.node, c.nodes[i].name);
    let text = n1.guest_config(&loc).await.expect("config").text;
    assert!(
        !text.contains("lock:"),
        "the dead node's lock stayed: {text}"
    );
    let st = n1.ha_status().await.expect("ha status");
    let row = st
        .services
        .iter()
        .find(|s| s.sid == "vm:100")
        .expect("listed");
    assert_eq!(
        (row.state.as_str(), row.node.as_str()),
        ("started", loc.node.as_str())
    );
    watch.assert_once("HA migration source power cut");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_shutdown_never_restarts_what_it_kills() {
    // Issue 14.4: the LRM loop kept running while the daemon killed its HA guests for
    // the failover policy, and could start one again before `Released` was written.
    let (mut c, n1) = setup(
        "ha-failover-stop",
        72,
        "ha: fence_timeout=6,shutdown_policy=failover\n",
    )
    .await;
    let watch = ProcessWatch::start(&c, VMID);
    // Between the kill and the release the daemon waits: time for an LRM to restart it.
    set_fault(&c, 1, "ha.shutdown.after-kill pause 3000");
    let stopper = {
        let dir = c.run_dir(1);
        std::thread::spawn(move || {
            // Whether a QEMU of VM 100 reappears on n2 while it stops.
            let deadline = std::time::Instant::now() + STOP_WATCH;
            let mut seen_again = false;
            let mut gone = false;
            while std::time::Instant::now() < deadline {
                let live = brigade_guest::RunDir::open(&dir)
                    .map(|r| brigade_guest::qemu::running_pid(&r, VMID).is_some())
                    .unwrap_or(false);
                if !live {
                    gone = true;
                } else if gone {
                    seen_again = true;
                }
                std::thread::sleep(STOP_WATCH_INTERVAL);
            }
            seen_again
        })
    };
    c.stop(1).expect("clean stop of n2");
    assert!(
        !stopper.join().expect("join"),
        "n2's LRM restarted VM 100 while the daemon was stopping"
    );
    eventually(FAILOVER, "VM 100 recovered on a survivor", || async {
        running_elsewhere(&c, 1).is_some()
    })
    .await;
    assert!(watch.finish() <= 1, "VM 100 ran twice at once");
    let _ = n1;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_that_loses_its_lease_before_the_guest_runs_never_runs_it() {
    // Issue 14.5: the lease was checked before the awaited start; a daemon stalled
    // between the check and the spawn ran the guest after the lease ran out.
    let tag = "ha-start-lease";
    let _heal = HealOnDrop(tag);
    let (c, n1) = setup("ha-start-lease", 75, "ha: fence_timeout=6\n").await;
    n1.ha_set(
        "vm:100",
        &ResourceRequest {
            state: Some("stopped".into()),
            ..ResourceRequest::default()
        },
    )
    .await
    .expect("stop");
    eventually(FAILOVER, "VM 100 stopped", || async {
        guest_pid(&c, 1, VMID).is_none()
    })
    .await;
    let log = c.run_dir(1).join(format!("{VMID}.serial.log"));
    // The next start on n2 stalls between spawning QEMU (paused) and running it, for
    // longer than the lease; n2 is cut off meanwhile.
    set_fault(&c, 1, "guest.start.before-resume pause 12000");
    n1.ha_set(
        "vm:100",
        &ResourceRequest {
            state: Some("started".into()),
            ..ResourceRequest::default()
        },
    )
    .await
    .expect("start");
    eventually(FAILOVER, "n2 spawned QEMU for VM 100 (paused)", || async {
        fault_consumed(&c, 1) && guest_pid(&c, 1, VMID).is_some()
    })
    .await;
    let size = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert_eq!(size(), 0, "a paused QEMU prints nothing");
    let (a, others) = (c.nodes[1].addr, vec![c.nodes[0].addr, c.nodes[2].addr]);
    firewall::partition(&[a], &others, tag).expect("isolate n2");
    eventually(FAILOVER, "VM 100 recovered on the majority", || async {
        running_elsewhere(&c, 1).is_some()
    })
    .await;
    eventually(
        Duration::from_secs(20),
        "n2's paused copy is gone",
        || async { guest_pid(&c, 1, VMID).is_none() },
    )
    .await;
    assert_eq!(size(), 0, "the guest ran on n2 after its lease ran out");
    firewall::heal(tag).expect("heal");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watchdog_helper_is_restarted_and_isolated_from_the_daemon() {
    // Issue 14.7: the helper was started once and never again; it shared the daemon's
    // cgroups, so freezing one froze both.
    let (c, _n1) = setup("ha-helper", 74, "ha: fence_timeout=6\n").await;
    let run = brigade_guest::RunDir::open(&c.run_dir(1)).expect("run dir");
    let pid_of = || brigade_guest::process::read_pidfile(&run.watchdog_pid());
    let first = pid_of().expect("a helper runs");
    let cgroups =
        |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let daemon = c.nodes[1].pid().expect("daemon pid") as i32;
    let freezer = |text: &str| {
        text.lines()
            .find(|l| l.contains(":freezer:") || l.starts_with("0::"))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert_ne!(
        freezer(&cgroups(first)),
        freezer(&cgroups(daemon)),
        "the helper shares the daemon's freezer cgroup"
    );
    brigade_guest::process::send(first, brigade_guest::process::Signal::SIGKILL).expect("kill");
    eventually(Duration::from_secs(10), "a new helper runs", || async {
        pid_of().is_some_and(|p| p != first && brigade_guest::process::is_alive(p))
    })
    .await;
    // VM 100 kept running throughout.
    assert!(guest_pid(&c, 1, VMID).is_some());
}
