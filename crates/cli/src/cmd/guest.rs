//! `brigade vm ...` and `brigade ct ...`: guests, like `qm` and `pct`.

use anyhow::{bail, Context as _};
use brigade_client::{Client, GuestLocation};
use brigade_core::layout::GuestKind;
use clap::{Args, Subcommand};
use serde_json::json;
use std::collections::BTreeMap;

use super::task::{after_start, FollowOpts};
use crate::connect::{client, GlobalArgs};
use crate::output::print_json;

/// Where `--appliance` and `--ostemplate` look by default.
pub const DEFAULT_APPLIANCE_DIR: &str = "/var/cache/brigade/appliance";

/// The test appliance directory (`BRIGADE_APPLIANCE` or the default).
pub fn appliance_dir() -> String {
    std::env::var("BRIGADE_APPLIANCE").unwrap_or_else(|_| DEFAULT_APPLIANCE_DIR.into())
}

/// What `console --tail` without a value prints: the last 1 KiB.
const CONSOLE_TAIL_DEFAULT: &str = "1024";

/// Options shared by create and set.
#[derive(Args, Debug, Default)]
pub struct CommonOpts {
    /// Memory in MiB.
    #[arg(long)]
    memory: Option<u64>,
    /// CPU cores.
    #[arg(long)]
    cores: Option<u32>,
    /// Start the guest when its node boots.
    #[arg(long)]
    onboot: Option<bool>,
    /// Protection from mistakes: 1 refuses destroying the guest and removing or
    /// detaching its disks until it is set back to 0 (as Proxmox's `protection`).
    #[arg(long, value_name = "0|1")]
    protection: Option<String>,
    /// Any other config key, as KEY=VALUE (repeatable), e.g. -O net0=virtio.
    #[arg(short = 'O', long = "opt", value_name = "KEY=VALUE")]
    opts: Vec<String>,
}

