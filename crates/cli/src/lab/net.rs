//! The lab's guest networks: each node's own network namespace (`blabn<i>`, its VXLAN
//! underlay 10.1.0.i on a lab switch `blabsw`) as its `guest_netns`, a vxlan zone `lab`
//! with vnet `demo` applied on every node, and the demo guests' NICs and addresses on it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use brigade_api::sdn::{VnetRequest, ZoneRequest};
use brigade_client::Client;
use brigade_localcluster::netns::GuestNets;
use brigade_localcluster::NodeConfigHook;

/// The namespaces' prefix: `blabsw`, `blabn1`...
const LAB_NETNS_PREFIX: &str = "blab";
/// The underlay's second octet: 10.1.0.i.
const LAB_UNDERLAY_OCTET: u8 = 1;
/// The zone and vnet the demo guests are on.
pub(super) const LAB_ZONE: &str = "lab";
pub(super) const LAB_VNET: &str = "demo";
const LAB_VNI: u32 = 10_000;
/// The demo guests' addresses: 10.60.0.<k+1>/24.
const DEMO_NET_PREFIX: &str = "10.60.0";
/// How long every node may take to apply the overlay.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `sdn status` is read meanwhile.
const APPLY_POLL: Duration = Duration::from_millis(250);

/// The lab's namespaces for `nodes` nodes.
pub(super) fn lab_nets(nodes: usize) -> GuestNets {
    GuestNets::named(LAB_NETNS_PREFIX, LAB_UNDERLAY_OCTET, nodes)
}

/// Creates the namespaces (when this process may) and the config hook pointing node i at
/// its own; `None` without root or iproute2 (the lab then has no guest networks).
pub(super) fn prepare(nodes: usize) -> anyhow::Result<Option<(GuestNets, NodeConfigHook)>> {
    if !nix::unistd::geteuid().is_root() || super::which("ip").is_none() {
        return Ok(None);
    }
    let nets = lab_nets(nodes);
    nets.create()
        .context("creating the lab's per-node network namespaces")?;
    let hook_nets = nets.clone();
    let hook: NodeConfigHook = Box::new(move |i, config| {
        if let Some(ns) = hook_nets.nodes.get(i) {
            config.guest_netns = Some(ns.clone());
            config.sdn_underlay = Some(hook_nets.underlay(i));
        }
    });
    Ok(Some((nets, hook)))
}

/// Adds the vxlan zone and vnet, applies them and waits until every node runs them.
pub(super) async fn overlay(client: &Client) -> anyhow::Result<()> {
    client
        .sdn_zone_add(&ZoneRequest {
            zone: Some(LAB_ZONE.into()),
            kind: Some("vxlan".into()),
            ..Default::default()
        })
        .await
        .context("adding the lab's vxlan zone")?;
    client
        .sdn_vnet_add(&VnetRequest {
            vnet: Some(LAB_VNET.into()),
            zone: Some(LAB_ZONE.into()),
            tag: Some(LAB_VNI),
            alias: Some("the demo guests".into()),
            ..Default::default()
        })
        .await
        .context("adding the lab's vnet")?;
    let version = client.sdn_apply().await.context("sdn apply")?.version;
    let applied = brigade_core::poll_until(Instant::now() + APPLY_TIMEOUT, APPLY_POLL, || async {
        let st = client.sdn_status().await.ok()?;
        let all = !st.nodes.is_empty()
            && st
                .nodes
                .iter()
                .all(|n| n.applied_version.as_deref() == Some(version.as_str()));
        all.then_some(())
    })
    .await;
    if applied.is_err() {
        bail!(
            "not every node applied the lab's vnet within {} s (see `brigade sdn status`)",
            APPLY_TIMEOUT.as_secs()
        );
    }
    Ok(())
}

/// The address of the `k`-th demo guest on the vnet.
pub(super) fn demo_ip(k: usize) -> String {
    format!("{DEMO_NET_PREFIX}.{}", k + 1)
}

/// Puts demo VM `k` of `count` guests on the vnet: `net0`, `ipconfig0`, and pinging the next guest.
pub(super) fn vm_nic(config: &mut BTreeMap<String, String>, k: usize, count: usize) {
    config.insert("net0".into(), format!("virtio,bridge={LAB_VNET}"));
    config.insert("ipconfig0".into(), format!("ip={}/24", demo_ip(k)));
    let peer = demo_ip((k + 1) % count.max(1));
    config.insert(
        "append".into(),
        format!(
            "{} brigade.ping={peer}",
            brigade_guest::vm_config::APPLIANCE_APPEND
        ),
    );
}

/// The demo container's NIC, the `k`-th guest.
pub(super) fn ct_nic(k: usize) -> String {
    format!("name=eth0,bridge={LAB_VNET},ip={}/24", demo_ip(k))
}
