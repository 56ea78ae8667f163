//! Live migrations whose switch-over goes wrong at an exact step (faults injected into
//! the debug build at named steps): the handover committed but its answer was lost, the
//! handover never happened though the source cannot tell, the link between source and
//! target broke after QEMU completed, the target's resume request was lost, and the
//! source's daemon died mid-migration (its stale lock is cleared when it restarts).
//! The target's record of an arrival survives its reconciler while QEMU starts.
//! In every case exactly one copy of the guest runs, and its ticks never restart.

use std::time::Duration;

use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_e2e::faults::{fault_consumed, set_fault};
use brigade_e2e::guests::{add_shared_storage, appliance, qemu_processes, vm_ticks, wait_tick};
use brigade_e2e::timing::APPLIANCE_TICK;
use brigade_e2e::witness::TickWitness;
use brigade_e2e::{cluster, eventually, wait_task, HealOnDrop};
use brigade_localcluster::{firewall, ProcCluster};
use brigade_node::config::RaftTuning;

const VMID: u32 = 100;
const BOOT: Duration = Duration::from_secs(40);
/// A migration of the 128 MiB appliance takes about a second here; allow for load.
const MIGRATION: Duration = Duration::from_secs(60);
/// The witness needs a few ticks on each side of a switch-over to see two copies.
const SETTLE: Duration = APPLIANCE_TICK.saturating_mul(4);
const TAG: &str = "migration-safety";

/// Starts a live migration of VM 100 to `target` and waits for its task to end.
async fn migrate(via: &Client, target: &str) -> Result<(), String> {
    let loc = via.locate(VMID).await.expect("locate");
    let task = via
        .guest_migrate(&loc, target, true)
        .await
        .map_err(|e| e.to_string())?;
    let s = wait_task(via, &task.node, &task.upid, MIGRATION).await;
    match s.status.as_str() {
        "ok" => Ok(()),
        _ => Err(s.error.unwrap_or_default()),
    }
}

/// VM 100 lives on `node` (index `i`), runs only there, unlocked, ticking on from `before`.
async fn runs_only_on(c: &ProcCluster, via: &Client, i: usize, before: u64) {
    let name = c.nodes[i].name.clone();
    // What the wait last saw, printed when it changes: a timeout then says which part failed.
    let seen = std::sync::Mutex::new(String::new());
    eventually(
        Duration::from_secs(20),
        &format!("VM 100 runs on {name} alone"),
        || async {
            let procs = qemu_processes(c, VMID).len();
            let here = c.guest_pids(i).iter().any(|(v, _)| *v == VMID);
            let at = via.locate(VMID).await.map(|l| l.node);
            let now = format!("{procs} QEMU processes, one on {name}: {here}, config on {at:?}");
            let mut last = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last != now {
                eprintln!("    VM 100: {now}");
                now.clone_into(&mut last);
            }
            procs == 1 && here && at.is_ok_and(|n| n == name)
        },
    )
    .await;
    let loc = via.locate(VMID).await.expect("locate");
    let text = via.guest_config(&loc).await.expect("config").text;
    assert!(!text.contains("lock:"), "VM 100 is still locked: {text}");
    let ticks = wait_tick(c, i, VMID, before + 2, Duration::from_secs(20)).await;
    assert!(
        ticks.iter().all(|t| *t > 1) || before == 0,
        "VM 100 restarted on {name}: {ticks:?}"
    );
}

