//! The Debian package: built by scripts/build-deb from this build's (debug) binary,
//! installed with `dpkg -i` into a fresh Debian 12 root (mmdebstrap, essential variant),
//! checked file by file, `brigade node init` run there, then removed (state kept),
//! purged (state kept unless `BRIGADE_PURGE_STATE=yes`) and purged with the flag (gone).
//! Needs root, mmdebstrap and Debian's mirror (or the root it cached in /var/cache/brigade).

// Tests: a failed expectation is a failed test, with its message.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use brigade_node::config::NodeConfig;

/// A Debian 12 root made once by mmdebstrap; each run works in a fresh copy of it.
const ROOT_CACHE: &str = "/var/cache/brigade/debian12-essential";
/// The address `node init` is given: on loopback, so this machine has it.
const INIT_ADDRESS: &str = "127.0.84.1";
/// Never assigned to any machine (TEST-NET-1, RFC 5737).
const FOREIGN_ADDRESS: &str = "192.0.2.84";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a command; panics with its output unless it succeeds. Returns stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns stderr.
fn run_failing(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(!out.status.success(), "{cmd:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn chroot(root: &Path) -> Command {
    let mut c = Command::new("chroot");
    c.arg(root).env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    c
}

/// The unpacked fresh root, removed when dropped.
struct Root(PathBuf);

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_root() -> Root {
    let cache = Path::new(ROOT_CACHE);
    if !cache.is_dir() {
        let t = Instant::now();
        let part = cache.with_extension("part");
        let _ = std::fs::remove_dir_all(&part);
        run(Command::new("mmdebstrap")
            .args(["--variant=essential", "--quiet", "bookworm"])
            .arg(&part));
        std::fs::rename(&part, cache).expect("cache the root");
        eprintln!("mmdebstrap --variant=essential bookworm: {:?}", t.elapsed());
    }
    let dir = std::env::temp_dir().join(format!("brigade-deb-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    run(Command::new("cp").arg("-a").arg(cache).arg(&dir));
    Root(dir)
}

fn assert_file(root: &Path, path: &str) -> PathBuf {
    let p = root.join(path.trim_start_matches('/'));
    assert!(p.is_file(), "{path} is not installed");
    p
}

fn gunzip(p: &Path) -> String {
    run(Command::new("gzip").arg("-dc").arg(p))
}

#[test]
fn package_installs_inits_removes_and_purges_in_a_fresh_debian_root() {
    let started = Instant::now();
    let out = std::env::temp_dir().join(format!("brigade-deb-{}", std::process::id()));
    let deb = run(Command::new(repo().join("scripts/build-deb"))
        .args(["--profile", "debug", "--compress", "none", "--out"])
        .arg(&out)
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_brigade")));
    let deb = PathBuf::from(deb.trim());
    eprintln!("build-deb: {:?}", started.elapsed());
    let info = run(Command::new("dpkg-deb").arg("--field").arg(&deb));
    for dep in [
        "qemu-system-x86",
        "qemu-utils",
        "fuse3",
        "iptables",
        "iproute2",
        "dnsmasq-base",
    ] {
        assert!(info.contains(dep), "Depends lacks {dep}: {info}");
    }
    // Every dependency exists in this Debian release (apt resolves them; nothing installed).
    let sim = run(Command::new("apt-get")
        .args(["install", "--simulate", "--no-install-recommends"])
        .arg(&deb));
    assert!(sim.contains("Inst brigade"), "{sim}");

    let t = Instant::now();
    let root = fresh_root();
    eprintln!("fresh Debian 12 root: {:?}", t.elapsed());
    let r = &root.0;
    std::fs::copy(&deb, r.join("tmp/brigade.deb")).expect("copy the package");
    // The root has none of the depends (QEMU alone is hundreds of MB): --force-depends.
    run(chroot(r).args(["dpkg", "-i", "--force-depends", "/tmp/brigade.deb"]));
    let status = run(chroot(r).args(["dpkg-query", "-W", "-f=${Status}", "brigade"]));
    assert_eq!(status, "install ok installed");

    let (bin, unit, qunit) = check_files(r);
    check_units(r, &out, &bin, &unit, &qunit);
    let written = check_init(r);
    check_remove_and_purge(r, &unit, &written);
    let _ = std::fs::remove_dir_all(&out);
    eprintln!("whole package test: {:?}", started.elapsed());
}

/// The installed files; returns the binary and the two units.
fn check_files(r: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let bin = assert_file(r, "/usr/bin/brigade");
    assert_file(r, "/etc/brigade/node.toml.example");
    assert!(
        r.join("etc/brigade/tree").is_dir(),
        "the mount point is missing"
    );
    assert!(
        r.join("var/lib/brigade").is_dir(),
        "postinst made no state directory"
    );
    let unit = assert_file(r, "/lib/systemd/system/brigade-node.service");
    let qunit = assert_file(r, "/lib/systemd/system/brigade-qdevice@.service");
    let unit_text = std::fs::read_to_string(&unit).expect("unit");
    for line in [
        "After=network-online.target",
        "Restart=on-failure",
        "ExecStart=/usr/bin/brigade node run --config /etc/brigade/node.toml",
        "KillMode=process",
    ] {
        assert!(unit_text.lines().any(|l| l == line), "unit lacks {line}");
    }
    let tmpfiles = assert_file(r, "/usr/lib/tmpfiles.d/brigade.conf");
    assert!(std::fs::read_to_string(tmpfiles)
        .expect("tmpfiles")
        .contains("d /run/brigade 0755"));
    let bash = assert_file(r, "/usr/share/bash-completion/completions/brigade");
    let zsh = assert_file(r, "/usr/share/zsh/vendor-completions/_brigade");
    let fish = assert_file(r, "/usr/share/fish/vendor_completions.d/brigade.fish");
    assert!(std::fs::read_to_string(zsh)
        .expect("zsh")
        .starts_with("#compdef brigade"));
    assert!(std::fs::read_to_string(fish)
        .expect("fish")
        .contains("complete -c brigade"));
    // The bash completion loads and completes `brigade node i` to `init`.
    let words = run(Command::new("bash").arg("-c").arg(format!(
        "source {}; COMP_WORDS=(brigade node i); COMP_CWORD=2; COMP_LINE='brigade node i'; COMP_POINT=14; _brigade brigade i node; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bash.display()
    )));
    assert!(
        words.lines().any(|w| w == "init"),
        "bash completion: {words:?}"
    );
    for page in [
        "brigade",
        "brigade-node",
        "brigade-node-init",
        "brigade-cluster-join",
        "brigade-completions",
    ] {
        let p = assert_file(r, &format!("/usr/share/man/man1/{page}.1.gz"));
        assert!(gunzip(&p).contains(".TH"), "{page}.1 is no man page");
    }
    let listed = run(chroot(r).args(["dpkg", "-L", "brigade"]));
    assert!(listed.lines().any(|l| l == "/usr/bin/brigade"), "{listed}");

    (bin, unit, qunit)
}

/// `systemd-analyze verify` on the installed units.
fn check_units(r: &Path, out: &Path, bin: &Path, unit: &Path, qunit: &Path) {
    // The units pass systemd-analyze verify against the installed binary.
    let verify_dir = out.join("units");
    std::fs::create_dir_all(&verify_dir).expect("dir");
    for u in [unit, qunit] {
        let text = std::fs::read_to_string(u)
            .expect("unit")
            .replace("/usr/bin/brigade", &bin.to_string_lossy());
        let name = u.file_name().expect("name");
        std::fs::write(verify_dir.join(name), text).expect("write unit");
    }
    std::fs::copy(
        verify_dir.join("brigade-qdevice@.service"),
        verify_dir.join("brigade-qdevice@10.0.0.9.service"),
    )
    .expect("instance");
    // It also checks that each Documentation= man page exists: the root's.
    let verify = Command::new("systemd-analyze")
        .env("MANPATH", r.join("usr/share/man"))
        .arg("verify")
        .arg(verify_dir.join("brigade-node.service"))
        .arg(verify_dir.join("brigade-qdevice@10.0.0.9.service"))
        .output()
        .expect("systemd-analyze");
    let verify_err = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !verify_err.contains("brigade"),
        "systemd-analyze verify: {verify_err}"
    );
}

/// `brigade node init` in the root; returns the node.toml it wrote.
fn check_init(r: &Path) -> PathBuf {
    // `brigade node init` in the root: refusals first, each changing nothing.
    let init = |extra: &[&str]| {
        let mut c = chroot(r);
        c.args([
            "brigade",
            "node",
            "init",
            "--non-interactive",
            "--name",
            "pve1",
        ])
        .args(extra);
        c
    };
    let e = run_failing(&mut init(&["--address", FOREIGN_ADDRESS]));
    assert!(e.contains("is not an address of this machine"), "{e}");
    assert!(!r.join("etc/brigade/node.toml").exists());
    let json = run(&mut init(&["--address", INIT_ADDRESS, "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["config"], "/etc/brigade/node.toml");
    assert_eq!(v["address"], INIT_ADDRESS);
    assert!(
        v["next"].as_array().expect("next").iter().any(|c| c
            .as_str()
            .is_some_and(|c| c.starts_with("brigade cluster create"))),
        "{json}"
    );
    let written = r.join("etc/brigade/node.toml");
    let cfg = NodeConfig::load(&written).expect("the daemon's loader accepts node.toml");
    assert_eq!(cfg.name.as_str(), "pve1");
    assert_eq!(cfg.address.to_string(), INIT_ADDRESS);
    let e = run_failing(&mut init(&["--address", INIT_ADDRESS]));
    assert!(e.contains("--force"), "{e}");
    let text = run(&mut init(&[
        "--address",
        INIT_ADDRESS,
        "--state-dir",
        "/var/lib/brigade/pve1",
        "--force",
    ]));
    assert!(text.contains("brigade cluster join"), "{text}");
    assert_eq!(
        NodeConfig::load(&written).expect("loads").state_dir(),
        PathBuf::from("/var/lib/brigade/pve1")
    );

    written
}

/// Remove keeps the state and node.toml; purge keeps them without the flag; with it they go.
fn check_remove_and_purge(r: &Path, unit: &Path, written: &Path) {
    // A node's state (what a cluster member has in its state directory).
    let state = r.join("var/lib/brigade/pve1");
    std::fs::create_dir_all(state.join("priv")).expect("state");
    std::fs::write(state.join("membership.json"), "{}").expect("state file");

    run(chroot(r).args(["dpkg", "-r", "brigade"]));
    assert!(!r.join("usr/bin/brigade").exists(), "the binary stayed");
    assert!(!unit.exists(), "the unit stayed");
    assert!(
        state.join("membership.json").is_file(),
        "remove touched the state"
    );
    assert!(written.is_file(), "remove touched node.toml");
    assert!(
        r.join("etc/brigade/node.toml.example").is_file(),
        "remove deleted a conffile"
    );

    let said = run(chroot(r).args(["dpkg", "--purge", "brigade"]));
    assert!(
        state.join("membership.json").is_file(),
        "purge without BRIGADE_PURGE_STATE deleted the state"
    );
    assert!(written.is_file());
    assert!(
        !r.join("etc/brigade/node.toml.example").exists(),
        "purge kept the conffile"
    );
    assert!(said.contains("BRIGADE_PURGE_STATE=yes"), "{said}");

    run(chroot(r).args(["dpkg", "-i", "--force-depends", "/tmp/brigade.deb"]));
    assert!(
        state.join("membership.json").is_file(),
        "reinstalling touched the state"
    );
    run(chroot(r)
        .env("BRIGADE_PURGE_STATE", "yes")
        .args(["dpkg", "--purge", "brigade"]));
    assert!(
        !r.join("var/lib/brigade").exists(),
        "purge with the flag kept the state"
    );
    assert!(!written.exists(), "purge with the flag kept node.toml");
}
