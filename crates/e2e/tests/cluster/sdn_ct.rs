//! Containers on guest networks (subnet 124, namespaces bsd124*): a container on n2 and an
//! appliance VM on n1 on one vxlan vnet ping each other; the container's veth is on the
//! vnet with the vnet's MTU (1500 - 50) and the MAC written into its config, its peer
//! inside named, addressed and up; the veth goes when the container stops and the same MAC
//! comes back at the next start. A NIC's mtu= above the vnet's, an unknown bridge or a MAC
//! of another guest is refused by guest set, by `brigade fs write` and by a write through
//! the FUSE mount alike, naming the key.

use brigade_core::layout::GuestKind;
use brigade_e2e::guests::{appliance, guest_pid};
use brigade_e2e::netns::{ip, NodeNets};
use brigade_e2e::{brigade, brigade_ok, eventually};

use crate::sdn::{overlay, pings, sdn_cluster, serial, vm_params, VM_NET_TIMEOUT};

const SUBNET: u8 = 124;
const NS_PREFIX: &str = "bsd124";
const VMID: u32 = 1241;
const CTID: u32 = 1242;
const VM_IP: &str = "10.52.0.1";
const CT_IP: &str = "10.52.0.2";
/// The vnet's MTU: a vxlan zone over a 1500-byte link.
const VNET_MTU: &str = "1450";
/// What a refused write through the FUSE mount fails with.
const EINVAL: i32 = 22;