fn last_tick(c: &ProcCluster) -> u64 {
    (0..c.nodes.len())
        .filter_map(|i| vm_ticks(c, i, VMID).last().copied())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_broken_switch_over_leaves_exactly_one_copy() {
    let appliance = appliance();
    let _heal = HealOnDrop(TAG);
    let mut c = cluster("migration-safety", 70, 3, RaftTuning::default()).await;
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = 3)
        .await
        .expect("node_timeout");
    let n3 = c.client(2).expect("client");
    add_shared_storage(&c, &n3).await;
    let config = brigade_guest::vm_config::appliance_params(
        appliance.to_str().expect("utf-8"),
        128,
        Some("shared:1"),
    );
    n3.guest_create("n1", GuestKind::Qemu, VMID, &config, None, true)
        .await
        .expect("create and start on n1");
    wait_tick(&c, 0, VMID, 2, BOOT).await;

    // 1. The handover commits but the source never hears so (a leader stepping down at
    //    once): it settles the outcome, finds the config on n2, and must not resume.
    let before = last_tick(&c);
    let witness = TickWitness::start(&c, VMID);
    set_fault(&c, 0, "migrate.handover unknown");
    migrate(&n3, "n2")
        .await
        .expect("moved, though its answer was lost");
    runs_only_on(&c, &n3, 1, before).await;
    tokio::time::sleep(SETTLE).await;
    witness.assert_once("handover committed, answer lost");

    // 2. Nothing was proposed and the source cannot tell: settling makes the move
    //    impossible, the target's paused copy goes, the source runs on.
    let before = last_tick(&c);
    let witness = TickWitness::start(&c, VMID);
    set_fault(&c, 1, "migrate.handover fail");
    let e = migrate(&n3, "n3")
        .await
        .expect_err("the handover did not happen");
    assert!(e.contains("keeps running here"), "{e}");
    runs_only_on(&c, &n3, 1, before).await;
    tokio::time::sleep(SETTLE).await;
    witness.assert_once("handover never proposed");

    // 3. The link between source and target breaks after QEMU completed: the target
    //    cannot confirm it holds the guest, so nothing moves and the source resumes;
    //    once healed, the target removes its copy.
    let before = last_tick(&c);
    let witness = TickWitness::start(&c, VMID);
    set_fault(&c, 1, "migrate.completed pause 3000");
    // n3 also pauses between recording the arrival and starting QEMU, for longer than
    // its reconciler's interval: the reconciler must not drop a record being prepared
    // (it did, and then nothing removed n3's copy after the cut).
    set_fault(&c, 2, "migrate.incoming.before-launch pause 1500");
    let (a, b) = (c.nodes[1].addr, c.nodes[2].addr);
    // Followed through n1, which the cut does not touch.
    let n1 = c.client(0).expect("client");
    let migration = {
        let n1 = n1.clone();
        tokio::spawn(async move { migrate(&n1, "n3").await })
    };
    eventually(MIGRATION, "n2's migration completed in QEMU", || async {
        fault_consumed(&c, 1)
    })
    .await;
    firewall::cut(a, b, TAG).expect("cut n2-n3");
    let e = migration
        .await
        .expect("join")
        .expect_err("the switch-over failed");
    assert!(e.contains("keeps running here"), "{e}");
    firewall::heal(TAG).expect("heal");
    runs_only_on(&c, &n3, 1, before).await;
    tokio::time::sleep(SETTLE).await;
    witness.assert_once("link cut after completion");

    // 4. The target never gets the resume request: it resumes the guest by itself once
    //    it sees its config.
    let before = last_tick(&c);
    let witness = TickWitness::start(&c, VMID);
    set_fault(&c, 1, "migrate.resume-target fail");
    migrate(&n3, "n1")
        .await
        .expect("resumed by the target itself");
    runs_only_on(&c, &n3, 0, before).await;
    tokio::time::sleep(SETTLE).await;
    witness.assert_once("resume request lost");

    // 5. The source's daemon dies mid-migration: the tunnel breaks, QEMU resumes the
    //    source, the config stays locked until the daemon restarts and clears the
    //    stale lock (logged); the target drops its copy.
    let before = last_tick(&c);
    let witness = TickWitness::start(&c, VMID);
    set_fault(&c, 0, "migrate.completed pause 5000");
    // Only the start is awaited: the task runs on n1, which is killed before it ends.
    let loc = n3.locate(VMID).await.expect("locate");
    let task = n3
        .guest_migrate(&loc, "n2", true)
        .await
        .expect("the migration starts");
    assert_eq!(task.node, "n1", "the migration task runs on the source");
    eventually(MIGRATION, "n1's migration completed in QEMU", || async {
        fault_consumed(&c, 0)
    })
    .await;
    c.kill(0);
    // The config API forwards to the guest's node, which is down: read the tree instead.
    let text = n3
        .fs_read(&format!("nodes/n1/qemu-server/{VMID}.conf"), false)
        .await
        .expect("the config is readable from n3 while n1 is down")
        .content
        .unwrap_or_default();
    eprintln!("config while n1 is down: {text}");
    assert!(
        text.contains("lock: migrate"),
        "the config stays locked while its source daemon is down: {text}"
    );
    c.start(0).expect("restart n1");
    c.wait_api(0).await.expect("n1 back");
    runs_only_on(&c, &n3, 0, before).await;
    let cfg3 = c.nodes[2].config_path.clone();
    eventually(
        Duration::from_secs(20),
        "the cluster log records the cleared lock",
        || async {
            brigade_e2e::brigade(&cfg3, &["log"])
                .1
                .contains("cleared the stale lock 'migrate'")
        },
    )
    .await;
    tokio::time::sleep(SETTLE).await;
    witness.assert_once("source daemon killed mid-migration");
}
