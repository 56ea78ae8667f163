//! Tasks (issue 16): every guest operation leaves a task with Proxmox's UPID, its type,
//! node, user, status and a timestamped log, listed per node and cluster-wide; a failing
//! task shows its error; a running task (a shutdown, a live migration) can be stopped;
//! a live migration's task logs its phases and downtime; finished tasks survive a daemon
//! restart and one the daemon's death interrupted ends as `unexpected daemon exit`.

use std::collections::BTreeMap;
use std::time::Duration;

use brigade_api::tasks::{TaskState, TaskStatus};
use brigade_client::tasks::TaskQuery;
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_e2e::guests::{appliance, guest_pid};
use brigade_e2e::{brigade, cluster, eventually, wait_task};
use brigade_node::config::RaftTuning;

const CTID: u32 = 940;
const BROKEN_VM: u32 = 941;
const DEAF_VM: u32 = 942;
const RESTART_VM: u32 = 950;
/// The user of the e2e clients: the cluster's root token, which acts as root@pam itself.
const ROOT_TOKEN_USER: &str = "root@pam";
/// How long a guest operation may take here (QEMU under TCG, a loaded machine).
const OP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the test looks for a running task.
const TASK_POLL: Duration = Duration::from_millis(100);
/// A shutdown timeout longer than the test waits (the longest the API takes, see
/// `brigade_api::guests::MAX_SHUTDOWN_TIMEOUT_SECS`): only a stop ends that task.
const LONG_SHUTDOWN_SECS: u64 = brigade_api::guests::MAX_SHUTDOWN_TIMEOUT_SECS;

/// The task `upid` (as answered by an operation), asked through `via`.
async fn task(via: &Client, upid: &str) -> TaskStatus {
    let node = brigade_client::tasks::upid_node(upid).expect("upid names a node");
    via.task_status(node, upid).await.expect("task status")
}

/// A shutdown of `loc` with a long timeout, in the background: the appliance ignores ACPI,
/// so its task keeps running until it is stopped or its node dies.
fn long_shutdown(
    via: Client,
    loc: brigade_api::guests::GuestLocation,
) -> tokio::task::JoinHandle<Result<brigade_api::guests::GuestStatus, brigade_client::ClientError>>
{
    tokio::spawn(async move {
        via.guest_power(
            &loc,
            "shutdown",
            serde_json::json!({ "timeout": LONG_SHUTDOWN_SECS }),
        )
        .await
    })
}

/// The UPID of the running task of type `kind` on `node`, once it runs.
async fn running_task(via: &Client, node: &str, kind: &str, q: &TaskQuery) -> String {
    let found = brigade_core::poll_until(
        std::time::Instant::now() + OP_TIMEOUT,
        TASK_POLL,
        || async {
            let t = via.task_list(node, q).await.expect("list");
            t.into_iter().find(|t| t.kind == kind).map(|t| t.upid)
        },
    )
    .await;
    found.unwrap_or_else(|e| panic!("no running {kind} task on {node}: {e}"))
}

fn upid_of(v: &serde_json::Value) -> String {
    v.get("upid")
        .and_then(|u| u.as_str())
        .unwrap_or_else(|| panic!("no upid in the answer {v}"))
        .to_string()
}

/// The task ended OK, with its type, node and user, and a log of timestamped lines.
async fn assert_ok_task(via: &Client, upid: &str, kind: &str, node: &str) -> Vec<String> {
    let t = task(via, upid).await;
    assert_eq!(
        (
            t.status,
            t.kind.as_str(),
            t.node.as_str(),
            t.user.as_str(),
            t.exitstatus.as_deref()
        ),
        (TaskState::Ok, kind, node, ROOT_TOKEN_USER, Some("OK")),
        "{t:?}"
    );
    assert!(upid.starts_with(&format!("UPID:{node}:")), "{upid}");
    assert!(upid.contains(&format!(":{kind}:")), "{upid}");
    let log = via.task_log(upid, 0, 1000).await.expect("log");
    assert!(log.len() >= 2, "{upid}: {log:?}");
    for (i, l) in log.iter().enumerate() {
        assert_eq!(l.n, i as u64 + 1);
        // `2026-12-01 18:46:39.123 text`
        let stamp = l.t.get(..23).unwrap_or_default();
        assert!(
            chrono_like(stamp),
            "line without a timestamp in {upid}: {:?}",
            l.t
        );
    }
    assert!(log.last().is_some_and(|l| l.t.ends_with(" TASK OK")));
    log.into_iter().map(|l| l.t).collect()
}

