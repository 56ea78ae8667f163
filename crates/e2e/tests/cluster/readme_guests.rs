//! The README's "Guests" and "High availability" sections through the real CLI, on one
//! 3-node cluster with the test appliance: every command they show, and each refusal's
//! suggested command run as a user would (`ha set/migrate/remove` for an HA guest,
//! `vm unlock`, `--online`, `--force-stop`, stopping first), `ha migrate` and
//! `node maintenance` through `--node URL` (they once used the node name as the
//! address), API refusals in brigade's words, host paths, and output into a closed pipe.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use brigade_e2e::guests::{appliance, ticks, vm_ticks, wait_tick};
use brigade_e2e::readme::Coverage;
use brigade_e2e::{
    assert_quiet_on_closed_pipe, bin, brigade_into_closed_pipe, cluster, eventually, wait_exit,
    LineSink,
};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use serde_json::Value;

const SUBNET: u8 = 73;
const BOOT: Duration = Duration::from_secs(40);
const SETTLE: Duration = Duration::from_secs(60);

/// The CLI as a user on n1 runs it (its config, the appliance).
struct Cli {
    cfg: PathBuf,
    appliance: String,
}

impl Cli {
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(bin())
            .arg("--config")
            .arg(&self.cfg)
            .args(args)
            .env("BRIGADE_APPLIANCE", &self.appliance)
            .current_dir(workspace())
            .output()
            .expect("run brigade");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (success, out, err) = self.run(args);
        assert!(success, "brigade {args:?} failed: {out}{err}");
        out
    }

    fn refused(&self, args: &[&str], needle: &str) -> String {
        let (success, out, err) = self.run(args);
        assert!(!success, "brigade {args:?} should have failed: {out}");
        assert!(
            err.contains(needle),
            "brigade {args:?}: expected {needle:?} in: {err}"
        );
        eprintln!("refused as expected: {}", err.trim());
        err
    }

    fn json(&self, args: &[&str]) -> Option<Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let (success, out, _) = self.run(&all);
        success.then(|| serde_json::from_str(&out).ok()).flatten()
    }

    /// Node and state of guest `vmid` of `kind` (`vm` or `ct`).
    fn guest(&self, kind: &str, vmid: u64) -> Option<(String, String)> {
        let rows = self.json(&[kind, "list"])?;
        rows.as_array()?
            .iter()
            .find(|r| r["vmid"].as_u64() == Some(vmid))
            .map(|r| {
                (
                    r["node"].as_str().unwrap_or_default().to_string(),
                    r["status"].as_str().unwrap_or_default().to_string(),
                )
            })
    }

    async fn wait_guest(&self, kind: &str, vmid: u64, what: &str, f: impl Fn(&str, &str) -> bool) {
        eventually(SETTLE, what, || async {
            self.guest(kind, vmid).is_some_and(|(n, s)| f(&n, &s))
        })
        .await;
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn node_index(name: &str) -> usize {
    name.trim_start_matches('n')
        .parse::<usize>()
        .expect("node name")
        - 1
}

/// Attaches `vm console VMID`, reads two tick lines, then ends it with Ctrl-D (stdin closed).
fn attach_and_detach(cli: &Cli, vmid: &str) -> Vec<u64> {
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(&cli.cfg)
        .args(["vm", "console", vmid])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("console");
    let out = LineSink::new(child.stdout.take().expect("stdout"));
    let two_ticks = |l: &[String]| l.iter().filter(|l| l.contains("tick ")).count() >= 2;
    out.wait_for(Duration::from_secs(20), two_ticks);
    drop(child.stdin.take());
    let done = wait_exit(&mut child, Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    assert!(done.is_some_and(|s| s.success()), "Ctrl-D did not detach");
    ticks(&out.finish().join("\n"))
        .into_iter()
        .take(2)
        .collect()
}

/// The first `n` ticks `vm console VMID --follow` prints (then Ctrl-C).
fn follow_ticks(cli: &Cli, vmid: &str, n: usize) -> Vec<u64> {
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(&cli.cfg)
        .args(["vm", "console", vmid, "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("follow");
    let out = LineSink::new(child.stdout.take().expect("stdout"));
    out.wait_for(Duration::from_secs(20), |l| {
        l.iter().filter(|l| l.contains("tick ")).count() >= n
    });
    let _ = child.kill();
    let _ = child.wait();
    ticks(&out.finish().join("\n"))
        .into_iter()
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_guests_and_ha_sections() {
    let appliance = appliance().display().to_string();
    let c: ProcCluster = cluster("readme-guests", SUBNET, 3, RaftTuning::default()).await;
    let cli = Cli {
        cfg: c.nodes[0].config_path.clone(),
        appliance,
    };
    let mut guests = Coverage::new("Guests");
    let mut ha = Coverage::new("High availability");

    // Storages.
    let shared = c.dir.join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    cli.ok(&[
        "storage",
        "add",
        "shared",
        "--path",
        shared.to_str().expect("utf-8"),
        "--shared",
    ]);
    guests.ran("brigade storage add shared --path /mnt/pve/nfs --shared");
    let out = cli.ok(&["storage", "status"]);
    assert!(out.contains("shared") && out.contains("local"), "{out}");
    guests.ran("brigade storage status");

    // Create: a VMID out of range is refused in brigade's words, naming the field.
    let e = cli.refused(
        &["vm", "create", "1", "--memory", "128"],
        "vmid: invalid VMID 1: must be between 100 and 999999999",
    );
    assert!(
        !e.contains("line 1 column") && !e.contains("Failed to deserialize"),
        "{e}"
    );
    let out = cli.ok(&[
        "vm",
        "create",
        "100",
        "--memory",
        "128",
        "--disk",
        "shared:1",
        "--appliance",
        "--start",
    ]);
    assert!(out.contains("VM 100 created on n1 and started"), "{out}");
    wait_tick(&c, 0, 100, 2, BOOT).await;
    guests.ran("brigade vm create 100 --memory 128 --disk shared:1 --appliance --start");

    // list, status, config, set, console (attach, --tail, --follow).
    let out = cli.ok(&["vm", "list"]);
    assert!(out.contains("100") && out.contains("running"), "{out}");
    let out = cli.ok(&["vm", "status", "100"]);
    assert!(
        out.contains("status: running") && out.contains("accel: tcg"),
        "{out}"
    );
    let out = cli.ok(&["vm", "config", "100"]);
    assert!(
        out.contains("scsi0: shared:100/vm-100-disk-0.qcow2,size=1G"),
        "{out}"
    );
    let out = cli.ok(&["vm", "set", "100", "--memory", "256"]);
    assert!(out.contains("memory: 256"), "{out}");
    // A host path outside the appliance and the storages is refused, naming the key.
    cli.refused(
        &["vm", "set", "100", "-O", "kernel=/etc/shadow"],
        "kernel: /etc/shadow is not an allowed host path",
    );
    assert!(
        !cli.ok(&["vm", "config", "100"]).contains("/etc/shadow"),
        "nothing changed"
    );
    let seen = attach_and_detach(&cli, "100");
    assert_eq!(seen.len(), 2, "{seen:?}");
    let out = cli.ok(&["vm", "console", "100", "--tail"]);
    assert!(out.len() <= 1024 && !ticks(&out).is_empty(), "{out}");
    let lines = follow_ticks(&cli, "100", 4);
    assert_eq!(lines.len(), 4, "--follow kept printing: {lines:?}");
    assert!(lines.windows(2).all(|w| w[1] == w[0] + 1), "{lines:?}");
    // The wrong kind says which command to use; that one works.
    cli.refused(
        &["ct", "status", "100"],
        "100 is a VM, not a container (use 'brigade vm ...')",
    );
    cli.ok(&["vm", "status", "100"]);
    guests.ran("brigade vm list | status 100 | config 100 | set 100 --memory 256 | console 100 [--tail [BYTES] | --follow]");

    // Output into a pipe whose reader is gone: quiet, no panic.
    let pipe = brigade_into_closed_pipe(
        &["--config", cli.cfg.to_str().expect("utf-8"), "vm", "list"],
        &[],
    );
    assert_quiet_on_closed_pipe("vm list", &pipe);

    // Power: reboot, shutdown (the appliance ignores ACPI: --force-stop), start, stop.
    let before = vm_ticks(&c, 0, 100).len();
    cli.ok(&["vm", "reboot", "100"]);
    eventually(BOOT, "VM 100 boots again after reboot", || async {
        let t = vm_ticks(&c, 0, 100);
        t.len() > before && t[before..].contains(&1)
    })
    .await;
    let (success, _, err) = cli.run(&["vm", "shutdown", "100", "--timeout", "2"]);
    if !success {
        assert!(err.contains("use --force-stop or stop"), "{err}");
        let out = cli.ok(&["vm", "shutdown", "100", "--timeout", "2", "--force-stop"]);
        assert!(out.contains("stopped"), "{out}");
    }
    cli.wait_guest("vm", 100, "VM 100 is stopped", |_, s| s == "stopped")
        .await;
    cli.ok(&["vm", "start", "100"]);
    wait_tick(&c, 0, 100, 1, BOOT).await;
    let out = cli.ok(&["vm", "stop", "100"]);
    assert!(out.contains("stopped"), "{out}");
    cli.ok(&["vm", "start", "100"]);

    // A lock left by a dead operation: refused with the way out, which works.
    cli.ok(&["vm", "stop", "100"]);
    cli.ok(&["vm", "set", "100", "--lock", "migrate"]);
    cli.refused(
        &["vm", "start", "100"],
        "clear it with 'brigade vm unlock 100'",
    );
    cli.ok(&["vm", "unlock", "100"]);
    cli.ok(&["vm", "start", "100"]);
    wait_tick(&c, 0, 100, 2, BOOT).await;
    guests.ran("brigade vm unlock 100");

    // Migration: a running VM needs --online (as the refusal says); then live.
    cli.refused(
        &["vm", "migrate", "100", "n2"],
        "use --online for a live migration, or stop it first",
    );
    let out = cli.ok(&["vm", "migrate", "100", "n2", "--online"]);
    assert!(
        out.contains("migrated live n1 -> n2") && out.contains("downtime:"),
        "{out}"
    );
    guests.ran("brigade vm migrate 100 n2 --online");
    // A stopped VM with a local disk moves offline, its disk copied.
    cli.ok(&["vm", "create", "102", "--memory", "64", "--disk", "local:1"]);
    let out = cli.ok(&["vm", "migrate", "102", "n3"]);
    assert!(
        out.contains("migrated offline n1 -> n3")
            && out.contains("copied: ")
            && out.contains("vm-102-disk-0"),
        "{out}"
    );

    // Containers.
    cli.refused(
        &["ct", "create", "101"],
        "rootfs: missing (e.g. --rootfs local:1",
    );
    let out = cli.ok(&["ct", "create", "101", "--rootfs", "local:1", "--start"]);
    assert!(
        out.contains("container 101 created on n1 and started"),
        "{out}"
    );
    guests.ran("brigade ct create 101 --rootfs local:1 --start");
    let out = cli.ok(&["ct", "list"]);
    assert!(out.contains("101") && out.contains("running"), "{out}");
    let pipe = brigade_into_closed_pipe(
        &["--config", cli.cfg.to_str().expect("utf-8"), "ct", "list"],
        &[],
    );
    assert_quiet_on_closed_pipe("ct list", &pipe);
    cli.refused(
        &["ct", "migrate", "101", "n3"],
        "containers migrate offline: stop it first",
    );
    cli.ok(&["ct", "stop", "101"]);
    let out = cli.ok(&["ct", "migrate", "101", "n3"]);
    assert!(
        out.contains("container 101 migrated offline n1 -> n3"),
        "{out}"
    );
    cli.ok(&["ct", "start", "101"]);
    eventually(BOOT, "container 101 prints on n3", || async {
        !ticks(&cli.ok(&["ct", "console", "101"])).is_empty()
    })
    .await;
    cli.refused(&["ha", "add", "ct:101"], "(move it to shared storage)");
    guests.ran("brigade ct list | start | stop | migrate 101 n3 | console 101");

    // HA groups (node-affinity rules now), then VM 100 under HA.
    cli.ok(&["ha", "group-add", "g1", "--nodes", "n1:2,n2:1"]);
    cli.ok(&["ha", "group-add", "g2", "--nodes", "n3:1", "--restricted"]);
    cli.refused(
        &["ha", "group-add", "g3", "--nodes", "n1", "--nofailback"],
        "use 'brigade ha add SID --group g3 --failback 0'",
    );
    let groups = cli.json(&["ha", "groups"]).expect("groups");
    assert_eq!(groups.as_array().map(|g| g.len()), Some(2), "{groups}");
    let out = cli.ok(&["ha", "groups"]);
    assert!(out.contains("g1") && out.contains("g2"), "{out}");
    ha.ran("brigade ha group-add g1 --nodes n1:2,n2:1 [--restricted] | ha groups");
    let out = cli.ok(&[
        "ha",
        "add",
        "vm:100",
        "--group",
        "g1",
        "--failback",
        "0",
        "--state",
        "started",
        "--max-restart",
        "1",
        "--max-relocate",
        "1",
    ]);
    assert!(out.contains("vm:100 is HA-managed"), "{out}");
    ha.ran("brigade ha add vm:100 [--group g1] [--failback 0|1] [--state started|stopped|disabled|ignored] [--max-restart 1] [--max-relocate 1]");
    // HA takes it over where it runs, or on g1's preferred node.
    let last = std::cell::RefCell::new(String::new());
    eventually(SETTLE, "ha status shows vm:100 started", || async {
        let out = cli.run(&["ha", "status"]).1;
        if *last.borrow() != out {
            eprintln!("{out}");
            *last.borrow_mut() = out.clone();
        }
        out.lines()
            .any(|l| l.starts_with("service vm:100 (") && l.contains(", started)"))
            && cli.guest("vm", 100).is_some_and(|(_, s)| s == "running")
    })
    .await;
    let out = cli.ok(&["ha", "status"]);
    assert!(
        out.contains("quorum OK") && out.contains("master n"),
        "{out}"
    );
    ha.ran("brigade ha status");

    // HA rules: a second HA guest (stopped) kept apart from VM 100, then bound to nodes.
    cli.ok(&[
        "vm", "create", "103", "--memory", "64", "--disk", "shared:1",
    ]);
    cli.ok(&["ha", "add", "vm:103", "--state", "stopped"]);
    let out = cli.ok(&[
        "ha",
        "rules",
        "add",
        "resource-affinity",
        "apart",
        "--resources",
        "vm:100,vm:103",
        "--affinity",
        "negative",
    ]);
    assert!(
        out.contains("rule apart (resource-affinity, enabled)"),
        "{out}"
    );
    ha.ran("brigade ha rules add resource-affinity apart --resources vm:100,vm:103 --affinity negative");
    // VM 100 is in g1 already: a second node-affinity rule for it could not hold.
    cli.refused(
        &[
            "ha",
            "rules",
            "add",
            "node-affinity",
            "pin",
            "--resources",
            "vm:100",
            "--nodes",
            "n2",
        ],
        "rule pin cannot hold: vm:100 is in more than one node-affinity rule (g1, pin)",
    );
    cli.ok(&[
        "ha",
        "rules",
        "add",
        "node-affinity",
        "pin",
        "--resources",
        "vm:103",
        "--nodes",
        "n1:2,n2",
        "--strict",
    ]);
    ha.ran("brigade ha rules add node-affinity pin --resources vm:103 --nodes n1:2,n2 [--strict]");
    let out = cli.ok(&["ha", "rules", "list"]);
    for needle in ["apart", "pin", "g1", "n1:2,n2", "enabled"] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let out = cli.ok(&["ha", "rules", "set", "pin", "--nodes", "n2,n3"]);
    assert!(out.contains("rule pin (node-affinity, enabled)"), "{out}");
    let rules = cli.json(&["ha", "rules", "list"]).expect("rules");
    let pin = rules
        .as_array()
        .and_then(|r| r.iter().find(|x| x["rule"] == "pin"))
        .cloned()
        .expect("pin");
    assert_eq!(
        (pin["nodes"].as_str(), pin["strict"].as_bool()),
        (Some("n2,n3"), Some(true)),
        "{pin}"
    );
    cli.ok(&["ha", "rules", "remove", "pin"]);
    cli.refused(
        &["ha", "rules", "remove", "pin"],
        "HA rule \"pin\" does not exist",
    );
    ha.ran("brigade ha rules list | ha rules set pin --nodes n2,n3 | ha rules remove pin");
    // Leaving HA takes vm:103 out of its rules too.
    cli.ok(&["ha", "remove", "vm:103"]);
    let out = cli.ok(&["ha", "rules", "list"]);
    assert!(
        out.contains("infeasible") && out.contains("fewer than two resources"),
        "{out}"
    );
    cli.ok(&["ha", "rules", "remove", "apart"]);
    cli.ok(&["vm", "destroy", "103", "--yes"]);

    // Every HA refusal names the ha command for what was asked; each works.
    cli.refused(
        &["vm", "stop", "100"],
        "use 'brigade ha set vm:100 --state stopped'",
    );
    cli.ok(&["ha", "set", "vm:100", "--state", "stopped"]);
    cli.wait_guest("vm", 100, "HA stops VM 100", |_, s| s == "stopped")
        .await;
    cli.refused(
        &["vm", "start", "100"],
        "use 'brigade ha set vm:100 --state started'",
    );
    cli.ok(&["ha", "set", "vm:100", "--state", "started"]);
    cli.wait_guest("vm", 100, "HA starts VM 100", |_, s| s == "running")
        .await;
    let e = cli.refused(
        &["vm", "migrate", "100", "n3", "--online"],
        "use 'brigade ha migrate vm:100 n3'",
    );
    assert!(!e.contains("--state"), "{e}");
    // ha migrate with the global --node URL after the subcommand (once it was taken for the target).
    let ca = c.dir.join("brigade-root-ca.pem");
    std::fs::write(&ca, c.ca_pem.clone().unwrap_or_default()).expect("ca");
    let token = c.root_token.clone().unwrap_or_default();
    let n1_url = c.nodes[0].config.api_url();
    let remote = |args: &[&str]| -> String {
        let out = Command::new(bin())
            .args(args)
            .args([
                "--node",
                &n1_url,
                "--ca",
                ca.to_str().expect("utf-8"),
                "--api-token",
                &token,
            ])
            .output()
            .expect("run brigade");
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "brigade {args:?} --node {n1_url}: {o}{e}"
        );
        o.into_owned()
    };
    let out = remote(&["ha", "migrate", "vm:100", "n3"]);
    assert!(
        out.contains("migration of vm:100 to n3 requested; `brigade ha status` follows it"),
        "{out}"
    );
    eventually(SETTLE, "ha status follows vm:100 to n3", || async {
        cli.run(&["ha", "status"])
            .1
            .contains("service vm:100 (n3, started)")
    })
    .await;
    cli.wait_guest("vm", 100, "HA moves VM 100 to n3", |n, s| {
        n == "n3" && s == "running"
    })
    .await;

    // Maintenance of VM 100's node drains it; --node before the subcommand this time.
    let out = Command::new(bin())
        .args([
            "--node",
            &n1_url,
            "--ca",
            ca.to_str().expect("utf-8"),
            "--api-token",
            &token,
        ])
        .args(["node", "maintenance", "enable", "n3"])
        .output()
        .expect("maintenance");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("node n3: maintenance enabled")
            && text.contains("`brigade ha status` shows them"),
        "{text}"
    );
    cli.wait_guest("vm", 100, "maintenance drains VM 100 off n3", |n, s| {
        n != "n3" && s == "running"
    })
    .await;
    eventually(SETTLE, "ha status shows n3 in maintenance", || async {
        cli.run(&["ha", "status"]).1.contains("lrm n3 (")
            && cli.run(&["ha", "status"]).1.contains("maintenance")
    })
    .await;
    let out = cli.ok(&["node", "maintenance", "disable", "n3"]);
    assert!(out.contains("maintenance disabled"), "{out}");
    ha.ran("brigade node maintenance enable n2");

    // Destroying an HA guest: take it out of HA first, as the refusal says.
    cli.refused(
        &["vm", "destroy", "100", "--yes"],
        "take it out of HA first with 'brigade ha remove vm:100'",
    );
    cli.ok(&["ha", "remove", "vm:100"]);
    // Ending n3's maintenance sends VM 100 back there (as Proxmox does): let that move
    // finish, its lock with it, before the refusals below.
    eventually(
        SETTLE,
        "the move back after maintenance is done",
        || async {
            let (ok, out, _) = cli.run(&["vm", "config", "100"]);
            ok && !out.contains("lock:")
        },
    )
    .await;
    ha.ran("brigade ha set vm:100 --state stopped | ha remove vm:100 | ha migrate vm:100 n3");
    let (home, _) = cli.guest("vm", 100).expect("VM 100");
    cli.refused(
        &["vm", "destroy", "100", "--yes"],
        "is running; stop it first",
    );
    cli.ok(&["vm", "stop", "100"]);
    assert!(
        brigade_e2e::guests::guest_pid(&c, node_index(&home), 100).is_none(),
        "VM 100 still runs on {home}"
    );
    cli.refused(
        &["storage", "remove", "shared"],
        "move or destroy them first",
    );
    let out = cli.ok(&["vm", "destroy", "100", "--yes"]);
    assert!(out.contains("VM 100 destroyed"), "{out}");
    cli.ok(&["vm", "destroy", "102", "--yes"]);
    cli.ok(&["ct", "stop", "101"]);
    cli.ok(&["ct", "destroy", "101", "--yes"]);
    cli.ok(&["storage", "remove", "shared"]);
    guests.ran("brigade vm start|stop|shutdown [--timeout S --force-stop]|reboot|destroy 100");

    // The simulator, from the workspace as the README runs it.
    let out = cli.ok(&["ha", "simulate", "crates/ha/scenarios/07-failback"]);
    assert!(!out.is_empty(), "the simulator printed its log");
    ha.ran("brigade ha simulate crates/ha/scenarios/07-failback");

    guests.assert_complete();
    ha.assert_complete();
}
