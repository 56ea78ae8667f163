//! Guest operations that must be refused with a clear error, changing nothing:
//! unknown VMID, VMID in use, dead or unknown target, live migration with a local disk,
//! not enough memory on the target, a locked guest, malformed configs and bodies.

use std::collections::BTreeMap;
use std::time::Duration;

use brigade_client::{Client, ClientError, GuestLocation};
use brigade_core::layout::GuestKind;
use brigade_e2e::guests::{add_shared_storage, appliance, qemu_processes, wait_tick};
use brigade_e2e::{cluster, eventually};
use brigade_node::config::RaftTuning;
use serde_json::json;

/// A short node_timeout so a dead target is recognized quickly.
const TEST_NODE_TIMEOUT_SECS: u32 = 3;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn appliance_params(memory: u64, disk: &str) -> BTreeMap<String, String> {
    let dir = appliance();
    brigade_guest::vm_config::appliance_params(dir.to_str().expect("utf-8"), memory, Some(disk))
}

/// Asserts the error's HTTP status and that its message contains `needle`.
fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>, status: u16, needle: &str) {
    let e = r.expect_err(needle);
    assert_eq!(e.status(), Some(status), "{e}");
    assert!(
        e.to_string().contains(needle),
        "expected {needle:?} in: {e}"
    );
    eprintln!("refused as expected: {e}");
}