fn chrono_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 23
        && b[4] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[19] == b'.'
        && s.chars().filter(|c| c.is_ascii_digit()).count() == 17
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_operations_are_tasks_listed_cluster_wide_stoppable_and_failing_with_their_error() {
    let appliance = appliance();
    let c = cluster("tasks", 94, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let template = appliance.join("rootfs").display().to_string();

    // A container on n2, asked through n1: create, start, stop, migrate, destroy.
    let mut cfg = BTreeMap::new();
    cfg.insert("hostname".to_string(), "tasks".to_string());
    cfg.insert("memory".to_string(), "64".to_string());
    cfg.insert("rootfs".to_string(), "local:1".to_string());
    let created = n1
        .guest_create("n2", GuestKind::Lxc, CTID, &cfg, Some(&template), false)
        .await
        .expect("create");
    assert_ok_task(&n1, &upid_of(&created), "vzcreate", "n2").await;
    let loc = n1.locate(CTID).await.expect("locate");
    let started = n1
        .guest_power(&loc, "start", serde_json::json!({}))
        .await
        .expect("start");
    let start_upid = started.upid.clone().expect("start answers its task");
    assert_ok_task(&n1, &start_upid, "vzstart", "n2").await;
    let stopped = n1
        .guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
    assert_ok_task(&n1, &stopped.upid.expect("upid"), "vzstop", "n2").await;
    let moving = n1.guest_migrate(&loc, "n3", false).await.expect("migrate");
    let moved = wait_task(&n1, &moving.node, &moving.upid, OP_TIMEOUT).await;
    let log = assert_ok_task(&n1, &moved.upid, "vzmigrate", "n2").await;
    assert!(
        log.iter().any(|l| l.contains("copying local:940/")),
        "the migration log names what it copied: {log:?}"
    );
    let loc = n1.locate(CTID).await.expect("locate");
    assert_eq!(loc.node, "n3");
    let on_n3 = n1
        .guest_power(&loc, "start", serde_json::json!({}))
        .await
        .expect("start on n3");
    assert_ok_task(&n1, &on_n3.upid.expect("upid"), "vzstart", "n3").await;
    n1.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop on n3");
    let destroyed = n1.guest_destroy(&loc).await.expect("destroy");
    assert_ok_task(&n1, &upid_of(&destroyed), "vzdestroy", "n3").await;

    // The guest's tasks, by vmid, on n2: the CLI lists them too.
    let q = TaskQuery {
        vmid: Some(CTID),
        ..TaskQuery::default()
    };
    let kinds: Vec<String> = n1
        .task_list("n2", &q)
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds, vec!["vzmigrate", "vzstop", "vzstart", "vzcreate"]);
    let cfg1 = c.nodes[0].config_path.clone();
    let (ok, out, err) = brigade(&cfg1, &["task", "list", "--on", "n2", "--vmid", "940"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("vzmigrate") && out.contains("OK"), "{out}");
    let (ok, out, err) = brigade(&cfg1, &["task", "log", &start_upid]);
    assert!(ok && out.contains("TASK OK"), "{out}{err}");

    // A VM whose disk is missing fails to start: the task says why, and so does the CLI.
    let mut vm = BTreeMap::new();
    vm.insert("memory".to_string(), "64".to_string());
    vm.insert("virtio0".to_string(), "local:64M,format=raw".to_string());
    n1.guest_create("n2", GuestKind::Qemu, BROKEN_VM, &vm, None, false)
        .await
        .expect("create vm");
    std::fs::remove_file(
        c.nodes[1]
            .state_dir()
            .join("storage/images/941/vm-941-disk-0.raw"),
    )
    .expect("remove its disk");
    let (ok, out, err) = brigade(&cfg1, &["vm", "start", "941"]);
    assert!(!ok, "started without its disk: {out}{err}");
    let failed = n1
        .task_list(
            "n2",
            &TaskQuery {
                vmid: Some(BROKEN_VM),
                ..TaskQuery::default()
            },
        )
        .await
        .expect("list");
    let start_task = failed
        .iter()
        .find(|t| t.kind == "qmstart")
        .expect("a qmstart task");
    let why = start_task.error.clone().unwrap_or_default();
    assert_eq!(start_task.status, TaskState::Error, "{start_task:?}");
    assert!(!why.is_empty() && start_task.exitstatus.as_deref() == Some(why.as_str()));
    assert!(
        err.contains(&why),
        "the CLI shows the task's error {why:?}: {err}"
    );

    // /cluster/tasks asked on n1 lists n2's and n3's tasks, and the joins.
    let all = n1
        .cluster_tasks(&TaskQuery::default())
        .await
        .expect("cluster tasks");
    assert!(all.nodes.iter().all(|n| n.state == "ok"), "{:?}", all.nodes);
    for (node, kind) in [
        ("n2", "vzcreate"),
        ("n3", "vzdestroy"),
        ("n2", "clusterjoin"),
        ("n3", "clusterjoin"),
    ] {
        assert!(
            all.tasks
                .iter()
                .any(|t| t.node == node && t.kind == kind && t.status == TaskState::Ok),
            "no {kind} task of {node} in /cluster/tasks"
        );
    }

    // A shutdown of a VM that ignores ACPI runs until stopped with `task stop`.
    let config =
        brigade_guest::vm_config::appliance_params(appliance.to_str().expect("utf-8"), 128, None);
    n1.guest_create("n3", GuestKind::Qemu, DEAF_VM, &config, None, true)
        .await
        .expect("create and start");
    let loc = n1.locate(DEAF_VM).await.expect("locate");
    let shutdown = long_shutdown(c.client(0).expect("client"), loc.clone());
    let running = TaskQuery {
        running: true,
        vmid: Some(DEAF_VM),
        ..TaskQuery::default()
    };
    let upid = running_task(&n1, "n3", "qmshutdown", &running).await;
    let (ok, out, err) = brigade(&cfg1, &["task", "stop", &upid]);
    assert!(ok, "task stop: {out}{err}");
    let answer = tokio::time::timeout(OP_TIMEOUT, shutdown)
        .await
        .expect("the shutdown returns once stopped")
        .expect("join");
    let e = answer.expect_err("a stopped shutdown fails");
    assert!(e.to_string().contains("task stopped by user"), "{e}");
    let t = task(&n1, &upid).await;
    assert_eq!(
        (t.status, t.error.as_deref()),
        (TaskState::Error, Some("task stopped by user"))
    );
    assert!(guest_pid(&c, 2, DEAF_VM).is_some(), "the VM still runs");
    // The CLI shows it: `task status`, `task log --follow` (non-zero: it failed), JSON.
    let (ok, out, err) = brigade(&cfg1, &["task", "status", &upid]);
    assert!(
        ok && out.contains("error: task stopped by user"),
        "{out}{err}"
    );
    let (ok, out, err) = brigade(&cfg1, &["task", "log", "--follow", &upid]);
    assert!(
        !ok && out.contains("TASK ERROR: task stopped by user"),
        "{out}{err}"
    );
    assert!(err.contains("task stopped by user"), "{err}");
    let (ok, out, err) = brigade(
        &cfg1,
        &[
            "--output", "json", "task", "list", "--on", "n3", "--limit", "1",
        ],
    );
    assert!(ok, "{out}{err}");
    let listed: Vec<TaskStatus> = serde_json::from_str(&out).expect("json task list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].upid, upid, "the newest task of n3 comes first");

    // A live migration slowed by datacenter.cfg's bwlimit is stopped with `task stop`:
    // the VM keeps running on n3, unlocked, and n1's copy goes away.
    n1.fs_put("datacenter.cfg", "bwlimit: migration=1024\n")
        .await
        .expect("bwlimit");
    let slow = n1.guest_migrate(&loc, "n1", true).await.expect("migrate");
    assert!(slow.upid.contains(":qmigrate:942:"), "{}", slow.upid);
    eventually(OP_TIMEOUT, "the slow migration streams", || async {
        n1.task_log(&slow.upid, 0, 1000)
            .await
            .is_ok_and(|l| l.iter().any(|l| l.t.contains("migration active")))
    })
    .await;
    let (ok, out, err) = brigade(&cfg1, &["task", "stop", &slow.upid]);
    assert!(ok, "task stop: {out}{err}");
    let s = wait_task(&n1, &slow.node, &slow.upid, OP_TIMEOUT).await;
    assert_eq!(s.status, TaskState::Error, "{s:?}");
    assert!(
        s.error
            .as_deref()
            .is_some_and(|e| e.starts_with("task stopped by user")),
        "{s:?}"
    );
    let loc = n1.locate(DEAF_VM).await.expect("locate");
    assert_eq!(loc.node, "n3");
    let status = n1.guest_status(&loc).await.expect("status");
    assert_eq!(
        (status.qmp_status.as_deref(), status.lock.as_deref()),
        (Some("running"), None),
        "the VM runs on, unlocked, after its migration was stopped"
    );
    eventually(OP_TIMEOUT, "n1's incoming copy is gone", || async {
        guest_pid(&c, 0, DEAF_VM).is_none()
    })
    .await;

    // Unlimited again, it migrates live; its task logs the phases and the downtime.
    n1.fs_put("datacenter.cfg", "keyboard: en-us\n")
        .await
        .expect("no bwlimit");
    let fast = n1.guest_migrate(&loc, "n1", true).await.expect("migrate");
    let done = wait_task(&n1, &fast.node, &fast.upid, OP_TIMEOUT).await;
    let log = assert_ok_task(&n1, &done.upid, "qmigrate", "n3").await;
    for phase in [
        "starting live migration of VM 942 from n3 to n1",
        "migrating memory to n1",
        "handing the config over",
        "the guest runs on n1",
        "migration downtime: ",
    ] {
        assert!(
            log.iter().any(|l| l.contains(phase)),
            "no {phase:?} in the migration's log: {log:?}"
        );
    }
    assert!(done.result.is_some_and(|r| r.downtime_ms.is_some()));
    let loc = n1.locate(DEAF_VM).await.expect("locate");
    assert_eq!(loc.node, "n1");
    let stopped = n1
        .guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
    assert_ok_task(&n1, &stopped.upid.expect("upid"), "qmstop", "n1").await;
    // Stopping an ended task is refused.
    let e = n1.task_stop(&upid).await.expect_err("already ended");
    assert!(e.to_string().contains("already ended"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_tasks_survive_a_daemon_restart_and_an_interrupted_one_is_marked_error() {
    let appliance = appliance();
    let mut c = cluster("tasks_restart", 95, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let config =
        brigade_guest::vm_config::appliance_params(appliance.to_str().expect("utf-8"), 128, None);
    let created = n1
        .guest_create("n2", GuestKind::Qemu, RESTART_VM, &config, None, true)
        .await
        .expect("create and start");
    let create_upid = upid_of(&created);
    assert_ok_task(&n1, &create_upid, "qmcreate", "n2").await;
    let loc = n1.locate(RESTART_VM).await.expect("locate");
    // A shutdown that will not end (the appliance ignores ACPI) when n2's daemon dies.
    let shutdown = long_shutdown(c.client(0).expect("client"), loc.clone());
    let running = TaskQuery {
        running: true,
        ..TaskQuery::default()
    };
    let upid = running_task(&n1, "n2", "qmshutdown", &running).await;
    c.kill(1);
    let _ = shutdown.await;
    c.start(1).expect("start");
    c.wait_api(1).await.expect("api");
    let n2 = c.client(1).expect("client");
    let interrupted = task(&n2, &upid).await;
    assert_eq!(
        (interrupted.status, interrupted.error.as_deref()),
        (TaskState::Error, Some("unexpected daemon exit")),
        "{interrupted:?}"
    );
    let log = n2.task_log(&upid, 0, 100).await.expect("log");
    assert!(
        log.last()
            .is_some_and(|l| l.t.ends_with("TASK ERROR: unexpected daemon exit")),
        "{log:?}"
    );
    // The tasks that ended before the restart are still listed, as they ended.
    let listed = n2
        .task_list("n2", &TaskQuery::default())
        .await
        .expect("list");
    let created = listed
        .iter()
        .find(|t| t.upid == create_upid)
        .expect("the create task is still listed");
    assert_eq!(created.status, TaskState::Ok);
    assert!(listed
        .iter()
        .any(|t| t.kind == "clusterjoin" && t.status == TaskState::Ok));
    // And through n1, asked cluster-wide.
    eventually(OP_TIMEOUT, "n1 lists n2's tasks again", || async {
        n1.cluster_tasks(&TaskQuery::default())
            .await
            .is_ok_and(|all| all.tasks.iter().any(|t| t.upid == upid))
    })
    .await;
    n1.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
}
