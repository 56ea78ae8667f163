//! The `brigade` binary end to end, on one cluster: every command of the README's
//! "On real machines" section (node run, cluster create/join-token/join/nodes/status/
//! delnode, fs, mount, log, qdevice run/setup/remove, recover, `--node URL --ca
//! --api-token`), JSON output, and each error message's suggestion followed as a user
//! would: the suggested command is run and works.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use brigade_cfs::NOT_QUORATE_MSG;
use brigade_e2e::readme::Coverage;
use brigade_e2e::{bin, brigade, brigade_env, eventually, test_dir, LineSink};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use serde_json::Value;

const SUBNET: u8 = 17;
const SETTLE: Duration = Duration::from_secs(45);

use brigade_e2e::{brigade_json as json, brigade_ok as ok};

/// `brigade ARGS` must fail with `needle` in its error; returns the error.
fn refused(cfg: &Path, args: &[&str], needle: &str) -> String {
    let (success, stdout, stderr) = brigade(cfg, args);
    assert!(!success, "brigade {args:?} should have failed: {stdout}");
    assert!(
        stderr.contains(needle),
        "brigade {args:?}: expected {needle:?} in: {stderr}"
    );
    eprintln!("refused as expected: {}", stderr.trim());
    stderr
}

fn quorate(cfg: &Path) -> Option<bool> {
    let (success, out, _) = brigade(cfg, &["cluster", "status", "-o", "json"]);
    success
        .then(|| serde_json::from_str::<Value>(&out).ok())
        .flatten()
        .and_then(|v| v["quorate"].as_bool())
}

async fn wait_quorate(cfg: &Path, want: bool) {
    eventually(
        SETTLE,
        &format!("{} quorate: {want}", cfg.display()),
        || async { quorate(cfg) == Some(want) },
    )
    .await;
}

/// A process this test started itself (an extra node, a qdevice): killed when dropped,
/// with the watchdog helper a node daemon starts in its run dir, so a failing test
/// leaves nothing running.
struct Proc(Child, Option<PathBuf>);

impl Proc {
    /// The daemon's run dir, whose watchdog helper goes with it.
    fn with_run_dir(mut self, run_dir: PathBuf) -> Self {
        self.1 = Some(run_dir);
        self
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let Some(run) = self
            .1
            .as_ref()
            .and_then(|d| brigade_guest::RunDir::open(d).ok())
        else {
            return;
        };
        if let Some(pid) = brigade_guest::process::read_pidfile(&run.watchdog_pid()) {
            if brigade_guest::process::cmdline(pid)
                .iter()
                .any(|a| a == "watchdog")
            {
                let _ = brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL);
            }
        }
    }
}

