//! `lab up`: start the nodes, form the cluster, add the qdevice, the shared storage and
//! the demo guests, and print how to reach it and what to try.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};

use brigade_localcluster::{pid_alive, ProcCluster};
use brigade_node::config::RaftTuning;
use brigade_node::NodeConfig;

use super::{
    attach, kill_strays, load, save, LabNode, LabState, DEMO_GUEST_MEMORY_MIB, FIRST_DEMO_VMID,
    LAB_SUBNET, MAX_LAB_GUESTS, MAX_LAB_NODES, NODE_MEMORY_MIB,
};
use crate::connect::GlobalArgs;
use crate::output::print_json;

pub(super) async fn up(
    g: &GlobalArgs,
    nodes: usize,
    with_qdevice: bool,
    guests: usize,
    dir: &Path,
) -> anyhow::Result<()> {
    if nodes == 0 || nodes > MAX_LAB_NODES {
        bail!("--nodes must be between 1 and {MAX_LAB_NODES}");
    }
    if guests > MAX_LAB_GUESTS {
        bail!("--guests must be at most {MAX_LAB_GUESTS}");
    }
    let appliance = crate::cmd::guest::appliance_dir();
    if guests > 0 && !Path::new(&appliance).join("vmlinuz").exists() {
        bail!("the test appliance is missing in {appliance}: run scripts/build-appliance (scripts/lab-up does), or use --guests 0");
    }
    let need = nodes as u64 * NODE_MEMORY_MIB + (guests as u64 + 1) * DEMO_GUEST_MEMORY_MIB;
    let available = brigade_guest::memory::available_mib()?;
    if need > available {
        bail!("not enough memory for this lab: {nodes} node(s) and {guests} guest(s) need about {need} MiB, {available} MiB are available; try fewer --nodes or --guests");
    }
    if let Ok(state) = load(dir) {
        let running: Vec<&str> = state
            .nodes
            .iter()
            .filter(|n| n.pid.is_some_and(pid_alive))
            .map(|n| n.name.as_str())
            .collect();
        if !running.is_empty() {
            bail!("the lab in {} is already up ({} running); `brigade lab status` shows it, `brigade lab down` stops it", dir.display(), running.join(", "));
        }
        kill_strays(dir);
        // A stopped or crashed lab: start afresh, removing only what the lab made.
        if let Ok(old) = attach(dir, &state) {
            for i in 0..old.nodes.len() {
                old.kill_guests(i);
            }
        }
        for n in &state.nodes {
            if let Ok(cfg) = NodeConfig::load(&n.config_path) {
                let _ = std::fs::remove_dir_all(cfg.state_dir());
            }
            let _ = std::fs::remove_file(&n.config_path);
        }
    }
    for i in 1..=nodes {
        let addr = format!("127.0.{LAB_SUBNET}.{i}:8006");
        if std::net::TcpStream::connect_timeout(&addr.parse()?, Duration::from_millis(200)).is_ok()
        {
            bail!("port {addr} is in use: another brigade node (or lab) is running; stop it first");
        }
    }
    std::fs::create_dir_all(dir)?;
    eprintln!(
        "starting {nodes} node(s) on 127.0.{LAB_SUBNET}.1-{nodes} in {} ...",
        dir.display()
    );
    // Each node's own guest network stack (root only): its namespace and VXLAN underlay.
    let (nets, hook) = match super::net::prepare(nodes)? {
        Some((n, h)) => (Some(n), Some(h)),
        None => (None, None),
    };
    let formed = ProcCluster::form_configured(
        &std::env::current_exe()?,
        dir,
        LAB_SUBNET,
        nodes,
        RaftTuning::default(),
        true,
        hook,
    )
    .await;
    let mut c = match formed {
        Ok(c) => c,
        Err(e) => {
            // Leave nothing running behind a failed start.
            kill_strays(dir);
            if let Some(n) = &nets {
                n.delete();
            }
            return Err(
                anyhow::Error::new(e).context("the lab did not start (its processes were stopped)")
            );
        }
    };
    if with_qdevice {
        eprintln!("adding a qdevice on 127.0.{LAB_SUBNET}.{} ...", nodes + 1);
        let q = c.spawn_qdevice()?;
        c.setup_qdevice(q).await?;
    }
    let all: Vec<usize> = (0..nodes).collect();
    c.wait_quorate(&all).await?;
    let ca_path = dir.join("brigade-root-ca.pem");
    std::fs::write(&ca_path, c.ca_pem.clone().unwrap_or_default())?;
    let state = LabState {
        nodes: c
            .nodes
            .iter()
            .map(|n| LabNode {
                name: n.name.clone(),
                config_path: n.config_path.clone(),
                pid: n.pid(),
            })
            .collect(),
        root_token: c.root_token.clone().unwrap_or_default(),
        ca_path: ca_path.clone(),
    };
    save(dir, &state)?;
    // The nodes are recorded: whatever happens next, `lab down` stops them.
    let mut networked = false;
    if nets.is_some() {
        eprintln!(
            "applying vxlan zone {} with vnet {} on every node ...",
            super::net::LAB_ZONE,
            super::net::LAB_VNET
        );
        match super::net::overlay(&c.client(0)?).await {
            Ok(()) => networked = true,
            Err(e) => eprintln!("warning: the lab's guest network failed: {e:#}"),
        }
    }
    if guests > 0 {
        if let Err(e) = demo_guests(&c, dir, guests, &appliance, networked).await {
            eprintln!("warning: the lab is up, but its demo guests failed: {e:#}");
        }
    }
    if g.json() {
        return print_json(&state);
    }
    outln!("Lab up: {nodes} node(s), cluster \"test\".");
    outln!("  API:        https://127.0.{LAB_SUBNET}.1:8006/api2/json (every node serves it)");
    outln!("  Token:      {}", state.root_token);
    outln!("  CA:         {}", ca_path.display());
    outln!("  Logs:       {}/n*.log", dir.display());
    if networked {
        outln!(
            "  Guests:     on vnet {} (vxlan), {}-{}; node nK's guest network is namespace blabnK (`ip netns exec blabn1 ip link`)",
            super::net::LAB_VNET,
            super::net::demo_ip(0),
            super::net::demo_ip(guests)
        );
    }
    outln!();
    outln!("Try:");
    let names: Vec<String> = c
        .nodes
        .iter()
        .filter(|n| !n.config.qdevice)
        .map(|n| n.name.clone())
        .collect();
    for line in super::try_text::try_lines(&names, guests, dir) {
        outln!("  {line}");
    }
    Ok(())
}