async fn config_text(c: &Client, vmid: u32) -> (String, String) {
    let loc = c.locate(vmid).await.expect("locate");
    (
        loc.node.clone(),
        c.guest_config(&loc).await.expect("config").text,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_refusals_change_nothing() {
    let mut c = cluster("guest-refusals", 42, 3, RaftTuning::default()).await;
    // n2 gives guests at most 64 MiB.
    c.nodes[1].config.guest_memory_mib = Some(64);
    c.save_config(1).expect("save");
    c.stop(1).expect("stop n2");
    c.start(1).expect("start n2");
    c.wait_api(1).await.expect("n2 back");
    c.wait_quorate(&[0, 1, 2]).await.expect("quorum");
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = TEST_NODE_TIMEOUT_SECS)
        .await
        .expect("node_timeout");
    let n1 = c.client(0).expect("client");
    add_shared_storage(&c, &n1).await;

    // Unknown VMID, everywhere it can be named.
    let ghost = GuestLocation {
        vmid: 999,
        node: "n1".into(),
        kind: GuestKind::Qemu,
    };
    refused(n1.locate(999).await, 404, "guest 999 does not exist");
    refused(
        n1.guest_power(&ghost, "start", json!({})).await,
        404,
        "VM 999 does not exist",
    );
    refused(
        n1.guest_migrate(&ghost, "n2", true).await,
        404,
        "VM 999 does not exist",
    );
    refused(n1.guest_destroy(&ghost).await, 404, "VM 999 does not exist");
    refused(
        n1.get::<serde_json::Value>("/nodes/n1/qemu/99/status/current", &[])
            .await,
        400,
        "invalid VMID 99",
    );

    // Malformed configs and bodies are refused before anything is made.
    refused(
        n1.guest_create(
            "n1",
            GuestKind::Qemu,
            300,
            &params(&[("bogus", "1")]),
            None,
            false,
        )
        .await,
        400,
        "unknown config key \"bogus\"",
    );
    refused(
        n1.guest_create(
            "n1",
            GuestKind::Qemu,
            300,
            &params(&[("memory", "lots")]),
            None,
            false,
        )
        .await,
        400,
        "memory",
    );
    refused(
        n1.guest_create(
            "n1",
            GuestKind::Qemu,
            300,
            &params(&[("scsi0", "nowhere:1")]),
            None,
            false,
        )
        .await,
        404,
        "storage \"nowhere\" does not exist",
    );
    refused(
        n1.post_raw("/nodes/n1/qemu", "{\"vmid\": \"x\"}").await,
        400,
        "invalid request body",
    );
    assert!(
        n1.locate(300).await.is_err(),
        "a refused create left a guest"
    );
    assert!(
        !c.nodes[0].state_dir().join("storage/images/300").exists()
            || std::fs::read_dir(c.nodes[0].state_dir().join("storage/images/300"))
                .expect("dir")
                .next()
                .is_none(),
        "a refused create left a disk"
    );

    // A VMID in use, by either kind, on any node; also through the raw file tree.
    n1.guest_create(
        "n1",
        GuestKind::Qemu,
        300,
        &params(&[("memory", "64")]),
        None,
        false,
    )
    .await
    .expect("create 300");
    refused(
        n1.guest_create(
            "n1",
            GuestKind::Qemu,
            300,
            &params(&[("memory", "64")]),
            None,
            false,
        )
        .await,
        409,
        "300 already exists: VM 300 on node n1",
    );
    refused(
        c.client(2)
            .expect("client")
            .guest_create(
                "n3",
                GuestKind::Lxc,
                300,
                &params(&[("rootfs", "local:1")]),
                Some("/x"),
                false,
            )
            .await,
        409,
        "300 already exists",
    );
    refused(
        n1.fs_put("nodes/n2/lxc/300.conf", "rootfs: local:x\n")
            .await,
        409,
        "guest 300 already exists",
    );
    let before = config_text(&n1, 300).await;

    // Bad changes to an existing config.
    let loc300 = n1.locate(300).await.expect("locate");
    refused(
        n1.guest_set(&loc300, &params(&[("cores", "0")]), &[]).await,
        400,
        "cores",
    );
    refused(
        n1.guest_set(&loc300, &params(&[("net0", "pcnet")]), &[])
            .await,
        400,
        "pcnet",
    );
    refused(
        n1.guest_set(&loc300, &BTreeMap::new(), &["nope".into()])
            .await,
        400,
        "not set",
    );
    assert_eq!(config_text(&n1, 300).await, before);

    // A config edited by hand into something invalid is refused when written, with the
    // message `vm set` gives (issue 13, item 10: it used to be accepted and refused
    // only at start), and nothing changes.
    refused(
        n1.fs_put(
            "nodes/n1/qemu-server/300.conf",
            "memory: 64\nfrobnicate: 1\n",
        )
        .await,
        400,
        "unknown config key \"frobnicate\"",
    );
    refused(
        n1.guest_set(&loc300, &params(&[("frobnicate", "1")]), &[])
            .await,
        400,
        "unknown config key \"frobnicate\"",
    );
    assert_eq!(config_text(&n1, 300).await, before);

    // A locked guest: start, migrate and destroy are refused until unlocked.
    n1.guest_set(&loc300, &params(&[("lock", "backup")]), &[])
        .await
        .expect("lock");
    refused(
        n1.guest_power(&loc300, "start", json!({})).await,
        409,
        "VM 300 is locked (backup)",
    );
    refused(
        n1.guest_migrate(&loc300, "n3", false).await,
        409,
        "locked (backup)",
    );
    refused(n1.guest_destroy(&loc300).await, 409, "locked (backup)");
    let t = n1
        .guest_migrate_targets(&loc300)
        .await
        .expect("targets of 300");
    assert!(
        t.allowed_nodes.is_empty()
            && t.refused
                .as_deref()
                .is_some_and(|r| r.contains("locked (backup)"))
            && t.not_allowed_nodes.len() == 2,
        "a locked guest can go nowhere: {t:?}"
    );
    assert_eq!(n1.locate(300).await.expect("still here").node, "n1");
    assert!(qemu_processes(&c, 300).is_empty());
    n1.guest_set(&loc300, &BTreeMap::new(), &["lock".into()])
        .await
        .expect("unlock");

    // Not enough memory: on start here, and on a live migration's target.
    let big = params(&[("memory", "4194304")]);
    n1.guest_create("n1", GuestKind::Qemu, 303, &big, None, false)
        .await
        .expect("create big");
    let loc303 = n1.locate(303).await.expect("locate");
    refused(
        n1.guest_power(&loc303, "start", json!({})).await,
        409,
        "not enough memory on node n1",
    );
    assert!(qemu_processes(&c, 303).is_empty());

    n1.guest_create(
        "n1",
        GuestKind::Qemu,
        302,
        &appliance_params(128, "shared:1"),
        None,
        true,
    )
    .await
    .expect("create and start 302");
    let loc302 = n1.locate(302).await.expect("locate");
    wait_tick(&c, 0, 302, 1, Duration::from_secs(40)).await;
    let before = config_text(&n1, 302).await;
    refused(
        n1.guest_migrate(&loc302, "n2", true).await,
        409,
        "not enough memory on node n2 for the migrating guest: it needs 128 MiB",
    );
    // The migrate dialog's question gives the same answer before anything is tried.
    let t = n1
        .guest_migrate_targets(&loc302)
        .await
        .expect("targets of 302");
    assert!(t.running && t.refused.is_none(), "{t:?}");
    assert_eq!(t.allowed_nodes, vec!["n3".to_string()], "{t:?}");
    assert!(
        t.not_allowed_nodes
            .get("n2")
            .is_some_and(|why| why.contains("not enough memory on node n2")),
        "{t:?}"
    );
    // Running without --online is refused too; offline needs a stop.
    refused(
        n1.guest_migrate(&loc302, "n3", false).await,
        409,
        "use --online",
    );
    refused(
        n1.guest_migrate(&loc302, "n1", true).await,
        400,
        "already on node n1",
    );
    refused(
        n1.guest_migrate(&loc302, "n9", true).await,
        404,
        "node \"n9\" is not a member",
    );
    refused(
        n1.guest_migrate(&loc302, "Bad_Name", true).await,
        400,
        "target node",
    );
    assert_eq!(
        config_text(&n1, 302).await,
        before,
        "a refused migration changed the config"
    );

    // Live migration with a local disk.
    n1.guest_set(
        &loc302,
        &params(&[("virtio1", "local:100/vm-100-disk-9.raw")]),
        &[],
    )
    .await
    .expect("add a local disk to the config");
    refused(
        n1.guest_migrate(&loc302, "n3", true).await,
        400,
        "volume local:100/vm-100-disk-9.raw is on local storage \"local\"; live migration needs every disk on shared storage",
    );
    let t = n1
        .guest_migrate_targets(&loc302)
        .await
        .expect("targets of 302");
    assert!(
        t.allowed_nodes.is_empty()
            && t.refused
                .as_deref()
                .is_some_and(|r| r.contains("on local storage"))
            && t.not_allowed_nodes.keys().eq(["n2", "n3"]),
        "a live move with a local disk can go nowhere: {t:?}"
    );
    n1.guest_set(&loc302, &BTreeMap::new(), &["virtio1".into()])
        .await
        .expect("drop it");

    // A dead target.
    n1.guest_create(
        "n3",
        GuestKind::Qemu,
        304,
        &params(&[("memory", "64"), ("name", "on-n3")]),
        None,
        false,
    )
    .await
    .expect("create 304 on n3");
    let loc304 = n1.locate(304).await.expect("locate 304");
    let on_n3 = n1.guest_config(&loc304).await.expect("config of 304");
    c.kill(2);
    eventually(Duration::from_secs(20), "n1 sees n3 dead", || async {
        n1.status()
            .await
            .is_ok_and(|s| s.members.iter().any(|m| m.name == "n3" && !m.alive))
    })
    .await;
    // The config of a guest on the dead node is still read from the replicated tree.
    let read = n1
        .guest_config(&loc304)
        .await
        .expect("the config of a guest whose node is down");
    assert_eq!(
        (read.node.as_str(), read.text.as_str(), read.digest),
        ("n3", on_n3.text.as_str(), on_n3.digest)
    );
    let t = n1
        .guest_migrate_targets(&loc302)
        .await
        .expect("targets of 302");
    assert!(t.allowed_nodes.is_empty(), "{t:?}");
    assert_eq!(
        t.not_allowed_nodes.get("n3").map(String::as_str),
        Some("offline: no heartbeat"),
        "{t:?}"
    );
    let before = config_text(&n1, 302).await;
    // A node that lacks a peer it needs cannot serve: 503, not a conflict.
    refused(
        n1.guest_migrate(&loc302, "n3", true).await,
        503,
        "node n3 is offline",
    );
    assert_eq!(config_text(&n1, 302).await, before);
    assert_eq!(
        qemu_processes(&c, 302).len(),
        1,
        "the guest must keep running, once"
    );
    n1.guest_power(&loc302, "stop", json!({}))
        .await
        .expect("stop");
    assert!(qemu_processes(&c, 302).is_empty());
}
