//! Containers start in their own namespaces, print ticks, stop, and migrate offline with
//! their root copied; a stopped VM with a local disk migrates offline with the disk copied.

use std::collections::BTreeMap;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_e2e::guests::{appliance, ct_ticks, guest_pid};
use brigade_e2e::{cluster, eventually};
use brigade_node::config::RaftTuning;

const CTID: u32 = 200;
const VMID: u32 = 201;

#[tokio::test(flavor = "multi_thread")]
async fn a_container_runs_stops_and_migrates_offline() {
    let appliance = appliance();
    let c = cluster("ct", 41, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let template = appliance.join("rootfs").display().to_string();

    let mut cfg = BTreeMap::new();
    cfg.insert("hostname".to_string(), "ticker".to_string());
    cfg.insert("memory".to_string(), "64".to_string());
    cfg.insert("rootfs".to_string(), "local:1".to_string());
    n1.guest_create("n1", GuestKind::Lxc, CTID, &cfg, Some(&template), true)
        .await
        .expect("create and start");
    eventually(Duration::from_secs(15), "the container ticks", || async {
        ct_ticks(&c, 0, CTID).len() >= 2
    })
    .await;
    // Its own namespaces: pid 1 inside, its own hostname and network.
    let pid = guest_pid(&c, 0, CTID).expect("running");
    let init = brigade_guest::process::children(pid)[0];
    for ns in ["pid", "mnt", "uts", "ipc", "net"] {
        let mine = std::fs::read_link(format!("/proc/self/ns/{ns}")).expect("ns");
        let its = std::fs::read_link(format!("/proc/{init}/ns/{ns}")).expect("ns");
        assert_ne!(mine, its, "the container shares the {ns} namespace");
    }
    let root = std::fs::read_link(format!("/proc/{init}/root")).expect("root");
    assert!(
        root.ends_with("images/200/subvol-200-disk-0"),
        "chrooted into {}",
        root.display()
    );
    let loc = n1.locate(CTID).await.expect("locate");
    let status = n1.guest_status(&loc).await.expect("status");
    assert_eq!(
        (status.status.as_str(), status.name.as_deref()),
        ("running", Some("ticker"))
    );

    // A running container is not moved.
    let e = n1
        .guest_migrate(&loc, "n2", false)
        .await
        .expect_err("running");
    assert!(e.to_string().contains("stop it first"), "{e}");

    n1.guest_power(&loc, "shutdown", serde_json::json!({ "timeout": 10 }))
        .await
        .expect("shutdown");
    assert!(guest_pid(&c, 0, CTID).is_none());
    assert!(brigade_guest::process::wait_gone(init, Duration::from_secs(5)).await);

    // Offline migration copies its local root to n2.
    let task = n1.guest_migrate(&loc, "n2", false).await.expect("migrate");
    let result = wait_task(&n1, &task.node, &task.upid).await;
    assert_eq!(
        result.copied_volumes,
        vec!["local:200/subvol-200-disk-0".to_string()]
    );
    let n2_root = c.nodes[1]
        .state_dir()
        .join("storage/images/200/subvol-200-disk-0");
    assert!(n2_root.join("sbin/init").exists(), "root not copied to n2");
    assert!(
        !c.nodes[0]
            .state_dir()
            .join("storage/images/200/subvol-200-disk-0")
            .exists(),
        "root left on n1"
    );
    let loc = n1.locate(CTID).await.expect("locate");
    assert_eq!(loc.node, "n2");
    n1.guest_power(&loc, "start", serde_json::json!({}))
        .await
        .expect("start on n2");
    eventually(
        Duration::from_secs(15),
        "the container ticks on n2",
        || async { ct_ticks(&c, 1, CTID).len() >= 2 },
    )
    .await;
    n1.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
    assert!(guest_pid(&c, 1, CTID).is_none());

    // A stopped VM with a local disk moves offline, its disk copied.
    let mut vm = BTreeMap::new();
    vm.insert("memory".to_string(), "64".to_string());
    vm.insert("virtio0".to_string(), "local:64M,format=raw".to_string());
    n1.guest_create("n1", GuestKind::Qemu, VMID, &vm, None, false)
        .await
        .expect("create vm");
    let disk = c.nodes[0]
        .state_dir()
        .join("storage/images/201/vm-201-disk-0.raw");
    std::fs::write(&disk, b"brigade was here").expect("write into the disk");
    let loc = n1.locate(VMID).await.expect("locate");
    let task = n1
        .guest_migrate(&loc, "n3", false)
        .await
        .expect("migrate vm");
    let result = wait_task(&n1, &task.node, &task.upid).await;
    assert_eq!(
        result.copied_volumes,
        vec!["local:201/vm-201-disk-0.raw".to_string()]
    );
    let copied = std::fs::read(
        c.nodes[2]
            .state_dir()
            .join("storage/images/201/vm-201-disk-0.raw"),
    )
    .expect("copied");
    assert!(copied.starts_with(b"brigade was here"));
    assert!(!disk.exists());
    assert_eq!(n1.locate(VMID).await.expect("locate").node, "n3");
}

/// The migration task's result, once it ended well.
async fn wait_task(
    c: &brigade_client::Client,
    node: &str,
    upid: &str,
) -> brigade_api::tasks::MigrationResult {
    let t = brigade_e2e::wait_task(c, node, upid, Duration::from_secs(60)).await;
    match t.status.as_str() {
        "ok" => t.result.expect("a result"),
        _ => panic!("task failed: {:?}", t.error),
    }
}