impl CommonOpts {
    fn into_map(self, map: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        if let Some(m) = self.memory {
            map.insert("memory".into(), m.to_string());
        }
        if let Some(c) = self.cores {
            map.insert("cores".into(), c.to_string());
        }
        if let Some(o) = self.onboot {
            map.insert("onboot".into(), if o { "1" } else { "0" }.into());
        }
        if let Some(p) = self.protection {
            map.insert("protection".into(), p);
        }
        for kv in self.opts {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--opt {kv:?}: expected KEY=VALUE"))?;
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(())
    }
}

#[derive(Subcommand, Debug)]
pub enum GuestCmd {
    /// Create a guest (on the node answering, or --on NODE).
    ///
    /// VMs: `brigade vm create 100 --memory 128 --disk shared:1 --appliance --start`
    /// boots the test appliance with a 1 GiB disk on storage `shared`.
    /// Containers: `brigade ct create 101 --rootfs local:1 --start` copies the
    /// appliance's root file system (or --ostemplate DIR) onto storage `local`.
    Create {
        vmid: u32,
        /// The node to create it on (default: the node the CLI talks to).
        #[arg(long = "on", value_name = "NODE")]
        on: Option<String>,
        /// VM: its name. Container: its hostname.
        #[arg(long)]
        name: Option<String>,
        /// VM: sockets.
        #[arg(long)]
        sockets: Option<u32>,
        /// VM: a new disk STORAGE:SIZE (GiB unless suffixed), repeatable: scsi0, scsi1, ...
        #[arg(long)]
        disk: Vec<String>,
        /// VM: boot the test appliance from DIR (kernel, initramfs, serial console).
        #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "DIR")]
        appliance: Option<String>,
        /// Container: the root file system STORAGE:SIZE to create.
        #[arg(long)]
        rootfs: Option<String>,
        /// Container: the directory to copy the root file system from.
        #[arg(long)]
        ostemplate: Option<String>,
        /// Start it once created.
        #[arg(long)]
        start: bool,
        #[command(flatten)]
        common: CommonOpts,
        #[command(flatten)]
        task: FollowOpts,
    },
    /// Start a guest on its node.
    Start {
        vmid: u32,
        #[command(flatten)]
        task: FollowOpts,
    },
    /// Stop a guest at once (like pulling its power).
    Stop {
        vmid: u32,
        #[command(flatten)]
        task: FollowOpts,
    },
    /// Ask a guest to power off, waiting up to --timeout seconds.
    Shutdown {
        vmid: u32,
        #[arg(long)]
        timeout: Option<u64>,
        /// Stop it if it has not powered off in time.
        #[arg(long)]
        force_stop: bool,
        #[command(flatten)]
        task: FollowOpts,
    },
    /// Reset a VM (restart a container).
    Reboot {
        vmid: u32,
        #[command(flatten)]
        task: FollowOpts,
    },
    /// Remove a stopped guest with its disks.
    ///
    /// Asks for the VMID to be typed again; scripts (no terminal) must add --yes.
    /// A guest with `protection: 1` is refused until `set VMID --protection 0`.
    Destroy {
        vmid: u32,
        /// Do not ask for confirmation (required when standard input is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        task: FollowOpts,
    },
    /// Every guest of the cluster with its node and state, a summary first.
    ///
    /// Past 100 guests only the first 100 are listed: --all lists every one,
    /// --on NODE/--state/--filter choose, --sort orders.
    List(crate::cmd::guest_list::ListArgs),
    /// A guest's state: running or stopped, pid, accelerator, uptime.
    Status { vmid: u32 },
    /// Print a guest's config.
    Config { vmid: u32 },
    /// Change a guest's config.
    Set {
        vmid: u32,
        /// VM name or container hostname.
        #[arg(long)]
        name: Option<String>,
        /// Set a lock (e.g. backup) by hand.
        #[arg(long)]
        lock: Option<String>,
        /// Remove these keys (repeatable).
        #[arg(long)]
        delete: Vec<String>,
        #[command(flatten)]
        common: CommonOpts,
    },
    /// Remove a guest's lock (after an operation died), like `qm unlock`.
    Unlock { vmid: u32 },
    /// Move a guest to another node. VMs move live with --online (shared disks
    /// only); stopped guests move offline, local disks copied.
    Migrate {
        vmid: u32,
        target: String,
        /// Live migration of a running VM.
        #[arg(long)]
        online: bool,
        #[command(flatten)]
        task: FollowOpts,
    },
    /// VMs: attach to the serial console (Ctrl-D detaches). Containers, or with
    /// --tail/--follow: print what the guest wrote since it started.
    Console {
        vmid: u32,
        /// Print the console log and keep printing new output until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Only the last BYTES bytes (`--tail` alone: the last 1 KiB).
        #[arg(long, value_name = "BYTES", num_args = 0..=1, default_missing_value = CONSOLE_TAIL_DEFAULT)]
        tail: Option<u64>,
    },
}

/// The config key of a guest's name: `name` for VMs, `hostname` for containers.
fn name_key(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "name",
        GuestKind::Lxc => "hostname",
    }
}

fn noun(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "VM",
        GuestKind::Lxc => "container",
    }
}

/// The guest's location; an error if it is of the other kind.
async fn locate(c: &Client, kind: GuestKind, vmid: u32) -> anyhow::Result<GuestLocation> {
    let loc = c.locate(vmid).await?;
    if loc.kind != kind {
        bail!(
            "{vmid} is a {}, not a {} (use 'brigade {} ...')",
            noun(loc.kind),
            noun(kind),
            if loc.kind == GuestKind::Qemu {
                "vm"
            } else {
                "ct"
            }
        );
    }
    Ok(loc)
}

