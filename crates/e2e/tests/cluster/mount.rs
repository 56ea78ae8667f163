//! The configuration tree mounted with FUSE on every node (like /etc/pve): edits with
//! ordinary tools show on other nodes, an isolated node's mount is read-only, virtual
//! files follow the cluster, bad operations fail with the right errno, and unmounts
//! (clean and after a crash) leave no mount behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use brigade_e2e::{cluster, eventually, HealOnDrop};
use brigade_node::config::RaftTuning;

fn mounted(p: &Path) -> bool {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p.to_str().unwrap_or_default()))
}

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn errno(r: std::io::Result<()>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tree_mounted_on_every_node() {
    let mut c = cluster("mount", 47, 3, RaftTuning::default()).await;
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = 3)
        .await
        .expect("node_timeout");
    let mnt: Vec<PathBuf> = (1..=3).map(|i| c.dir.join(format!("m{i}"))).collect();
    for (i, m) in mnt.iter().enumerate() {
        std::fs::create_dir_all(m).expect("mountpoint");
        c.client(i)
            .expect("client")
            .local_mount(m, false)
            .await
            .expect("mount");
        assert!(mounted(m), "{} not mounted", m.display());
    }
    let (m1, m2, m3) = (&mnt[0], &mnt[1], &mnt[2]);
    let conf = m1.join("nodes/n1/qemu-server/100.conf");

    // echo on n1, cat on n3.
    std::fs::write(&conf, "memory: 256\n").expect("echo");
    let on_n3 = m3.join("nodes/n1/qemu-server/100.conf");
    eventually(
        Duration::from_secs(5),
        "n3's mount shows n1's write",
        || async { std::fs::read_to_string(&on_n3).is_ok_and(|s| s == "memory: 256\n") },
    )
    .await;
    // sed -i (temp file + rename) and ls -l with sizes.
    let (ok, out) = sh(&format!("sed -i 's/256/512/' {}", conf.display()));
    assert!(ok, "sed -i: {out}");
    eventually(Duration::from_secs(5), "sed's edit on n3", || async {
        std::fs::read_to_string(&on_n3).is_ok_and(|s| s == "memory: 512\n")
    })
    .await;
    // An edit that makes the config invalid is refused (the rename onto it fails) and
    // changes nothing: the mount validates like the API.
    let (ok, out) = sh(&format!("sed -i 's/memory/bogus/' {}", conf.display()));
    assert!(!ok, "sed -i into an invalid config succeeded: {out}");
    assert_eq!(
        std::fs::read_to_string(&conf).expect("read"),
        "memory: 512\n"
    );
    for e in std::fs::read_dir(m1.join("nodes/n1/qemu-server"))
        .expect("ls")
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("sed") {
            std::fs::remove_file(e.path()).expect("remove sed's temp file");
        }
    }
    let (ok, out) = sh(&format!(
        "ls -l {}",
        m3.join("nodes/n1/qemu-server").display()
    ));
    assert!(
        ok && out.contains(" 12 ") && out.contains("100.conf"),
        "ls -l: {out}"
    );
    // mv moves the guest to n2, as in /etc/pve; .vmlist follows.
    let (ok, out) = sh(&format!(
        "mv {} {}",
        conf.display(),
        m1.join("nodes/n2/qemu-server/100.conf").display()
    ));
    assert!(ok, "mv: {out}");
    eventually(
        Duration::from_secs(5),
        ".vmlist shows VM 100 on n2",
        || async {
            std::fs::read_to_string(m3.join(".vmlist"))
                .is_ok_and(|s| s.contains("\"node\": \"n2\""))
        },
    )
    .await;
    assert!(!on_n3.exists(), "the old path is gone");
    // The qemu-server link points to this node's directory.
    assert_eq!(
        std::fs::read_link(m2.join("qemu-server")).expect("link"),
        PathBuf::from("nodes/n2/qemu-server")
    );
    // n2's replica applies the move in its own time (the wait above watched n3's).
    eventually(
        Duration::from_secs(5),
        "n2's qemu-server link shows VM 100",
        || async { m2.join("qemu-server/100.conf").exists() },
    )
    .await;

    // Bad operations: right errno, nothing changed.
    let dc = m1.join("datacenter.cfg");
    let before = std::fs::read(&dc).expect("read");
    assert_eq!(
        errno(std::fs::hard_link(
            m1.join("nodes/n2/qemu-server/100.conf"),
            m1.join("x")
        )),
        Some(libc::EPERM)
    );
    assert_eq!(
        errno(std::fs::write(m1.join(".members"), "x")),
        Some(libc::EACCES)
    );
    assert_eq!(
        errno(std::fs::write(&dc, vec![b'#'; 2 << 20])),
        Some(libc::EFBIG)
    );
    assert_eq!(
        std::fs::read(&dc).expect("read"),
        before,
        "a failed write changed the file"
    );
    assert!(!m1.join("x").exists());
    // mkdir, rmdir of a non-empty directory, unlink of a directory, then clean up.
    let d = m1.join("scratch");
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::write(d.join("f"), "x").expect("write");
    assert_eq!(errno(std::fs::remove_dir(&d)), Some(libc::ENOTEMPTY));
    assert_eq!(errno(std::fs::remove_file(&d)), Some(libc::EISDIR));
    std::fs::remove_file(d.join("f")).expect("unlink");
    std::fs::remove_dir(&d).expect("rmdir");
    // O_EXCL on an existing file.
    let excl = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&dc);
    assert_eq!(
        excl.err().and_then(|e| e.raw_os_error()),
        Some(libc::EEXIST)
    );
    // priv/ is root's only; the rest is readable by anyone (allow_other).
    let nobody = |cmd: &str| {
        sh(&format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups {cmd}"
        ))
    };
    let (ok, out) = nobody(&format!("cat {}", m1.join("priv/authkey").display()));
    assert!(
        !ok && out.contains("Permission denied"),
        "nobody read priv/: {out}"
    );
    let (ok, out) = nobody(&format!("cat {}", m1.join("cluster.conf").display()));
    assert!(ok, "nobody cannot read cluster.conf: {out}");

    // Small-file write latency: through the mount and through the API.
    let api = c.client(0).expect("client");
    let (mut fuse_ms, mut api_ms) = (Vec::new(), Vec::new());
    for i in 0..100 {
        let t = Instant::now();
        std::fs::write(m1.join(format!("bench-{}", i % 10)), format!("value {i}\n"))
            .expect("write");
        fuse_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        api.fs_put(&format!("bench-api-{}", i % 10), &format!("value {i}\n"))
            .await
            .expect("put");
        api_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    eprintln!(
        "small-file write latency (debug build), 100 writes: mount p50 {:.2} ms, API p50 {:.2} ms",
        p50(fuse_ms),
        p50(api_ms)
    );

    // An isolated node: writes fail with EROFS, reads work.
    let _heal = HealOnDrop("mount-isolate");
    let others = [c.nodes[0].addr, c.nodes[1].addr];
    brigade_localcluster::firewall::partition(&[c.nodes[2].addr], &others, "mount-isolate")
        .expect("partition");
    // A write already forwarded to the leader when the link broke ends only with the
    // write timeout (its outcome unknown: EIO); from then on writes fail at once.
    eventually(
        Duration::from_secs(25),
        "n3's mount is read-only",
        || async {
            let r = std::fs::write(m3.join("nodes/n3/t.conf"), "x");
            eprintln!("write on n3: {r:?}");
            errno(r) == Some(libc::EROFS)
        },
    )
    .await;
    assert!(
        std::fs::read_to_string(m3.join("cluster.conf")).is_ok(),
        "reads work"
    );
    brigade_localcluster::firewall::heal("mount-isolate").expect("heal");
    drop(_heal);

    // .members follows a node's death.
    c.kill(1);
    eventually(
        Duration::from_secs(15),
        ".members shows n2 offline",
        || async {
            std::fs::read_to_string(m1.join(".members"))
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .is_some_and(|v| {
                    v["nodelist"].as_array().is_some_and(|l| {
                        l.iter().any(|n| n["name"] == "n2" && n["online"] == false)
                    })
                })
        },
    )
    .await;

    // Clean unmount, and a crashed daemon's mount disappears by itself.
    c.client(2)
        .expect("client")
        .local_mount(m3, true)
        .await
        .expect("unmount");
    assert!(!mounted(m3), "m3 still mounted");
    let pid = c.nodes[0].pid().expect("n1 runs") as i32;
    brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL).expect("kill");
    eventually(
        Duration::from_secs(10),
        "n1's mount goes away after its crash",
        || async { !mounted(m1) },
    )
    .await;
}
