//! The README's lab tour, every command of it through the real CLI, in order: `lab up`
//! (whose "Try:" lines must all be tour commands), power cuts with HA failover, the
//! serial console, live migration with the ticks continuing, an HA migration,
//! partitions, a skewed clock, the two-node labs with and without a qdevice, output
//! into a closed pipe, the lab's refusals and their suggestions, and `lab down`
//! leaving nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use brigade_cfs::NOT_QUORATE_MSG;
use brigade_e2e::guests::{appliance, ticks};
use brigade_e2e::readme::{strip_comment, Coverage};
use brigade_e2e::{
    assert_quiet_on_closed_pipe, bin, brigade_env, brigade_into_closed_pipe, eventually, test_dir,
    wait_exit, LineSink, Run,
};
use serde_json::Value;

/// Where the README's tour keeps its lab.
const README_LAB_DIR: &str = "/var/lib/brigade-lab";
/// HA failover after a power cut under default timing, with room for a loaded machine.
const FAILOVER: Duration = Duration::from_secs(90);
const SETTLE: Duration = Duration::from_secs(45);

/// The tour's state: the lab directory, the environment the README's `export` sets,
/// and where in the tour it is.
#[derive(Default)]
struct Tour {
    dir: PathBuf,
    env: Vec<(String, String)>,
    /// n3 runs with its clock 15 s ahead.
    skewed: bool,
    /// The two-node labs.
    two_nodes: bool,
    /// The two-node lab without a qdevice, n2 killed.
    alone: bool,
    /// VM 101's last tick before its live migration.
    tick_before: u64,
}

impl Tour {
    fn d(&self) -> &str {
        self.dir.to_str().expect("utf-8")
    }

    fn cfg(&self, n: usize) -> String {
        self.dir.join(format!("n{n}.toml")).display().to_string()
    }

    /// A README command as this test runs it: the lab in the test's directory.
    fn concrete(&self, cmd: &str) -> Vec<String> {
        let cmd = cmd.replace(README_LAB_DIR, self.d());
        let mut args: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        assert_eq!(args.first().map(String::as_str), Some("brigade"), "{cmd}");
        args.remove(0);
        if args.first().map(String::as_str) == Some("lab") {
            args.push("--dir".into());
            args.push(self.d().into());
        }
        args
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn run(&self, args: &[&str]) -> Run {
        brigade_env(args, &self.env())
    }

    fn run_cmd(&self, cmd: &str) -> Run {
        let args = self.concrete(cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args)
    }

    fn ok(&self, cmd: &str) -> String {
        let r = self.run_cmd(cmd);
        assert!(r.ok(), "{cmd} failed: {}{}", r.stdout, r.stderr);
        r.stdout
    }

    fn json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let r = self.run(&all);
        r.ok()
            .then(|| serde_json::from_str(&r.stdout).ok())
            .flatten()
    }