pub async fn run(g: &GlobalArgs, kind: GuestKind, cmd: GuestCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        GuestCmd::Create {
            vmid,
            on,
            name,
            sockets,
            disk,
            appliance,
            rootfs,
            ostemplate,
            start,
            common,
            task,
        } => {
            let mut map = BTreeMap::new();
            if let Some(n) = name {
                map.insert(name_key(kind).to_string(), n);
            }
            if let Some(s) = sockets {
                map.insert("sockets".into(), s.to_string());
            }
            for (i, d) in disk.into_iter().enumerate() {
                map.insert(format!("scsi{i}"), d);
            }
            if let Some(dir) = appliance {
                let dir = if dir.is_empty() { appliance_dir() } else { dir };
                for (k, v) in brigade_guest::vm_config::appliance_params(&dir, 0, None) {
                    if k != "memory" {
                        map.insert(k, v);
                    }
                }
            }
            if let Some(r) = rootfs {
                map.insert("rootfs".into(), r);
            }
            common.into_map(&mut map)?;
            let ostemplate = match (kind, ostemplate) {
                (GuestKind::Lxc, None) => Some(format!("{}/rootfs", appliance_dir())),
                (_, t) => t,
            };
            let node = match on {
                Some(n) => n,
                None => c.status().await?.node,
            };
            let out = c
                .guest_create(&node, kind, vmid, &map, ostemplate.as_deref(), start)
                .await
                .with_context(|| format!("cannot create {} {vmid}", noun(kind)))?;
            after_start(g, &c, out.get("upid").and_then(|u| u.as_str()), task).await?;
            if g.json() {
                return print_json(&out);
            }
            outln!(
                "{} {vmid} created on {node}{}",
                noun(kind),
                if start { " and started" } else { "" }
            );
        }
        GuestCmd::Start { vmid, task } => {
            power(g, &c, (kind, vmid), "start", json!({}), task).await?;
        }
        GuestCmd::Stop { vmid, task } => {
            power(g, &c, (kind, vmid), "stop", json!({}), task).await?;
        }
        GuestCmd::Reboot { vmid, task } => {
            power(g, &c, (kind, vmid), "reboot", json!({}), task).await?;
        }
        GuestCmd::Shutdown {
            vmid,
            timeout,
            force_stop,
            task,
        } => {
            power(
                g,
                &c,
                (kind, vmid),
                "shutdown",
                json!({ "timeout": timeout, "forceStop": force_stop }),
                task,
            )
            .await?;
        }
        GuestCmd::Destroy { vmid, yes, task } => {
            let loc = locate(&c, kind, vmid).await?;
            let what = format!("destroy {} {vmid} and its disks", noun(kind));
            super::confirm::typed_again(&what, &vmid.to_string(), yes)?;
            let out = c
                .guest_destroy(&loc)
                .await
                .with_context(|| format!("cannot destroy {} {vmid}", noun(kind)))?;
            after_start(g, &c, out.get("upid").and_then(|u| u.as_str()), task).await?;
            if g.json() {
                return print_json(&out);
            }
            outln!("{} {vmid} destroyed", noun(kind));
        }
        GuestCmd::List(args) => {
            let rows: Vec<_> = c
                .resources()
                .await?
                .into_iter()
                .filter(|r| r.kind == kind)
                .collect();
            if g.json() {
                return print_json(&rows);
            }
            crate::cmd::guest_list::print(rows, &args);
        }
        GuestCmd::Status { vmid } => {
            let loc = locate(&c, kind, vmid).await?;
            let s = c.guest_status(&loc).await?;
            if g.json() {
                return print_json(&s);
            }
            outln!("status: {}", s.status);
            outln!("node: {}", s.node);
            if let Some(n) = &s.name {
                outln!("name: {n}");
            }
            if let Some(q) = &s.qmp_status {
                outln!("qmpstatus: {q}");
            }
            if let Some(p) = s.pid {
                outln!("pid: {p}");
            }
            outln!("memory: {} MiB", s.memory_mib);
            outln!("cpus: {}", s.cpus);
            if let (Some(a), Some(r)) = (&s.accel, &s.accel_reason) {
                outln!("accel: {a} ({r})");
            }
            if let Some(u) = s.uptime_secs {
                outln!("uptime: {u} s");
            }
            if let Some(l) = &s.lock {
                outln!("lock: {l}");
            }
        }
        GuestCmd::Config { vmid } => {
            let loc = locate(&c, kind, vmid).await?;
            let v = c.guest_config(&loc).await?;
            if g.json() {
                return print_json(&v);
            }
            out!("{}", v.text);
        }
        GuestCmd::Set {
            vmid,
            name,
            lock,
            delete,
            common,
        } => {
            let mut map = BTreeMap::new();
            if let Some(n) = name {
                map.insert(name_key(kind).to_string(), n);
            }
            if let Some(l) = lock {
                map.insert("lock".into(), l);
            }
            common.into_map(&mut map)?;
            let loc = locate(&c, kind, vmid).await?;
            let v = c
                .guest_set(&loc, &map, &delete)
                .await
                .with_context(|| format!("cannot change {} {vmid}", noun(kind)))?;
            if g.json() {
                return print_json(&v);
            }
            out!("{}", v.text);
        }
        GuestCmd::Unlock { vmid } => {
            let loc = locate(&c, kind, vmid).await?;
            let v = c
                .guest_set(&loc, &BTreeMap::new(), &["lock".to_string()])
                .await
                .with_context(|| format!("cannot unlock {} {vmid}", noun(kind)))?;
            if g.json() {
                return print_json(&v);
            }
        }
        GuestCmd::Migrate {
            vmid,
            target,
            online,
            task,
        } => super::migrate::run(g, &c, (kind, vmid), &target, online, task).await?,
        GuestCmd::Console { vmid, follow, tail } => {
            let loc = locate(&c, kind, vmid).await?;
            if kind == GuestKind::Qemu && !follow && tail.is_none() {
                return attach(&c, &loc).await;
            }
            super::console::follow_log(&c, &loc, follow, tail).await?;
        }
    }
    Ok(())
}