/// `brigade ARGS` in the background, its stdout and stderr to `log`.
fn spawn(args: &[&str], log: &Path) -> Proc {
    let out = std::fs::File::create(log).expect("log");
    let err = out.try_clone().expect("log");
    Proc(
        Command::new(bin())
            .args(args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn brigade"),
        None,
    )
}

/// Waits until `log` has a line containing `needle`; returns that line.
async fn log_line(log: &Path, needle: &str) -> String {
    eventually(
        SETTLE,
        &format!("{needle:?} in {}", log.display()),
        || async { std::fs::read_to_string(log).is_ok_and(|s| s.contains(needle)) },
    )
    .await;
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_default()
        .to_string()
}

/// A config file for the CLI to reach a node this test runs by hand with
/// `node run --name NAME --addr ADDR --state-dir DIR/FILE`.
fn write_config(dir: &Path, file: &str, name: &str, addr: &str) -> PathBuf {
    let state = dir.join(file);
    let path = dir.join(format!("{file}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\naddress = \"{addr}\"\nstate_dir = \"{}\"\nrun_dir = \"/run/brigade/{addr}\"\n",
            state.display()
        ),
    )
    .expect("config");
    path
}

/// The first line of `brigade ARGS` running in the background (`fs watch`, `log --follow`).
fn first_line_of(cfg: &Path, args: &[&str], after: impl FnOnce()) -> String {
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    // `fs watch` says when it watches; `log --follow` prints the log first.
    if args[0] == "fs" {
        let mut l = String::new();
        let _ = stderr.read_line(&mut l);
        assert!(l.contains("watching"), "{l}");
    }
    after();
    let out = LineSink::new(child.stdout.take().expect("stdout"));
    let seen = out.wait_for(Duration::from_secs(20), |l| !l.is_empty());
    let still_running = child.try_wait().ok().flatten().is_none();
    let _ = child.kill();
    let _ = child.wait();
    drop(out.finish());
    if args.contains(&"--follow") {
        assert!(still_running, "log --follow exited by itself");
    }
    seen.first().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_forms_a_cluster_and_edits_files() {
    let dir = test_dir("cli");
    let mut cov = Coverage::new("On real machines");
    let mut c = ProcCluster::new(&bin(), &dir, SUBNET, RaftTuning::default());
    // The local cluster runs each daemon as `brigade node run --config FILE`.
    for _ in 0..3 {
        c.spawn_node().expect("spawn");
    }
    for i in 0..3 {
        c.wait_api(i).await.expect("api");
    }
    cov.ran("brigade node run --config /etc/brigade/node.toml");
    let cfg: Vec<_> = c.nodes.iter().map(|n| n.config_path.clone()).collect();

    // Errors of the CLI itself: a missing config file is named once; no node or no CA
    // to trust says which option to pass; then those options work.
    let missing = brigade_env(
        &["--config", "/nonexistent/node.toml", "cluster", "status"],
        &[],
    );
    assert!(!missing.ok());
    assert_eq!(
        missing.stderr.matches("No such file or directory").count(),
        1,
        "the error is printed once: {}",
        missing.stderr
    );
    assert!(
        missing
            .stderr
            .contains("cannot read /nonexistent/node.toml"),
        "{}",
        missing.stderr
    );
    let r = brigade_env(&["cluster", "status"], &[]);
    assert!(
        !r.ok()
            && r.stderr
                .contains("pass --node https://IP:8006 or --config FILE"),
        "{}",
        r.stderr
    );
    let r = brigade_env(&["node", "run", "--name", "x1"], &[]);
    assert!(
        !r.ok()
            && r.stderr
                .contains("give --config FILE or both --name and --addr"),
        "{}",
        r.stderr
    );

    // Both, as the error says (and the README shows): a node without a config file.
    // `cluster create` in text says what to run next; that works.
    let solo_addr = format!("127.0.{SUBNET}.14");
    let solo_cfg = write_config(&dir, "solo", "solo", &solo_addr);
    let solo_log = dir.join("solo.log");
    let solo = spawn(
        &[
            "node",
            "run",
            "--name",
            "solo",
            "--addr",
            &solo_addr,
            "--state-dir",
            dir.join("solo").to_str().expect("utf-8"),
        ],
        &solo_log,
    )
    .with_run_dir(PathBuf::from("/run/brigade/solo"));
    log_line(&solo_log, "listening on").await;
    cov.ran("brigade node run --name pve1 --addr 10.0.0.1");
    let out = ok(&solo_cfg, &["cluster", "create", "solo"]);
    assert!(out.contains("Cluster solo created"), "{out}");
    assert!(
        out.contains("Next: on this node run `brigade cluster join-token`, then on each new node")
            && out.contains("`brigade cluster join <this node's IP> --token <token>`"),
        "{out}"
    );
    assert!(ok(&solo_cfg, &["cluster", "join-token"]).starts_with("brigade-join."));
    drop(solo);

    // Not in a cluster yet: the error names the two ways in; create, then join.
    refused(
        &cfg[0],
        &["cluster", "join-token"],
        "run 'brigade cluster create NAME' or 'brigade cluster join ADDR --token T'",
    );
    let created: serde_json::Value =
        serde_json::from_str(&ok(&cfg[0], &["cluster", "create", "lab", "-o", "json"]))
            .expect("json");
    assert_eq!(created["cluster"], "lab");
    let root_token = created["root_token"].as_str().expect("token").to_string();
    let stored = std::fs::read_to_string(c.nodes[0].state_dir().join("priv/root.token"))
        .expect("stored token");
    assert_eq!(stored.trim(), root_token);
    c.root_token = Some(root_token.clone());
    c.ca_pem =
        Some(std::fs::read_to_string(c.nodes[0].state_dir().join("tls/ca.pem")).expect("ca"));
    let mode = std::fs::metadata(c.nodes[0].state_dir().join("priv/root.token")).expect("meta");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    cov.ran("brigade cluster create prod");
    // What `cluster create` prints next is what the test does next.
    let (_, again, _) = brigade(&cfg[0], &["cluster", "status"]);
    assert!(again.contains("Quorate:          Yes"), "{again}");

    let join = |i: usize| {
        let token = ok(&cfg[0], &["cluster", "join-token"]);
        let out = ok(
            &cfg[i],
            &[
                "cluster",
                "join",
                &c.nodes[0].addr.to_string(),
                "--token",
                token.trim(),
            ],
        );
        assert!(out.contains("Joined cluster lab"), "{out}");
    };
    join(1);
    cov.ran("brigade cluster join-token");
    cov.ran("brigade cluster join 10.0.0.1 --token brigade-join.…");

    // Two voters: status warns and names the tie-breaker (set up further down).
    let status = ok(&cfg[0], &["cluster", "status"]);
    assert!(
        status.contains("even number of voters (2) and no qdevice")
            && status.contains("add one with 'brigade cluster qdevice setup ADDR'"),
        "{status}"
    );
    join(2);
    let nodes: serde_json::Value =
        serde_json::from_str(&ok(&cfg[2], &["cluster", "nodes", "--output", "json"]))
            .expect("json");
    assert_eq!(nodes.as_array().map(|a| a.len()), Some(3));

    // The tree: write, cat, mv, ls, mkdir, rm, watch.
    ok(
        &cfg[0],
        &[
            "fs",
            "write",
            "nodes/n1/qemu-server/100.conf",
            "memory: 256\n",
        ],
    );
    let cat = ok(
        &cfg[2],
        &["fs", "cat", "--consistent", "nodes/n1/qemu-server/100.conf"],
    );
    assert_eq!(cat, "memory: 256\n");
    ok(
        &cfg[1],
        &[
            "fs",
            "mv",
            "nodes/n1/qemu-server/100.conf",
            "nodes/n2/qemu-server/100.conf",
        ],
    );
    let ls: serde_json::Value = serde_json::from_str(&ok(
        &cfg[2],
        &["fs", "ls", "nodes/n2/qemu-server", "-o", "json"],
    ))
    .expect("json");
    assert_eq!(ls[0]["name"], "100.conf");

    let (success, _, stderr) = brigade(
        &cfg[0],
        &[
            "fs",
            "write",
            "nodes/n2/qemu-server/100.conf",
            "x",
            "--create-exclusive",
        ],
    );
    assert!(!success);
    assert!(stderr.contains("already exists"), "{stderr}");
    let (success, _, stderr) = brigade(&cfg[0], &["cluster", "create", "again"]);
    assert!(!success);
    assert!(stderr.contains("already in cluster"), "{stderr}");

    ok(&cfg[0], &["fs", "mkdir", "-p", "notes/a"]);
    ok(&cfg[0], &["fs", "write", "notes/a/f", "hello"]);
    refused(&cfg[0], &["fs", "rm", "notes"], "directory not empty");
    ok(&cfg[0], &["fs", "rm", "-r", "notes"]);
    refused(&cfg[0], &["fs", "cat", "notes/a/f"], "no such file");
    ok(&cfg[0], &["fs", "mkdir", "watched"]);
    let cfg2 = cfg[2].clone();
    let change = first_line_of(&cfg[1], &["fs", "watch", "watched", "--count", "1"], || {
        ok(&cfg2, &["fs", "write", "watched/x", "1"]);
    });
    assert!(change.contains("watched/x"), "{change}");
    cov.ran("brigade fs ls|cat|write|mkdir|rm|mv|watch PATH");

    // Raw writes of files whose format brigade owns are validated, with the API's words.
    refused(
        &cfg[0],
        &["fs", "write", "nodes/n1/qemu-server/101.conf", "bogus: 1\n"],
        "unknown config key \"bogus\"",
    );
    ok(&cfg[0], &["fs", "write", "scratch.conf", "bogus: 1\n"]);
    refused(
        &cfg[0],
        &["fs", "mv", "scratch.conf", "nodes/n1/qemu-server/101.conf"],
        "unknown config key \"bogus\"",
    );
    refused(
        &cfg[0],
        &["fs", "write", "datacenter.cfg", "bogus: 1\n"],
        "unknown key \"bogus\"",
    );
    refused(
        &cfg[0],
        &["fs", "write", "ha/manager_status", "{"],
        "ha/manager_status",
    );
    refused(
        &cfg[0],
        &["fs", "write", "storage.cfg", "dir: x\n\tpath relative\n"],
        "absolute path",
    );
    assert!(
        ok(&cfg[0], &["fs", "cat", "datacenter.cfg"]).starts_with("migration: secure"),
        "nothing changed"
    );

    // The tree as files: mounted through the CLI, the same validation, then unmounted.
    let mnt = dir.join("tree");
    std::fs::create_dir_all(&mnt).expect("mountpoint");
    let out = ok(&cfg[0], &["fs", "mount", mnt.to_str().expect("utf-8")]);
    assert!(out.contains("mounted at"), "{out}");
    assert!(
        std::fs::read_to_string(mnt.join("cluster.conf")).is_ok_and(|s| s.contains("cluster: lab")),
        "cluster.conf through the mount"
    );
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(mnt.join("nodes/n1/qemu-server/101.conf"))
            .expect("create through the mount");
        f.write_all(b"bogus: 1\n").expect("buffered");
        // The content is checked when it is flushed to the tree (fsync, close).
        let e = f.sync_all().expect_err("invalid config through the mount");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
    }
    refused(
        &cfg[1],
        &["fs", "cat", "nodes/n1/qemu-server/101.conf"],
        "no such file",
    );
    // A container config written with an editor's create-then-write reaches the tree once valid.
    std::fs::write(
        mnt.join("nodes/n1/lxc/105.conf"),
        "rootfs: local:105/subvol-105-disk-0\n",
    )
    .expect("a new container config through the mount");
    assert_eq!(
        ok(&cfg[1], &["fs", "cat", "nodes/n1/lxc/105.conf"]),
        "rootfs: local:105/subvol-105-disk-0\n"
    );
    ok(&cfg[0], &["fs", "rm", "nodes/n1/lxc/105.conf"]);
    ok(&cfg[0], &["fs", "umount", mnt.to_str().expect("utf-8")]);
    cov.ran("brigade fs mount /etc/brigade/tree | umount /etc/brigade/tree");

    // The cluster log through the CLI: both joins are there; --follow keeps running.
    let log: serde_json::Value =
        serde_json::from_str(&ok(&cfg[2], &["log", "-o", "json"])).expect("json");
    let joined = log
        .as_array()
        .map(|a| a.iter().filter(|e| e["kind"] == "joined").count());
    assert_eq!(joined, Some(2), "{log}");
    let first = first_line_of(&cfg[2], &["log", "--follow"], || {});
    assert!(first.starts_with("20"), "a timestamped event: {first}");
    cov.ran("brigade log [--follow]");

    // Prometheus metrics need the token like every call.
    let metrics = c.client(0).expect("n1").metrics().await.expect("metrics");
    for line in [
        "brigade_quorate 1",
        "brigade_in_cluster 1",
        "brigade_members 3",
        "brigade_heartbeats_total{outcome=\"bad_auth\"}",
        "brigade_cfs_write_seconds_bucket{le=\"+Inf\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing in:\n{metrics}");
    }
    let writes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("brigade_cfs_write_seconds_count "))
        .and_then(|v| v.parse().ok())
        .expect("write count");
    assert!(writes >= 1, "the fs write through n1 was counted");
    let anonymous = brigade_client::Client::new(brigade_client::ClientOptions {
        url: c.nodes[0].config.api_url(),
        ca_pem: c.ca_pem.clone().unwrap_or_default(),
        token: None,
        local_addr: None,
        timeout: None,
    })
    .expect("client");
    assert_eq!(
        anonymous.metrics().await.expect_err("no token").status(),
        Some(401)
    );

    let status = ok(&cfg[1], &["cluster", "status"]);
    for section in [
        "Cluster information",
        "Quorum information",
        "Votequorum information",
        "Membership information",
        "Quorate:          Yes",
    ] {
        assert!(status.contains(section), "{status}");
    }

    // The tie-breaker the two-node warning asked for (after the checks above, which
    // count members and joins): a node's address is not a qdevice; then one is.
    refused(
        &cfg[0],
        &["cluster", "qdevice", "setup", &c.nodes[1].addr.to_string()],
        "start one with 'brigade qdevice run'",
    );
    // The qdevice, as the README runs it (its state kept in the test's directory).
    let qd_addr = format!("127.0.{SUBNET}.9");
    let qd_log = dir.join("qd1.log");
    let _qd1 = spawn(
        &[
            "qdevice",
            "run",
            "--listen",
            &qd_addr,
            "--state-dir",
            dir.join("qd1").to_str().expect("utf-8"),
        ],
        &qd_log,
    );
    log_line(&qd_log, "listening on").await;
    cov.ran("brigade qdevice run --listen 10.0.0.9");
    let (success, out, err) = brigade(&cfg[0], &["cluster", "qdevice", "setup", &qd_addr]);
    assert!(success, "qdevice setup: {err}");
    assert!(out.contains("it votes but never leads"), "{out}");
    assert!(
        err.contains("pass --fingerprint (printed by 'brigade qdevice run')"),
        "{err}"
    );
    let status = ok(&cfg[0], &["cluster", "status"]);
    assert!(!status.contains("even number of voters"), "{status}");
    // A second qdevice is refused with the way to remove the first; the second one
    // then joins with its fingerprint pinned.
    let qd2_addr = format!("127.0.{SUBNET}.10");
    let qd2_log = dir.join("qd2.log");
    let _qd2 = spawn(
        &[
            "qdevice",
            "run",
            "--listen",
            &qd2_addr,
            "--name",
            "qd2",
            "--state-dir",
            dir.join("qd2").to_str().expect("utf-8"),
        ],
        &qd2_log,
    );
    let fp_line = log_line(&qd2_log, "qdevice certificate fingerprint: ").await;
    let fp = fp_line
        .split("fingerprint: ")
        .nth(1)
        .expect("fingerprint")
        .trim()
        .to_string();
    log_line(&qd2_log, "listening on").await;
    refused(
        &cfg[0],
        &[
            "cluster",
            "qdevice",
            "setup",
            &qd2_addr,
            "--fingerprint",
            &fp,
        ],
        "remove it first with 'brigade cluster qdevice remove'",
    );
    let out = ok(&cfg[0], &["cluster", "qdevice", "remove"]);
    assert!(out.contains("Qdevice removed"), "{out}");
    let out = ok(
        &cfg[0],
        &[
            "cluster",
            "qdevice",
            "setup",
            &qd2_addr,
            "--fingerprint",
            &fp,
        ],
    );
    assert!(out.contains("it votes but never leads"), "{out}");
    cov.ran("brigade cluster qdevice setup 10.0.0.9 [--fingerprint FP] | remove");

    // Any node from anywhere: --node URL --ca FILE --api-token T, no config file.
    let ca_file = dir.join("brigade-root-ca.pem");
    std::fs::write(&ca_file, c.ca_pem.clone().unwrap_or_default()).expect("ca file");
    let n2_addr = c.nodes[1].addr.to_string();
    let r = brigade_env(&["--node", &n2_addr, "cluster", "status"], &[]);
    assert!(
        !r.ok() && r.stderr.contains("pass --ca FILE"),
        "{}",
        r.stderr
    );
    let r = brigade_env(
        &[
            "--node",
            &n2_addr,
            "--ca",
            ca_file.to_str().expect("utf-8"),
            "--api-token",
            &root_token,
            "cluster",
            "status",
        ],
        &[],
    );
    assert!(
        r.ok() && r.stdout.contains("Quorate:          Yes"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    cov.ran("brigade --node 10.0.0.2 --ca brigade-root-ca.pem --api-token 'root@pam!root=…' cluster status");

    // delnode: not the local node (run it on another member), not while guests are on
    // it (move them, as the refusal says), and power the node off first.
    refused(
        &cfg[1],
        &["cluster", "delnode", "n2"],
        "cannot remove the local node n2: run delnode on another member",
    );
    refused(
        &cfg[0],
        &["cluster", "delnode", "n2"],
        "node n2 still holds guests: VM 100 (configs under nodes/n2); move them first ('brigade vm migrate VMID NODE' while it runs)",
    );
    let out = ok(&cfg[0], &["vm", "migrate", "100", "n3"]);
    assert!(out.contains("migrated offline n2 -> n3"), "{out}");
    ok(&cfg[0], &["vm", "destroy", "100", "--yes"]);
    ok(
        &cfg[0],
        &[
            "fs",
            "write",
            "nodes/n2/qemu-server/103.conf",
            "memory: 64\n",
        ],
    );
    c.kill(1);
    // A replacement machine with the dead node's name cannot join until that node is removed.
    let n2b_addr = format!("127.0.{SUBNET}.12");
    let n2b_cfg = write_config(&dir, "n2b", "n2", &n2b_addr);
    let n2b_log = dir.join("n2b.log");
    let _n2b = spawn(
        &["node", "run", "--config", n2b_cfg.to_str().expect("utf-8")],
        &n2b_log,
    )
    .with_run_dir(PathBuf::from(format!("/run/brigade/{n2b_addr}")));
    log_line(&n2b_log, "listening on").await;
    let token = ok(&cfg[0], &["cluster", "join-token"]);
    refused(
        &n2b_cfg,
        &[
            "cluster",
            "join",
            &c.nodes[0].addr.to_string(),
            "--token",
            token.trim(),
        ],
        "remove it with 'brigade cluster delnode n2' first",
    );
    let e = refused(
        &cfg[0],
        &["cluster", "delnode", "n2"],
        "or remove the node anyway with 'brigade cluster delnode n2 --force'",
    );
    assert!(e.contains("VM 103"), "{e}");
    let out = ok(&cfg[0], &["cluster", "delnode", "n2", "--force"]);
    assert!(out.contains("Node n2 removed"), "{out}");
    let token = ok(&cfg[0], &["cluster", "join-token"]);
    let out = ok(
        &n2b_cfg,
        &[
            "cluster",
            "join",
            &c.nodes[0].addr.to_string(),
            "--token",
            token.trim(),
        ],
    );
    assert!(out.contains("Joined cluster lab"), "{out}");
    let names: Vec<String> = json(&cfg[0], &["cluster", "nodes"])
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            format!(
                "{}@{}",
                r["name"].as_str().unwrap_or_default(),
                r["address"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert!(names.contains(&format!("n2@{n2b_addr}")), "{names:?}");
    ok(&cfg[0], &["fs", "rm", "nodes/n2/qemu-server/103.conf"]);

    // The leader does not remove itself: power it off; once another leads, remove it.
    let leader = json(&cfg[2], &["cluster", "nodes"])
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["leader"] == true)
        .and_then(|r| r["name"].as_str())
        .expect("a leader")
        .to_string();
    let (li, si) = match leader.as_str() {
        "n1" => (0, 2),
        "n3" => (2, 0),
        other => panic!("unexpected leader {other}"),
    };
    refused(
        &cfg[si],
        &["cluster", "delnode", &leader],
        &format!("{leader} is the current leader; run delnode on another node after it steps down"),
    );
    c.kill(li);
    let survivor = cfg[si].clone();
    eventually(SETTLE, "another node leads", || async {
        let (success, out, _) = brigade(&survivor, &["cluster", "nodes", "-o", "json"]);
        success
            && serde_json::from_str::<Value>(&out).is_ok_and(|rows| {
                rows.as_array().is_some_and(|rows| {
                    rows.iter()
                        .any(|r| r["leader"] == true && r["name"] != leader.as_str())
                })
            })
    })
    .await;
    wait_quorate(&cfg[si], true).await;
    let out = ok(&cfg[si], &["cluster", "delnode", &leader]);
    assert!(out.contains("removed"), "{out}");
    cov.ran("brigade cluster nodes | status | delnode NAME [--force]");

    // Emergency: the survivor's peers are gone for good; recover makes it the only voter.
    drop(_n2b);
    drop(_qd2);
    wait_quorate(&cfg[si], false).await;
    refused(&cfg[si], &["fs", "write", "lost", "x"], NOT_QUORATE_MSG);
    refused(
        &cfg[si],
        &["cluster", "recover", "--force", "--yes"],
        "stop it first",
    );
    c.stop(si).expect("stop the survivor");
    let r = brigade_env(&["cluster", "recover", "--force", "--yes"], &[]);
    assert!(
        !r.ok() && r.stderr.contains("give --config FILE"),
        "{}",
        r.stderr
    );
    refused(&cfg[si], &["cluster", "recover", "--yes"], "add --force");
    let out = ok(&cfg[si], &["cluster", "recover", "--force", "--yes"]);
    assert!(out.contains("only voter"), "{out}");
    assert!(
        out.contains(
            "Next: start the daemon, then `brigade cluster delnode NAME` for each lost node."
        ),
        "{out}"
    );
    cov.ran("brigade cluster recover --force");
    c.start(si).expect("start the survivor");
    c.wait_api(si).await.expect("api");
    wait_quorate(&cfg[si], true).await;
    ok(&cfg[si], &["cluster", "delnode", "n2"]);
    ok(&cfg[si], &["cluster", "qdevice", "remove"]);
    assert_eq!(
        json(&cfg[si], &["cluster", "nodes"])
            .as_array()
            .map(|a| a.len()),
        Some(1)
    );
    ok(&cfg[si], &["fs", "write", "after-recover", "ok"]);
    cov.assert_complete();
}
