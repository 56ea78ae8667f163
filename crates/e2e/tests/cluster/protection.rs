//! Protection from mistakes (issue 20), through the real CLI on a 3-node cluster, as the
//! README's "Protection from mistakes" section shows it: a protected VM's destroy and
//! disk removal are refused on every node (also through `fs rm` of its config) and
//! change nothing; `vm destroy` wants `--yes` without a terminal; after clearing the
//! flag the destroy works, and `fs history` / `fs restore` bring the config back
//! (every node lists the VM again), and an overwritten storage.cfg too. Bad input
//! (unknown path, unknown or current version, a caller without the permission) is
//! refused and changes nothing. No QEMU boots: the VM is a config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use brigade_client::Client;
use brigade_e2e::readme::Coverage;
use brigade_e2e::{brigade, cluster, eventually};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use serde_json::Value;

const SUBNET: u8 = 108;
/// How long a change takes to reach every replica.
const REPLICATE: Duration = Duration::from_secs(20);
const CONFIG: &str = "nodes/n1/qemu-server/100.conf";

use brigade_e2e::{brigade_json as json, brigade_ok as ok};

fn refused(cfg: &Path, args: &[&str], needles: &[&str]) -> String {
    let (success, out, err) = brigade(cfg, args);
    assert!(!success, "brigade {args:?} should have failed: {out}");
    for n in needles {
        assert!(
            err.contains(n),
            "brigade {args:?}: expected {n:?} in: {err}"
        );
    }
    eprintln!("refused as expected: {}", err.trim());
    err
}

/// The VMIDs `vm list` shows on the node of `cfg`.
fn vmids(cfg: &Path) -> Vec<u64> {
    let (success, out, _) = brigade(cfg, &["vm", "list", "-o", "json"]);
    if !success {
        return Vec::new();
    }
    let rows: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    rows.as_array()
        .map(|a| a.iter().filter_map(|r| r["vmid"].as_u64()).collect())
        .unwrap_or_default()
}

/// A file's content and version on the node of `cfg` (None: no such file).
fn file(cfg: &Path, path: &str) -> Option<(String, u64)> {
    let (success, out, _) = brigade(cfg, &["fs", "cat", path, "-o", "json"]);
    let f: Value = serde_json::from_str(&out).ok().filter(|_| success)?;
    Some((f["content"].as_str()?.to_string(), f["version"].as_u64()?))
}

async fn same_everywhere(cfgs: &[PathBuf], path: &str, want: Option<&str>) {
    for cfg in cfgs {
        eventually(
            REPLICATE,
            &format!("{path} on {}", cfg.display()),
            || async { file(cfg, path).map(|(t, _)| t).as_deref() == want },
        )
        .await;
    }
}

fn token_client(c: &ProcCluster, i: usize, token: &str) -> Client {
    c.token_client(i, token).expect("client")
}

