//! `datacenter.cfg` `migration: type=...,network=CIDR` (subnet 125, link1 on 127.0.126.x,
//! namespaces bsd125*): bridged appliance VMs on a vxlan vnet; a live migration with
//! `type=insecure,network=127.0.126.0/24` streams from the source's address in that
//! network to the target's (the target daemon listens there in the host namespace, as
//! the VM's QEMU runs in the guest namespace), one with `type=secure` and the same network
//! runs the tunnel between the link1 addresses, and a network in which a node has no
//! address is refused naming it. The peer's pings of the moved VM go on across each move.

use std::time::Duration;

use brigade_e2e::netns::NodeNets;
use brigade_e2e::{brigade, brigade_ok, eventually};

use crate::sdn::{overlay, pings, sdn_cluster_with, serial, vm_params, VM_NET_TIMEOUT};

const SUBNET: u8 = 125;
/// The nodes' link1 addresses, 127.0.126.i: the migration network.
const LINK1_SUBNET: u8 = 126;
const NS_PREFIX: &str = "bsd125";
const PEER: u32 = 1251;
const MOVER: u32 = 1252;
const PEER_IP: &str = "10.53.0.1";
const MOVER_IP: &str = "10.53.0.2";
/// How long a live migration task may take.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(90);

/// Live-migrates MOVER to `target` through the API; the task's log.
async fn migrate(c: &brigade_localcluster::ProcCluster, target: &str) -> Result<String, String> {
    let n1 = c.client(0).expect("client");
    let loc = n1.locate(MOVER).await.expect("locate");
    let task = n1
        .guest_migrate(&loc, target, true)
        .await
        .map_err(|e| e.to_string())?;
    let t = brigade_e2e::wait_task(&n1, &task.node, &task.upid, MIGRATION_TIMEOUT).await;
    let log: Vec<String> = n1
        .task_log(&task.upid, 0, 1000)
        .await
        .expect("task log")
        .into_iter()
        .map(|l| l.t)
        .collect();
    let log = log.join("\n");
    match t.status {
        brigade_api::tasks::TaskState::Running => unreachable!("wait_task waits"),
        _ if t.error.is_none() => Ok(log),
        _ => Err(format!("{:?}\n{log}", t.error)),
    }
}

/// Waits for PEER's pings of MOVER to go on (3 more answered).
async fn pings_go_on(c: &brigade_localcluster::ProcCluster) {
    let before = pings(&serial(c, 0, PEER), MOVER_IP).0;
    eventually(VM_NET_TIMEOUT, "the peer pings the moved VM", || async {
        pings(&serial(c, 0, PEER), MOVER_IP).0 >= before + 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_migration_streams_over_the_migration_network() {
    let nets = NodeNets::new(NS_PREFIX, SUBNET, 3);
    let c = sdn_cluster_with("migration_network", SUBNET, &nets, Some(LINK1_SUBNET)).await;
    let cfg = c.nodes[0].config_path.clone();
    overlay(&cfg).await;
    let n1 = c.client(0).expect("client");
    for (node, vmid, addr, peer) in [
        ("n1", PEER, PEER_IP, MOVER_IP),
        ("n2", MOVER, MOVER_IP, PEER_IP),
    ] {
        n1.guest_create(
            node,
            brigade_core::layout::GuestKind::Qemu,
            vmid,
            &vm_params("blue", addr, peer),
            None,
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("create and start {vmid} on {node}: {e}"));
    }
    eventually(VM_NET_TIMEOUT, "1251 pings 1252", || async {
        pings(&serial(&c, 0, PEER), MOVER_IP).0 >= 2
    })
    .await;

    // Insecure on the migration network: n2's 127.0.126.2 streams to n3's 127.0.126.3.
    brigade_ok(
        &cfg,
        &[
            "fs",
            "write",
            "datacenter.cfg",
            "migration: type=insecure,network=127.0.126.0/24\n",
        ],
    );
    let log = migrate(&c, "n3").await.expect("insecure migration to n3");
    assert!(
        log.contains("(insecure, 127.0.126.2 -> tcp:127.0.126.3:"),
        "the stream ran between the migration addresses: {log}"
    );
    pings_go_on(&c).await;

    // Secure on the same network: the tunnel between the link1 addresses, n3 -> n2.
    brigade_ok(
        &cfg,
        &[
            "fs",
            "write",
            "datacenter.cfg",
            "migration: type=secure,network=127.0.126.0/24\n",
        ],
    );
    let log = migrate(&c, "n2").await.expect("secure migration to n2");
    assert!(
        log.contains("(through the tunnel, 127.0.126.3 -> 127.0.126.2:"),
        "the tunnel ran between the link1 addresses: {log}"
    );
    pings_go_on(&c).await;

    // A network in which no node has an address: refused, naming the node; nothing moves.
    brigade_ok(
        &cfg,
        &[
            "fs",
            "write",
            "datacenter.cfg",
            "migration: type=insecure,network=10.99.0.0/24\n",
        ],
    );
    let e = migrate(&c, "n3")
        .await
        .expect_err("no address in 10.99.0.0/24");
    assert!(
        e.contains("node n2 has no address in the migration network 10.99.0.0/24"),
        "{e}"
    );
    let (ok, out, _) = brigade(&cfg, &["vm", "status", &MOVER.to_string()]);
    assert!(ok && out.contains("n2"), "VM 1252 stays on n2: {out}");
    pings_go_on(&c).await;
    drop(c);
}