    /// Where VM `vmid` is and its state, as node `via` sees it.
    fn vm(&self, via: usize, vmid: u64) -> Option<(String, String)> {
        let cfg = self.cfg(via);
        let rows = self.json(&["--config", &cfg, "vm", "list"])?;
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

    fn quorate(&self, n: usize) -> Option<bool> {
        let cfg = self.cfg(n);
        self.json(&["--config", &cfg, "cluster", "status"])?["quorate"].as_bool()
    }

    async fn wait_quorate(&self, nodes: &[usize], want: bool) {
        eventually(
            SETTLE,
            &format!("nodes {nodes:?} quorate: {want}"),
            || async { nodes.iter().all(|n| self.quorate(*n) == Some(want)) },
        )
        .await;
    }
}

/// Runs `lab down` when the test ends, passed or not: a lab left running would keep
/// its addresses, and its daemons the e2e lock's file descriptor they inherited.
struct LabDownOnDrop(PathBuf);

impl Drop for LabDownOnDrop {
    fn drop(&mut self) {
        let _ = Command::new(bin())
            .args(["lab", "down", "--dir"])
            .arg(&self.0)
            .output();
    }
}

fn serial_log(node: &str, vmid: u32) -> PathBuf {
    PathBuf::from(format!(
        "/run/brigade/127.0.1.{}/{vmid}.serial.log",
        node.trim_start_matches('n')
    ))
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

/// `vm console VMID [--follow]` as a child: the first `want` tick lines it prints, then
/// stdin closed (Ctrl-D) or the process killed (Ctrl-C).
fn console_ticks(t: &Tour, args: &[&str], want: usize, ctrl_d: bool) -> (Vec<u64>, String) {
    let mut child = Command::new(bin())
        .args(args)
        .envs(t.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("console");
    let out = LineSink::new(child.stdout.take().expect("stdout"));
    let tick_lines = |l: &[String]| l.iter().filter(|l| l.contains("tick ")).count();
    out.wait_for(Duration::from_secs(30), |l| tick_lines(l) >= want);
    let mut stderr = String::new();
    if ctrl_d {
        drop(child.stdin.take());
        let status = wait_exit(&mut child, Duration::from_secs(10));
        if status.is_none() {
            let _ = child.kill();
        }
        let _ = child.wait();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        assert!(
            status.is_some_and(|s| s.success()),
            "Ctrl-D did not end the console: {stderr}"
        );
    } else {
        let _ = child.kill();
        let _ = child.wait();
    }
    let all = out.finish().join("\n");
    (ticks(&all).into_iter().take(want).collect(), stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_lab_tour_and_the_try_lines() {
    let dir = test_dir("lab");
    let appliance = appliance().display().to_string();
    let mut t = Tour {
        dir: dir.clone(),
        env: vec![("BRIGADE_APPLIANCE".into(), appliance.clone())],
        ..Tour::default()
    };
    let mut cov = Coverage::new("A tour of the lab");
    let d = t.d().to_string();
    let _down = LabDownOnDrop(dir.clone());

    // A lab that is not there says how to start one; then `lab up`.
    let r = t.run(&["lab", "status", "--dir", &d]);
    assert!(
        !r.ok() && r.stderr.contains("run `brigade lab up` first"),
        "{}",
        r.stderr
    );
    let up = t.ok("brigade lab up --nodes 3");
    assert!(up.contains("Lab up: 3 node(s)"), "{up}");
    let r = t.run(&["lab", "up", "--nodes", "3", "--dir", &d]);
    assert!(
        !r.ok()
            && r.stderr
                .contains("`brigade lab status` shows it, `brigade lab down` stops it"),
        "{}",
        r.stderr
    );

    // Every "Try:" line is a command of the README's tour (which this test runs).
    let tour_cmds: Vec<String> = cov
        .lines()
        .iter()
        .flat_map(|l| l.split(';').map(|c| c.trim().to_string()))
        .collect();
    let try_lines: Vec<&str> = up
        .lines()
        .skip_while(|l| l.trim() != "Try:")
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(try_lines.len() >= 8, "{up}");
    for line in &try_lines {
        for cmd in strip_comment(line).split(';') {
            let readme_form = cmd
                .trim()
                .replace(&format!(" --dir {d}"), "")
                .replace(&d, README_LAB_DIR);
            assert!(
                tour_cmds.contains(&readme_form),
                "Try line {cmd:?} ({readme_form:?}) is not in the README's tour"
            );
        }
    }

    eventually(SETTLE, "the demo guests run", || async {
        t.vm(1, 100)
            .is_some_and(|(n, s)| n == "n2" && s == "running")
            && t.vm(1, 101)
                .is_some_and(|(n, s)| n == "n3" && s == "running")
    })
    .await;
    // Every node has its own guest network (namespace blabnK) with the demo vnet over
    // VXLAN, and the demo guests reach each other on it: VM 100 (n2) pings VM 101 (n3).
    assert!(up.contains("Guests:     on vnet demo (vxlan)"), "{up}");
    for ns in ["blabn1", "blabn2", "blabn3"] {
        let links = brigade_e2e::netns::NodeNets::links(ns);
        assert!(
            links.iter().any(|l| l == "vxlan_demo"),
            "{ns} has the demo vnet: {links:?}"
        );
    }
    let serial =
        std::path::Path::new(brigade_localcluster::TEST_RUN_ROOT).join("127.0.1.2/100.serial.log");
    eventually(SETTLE, "VM 100 pings VM 101 on the demo vnet", || async {
        std::fs::read_to_string(&serial).is_ok_and(|l| l.contains("ping 10.60.0.2 ok"))
    })
    .await;

    for line in cov.lines().to_vec() {
        eprintln!("== README: {line}");
        for cmd in line.split(';').map(str::trim) {
            tour_step(&mut t, cmd).await;
        }
        cov.ran(&line);
    }
    cov.assert_complete();
    let status = t.run(&["lab", "status", "--dir", &d]);
    assert!(
        status.ok(),
        "lab status works on a stopped lab: {}",
        status.stderr
    );
}

/// One command of the tour, run as the README shows it, with what it promises checked.
async fn tour_step(t: &mut Tour, cmd: &str) {
    let d = t.d().to_string();
    match cmd {
        "export PATH=$PWD/target/debug:$PATH" => {
            // The test runs target/debug/brigade itself.
        }
        c if c.starts_with("export BRIGADE_CONFIG=") => {
            let v = c["export BRIGADE_CONFIG=".len()..].replace(README_LAB_DIR, &d);
            t.env.push(("BRIGADE_CONFIG".into(), v));
        }
        "brigade cluster status" => {
            // Through n1; after the skew, n1 reports n3's clock alarm.
            if t.skewed {
                eventually(SETTLE, "cluster status shows n3's clock alarm", || async {
                    let r = t.run_cmd(cmd);
                    r.ok() && r.stdout.contains("clock ALARM: n3")
                })
                .await;
            } else if t.alone {
                eventually(SETTLE, "n1 alone says it is read-only and why", || async {
                    let r = t.run_cmd(cmd);
                    r.ok()
                        && r.stdout.contains("Quorate:          No")
                        && r.stdout.contains(
                            "a two-node cluster cannot lose either node without a tie-breaker",
                        )
                })
                .await;
            } else if t.two_nodes {
                // Once n1 counts n2 dead, it still holds quorum with the qdevice's vote.
                eventually(SETTLE, "n1 stays quorate with 2 of 3 votes", || async {
                    let r = t.run_cmd(cmd);
                    r.ok()
                        && r.stdout.contains("Quorate:          Yes")
                        && r.stdout.contains("Total votes:      2")
                        && r.stdout.contains("node n2 is dead")
                })
                .await;
            } else {
                eventually(SETTLE, "n1 is quorate", || async {
                    let r = t.run_cmd(cmd);
                    r.ok() && r.stdout.contains("Quorate:          Yes")
                })
                .await;
            }
        }
        "brigade vm list" => {
            let out = t.ok(cmd);
            for want in ["100", "101", "running"] {
                assert!(out.contains(want), "{out}");
            }
        }
        "brigade ha status" => {
            // Its LRM reports it running with its next renewal (within a second).
            eventually(
                SETTLE,
                "ha status shows vm:100 started and running on n2",
                || async {
                    let r = t.run_cmd(cmd);
                    r.ok() && r.stdout.contains("service vm:100 (n2, started)")
                },
            )
            .await;
        }
        "brigade lab kill n2" if t.two_nodes => {
            let out = t.ok(cmd);
            assert!(out.contains("n2 power-cut"), "{out}");
        }
        "brigade lab kill n2" => {
            let out = t.ok(cmd);
            assert!(out.contains("Watch with `brigade lab status`"), "{out}");
            eventually(FAILOVER, "HA restarts VM 100 on a survivor", || async {
                t.vm(1, 100)
                    .is_some_and(|(n, s)| n != "n2" && s == "running")
            })
            .await;
            let (home, _) = t.vm(1, 100).expect("VM 100");
            eventually(SETTLE, "VM 100 ticks again", || async {
                ticks(&std::fs::read_to_string(serial_log(&home, 100)).unwrap_or_default()).len()
                    >= 2
            })
            .await;
            let fresh = ticks(&std::fs::read_to_string(serial_log(&home, 100)).unwrap_or_default());
            assert_eq!(
                fresh[0], 1,
                "a cold restart on {home} counts from 1: {fresh:?}"
            );
        }
        "brigade vm console 100" => {
            let args = t.concrete(cmd);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (seen, stderr) = console_ticks(t, &args, 2, true);
            assert_eq!(seen.len(), 2, "the console showed ticks: {seen:?}");
            assert!(stderr.contains("detached"), "{stderr}");
        }
        "brigade lab start n2" | "brigade lab start n1" => {
            let out = t.ok(cmd);
            assert!(out.contains("started"), "{out}");
            let n: usize = cmd
                .trim_start_matches("brigade lab start n")
                .parse()
                .expect("n");
            t.wait_quorate(&[n], true).await;
        }
        "brigade vm migrate 101 n2 --online" => {
            let before = ticks(&std::fs::read_to_string(serial_log("n3", 101)).unwrap_or_default())
                .last()
                .copied()
                .unwrap_or(0);
            let out = t.ok(cmd);
            assert!(
                out.contains("migrated live n3 -> n2") && out.contains("downtime:"),
                "{out}"
            );
            t.tick_before = before;
        }
        "brigade vm console 101 --follow" => {
            let before = t.tick_before;
            let args = t.concrete(cmd);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (seen, _) = console_ticks(t, &args, 3, false);
            assert!(seen.len() >= 3, "{seen:?}");
            assert!(
                seen.iter().all(|n| *n >= before.max(2)),
                "the ticks restarted after the live migration: before {before}, then {seen:?}"
            );
        }
        "brigade ha migrate vm:100 n2" => {
            let out = t.ok(cmd);
            assert!(out.contains("migration of vm:100 to n2 requested"), "{out}");
            eventually(FAILOVER, "HA moves VM 100 to n2", || async {
                t.vm(1, 100)
                    .is_some_and(|(n, s)| n == "n2" && s == "running")
            })
            .await;
        }
        c if c.ends_with("fs cat nodes/n2/qemu-server/101.conf") => {
            let out = t.ok(cmd);
            assert!(
                out.contains("name: demo2") && !out.contains("lock:"),
                "{out}"
            );
        }
        "brigade lab status | head -n 5" => {
            let out = Command::new("bash")
                .arg("-o")
                .arg("pipefail")
                .arg("-c")
                .arg(format!(
                    "{} lab status --dir {d} | head -n 5",
                    bin().display()
                ))
                .output()
                .expect("bash");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && !stderr.contains("panicked"),
                "{:?} {stderr}",
                out.status
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
            // And with the reader gone before anything is written (deterministic).
            let r = brigade_into_closed_pipe(&["lab", "status", "--dir", &d], &[]);
            assert_quiet_on_closed_pipe("lab status", &r);
        }
        "brigade lab kill n1" => {
            let out = t.ok(cmd);
            assert!(out.contains("n1 power-cut"), "{out}");
            eventually(SETTLE, "n2 and n3 have a quorate leader", || async {
                let Some(rows) = t.json(&["lab", "status", "--dir", &d]) else {
                    return false;
                };
                let rows = rows.as_array().cloned().unwrap_or_default();
                rows.iter().filter(|r| r["node"] != "n1").all(|r| {
                    r["quorate"] == true
                        && r["leader"].as_str().is_some_and(|l| l == "n2" || l == "n3")
                })
            })
            .await;
        }
        "brigade lab status" => {
            let out = t.ok(cmd);
            assert!(out.contains("dead"), "n1 shows dead: {out}");
        }
        "brigade lab partition n2" => {
            let out = t.ok(cmd);
            assert!(
                out.contains("Partitioned: n2 | n1,n3") && out.contains("`brigade lab heal`"),
                "{out}"
            );
            t.wait_quorate(&[2], false).await;
        }
        c if c.ends_with("n2.toml cluster status") => {
            let out = t.ok(cmd);
            assert!(
                out.contains("Quorate:          No") && out.contains("not quorate"),
                "{out}"
            );
        }
        c if c.ends_with("n2.toml fs write probe x") => {
            let r = t.run_cmd(cmd);
            assert!(
                !r.ok() && r.stderr.contains(NOT_QUORATE_MSG),
                "{}",
                r.stderr
            );
        }
        "brigade lab heal" => {
            let out = t.ok(cmd);
            assert!(out.contains("removed"), "{out}");
            t.wait_quorate(&[1, 2, 3], true).await;
        }
        "brigade lab partition n1,n2 n3" => {
            let out = t.ok(cmd);
            assert!(out.contains("Partitioned: n1,n2 | n3"), "{out}");
            t.wait_quorate(&[3], false).await;
            t.wait_quorate(&[1, 2], true).await;
        }
        "brigade lab skew n3 15" => {
            let out = t.ok(cmd);
            assert!(
                out.contains("`brigade cluster status` shows the offset"),
                "{out}"
            );
            t.skewed = true;
        }
        "brigade lab down" => {
            // A second lab cannot start while this one holds the addresses.
            if !t.two_nodes {
                let other = test_dir("lab-other");
                let r = t.run(&["lab", "up", "--dir", other.to_str().expect("utf-8")]);
                assert!(
                    !r.ok() && r.stderr.contains("is in use") && r.stderr.contains("stop it first"),
                    "{}",
                    r.stderr
                );
            }
            let out = t.ok(cmd);
            assert!(out.contains("Lab stopped"), "{out}");
            let dir = t.dir.clone();
            eventually(
                Duration::from_secs(20),
                "no lab process is left",
                || async { lab_processes(&dir).is_empty() },
            )
            .await;
            t.skewed = false;
        }
        "brigade lab up --nodes 2" => {
            t.two_nodes = true;
            let out = t.ok(cmd);
            assert!(out.contains("Lab up: 2 node(s)"), "{out}");
            let status = t.json(&["cluster", "status"]).expect("status");
            assert!(
                status["config"]["qdevice"].is_object(),
                "an even lab has a qdevice: {status}"
            );
        }
        "brigade lab up --nodes 2 --qdevice false --guests 0" => {
            // Without the appliance the lab says how to do without it.
            let args = t.concrete("brigade lab up --nodes 2 --qdevice false");
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = brigade_env(&args, &[("BRIGADE_APPLIANCE", "/nonexistent")]);
            assert!(
                !r.ok() && r.stderr.contains("or use --guests 0"),
                "{}",
                r.stderr
            );
            let out = t.ok(cmd);
            assert!(out.contains("Lab up: 2 node(s)"), "{out}");
            let status = t.json(&["cluster", "status"]).expect("status");
            assert!(status["config"]["qdevice"].is_null(), "{status}");
            t.alone = true;
        }
        "brigade lab partition n1 n2" => {
            let out = t.ok(cmd);
            assert!(out.contains("Partitioned: n1 | n2"), "{out}");
        }
        other => panic!("a README tour command this test does not know: {other:?}"),
    }
}
