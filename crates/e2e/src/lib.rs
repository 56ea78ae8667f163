//! Shared helpers of the cluster end-to-end tests.

// Test support: a failed expectation is a failed test, with its message.
#![allow(clippy::expect_used)]

pub mod apart;
pub mod faults;
pub mod guests;
pub mod netns;
pub mod readme;
pub mod timing;
pub mod witness;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use brigade_client::{Client, ClientError};
use brigade_core::{poll_until, poll_until_blocking};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

/// How often [`eventually`] and [`holds_for`] check.
pub const EVENTUALLY_INTERVAL: Duration = Duration::from_millis(100);
/// How often blocking waits (pipes, child processes) check.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How often [`wait_task`] asks for a task's status.
pub const TASK_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Removes the firewall rules tagged `.0` when dropped, so a failing test leaves no partition behind.
pub struct HealOnDrop(pub &'static str);

impl Drop for HealOnDrop {
    fn drop(&mut self) {
        let _ = brigade_localcluster::firewall::heal(self.0);
    }
}

/// The brigade binary built with the workspace (`BRIGADE_BIN` overrides).
pub fn bin() -> PathBuf {
    if let Ok(p) = std::env::var("BRIGADE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target/debug/brigade
    let debug = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = debug.join("brigade");
    assert!(
        bin.exists(),
        "{} missing: build the workspace first (cargo build)",
        bin.display()
    );
    bin
}

/// Runs `brigade --config CFG ARGS...`: success, stdout, stderr.
pub fn brigade(cfg: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run brigade");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `brigade --config CFG ARGS`, which must succeed: its standard output.
pub fn brigade_ok(cfg: &std::path::Path, args: &[&str]) -> String {
    let (success, stdout, stderr) = brigade(cfg, args);
    assert!(success, "brigade {args:?} failed: {stdout}{stderr}");
    stdout
}

/// `brigade --config CFG ARGS -o json`, which must succeed: its JSON.
pub fn brigade_json(cfg: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&brigade_ok(cfg, &all))
        .unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"))
}

/// The outcome of one run of the `brigade` binary.
#[derive(Debug)]
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
}

fn finish(out: std::process::Output) -> Run {
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `brigade ARGS...` with extra environment variables (no `--config` added).
pub fn brigade_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = std::process::Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run brigade");
    finish(out)
}

/// Runs `brigade ARGS...` writing into a pipe whose reader is already gone, as when
/// `| head` has exited: the CLI must end quietly, not panic.
pub fn brigade_into_closed_pipe(args: &[&str], env: &[(&str, &str)]) -> Run {
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run brigade");
    finish(out)
}

/// Asserts a run into a closed pipe ended quietly: no panic (exit 101), nothing on stderr.
pub fn assert_quiet_on_closed_pipe(what: &str, r: &Run) {
    assert_ne!(r.status.code(), Some(101), "{what} panicked: {}", r.stderr);
    assert!(
        r.ok(),
        "{what} failed on a closed pipe: {:?} {}",
        r.status,
        r.stderr
    );
    assert!(
        r.stderr.trim().is_empty(),
        "{what} wrote to stderr: {}",
        r.stderr
    );
}

/// Every line a child process writes, collected in the background so its pipe stays
/// open (a reader that stopped early would make the child's next write fail).
pub struct LineSink {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl LineSink {
    pub fn new(r: impl std::io::Read + Send + 'static) -> Self {
        use std::io::BufRead as _;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let handle = std::thread::spawn(move || {
            for l in std::io::BufReader::new(r).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(l);
            }
        });
        LineSink {
            lines,
            handle: Some(handle),
        }
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `timeout` until `done(lines)`; returns the lines then.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let _ = poll_until_blocking(Instant::now() + timeout, POLL_INTERVAL, || {
            done(&self.lines())
        });
        self.lines()
    }

    /// Every line, once the writer is gone.
    pub fn finish(mut self) -> Vec<String> {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.lines()
    }
}

/// A fresh directory for one test.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("brigade-e2e").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    dir
}

