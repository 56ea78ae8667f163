//! The test suite's chaos run (issue 18): `brigade chaos run` for two minutes on three
//! nodes with a fixed seed, whose schedule holds every fault kind (kills, each
//! partition shape, one-way loss, pauses, clock jumps, a leader killed during a
//! migration, a restart of every node, a full disk, damaged stores) against the
//! workload; every checker must pass. The report is printed either way.

use std::process::Command;

use brigade_e2e::{bin, test_dir};

/// The cluster's 127.0.S.x subnet.
const SUBNET: u8 = 65;
/// The schedule's seed: fixed, so a failure can be rerun exactly.
const SEED: &str = "18";
const DURATION: &str = "120s";

#[test]
fn a_short_chaos_run_passes_every_checker() {
    let dir = test_dir("chaos");
    let subnet = SUBNET.to_string();
    let out = Command::new(bin())
        .args(["chaos", "run", "--nodes", "3", "--duration", DURATION])
        .args(["--seed", SEED, "--subnet", &subnet])
        .arg("--dir")
        .arg(&dir)
        .output()
        .expect("run brigade chaos run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the chaos run failed (report in {}/report.txt): {stdout}",
        dir.display()
    );
    for kind in [
        "kill",
        "partition-halves",
        "partition-one",
        "partition-bridge",
        "loss",
        "pause",
        "clock",
        "leader-migration",
        "restart-all",
        "disk-full",
        "corrupt",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(kind) && !l.trim_end().ends_with(" 0")),
            "the run injected no {kind}: {stdout}"
        );
    }
    assert!(stdout.contains("PASSED"), "{stdout}");
}