/// Attaches the terminal to a VM's serial port until stdin ends or the VM goes away.
async fn attach(c: &Client, loc: &GuestLocation) -> anyhow::Result<()> {
    let stream = c
        .console_attach(loc)
        .await
        .with_context(|| format!("cannot attach to VM {}", loc.vmid))?;
    eprintln!(
        "attached to the serial console of VM {} on {} (Ctrl-D detaches)",
        loc.vmid, loc.node
    );
    let (mut rd, mut wr) = tokio::io::split(stream);
    let output = async {
        let mut out = tokio::io::stdout();
        let mut buf = vec![0u8; 4096];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut rd, &mut buf).await?;
            if n == 0 {
                return anyhow::Ok(());
            }
            tokio::io::AsyncWriteExt::write_all(&mut out, &buf[..n]).await?;
            tokio::io::AsyncWriteExt::flush(&mut out).await?;
        }
    };
    let input = async {
        tokio::io::copy(&mut tokio::io::stdin(), &mut wr).await?;
        anyhow::Ok(())
    };
    tokio::select! {
        r = output => r?,
        r = input => r?,
    }
    eprintln!("detached");
    Ok(())
}

async fn power(
    g: &GlobalArgs,
    c: &Client,
    (kind, vmid): (GuestKind, u32),
    action: &str,
    body: serde_json::Value,
    task: FollowOpts,
) -> anyhow::Result<()> {
    let loc = locate(c, kind, vmid).await?;
    let s = c
        .guest_power(&loc, action, body)
        .await
        .with_context(|| format!("cannot {action} {} {vmid}", noun(kind)))?;
    after_start(g, c, s.upid.as_deref(), task).await?;
    if g.json() {
        return print_json(&s);
    }
    outln!("{} {vmid} on {}: {}", noun(kind), s.node, s.status);
    Ok(())
}