/// `nsenter` into container `pid`'s namespaces and root, running `args` there.
fn in_ct(init: i32, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("nsenter")
        .args(["-t", &init.to_string(), "-m", "-n", "-p", "-r", "-w"])
        .args(args)
        .output()
        .expect("spawn nsenter");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The text of the file at `path`.
async fn read(client: &brigade_client::Client, path: &str) -> String {
    let f = client.fs_read(path, false).await.expect("read");
    f.content.unwrap_or(f.data)
}

/// The MAC written into `net0` of `text` (`hwaddr=`).
fn hwaddr(text: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with("net0:"))?
        .split(',')
        .find_map(|p| p.trim().strip_prefix("hwaddr="))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_and_a_vm_on_one_vxlan_vnet_ping_each_other_across_nodes() {
    let nets = NodeNets::new(NS_PREFIX, SUBNET, 3);
    let c = sdn_cluster("sdn_ct", SUBNET, &nets).await;
    let cfg = c.nodes[0].config_path.clone();
    overlay(&cfg).await;
    let n1 = c.client(0).expect("client");

    n1.guest_create(
        "n1",
        GuestKind::Qemu,
        VMID,
        &vm_params("blue", VM_IP, CT_IP),
        None,
        true,
    )
    .await
    .expect("create and start the VM on n1");
    let tap = ip(&["-n", &nets.nodes[0], "-o", "link", "show", "tap1241i0"]);
    assert!(
        tap.contains("master blue") && tap.contains(&format!("mtu {VNET_MTU}")),
        "the VM's TAP is on blue with the vnet's MTU: {tap}"
    );

    let template = appliance().join("rootfs").display().to_string();
    let ct = std::collections::BTreeMap::from([
        ("hostname".to_string(), "netct".to_string()),
        ("memory".to_string(), "64".to_string()),
        ("rootfs".to_string(), "local:1".to_string()),
        (
            "net0".to_string(),
            format!("name=eth0,bridge=blue,ip={CT_IP}/24"),
        ),
    ]);
    n1.guest_create("n2", GuestKind::Lxc, CTID, &ct, Some(&template), true)
        .await
        .expect("create and start the container on n2");
    let path = format!("nodes/n2/lxc/{CTID}.conf");
    let text = read(&n1, &path).await;
    let mac = hwaddr(&text).unwrap_or_else(|| panic!("no hwaddr written into net0: {text}"));

    // The host end on the vnet with its MTU; the peer inside, named, addressed and up.
    let veth = ip(&["-n", &nets.nodes[1], "-o", "link", "show", "veth1242i0"]);
    assert!(
        veth.contains("master blue") && veth.contains(&format!("mtu {VNET_MTU}")),
        "the container's veth is on blue with the vnet's MTU: {veth}"
    );
    let pid = guest_pid(&c, 1, CTID).expect("the container runs");
    let init = brigade_guest::process::children(pid)[0];
    let (ok, eth0) = in_ct(init, &["/bin/ip", "addr", "show", "dev", "eth0"]);
    assert!(ok, "eth0 inside: {eth0}");
    assert!(
        eth0.contains(&format!("inet {CT_IP}/24"))
            && eth0.contains(&format!("mtu {VNET_MTU}"))
            && eth0.to_lowercase().contains(&mac.to_lowercase())
            && eth0.contains("UP"),
        "eth0 inside has the address, the MTU, the MAC {mac} and is up: {eth0}"
    );

    // Each way across the overlay: the container's busybox pings the VM, the VM the container.
    eventually(VM_NET_TIMEOUT, "the container pings the VM", || async {
        in_ct(init, &["/bin/busybox", "ping", "-c", "1", "-W", "2", VM_IP]).0
    })
    .await;
    eventually(VM_NET_TIMEOUT, "the VM pings the container", || async {
        pings(&serial(&c, 0, VMID), CT_IP).0 >= 2
    })
    .await;
    let (ok, out) = in_ct(init, &["/bin/busybox", "ping", "-c", "3", "-W", "2", VM_IP]);
    assert!(ok, "3 pings from the container: {out}");
    eprintln!(
        "container -> VM: {}",
        out.lines().last().unwrap_or_default()
    );

    // Refusals, by guest set, by fs write of the file and by a write through the mount,
    // each naming the key (the mount can only say EINVAL; the daemon logs why).
    let mount = c.dir.join("m1");
    std::fs::create_dir_all(&mount).expect("mountpoint");
    n1.local_mount(&mount, false).await.expect("mount");
    let loc = n1.locate(CTID).await.expect("locate");
    for (net0, why) in [
        (
            format!("name=eth0,bridge=blue,ip={CT_IP}/24,mtu=1500"),
            "mtu=1500 is above the MTU of bridge blue (1450)",
        ),
        ("name=eth0,bridge=nope".to_string(), "unknown bridge"),
        (
            format!(
                "name=eth0,bridge=blue,hwaddr={}",
                brigade_guest::qemu::default_mac(VMID, 0)
            ),
            "is already used by net0 of VM 1241",
        ),
    ] {
        let set = std::collections::BTreeMap::from([("net0".to_string(), net0.clone())]);
        let e = n1.guest_set(&loc, &set, &[]).await.expect_err(&net0);
        assert!(
            e.to_string().contains("net0") && e.to_string().contains(why),
            "guest set {net0}: {e}"
        );
        let written = text.replace(
            text.lines().find(|l| l.starts_with("net0:")).expect("net0"),
            &format!("net0: {net0}"),
        );
        let (ok, _, err) = brigade(&cfg, &["fs", "write", &path, &written]);
        assert!(!ok, "fs write took {net0}");
        assert!(
            err.contains("net0") && err.contains(why),
            "fs write {net0}: {err}"
        );
        // Through the FUSE mount: the same check, refused as EINVAL when the file is
        // flushed (fsync here: the error of a close is lost).
        let r = (|| {
            use std::io::Write as _;
            let mut f = std::fs::File::create(mount.join(&path))?;
            f.write_all(written.as_bytes())?;
            f.sync_all()
        })();
        assert_eq!(
            r.err().and_then(|e| e.raw_os_error()),
            Some(EINVAL),
            "the mount took {net0}"
        );
    }
    n1.local_mount(&mount, true).await.expect("unmount");
    assert_eq!(read(&n1, &path).await, text, "nothing was written");
    // A valid edit through fs write goes in (a lower MTU).
    let lower = text.replace(&format!("hwaddr={mac}"), &format!("hwaddr={mac},mtu=1400"));
    brigade_ok(&cfg, &["fs", "write", &path, &lower]);

    // Stopped: the veth is gone. Started again: the same MAC, the lower MTU, pings again.
    n1.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
    eventually(VM_NET_TIMEOUT, "the veth is removed", || async {
        !NodeNets::links(&nets.nodes[1])
            .iter()
            .any(|l| l == "veth1242i0")
    })
    .await;
    n1.guest_power(&loc, "start", serde_json::json!({}))
        .await
        .expect("start");
    let pid = guest_pid(&c, 1, CTID).expect("the container runs");
    let init = brigade_guest::process::children(pid)[0];
    let (_, eth0) = in_ct(init, &["/bin/ip", "addr", "show", "dev", "eth0"]);
    assert!(
        eth0.to_lowercase().contains(&mac.to_lowercase()) && eth0.contains("mtu 1400"),
        "the same MAC {mac} and mtu=1400 after a restart: {eth0}"
    );
    eventually(
        VM_NET_TIMEOUT,
        "the restarted container pings the VM",
        || async { in_ct(init, &["/bin/busybox", "ping", "-c", "1", "-W", "2", VM_IP]).0 },
    )
    .await;
    drop(c);
}