/// Forms an `n`-node cluster on 127.0.`subnet`.x and waits for quorum.
pub async fn cluster(name: &str, subnet: u8, n: usize, tuning: RaftTuning) -> ProcCluster {
    let c = ProcCluster::form(&bin(), &test_dir(name), subnet, n, tuning)
        .await
        .unwrap_or_else(|e| panic!("cluster {name} did not form: {e:#}"));
    let all: Vec<usize> = (0..n).collect();
    c.wait_quorate(&all).await.expect("quorum");
    c
}

/// Files by path, with their contents.
pub type Files = BTreeMap<String, String>;

/// Every file under `dir` on one node (path -> content), read from its local replica.
pub async fn dump(client: &Client, dir: &str) -> Result<Files, ClientError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.trim_matches('/').to_string()];
    while let Some(d) = stack.pop() {
        for e in client.fs_list(&d).await? {
            let path = if d.is_empty() {
                e.name.clone()
            } else {
                format!("{d}/{}", e.name)
            };
            if e.dir {
                stack.push(path);
            } else {
                let f = client.fs_read(&path, false).await?;
                out.insert(path, f.content.unwrap_or(f.data));
            }
        }
    }
    Ok(out)
}

/// Polls `check` until it returns true; fails the test if `timeout` passes first.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    eprintln!("waiting for: {what}");
    let r = poll_until(start + timeout, EVENTUALLY_INTERVAL, check).await;
    assert!(r.is_ok(), "timed out after {timeout:?} waiting for: {what}");
    eprintln!("  done after {:?}: {what}", start.elapsed());
}

/// Polls `check` throughout `period` (a negative wait: "nothing happens for a while");
/// fails the test at the first poll where it does not hold.
pub async fn holds_for<F, Fut>(period: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    eprintln!("checking for {period:?}: {what}");
    let broke = poll_until(start + period, EVENTUALLY_INTERVAL, || {
        let f = check();
        async move { !f.await }
    })
    .await;
    assert!(
        broke.is_err(),
        "after {:?} of {period:?}, no longer: {what}",
        start.elapsed()
    );
}

/// Lets the cluster settle for `period` (derived from its timing, see [`timing`]): the
/// time in which what the test provoked must have happened, or can no longer happen.
pub async fn settle(period: Duration, why: &str) {
    eprintln!("settling for {period:?}: {why}");
    tokio::time::sleep(period).await;
}

/// Why a retried write did not get through: the last refusal, or no answer in time.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// The last attempt's error.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// No attempt finished before the deadline.
    #[error(transparent)]
    TimedOut(#[from] brigade_core::TimedOut),
}

/// Writes `path` through `client`, retrying while the cluster elects a leader.
pub async fn write_retrying(
    client: &Client,
    path: &str,
    content: &str,
    timeout: Duration,
) -> Result<u64, RetryError> {
    let last = std::cell::RefCell::new(None);
    let written = poll_until(Instant::now() + timeout, EVENTUALLY_INTERVAL, || async {
        match client.fs_put(path, content).await {
            Ok(a) => Some(a.version),
            Err(e) => {
                *last.borrow_mut() = Some(e);
                None
            }
        }
    })
    .await;
    match (written, last.into_inner()) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(e)) => Err(e.into()),
        (Err(t), None) => Err(t.into()),
    }
}

/// Waits up to `timeout` for a child process to exit; its status, if it did.
pub fn wait_exit(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    poll_until_blocking(Instant::now() + timeout, POLL_INTERVAL, || {
        child.try_wait().ok().flatten()
    })
    .ok()
}

/// Waits until task `upid` on `node` ends; its status then (ok or error).
pub async fn wait_task(
    client: &Client,
    node: &str,
    upid: &str,
    timeout: Duration,
) -> brigade_api::tasks::TaskStatus {
    let ended = poll_until(Instant::now() + timeout, TASK_POLL_INTERVAL, || async {
        let t = client.task_status(node, upid).await.expect("task status");
        (t.status != brigade_api::tasks::TaskState::Running).then_some(t)
    })
    .await;
    let t = ended.unwrap_or_else(|e| panic!("task {upid} did not finish: {e}"));
    assert_task_recorded(client, &t).await;
    t
}

