//! A backup job scheduled every minute on a 3-node cluster runs once per minute point while
//! the node running its HA VM is power-cut in between: the next point runs exactly once, on
//! the node the VM was recovered to (the job's recorded runs, the snapshots on the shared
//! backup storage, the cluster log and the tasks say so). Bad job input changes nothing;
//! `job run` backs up now, outside the schedule.

use std::collections::BTreeSet;
use std::time::Duration;

use brigade_e2e::guests::{add_backup_storage, guest_pid, ha_vm_on_n2, vm_ticks};
use brigade_e2e::{brigade, brigade_json, brigade_ok, eventually};
use serde_json::Value;

const VMID: u32 = 100;
const JOB: &str = "every-minute";
/// HA timing as the ha tests: fence after 6 s without a renewal.
const DATACENTER: &str = "migration: secure\nha: fence_timeout=6\n";
const NODE_TIMEOUT_SECS: u32 = 3;
const BOOT: Duration = Duration::from_secs(40);
/// A minute point, the check interval, and a full read of the disk under TCG on a loaded
/// machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(200);
const FAILOVER: Duration = Duration::from_secs(90);

/// The job's recorded runs (`backup job show -o json`).
fn runs(cfg: &std::path::Path) -> Vec<Value> {
    brigade_json(cfg, &["backup", "job", "show", JOB])["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn ok_runs(cfg: &std::path::Path) -> Vec<Value> {
    runs(cfg)
        .into_iter()
        .filter(|r| r["ok"] == Value::Bool(true))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_minutely_job_runs_once_per_minute_and_moves_with_its_guest_after_a_power_cut() {
    let (mut c, n1) = ha_vm_on_n2(
        "backup-jobs",
        230,
        NODE_TIMEOUT_SECS,
        DATACENTER,
        VMID,
        BOOT,
    )
    .await;
    let cfg = c.nodes[0].config_path.clone();
    add_backup_storage(&c);

    // Bad input is refused naming the key, and writes nothing.
    for (args, needle) in [
        (
            vec![
                "--schedule",
                "someday",
                "--storage",
                "backups",
                "--vmid",
                "100",
            ],
            "schedule",
        ),
        (
            vec![
                "--schedule",
                "minutely",
                "--storage",
                "nope",
                "--vmid",
                "100",
            ],
            "storage",
        ),
        (
            vec![
                "--schedule",
                "minutely",
                "--storage",
                "shared",
                "--vmid",
                "100",
            ],
            "content backup",
        ),
        (
            vec![
                "--schedule",
                "minutely",
                "--storage",
                "backups",
                "--vmid",
                "7",
            ],
            "vmid",
        ),
        (
            vec![
                "--schedule",
                "minutely",
                "--storage",
                "backups",
                "--vmid",
                "100",
                "--prune-backups",
                "keep-daily=x",
            ],
            "prune-backups",
        ),
    ] {
        let mut all = vec!["backup", "job", "add", JOB];
        all.extend(args);
        let (ok, _, err) = brigade(&cfg, &all);
        assert!(!ok && err.contains(needle), "{all:?}: {err}");
    }
    assert_eq!(
        brigade_json(&cfg, &["backup", "job", "list"]),
        serde_json::json!([])
    );

    brigade_ok(
        &cfg,
        &[
            "backup",
            "job",
            "add",
            JOB,
            "--schedule",
            "minutely",
            "--storage",
            "backups",
            "--vmid",
            "100",
            "--prune-backups",
            "keep-last=20",
        ],
    );
    let list = brigade_json(&cfg, &["backup", "job", "list"]);
    assert_eq!(list[0]["id"], JOB, "{list}");
    assert!(
        list[0]["next-run"].as_i64().is_some(),
        "the next run is shown: {list}"
    );
    let text = n1
        .fs_read("jobs.cfg", false)
        .await
        .expect("jobs.cfg")
        .content
        .unwrap_or_default();
    assert!(
        text.contains("vzdump: every-minute\n\tschedule minutely\n\tstorage backups\n"),
        "Proxmox's format: {text}"
    );

    // The first run: on n2, which runs the VM.
    eventually(RUN_TIMEOUT, "the job's first run is recorded", || async {
        !ok_runs(&cfg).is_empty()
    })
    .await;
    let first = ok_runs(&cfg)[0].clone();
    assert_eq!(first["node"], "n2", "{first}");
    let first_point = first["point"].as_i64().expect("point");

    // Power cut of n2; HA recovers the VM on a survivor.
    c.power_cut(1);
    let elsewhere = || {
        (0..3)
            .filter(|i| *i != 1)
            .find(|i| guest_pid(&c, *i, VMID).is_some() && !vm_ticks(&c, *i, VMID).is_empty())
    };
    eventually(FAILOVER, "VM 100 runs on another node", || async {
        elsewhere().is_some()
    })
    .await;
    let to = c.nodes[elsewhere().expect("a node")].name.clone();
    eprintln!("VM {VMID} recovered on {to}");

    // The next run happens, once, on the node that now runs the VM.
    eventually(
        RUN_TIMEOUT,
        "a later run on the recovering node",
        || async {
            ok_runs(&cfg)
                .iter()
                .any(|r| r["point"].as_i64() > Some(first_point) && r["node"] == to.as_str())
        },
    )
    .await;
    let all = runs(&cfg);
    for r in &all {
        eprintln!(
            "run: point {} node {} ok {} {} s {}",
            r["point"], r["node"], r["ok"], r["duration_secs"], r["volid"]
        );
    }
    let points: Vec<i64> = all.iter().filter_map(|r| r["point"].as_i64()).collect();
    let unique: BTreeSet<i64> = points.iter().copied().collect();
    assert_eq!(unique.len(), points.len(), "a point ran twice: {all:?}");
    for r in all
        .iter()
        .filter(|r| r["point"].as_i64() > Some(first_point))
    {
        assert_eq!(
            r["node"],
            to.as_str(),
            "after the cut only {to} runs it: {r}"
        );
    }

    // The storage holds one backup per run, at most one per minute point.
    let snaps = brigade_json(
        &cfg,
        &["backup", "list", "--storage", "backups", "--vmid", "100"],
    );
    let snaps = snaps.as_array().expect("list");
    let volids: BTreeSet<&str> = snaps.iter().filter_map(|s| s["volid"].as_str()).collect();
    let oks = ok_runs(&cfg);
    assert_eq!(
        snaps.len(),
        oks.len(),
        "one backup per run: {snaps:?} {oks:?}"
    );
    for r in &oks {
        let v = r["volid"].as_str().expect("volid");
        assert!(volids.contains(v), "{v} is on the storage");
    }
    let minutes: BTreeSet<i64> = snaps
        .iter()
        .filter_map(|s| s["ctime"].as_i64())
        .map(|t| t / 60)
        .collect();
    assert_eq!(
        minutes.len(),
        snaps.len(),
        "two backups in one minute: {snaps:?}"
    );

    // Each run is a vzdump task on its node and a line in the cluster log.
    let log = n1
        .fs_read("cluster.log", false)
        .await
        .expect("log")
        .content
        .unwrap_or_default();
    assert!(
        log.contains(&format!("backup job {JOB}: VM 100 OK on n2")),
        "{log}"
    );
    assert!(
        log.contains(&format!("backup job {JOB}: VM 100 OK on {to}")),
        "{log}"
    );
    let q = brigade_client::tasks::TaskQuery {
        vmid: Some(VMID),
        ..Default::default()
    };
    let tasks = n1.task_list(&to, &q).await.expect("tasks");
    assert!(
        tasks
            .iter()
            .any(|t| t.kind == "vzdump" && t.status == brigade_api::tasks::TaskState::Ok),
        "{tasks:?}"
    );

    // Disabled, it has no next run; run now, it backs the guest up on its node anyway.
    brigade_ok(&cfg, &["backup", "job", "set", JOB, "--enabled", "0"]);
    let off = brigade_json(&cfg, &["backup", "job", "show", JOB]);
    assert_eq!(off["enabled"], false);
    assert!(off["next-run"].is_null(), "{off}");
    let started = brigade_json(&cfg, &["backup", "job", "run", JOB]);
    let started = started.as_array().expect("tasks");
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["node"], to.as_str());
    let upid = started[0]["upid"].as_str().expect("upid").to_string();
    eventually(RUN_TIMEOUT, "the run-now backup ends OK", || async {
        n1.task_status(&to, &upid)
            .await
            .is_ok_and(|t| t.status == brigade_api::tasks::TaskState::Ok)
    })
    .await;
    let after = brigade_json(
        &cfg,
        &["backup", "list", "--storage", "backups", "--vmid", "100"],
    );
    assert!(
        after.as_array().map(Vec::len) > Some(snaps.len()),
        "run now made a backup: {after}"
    );
    brigade_ok(&cfg, &["backup", "job", "remove", JOB]);
    assert_eq!(
        brigade_json(&cfg, &["backup", "job", "list"]),
        serde_json::json!([])
    );
}
