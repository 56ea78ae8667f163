//! A real QEMU guest (the appliance, under TCG here) on a 3-node cluster: it starts and
//! ticks, survives its node daemon's SIGKILL, and migrates live with its ticks continuing.

use std::process::Command;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_core::poll_until;
use brigade_e2e::guests::{
    add_shared_storage, appliance, guest_pid, qemu_processes, vm_ticks, wait_tick,
};
use brigade_e2e::timing::APPLIANCE_TICK;
use brigade_e2e::{bin, brigade, cluster, eventually, holds_for, EVENTUALLY_INTERVAL};
use brigade_node::config::RaftTuning;

const VMID: u32 = 100;
/// Boot to the first tick is about 2.2 s under TCG; allow for a loaded CI machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(40);

/// Attaches `brigade vm console 100` and returns the first tick line it prints.
async fn console_line(cfg: &std::path::Path) -> String {
    use std::io::BufRead as _;
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(cfg)
        .args(["vm", "console", "100"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("run console");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("tick"))
            .unwrap_or_default()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let _ = poll_until(deadline, EVENTUALLY_INTERVAL, || {
        std::future::ready(reader.is_finished())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    reader.join().expect("reader").trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vm_runs_survives_its_daemon_and_migrates_live() {
    let appliance = appliance();
    let mut c = cluster("vm", 40, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    add_shared_storage(&c, &n1).await;

    // Create and start on n1 through the CLI.
    let cfg1 = c.nodes[0].config_path.clone();
    let (ok, out, err) = brigade(
        &cfg1,
        &[
            "vm",
            "create",
            "100",
            "--name",
            "tick",
            "--memory",
            "128",
            "--disk",
            "shared:1",
            "--appliance",
            appliance.to_str().expect("utf-8"),
            "--start",
        ],
    );
    assert!(ok, "create failed: {out}{err}");
    let first = wait_tick(&c, 0, VMID, 3, BOOT_TIMEOUT).await;
    assert_eq!(first[0], 1, "a fresh boot counts from 1: {first:?}");
    let loc = n1.locate(VMID).await.expect("locate");
    assert_eq!(loc.node, "n1");
    let status = n1.guest_status(&loc).await.expect("status");
    assert_eq!(status.status, "running");
    assert_eq!(
        status.accel.as_deref(),
        Some("tcg"),
        "KVM is unusable here: {status:?}"
    );
    eprintln!("accelerator: {:?}", status.accel_reason);
    let disk = n1.guest_config(&loc).await.expect("config").text;
    assert!(
        disk.contains("scsi0: shared:100/vm-100-disk-0.qcow2,size=1G"),
        "{disk}"
    );

    // The daemon dies; the guest does not notice.
    let pid = guest_pid(&c, 0, VMID).expect("qemu runs on n1");
    c.kill(0);
    let before = vm_ticks(&c, 0, VMID).last().copied().unwrap_or(0);
    holds_for(2 * APPLIANCE_TICK, "QEMU outlives its daemon", || async {
        brigade_guest::process::is_alive(pid)
    })
    .await;
    assert!(
        brigade_guest::process::is_alive(pid),
        "QEMU died with its daemon"
    );
    c.start(0).expect("restart n1");
    c.wait_api(0).await.expect("n1 back");
    let n1 = c.client(0).expect("client");
    eventually(
        Duration::from_secs(20),
        "n1 reports VM 100 running again",
        || async {
            n1.guest_status(&loc)
                .await
                .is_ok_and(|s| s.status == "running" && s.pid == Some(pid))
        },
    )
    .await;
    let after = wait_tick(&c, 0, VMID, before + 2, Duration::from_secs(20)).await;
    assert!(
        after.windows(2).all(|w| w[1] == w[0] + 1),
        "ticks skipped or restarted: {after:?}"
    );

    // Live migration to n2 through the CLI: ticks continue, the config moves, n1 has no QEMU left.
    let before = vm_ticks(&c, 0, VMID).last().copied().unwrap_or(0);
    let (ok, out, err) = brigade(&cfg1, &["vm", "migrate", "100", "n2", "--online"]);
    assert!(ok, "migration failed: {out}{err}");
    eprintln!("{out}");
    assert!(
        out.contains("downtime:") && out.contains(" ms"),
        "no downtime printed: {out}"
    );
    // It followed the migration's task: its id, its phases and the downtime in its log.
    assert!(
        err.contains("task UPID:n1:")
            && err.contains(":qmigrate:100:")
            && err.contains("migrating memory to n2")
            && err.contains("migration downtime:")
            && err.contains("TASK OK"),
        "the migration task's log was not followed: {err}"
    );
    let on_n2 = wait_tick(&c, 1, VMID, before + 2, Duration::from_secs(20)).await;
    assert!(
        on_n2[0] > 1,
        "the tick restarted at 1: the memory did not move ({on_n2:?})"
    );
    assert!(
        on_n2[0] >= before,
        "ticks went backwards: {before} then {on_n2:?}"
    );
    assert!(guest_pid(&c, 0, VMID).is_none(), "n1 still runs VM 100");
    let procs = qemu_processes(&c, VMID);
    assert_eq!(procs.len(), 1, "exactly one QEMU for VM 100: {procs:?}");
    let tree = n1.fs_list("nodes/n2/qemu-server").await.expect("list");
    assert!(
        tree.iter().any(|e| e.name == "100.conf"),
        "config not under nodes/n2"
    );
    assert!(
        n1.fs_read("nodes/n1/qemu-server/100.conf", false)
            .await
            .is_err(),
        "config left on n1"
    );
    let cfg = n1
        .fs_read("nodes/n2/qemu-server/100.conf", false)
        .await
        .expect("read")
        .content
        .unwrap_or_default();
    assert!(!cfg.contains("lock:"), "the migration lock stayed: {cfg}");

    // The whole cluster sees it on n2, from any node.
    let n3 = c.client(2).expect("client");
    let rows = n3.resources().await.expect("resources");
    let row = rows.iter().find(|r| r.vmid == VMID).expect("listed");
    assert_eq!(
        (row.node.as_str(), row.status.as_str(), row.kind),
        ("n2", "running", GuestKind::Qemu)
    );

    // The serial console, attached through n1 (tunnelled to n2), shows live ticks.
    let line = console_line(&cfg1).await;
    assert!(line.starts_with("tick "), "console showed {line:?}");

    // Stop and destroy from n3 (forwarded to n2): the disk goes too.
    let loc = n3.locate(VMID).await.expect("locate");
    n3.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
    assert!(qemu_processes(&c, VMID).is_empty());
    n3.guest_destroy(&loc).await.expect("destroy");
    assert!(
        !c.dir.join("shared/images/100/vm-100-disk-0.qcow2").exists(),
        "disk left behind"
    );
    assert!(n3.locate(VMID).await.is_err());
}
