//! The README's lab and its tour, through the CLI's JSON output: `lab up`, kill the node
//! running the HA VM and watch it come back elsewhere, partition a node and watch it lose
//! quorum, migrate a VM live while its ticks keep counting, and `lab down` leaving nothing.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use brigade_e2e::guests::{appliance, ticks};
use brigade_e2e::{bin, eventually, test_dir};
use serde_json::Value;

fn brigade(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("BRIGADE_APPLIANCE", appliance())
        .output()
        .expect("run brigade");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, out, err) = brigade(args);
    assert!(success, "brigade {args:?} failed: {out}{err}");
    out
}

fn json(cfg: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--config", cfg.to_str().expect("utf-8"), "-o", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&all)).unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"))
}

fn vm_node(cfg: &Path, vmid: u64) -> Option<(String, String)> {
    let (success, out, _) = brigade(&["--config", cfg.to_str()?, "-o", "json", "vm", "list"]);
    if !success {
        return None;
    }
    let rows: Value = serde_json::from_str(&out).ok()?;
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

/// Every process this lab started: its daemons, watchdogs, QEMUs and containers.
fn lab_processes(dir: &Path) -> Vec<String> {
    let d = dir.display().to_string();
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
                .filter(|p| brigade_guest::process::is_alive(*p))
                .map(|p| brigade_guest::process::cmdline(p).join(" "))
                .filter(|c| c.contains(&d) || c.contains("/run/brigade/127.0.1."))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lab_tour_works_and_lab_down_leaves_nothing() {
    let dir = test_dir("lab");
    let d = dir.to_str().expect("utf-8");
    let up = ok(&["lab", "up", "--nodes", "3", "--dir", d]);
    assert!(up.contains("Lab up"), "{up}");
    let cfg = |n: usize| dir.join(format!("n{n}.toml"));
    let (again, _, err) = brigade(&["lab", "up", "--nodes", "3", "--dir", d]);
    assert!(
        !again && err.contains("already up"),
        "a second lab up must refuse: {err}"
    );

    // The demo guests: VM 100 (HA), VM 101, container 102, all running.
    eventually(Duration::from_secs(60), "the demo VMs run", || async {
        vm_node(&cfg(1), 100).is_some_and(|(_, s)| s == "running")
            && vm_node(&cfg(1), 101).is_some_and(|(_, s)| s == "running")
    })
    .await;
    let ha = json(&cfg(1), &["ha", "status"]);
    assert_eq!(ha["services"][0]["sid"], "vm:100");

    // Tour 1: kill the node running the HA VM; it comes back elsewhere.
    let (home, _) = vm_node(&cfg(1), 100).expect("VM 100");
    ok(&["lab", "kill", &home, "--dir", d]);
    let survivor = if home == "n1" { 2 } else { 1 };
    eventually(
        Duration::from_secs(60),
        "VM 100 runs on a survivor",
        || async { vm_node(&cfg(survivor), 100).is_some_and(|(n, s)| n != home && s == "running") },
    )
    .await;
    let (new_home, _) = vm_node(&cfg(survivor), 100).expect("VM 100");
    eprintln!("VM 100 moved from {home} to {new_home}");
    let home_i: usize = home.trim_start_matches('n').parse().expect("index");
    ok(&["lab", "start", &home, "--dir", d]);

    // Tour 2: partition a node; it loses quorum and says so; heal.
    let victim = if home_i == 3 { 2 } else { 3 };
    ok(&["lab", "partition", &format!("n{victim}"), "--dir", d]);
    eventually(
        Duration::from_secs(20),
        "the partitioned node is not quorate",
        || async {
            let (s, out, _) = brigade(&[
                "--config",
                cfg(victim).to_str().unwrap_or_default(),
                "-o",
                "json",
                "cluster",
                "status",
            ]);
            s && serde_json::from_str::<Value>(&out).is_ok_and(|v| v["quorate"] == false)
        },
    )
    .await;
    ok(&["lab", "heal", "--dir", d]);
    eventually(
        Duration::from_secs(30),
        "everyone is quorate again",
        || async {
            (1..=3).all(|i| {
                let (s, out, _) = brigade(&[
                    "--config",
                    cfg(i).to_str().unwrap_or_default(),
                    "-o",
                    "json",
                    "cluster",
                    "status",
                ]);
                s && serde_json::from_str::<Value>(&out).is_ok_and(|v| v["quorate"] == true)
            })
        },
    )
    .await;

    // Tour 3: migrate VM 101 live; its ticks keep counting.
    let (from, _) = vm_node(&cfg(1), 101).expect("VM 101");
    let to = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| *n != from)
        .expect("a target");
    let run = |n: &str| {
        format!(
            "/run/brigade/127.0.1.{}/101.serial.log",
            n.trim_start_matches('n')
        )
    };
    let before = ticks(&std::fs::read_to_string(run(&from)).unwrap_or_default())
        .last()
        .copied()
        .unwrap_or(0);
    let m = json(&cfg(1), &["vm", "migrate", "101", to, "--online"]);
    assert_eq!(m["status"], "ok", "{m}");
    assert!(
        m["result"]["downtime_ms"].is_u64(),
        "QEMU's downtime is reported: {m}"
    );
    eventually(
        Duration::from_secs(20),
        "VM 101 ticks on the target",
        || async { ticks(&std::fs::read_to_string(run(to)).unwrap_or_default()).len() >= 2 },
    )
    .await;
    let after = ticks(&std::fs::read_to_string(run(to)).unwrap_or_default());
    assert!(
        after[0] > 1 && after[0] >= before,
        "ticks restarted: {before} then {after:?}"
    );

    // lab down: nothing of the lab is left running.
    ok(&["lab", "down", "--dir", d]);
    eventually(
        Duration::from_secs(15),
        "no lab process is left",
        || async { lab_processes(&dir).is_empty() },
    )
    .await;
    let status = brigade(&["lab", "status", "--dir", d]);
    assert!(status.0, "lab status works on a stopped lab");
}