#[tokio::test(flavor = "multi_thread")]
async fn protection_history_and_restore() {
    let c = cluster("protection", SUBNET, 3, RaftTuning::default()).await;
    let cfgs: Vec<PathBuf> = c.nodes.iter().map(|n| n.config_path.clone()).collect();
    let n1 = &cfgs[0];
    let mut cov = Coverage::new("Protection from mistakes");

    // A VM that is only a config, with a kept disk line to (not) remove.
    ok(n1, &["vm", "create", "100", "--memory", "64"]);
    ok(
        n1,
        &[
            "vm",
            "set",
            "100",
            "-O",
            "unused0=local:100/vm-100-disk-0.qcow2",
        ],
    );
    refused(
        n1,
        &["vm", "set", "100", "--protection", "yes"],
        &["protection", "not 0 or 1"],
    );
    ok(n1, &["vm", "set", "100", "--protection", "1"]);
    cov.ran("brigade vm set 100 --protection 1");
    let protected = file(n1, CONFIG).expect("config");
    assert!(protected.0.contains("protection: 1"), "{}", protected.0);
    same_everywhere(&cfgs, CONFIG, Some(&protected.0)).await;

    // Refused on every node (n2 and n3 forward to n1), and through the raw tree.
    for cfg in &cfgs {
        refused(
            cfg,
            &["vm", "destroy", "100", "--yes"],
            &["protection: 1", "brigade vm set 100 --protection 0"],
        );
        refused(
            cfg,
            &["vm", "set", "100", "--delete", "unused0"],
            &["protected", "remove its disk unused0"],
        );
        refused(cfg, &["fs", "rm", CONFIG], &["protection: 1"]);
        refused(cfg, &["fs", "rm", "-r", "nodes/n1"], &["protection: 1"]);
        refused(
            cfg,
            &["fs", "mv", CONFIG, "attic/100.conf"],
            &["protection: 1"],
        );
    }
    cov.ran("brigade vm destroy 100 --yes");
    // Without a terminal and without --yes, the CLI asks for --yes.
    refused(n1, &["vm", "destroy", "100"], &["add --yes"]);
    assert_eq!(
        file(n1, CONFIG),
        Some(protected.clone()),
        "a refusal changed it"
    );
    for cfg in &cfgs {
        assert!(
            vmids(cfg).contains(&100),
            "VM 100 gone on {}",
            cfg.display()
        );
    }

    // Cleared, the destroy works (asked on n2: forwarded to n1).
    ok(n1, &["vm", "set", "100", "--protection", "0"]);
    cov.ran("brigade vm set 100 --protection 0");
    let last = file(n1, CONFIG).expect("config").0;
    let out = ok(&cfgs[1], &["vm", "destroy", "100", "--yes"]);
    assert!(out.contains("VM 100 destroyed"), "{out}");
    for cfg in &cfgs {
        eventually(REPLICATE, "VM 100 gone everywhere", || async {
            !vmids(cfg).contains(&100)
        })
        .await;
    }

    // Its history on n3: the deleted file's last content first, then the protected one.
    let h = json(&cfgs[2], &["fs", "history", CONFIG]);
    cov.ran("brigade fs history nodes/n1/qemu-server/100.conf");
    assert_eq!(h["exists"], false, "{h}");
    let versions = h["versions"].as_array().expect("versions");
    assert!(versions.len() >= 4, "create, unused0, protect, clear: {h}");
    assert_eq!(versions[0]["index"], 0);
    assert_eq!(versions[0]["deleted"], true, "{h}");
    assert_eq!(versions[1]["deleted"], false, "{h}");
    assert_eq!(versions[1]["version"].as_u64(), Some(protected.1), "{h}");
    let text = ok(&cfgs[2], &["fs", "history", CONFIG]);
    assert!(
        text.contains("deleted") && text.contains("does not exist now"),
        "{text}"
    );
    let deleted_version = versions[0]["version"].as_u64().expect("version");
    let v = deleted_version.to_string();
    let r = json(&cfgs[2], &["fs", "restore", CONFIG, "--version", &v]);
    cov.ran("brigade fs restore nodes/n1/qemu-server/100.conf --version V");
    assert_eq!(r["restored"].as_u64(), Some(deleted_version), "{r}");
    same_everywhere(&cfgs, CONFIG, Some(&last)).await;
    for cfg in &cfgs {
        eventually(REPLICATE, "VM 100 listed again", || async {
            vmids(cfg).contains(&100)
        })
        .await;
    }

    // An overwritten storage.cfg comes back the same way (asked on n2).
    let (original, _) = file(n1, "storage.cfg").expect("storage.cfg");
    let changed = format!("{original}\ndir: junk\n\tpath /tmp/brigade-junk\n\tcontent images\n");
    ok(&cfgs[1], &["fs", "write", "storage.cfg", &changed]);
    same_everywhere(&cfgs, "storage.cfg", Some(&changed)).await;
    let h = json(&cfgs[1], &["fs", "history", "storage.cfg"]);
    let versions = h["versions"].as_array().expect("versions");
    assert_eq!(versions[0]["current"], true, "{h}");
    let previous = versions[1]["version"].as_u64().expect("previous");
    let out = ok(
        &cfgs[1],
        &[
            "fs",
            "restore",
            "storage.cfg",
            "--version",
            &previous.to_string(),
        ],
    );
    assert!(
        out.contains(&format!("restored version {previous}")),
        "{out}"
    );
    same_everywhere(&cfgs, "storage.cfg", Some(&original)).await;

    // Bad input: refused, nothing changes.
    let before = file(n1, "storage.cfg").expect("storage.cfg");
    refused(n1, &["fs", "history", "no/such/file"], &["no such file"]);
    refused(
        n1,
        &["fs", "restore", "no/such/file", "--version", "1"],
        &["no such file"],
    );
    refused(
        n1,
        &["fs", "restore", "storage.cfg", "--version", "999999999"],
        &[
            "no version 999999999 is kept",
            "brigade fs history storage.cfg",
        ],
    );
    refused(
        n1,
        &[
            "fs",
            "restore",
            "storage.cfg",
            "--version",
            &before.1.to_string(),
        ],
        &["current content"],
    );
    refused(
        n1,
        &["fs", "restore", "storage.cfg", "--version", "x"],
        &["invalid"],
    );
    // A caller without the permission to write the tree.
    ok(n1, &["user", "add", "bob@pve"]);
    let t = json(n1, &["token", "add", "bob@pve", "t", "--privsep", "0"]);
    let token = format!("bob@pve!t={}", t["value"].as_str().expect("secret"));
    let bob = token_client(&c, 0, &token);
    let e = bob
        .fs_restore("storage.cfg", previous)
        .await
        .expect_err("bob may not restore");
    assert_eq!(e.status(), Some(403), "{e}");
    let e = bob
        .fs_history("storage.cfg")
        .await
        .expect_err("nor read it");
    assert_eq!(e.status(), Some(403), "{e}");
    assert_eq!(
        file(n1, "storage.cfg"),
        Some(before),
        "bad input changed storage.cfg"
    );

    cov.assert_complete();
}