/// The ended task `t` is in its node's task list, with a log that ends in its status.
pub async fn assert_task_recorded(client: &Client, t: &brigade_api::tasks::TaskStatus) {
    let q = brigade_client::tasks::TaskQuery {
        vmid: t.vmid,
        ..Default::default()
    };
    let listed = client.task_list(&t.node, &q).await.expect("task list");
    assert!(
        listed
            .iter()
            .any(|x| x.upid == t.upid && x.status == t.status),
        "task {} is not listed on {} as {}: {listed:?}",
        t.upid,
        t.node,
        t.status
    );
    let log = client.task_log(&t.upid, 0, 10_000).await.expect("task log");
    let last = log.last().map(|l| l.t.as_str()).unwrap_or_default();
    let want = match t.status {
        brigade_api::tasks::TaskState::Ok => "TASK OK".to_string(),
        _ => format!("TASK ERROR: {}", t.error.as_deref().unwrap_or_default()),
    };
    assert!(
        log.len() >= 2 && last.ends_with(&want),
        "the log of task {} does not end with {want:?}: {log:?}",
        t.upid
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// The 127.0.S.x subnets the test files claim, by file: a number after
    /// `cluster("name",`, `setup("name",`, `with_qdevice("name",`, `SUBNET: u8 =`, or
    /// the third argument of `ProcCluster::form(`/`ProcCluster::new(`.
    fn claimed(text: &str) -> Vec<u8> {
        let flat: String = text.split_whitespace().collect();
        let mut out = Vec::new();
        let number = |rest: &str| -> Option<u8> {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        };
        for key in ["cluster(\"", "setup(\"", "with_qdevice(\""] {
            for (i, _) in flat.match_indices(key) {
                let rest = &flat[i + key.len()..];
                if let Some(after) = rest.split_once("\",").map(|(_, a)| a) {
                    out.extend(number(after));
                }
            }
        }
        for (i, _) in flat.match_indices("SUBNET:u8=") {
            out.extend(number(&flat[i + "SUBNET:u8=".len()..]));
        }
        for key in ["ProcCluster::form(", "ProcCluster::new("] {
            for (i, _) in flat.match_indices(key) {
                let args = &flat[i + key.len()..];
                if let Some(third) = args.split(',').nth(2) {
                    out.extend(number(third));
                }
            }
        }
        out
    }

    /// The `.rs` files below `dir`: the test binary's modules in `tests/cluster/`, and any
    /// test file of its own in `tests/`.
    fn test_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).expect("tests dir").flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(test_files(&path));
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn every_test_file_has_subnets_of_its_own() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let mut owners: BTreeMap<u8, Vec<String>> = BTreeMap::new();
        for path in test_files(&dir) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let name = path
                .strip_prefix(&dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            let mut mine = claimed(&text);
            mine.sort_unstable();
            mine.dedup();
            for s in mine {
                owners.entry(s).or_default().push(name.clone());
            }
        }
        let shared: Vec<String> = owners
            .iter()
            .filter(|(_, files)| files.len() > 1)
            .map(|(s, files)| format!("127.0.{s}.x: {}", files.join(", ")))
            .collect();
        assert!(shared.is_empty(), "subnets claimed twice: {shared:?}");
        assert!(owners.len() > 20, "the scan found too little: {owners:?}");
    }

    #[test]
    fn claims_are_found_in_every_form() {
        let text = "cluster(\"a\", 11, 3)\nsetup(\n \"b\",\n 12,\n)\nconst SUBNET: u8 = 13;\n\
            ProcCluster::form(&bin(), &dir, 14, 3, t)\nwith_qdevice(\"q\", 15, 2)";
        assert_eq!(claimed(text), vec![11, 12, 15, 13, 14]);
    }
}