/// A shared storage in the lab directory, `guests` appliance VMs spread over the nodes,
/// and one container.
async fn demo_guests(
    c: &ProcCluster,
    dir: &Path,
    guests: usize,
    appliance: &str,
    networked: bool,
) -> anyhow::Result<()> {
    use brigade_core::layout::GuestKind;
    let client = c.client(0)?;
    brigade_localcluster::add_shared_dir_storage(&client, dir)
        .await
        .context("adding the shared storage")?;
    let node_names: Vec<String> = c
        .nodes
        .iter()
        .filter(|n| !n.config.qdevice)
        .map(|n| n.name.clone())
        .collect();
    for k in 0..guests {
        let vmid = FIRST_DEMO_VMID + k as u32;
        let node = &node_names[super::try_text::demo_node(k, node_names.len())];
        let mut config = brigade_guest::vm_config::appliance_params(
            appliance,
            DEMO_GUEST_MEMORY_MIB,
            Some("shared:1"),
        );
        config.insert("name".into(), format!("demo{}", k + 1));
        if networked {
            super::net::vm_nic(&mut config, k, guests + 1);
        }
        eprintln!("creating VM {vmid} on {node} ...");
        client
            .guest_create(node, GuestKind::Qemu, vmid, &config, None, k != 0)
            .await
            .with_context(|| format!("creating demo VM {vmid}"))?;
        if k == 0 {
            // The first one is HA-managed: HA starts it, and restarts it elsewhere if its node dies.
            client
                .ha_add(&brigade_api::ha::ResourceRequest {
                    sid: Some(format!("vm:{vmid}")),
                    ..Default::default()
                })
                .await
                .with_context(|| format!("making VM {vmid} HA-managed"))?;
        }
    }
    let ctid = FIRST_DEMO_VMID + guests as u32;
    let node = &node_names[super::try_text::demo_node(guests, node_names.len())];
    let mut config: std::collections::BTreeMap<String, String> = [
        ("hostname", "democt".to_string()),
        ("memory", "64".to_string()),
        ("rootfs", "local:1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if networked {
        config.insert("net0".into(), super::net::ct_nic(guests));
    }
    eprintln!("creating container {ctid} on {node} ...");
    client
        .guest_create(
            node,
            GuestKind::Lxc,
            ctid,
            &config,
            Some(&format!("{appliance}/rootfs")),
            true,
        )
        .await
        .with_context(|| format!("creating demo container {ctid}"))?;
    Ok(())
}
