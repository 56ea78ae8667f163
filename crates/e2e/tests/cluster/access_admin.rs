//! Access administration on a real 3-node cluster, through the CLI and the API as root and
//! through API tokens of other users: users, groups, pools, ACLs, tokens (the secret shown
//! once, and authenticating), lists filtered to what the caller may see, the grant rule
//! (nobody grants what they do not hold), privilege-separated tokens, passwords in
//! priv/shadow.cfg, TOTP and recovery codes, a destroyed guest leaving the ACLs and pools,
//! and concurrent edits of user.cfg from two nodes that both land.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use brigade_access::shadow::ShadowCfg;
use brigade_access::tfa::TfaCfg;
use brigade_api::access::{AclUpdate, GroupRequest, PermissionsMap, UserEntry};
use brigade_api::guests::GuestLocation;
use brigade_client::{Client, ClientError};
use brigade_core::layout::GuestKind;
use brigade_e2e::{bin, brigade, cluster};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

/// Groups each of two nodes creates at the same time.
const CONCURRENT_GROUPS: usize = 8;
/// A stopped node is reported dead within the node timeout; the line follows at once.
const FOLLOW_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(40);

use brigade_e2e::{brigade_json as json, brigade_ok as ok};

/// `brigade ARGS` must fail with `needle` in its error.
fn refused(cfg: &Path, args: &[&str], needle: &str) {
    let (success, stdout, stderr) = brigade(cfg, args);
    assert!(!success, "brigade {args:?} should have failed: {stdout}");
    assert!(
        stderr.contains(needle),
        "brigade {args:?}: expected {needle:?} in: {stderr}"
    );
    eprintln!("refused as expected: {}", stderr.trim());
}

/// `brigade --config CFG ARGS` with `input` on standard input.
fn with_stdin(cfg: &Path, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run brigade");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("brigade ends");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn token_client(c: &ProcCluster, i: usize, token: &str) -> Client {
    c.token_client(i, token).expect("client")
}

async fn file(root: &Client, path: &str) -> (u64, String) {
    match root.fs_read(path, true).await {
        Ok(f) => (f.version, f.content.unwrap_or_default()),
        Err(e) if e.status() == Some(404) => (0, String::new()),
        Err(e) => panic!("read {path}: {e}"),
    }
}

fn status<T: std::fmt::Debug>(r: Result<T, ClientError>, want: u16, needle: &str) {
    match r {
        Ok(v) => panic!("expected {want} ({needle}), got {v:?}"),
        Err(e) => {
            assert_eq!(e.status(), Some(want), "{e}");
            assert!(e.to_string().contains(needle), "expected {needle:?} in {e}");
            eprintln!("refused as expected: {e}");
        }
    }
}

fn privs_on<'a>(map: &'a PermissionsMap, path: &str) -> Vec<&'a str> {
    map.get(path)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn ids(users: &[UserEntry]) -> Vec<&str> {
    users.iter().map(|u| u.userid.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn administration_through_cli_api_and_tokens() {
    let c = cluster("access-admin", 92, 3, RaftTuning::default()).await;
    let cfg = c.nodes[0].config_path.clone();
    let root = c.client(0).expect("root client");

    // --- users, a group, guests, a pool, ACLs (CLI, as root) ---
    ok(&cfg, &["group", "add", "devs", "--comment", "Developers"]);
    let (done, out) = with_stdin(
        &cfg,
        &[
            "user",
            "add",
            "alice@pve",
            "--password-stdin",
            "--groups",
            "devs",
        ],
        "first-password\n",
    );
    assert!(done, "user add alice: {out}");
    ok(
        &cfg,
        &["user", "add", "bob@pve", "--email", "bob@example.com"],
    );
    ok(&cfg, &["user", "add", "carol@pam"]);
    for vmid in ["100", "101"] {
        ok(&cfg, &["vm", "create", vmid, "--memory", "64"]);
    }
    ok(
        &cfg,
        &["pool", "add", "A", "--vms", "100", "--comment", "Team A"],
    );
    ok(
        &cfg,
        &[
            "acl",
            "set",
            "/pool/A",
            "--roles",
            "PVEVMAdmin",
            "--users",
            "alice@pve",
        ],
    );
    ok(
        &cfg,
        &[
            "acl",
            "set",
            "/vms/101",
            "--roles",
            "PVEVMUser",
            "--users",
            "bob@pve",
        ],
    );
    ok(
        &cfg,
        &[
            "acl",
            "set",
            "/vms/100",
            "--roles",
            "PVEAuditor",
            "--users",
            "bob@pve",
        ],
    );
    let users = json(&cfg, &["user", "list"]);
    let alice = users
        .as_array()
        .and_then(|a| a.iter().find(|u| u["userid"] == "alice@pve"))
        .expect("alice listed");
    assert_eq!(alice["groups"], serde_json::json!(["devs"]));
    let pools = json(&cfg, &["pool", "list"]);
    assert_eq!(pools[0]["vms"], serde_json::json!([100]), "{pools}");

    // Bad input: a clear error, user.cfg unchanged.
    let before = file(&root, "user.cfg").await;
    refused(&cfg, &["user", "add", "no realm"], "user id");
    refused(&cfg, &["user", "add", "dave@ldap"], "realm");
    let (done, out) = with_stdin(
        &cfg,
        &["user", "add", "dave@pam", "--password-stdin"],
        "dave-password\n",
    );
    assert!(
        !done && out.contains("pve realm"),
        "a password for a pam user: {out}"
    );
    refused(
        &cfg,
        &[
            "acl",
            "set",
            "/vms/100",
            "--roles",
            "NoSuchRole",
            "--users",
            "bob@pve",
        ],
        "NoSuchRole",
    );
    refused(
        &cfg,
        &[
            "acl",
            "set",
            "/nowhere/1",
            "--roles",
            "PVEAuditor",
            "--users",
            "bob@pve",
        ],
        "ACL path",
    );
    refused(
        &cfg,
        &[
            "acl",
            "set",
            "/vms/100",
            "--roles",
            "PVEAuditor",
            "--users",
            "nobody@pve",
        ],
        "nobody@pve does not exist",
    );
    refused(
        &cfg,
        &["pool", "add", "B", "--vms", "999"],
        "guest 999 does not exist",
    );
    refused(&cfg, &["token", "add", "nobody@pve", "t"], "does not exist");
    refused(
        &cfg,
        &["role", "modify", "PVEVMAdmin", "--privs", "VM.Audit"],
        "built in",
    );
    assert_eq!(
        file(&root, "user.cfg").await,
        before,
        "bad input changed user.cfg"
    );

    // --- tokens: the secret is shown once and authenticates ---
    let ci = json(
        &cfg,
        &[
            "token",
            "add",
            "alice@pve",
            "ci",
            "--privsep",
            "0",
            "--comment",
            "CI",
        ],
    );
    assert_eq!(ci["full-tokenid"], "alice@pve!ci");
    let secret = ci["value"].as_str().expect("secret").to_string();
    let sep = json(
        &cfg,
        &["token", "add", "alice@pve", "sep", "--expire", "2099-01-01"],
    );
    assert_eq!(sep["info"]["privsep"], true);
    let sep_secret = sep["value"].as_str().expect("secret").to_string();
    let listed = ok(&cfg, &["token", "list", "alice@pve", "-o", "json"]);
    assert!(
        !listed.contains(&secret),
        "a token list shows a secret: {listed}"
    );
    let tokens_cfg = file(&root, "priv/token.cfg").await.1;
    assert!(
        !tokens_cfg.contains(&secret),
        "token.cfg keeps the secret in clear"
    );
    let alice_ci = token_client(&c, 1, &format!("alice@pve!ci={secret}"));
    let alice_sep = token_client(&c, 2, &format!("alice@pve!sep={sep_secret}"));
    let wrong = token_client(&c, 1, "alice@pve!ci=not-the-secret");
    status(wrong.users().await, 401, "invalid API token");

    // --- lists filtered to what the token may see ---
    let seen = alice_ci.users().await.expect("users as alice's token");
    assert_eq!(ids(&seen), ["alice@pve"], "alice sees only herself");
    // Another user answers like one that does not exist.
    status(
        alice_ci.user("bob@pve").await,
        404,
        "user bob@pve does not exist",
    );
    let acl = alice_ci.acl().await.expect("acl as alice's token");
    assert!(
        acl.iter().all(|e| e.path == "/vms/100"),
        "alice sees only the ACLs of her pool's guest: {acl:?}"
    );
    assert!(acl.iter().any(|e| e.ugid == "bob@pve"), "{acl:?}");
    let mine = alice_ci.permissions(None, None).await.expect("permissions");
    assert!(
        privs_on(&mine, "/vms/100").contains(&"VM.Allocate"),
        "{mine:?}"
    );
    assert!(privs_on(&mine, "/vms/101").is_empty(), "{mine:?}");
    assert!(privs_on(&mine, "/").is_empty(), "{mine:?}");
    status(
        alice_ci.permissions(Some("root@pam"), None).await,
        403,
        "Sys.Audit",
    );

    // --- nobody grants what they do not hold ---
    let before = file(&root, "user.cfg").await;
    let grant = |roles: &str, propagate| AclUpdate {
        path: "/vms/100".into(),
        roles: roles.into(),
        users: Some("bob@pve".into()),
        propagate: Some(propagate),
        ..AclUpdate::default()
    };
    status(
        alice_ci.acl_update(&grant("Administrator", false)).await,
        403,
        "cannot grant or remove role Administrator",
    );
    // Pool roles do not propagate, so neither may what alice grants from them.
    status(
        alice_ci.acl_update(&grant("PVEVMUser", true)).await,
        403,
        "with propagation",
    );
    assert_eq!(
        file(&root, "user.cfg").await,
        before,
        "a refused grant changed user.cfg"
    );
    alice_ci
        .acl_update(&grant("PVEVMUser", false))
        .await
        .expect("a role alice holds, without propagation");

    // --- a privsep token: its own ACL intersected with its user's ---
    ok(
        &cfg,
        &[
            "acl",
            "set",
            "/vms/100",
            "--roles",
            "PVEVMUser",
            "--tokens",
            "alice@pve!sep",
            "--propagate",
            "0",
        ],
    );
    ok(
        &cfg,
        &[
            "acl",
            "set",
            "/vms/101",
            "--roles",
            "PVEVMUser",
            "--tokens",
            "alice@pve!sep",
            "--propagate",
            "0",
        ],
    );
    let sep_perms = alice_sep
        .permissions(None, None)
        .await
        .expect("permissions");
    let on_100 = privs_on(&sep_perms, "/vms/100");
    assert!(on_100.contains(&"VM.PowerMgmt"), "{sep_perms:?}");
    assert!(
        !on_100.contains(&"VM.Allocate"),
        "privsep token holds more than its ACL: {sep_perms:?}"
    );
    assert!(
        privs_on(&sep_perms, "/vms/101").is_empty(),
        "privsep token holds what its user does not: {sep_perms:?}"
    );
    let as_root = root
        .permissions(Some("alice@pve!sep"), None)
        .await
        .expect("root asks for the token's permissions");
    assert_eq!(as_root, sep_perms);

    // --- passwords ---
    let (done, out) = with_stdin(
        &cfg,
        &["user", "passwd", "alice@pve", "--password-stdin"],
        "second-password\n",
    );
    assert!(done, "passwd: {out}");
    let shadow = ShadowCfg::parse(&file(&root, "priv/shadow.cfg").await.1).expect("shadow.cfg");
    assert!(
        shadow.check("alice", "second-password"),
        "the new password is not in shadow.cfg"
    );
    assert!(!shadow.check("alice", "first-password"));
    let (done, out) = with_stdin(
        &cfg,
        &["user", "passwd", "carol@pam", "--password-stdin"],
        "whatever-1\n",
    );
    assert!(
        !done && out.contains("pam realm"),
        "a pam password change: {out}"
    );
    status(
        alice_ci
            .password_change(&brigade_api::access::PasswordChange {
                userid: "alice@pve".into(),
                password: "third-password".into(),
                confirmation_password: None,
            })
            .await,
        403,
        "API tokens cannot change passwords",
    );

    // --- TOTP, confirmed by a code computed here; recovery codes once ---
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .args(["user", "tfa", "add", "alice@pve", "--description", "phone"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tfa add");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let totp_secret = loop {
        let line = lines.next().expect("a secret line").expect("read");
        if let Some(s) = line.strip_prefix("secret: ") {
            break s.trim().to_string();
        }
    };
    let uri = lines.next().expect("uri line").expect("read");
    assert!(uri.contains("otpauth://totp/"), "{uri}");
    let bytes = totp_rs::Secret::Encoded(totp_secret.clone())
        .to_bytes()
        .expect("base32 secret");
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes).expect("totp");
    let code = totp.generate_current().expect("code");
    writeln!(child.stdin.take().expect("stdin"), "{code}").expect("give the code");
    let out = child.wait_with_output().expect("tfa add ends");
    assert!(
        out.status.success(),
        "tfa add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tfa = TfaCfg::parse(&file(&root, "priv/tfa.cfg").await.1).expect("tfa.cfg");
    let alice_id: brigade_access::Userid = "alice@pve".parse().expect("id");
    assert_eq!(tfa.users[&alice_id].totp.len(), 1);
    assert_eq!(tfa.users[&alice_id].totp[0].secret, totp_secret);
    // A code that does not confirm the secret stores nothing.
    let before = file(&root, "priv/tfa.cfg").await;
    status(
        root.tfa_add(
            "bob@pve",
            &brigade_api::access::TfaAdd {
                kind: "totp".into(),
                secret: Some(totp_secret.clone()),
                value: Some("abcdef".into()),
                ..brigade_api::access::TfaAdd::default()
            },
        )
        .await,
        400,
        "does not confirm",
    );
    assert_eq!(file(&root, "priv/tfa.cfg").await, before);
    let codes = json(&cfg, &["user", "tfa", "recovery", "alice@pve"]);
    let codes: Vec<String> = serde_json::from_value(codes["recovery"].clone()).expect("codes");
    assert_eq!(codes.len(), 10);
    let tfa_text = file(&root, "priv/tfa.cfg").await.1;
    assert!(
        codes.iter().all(|c| !tfa_text.contains(c.as_str())),
        "recovery codes kept in clear"
    );
    let list = json(&cfg, &["user", "tfa", "list"]);
    assert_eq!(list[0]["recovery_remaining"], 10, "{list}");
    assert!(
        !list.to_string().contains(&codes[0]),
        "listed again: {list}"
    );

    // --- a destroyed guest leaves the ACLs and its pool ---
    root.guest_destroy(&GuestLocation {
        node: "n1".into(),
        kind: GuestKind::Qemu,
        vmid: 100,
    })
    .await
    .expect("destroy VM 100");
    let acl = root.acl().await.expect("acl");
    assert!(acl.iter().all(|e| e.path != "/vms/100"), "{acl:?}");
    assert!(acl.iter().any(|e| e.path == "/vms/101"), "{acl:?}");
    let pool = root.pool("A").await.expect("pool A");
    assert!(pool.vms.is_empty(), "{pool:?}");

    // --- concurrent edits of user.cfg from two nodes both land ---
    let (n2, n3) = (c.client(1).expect("n2"), c.client(2).expect("n3"));
    let make = |client: Client, prefix: &'static str| async move {
        for i in 0..CONCURRENT_GROUPS {
            client
                .group_create(&GroupRequest {
                    groupid: Some(format!("{prefix}{i}")),
                    comment: None,
                })
                .await
                .unwrap_or_else(|e| panic!("group {prefix}{i}: {e}"));
        }
    };
    tokio::join!(make(n2, "from-n2-"), make(n3, "from-n3-"));
    let groups = root.groups().await.expect("groups");
    for prefix in ["from-n2-", "from-n3-"] {
        let n = groups
            .iter()
            .filter(|g| g.groupid.starts_with(prefix))
            .count();
        assert_eq!(n, CONCURRENT_GROUPS, "edits from {prefix} lost: {groups:?}");
    }

    // --- the rest of the CLI: modify, custom roles, removals ---
    let bob = json(
        &cfg,
        &[
            "user", "modify", "bob@pve", "--groups", "devs", "--append", "1", "--enable", "0",
        ],
    );
    assert_eq!(bob["enable"], false, "{bob}");
    assert_eq!(bob["groups"], serde_json::json!(["devs"]), "{bob}");
    let role = json(
        &cfg,
        &[
            "role",
            "add",
            "Operator",
            "--privs",
            "VM.Audit,VM.PowerMgmt",
        ],
    );
    assert_eq!(role["privs"], "VM.Audit,VM.PowerMgmt");
    let role = json(
        &cfg,
        &[
            "role",
            "modify",
            "Operator",
            "--privs",
            "VM.Console",
            "--append",
            "1",
        ],
    );
    assert_eq!(role["privs"], "VM.Audit,VM.Console,VM.PowerMgmt");
    ok(
        &cfg,
        &[
            "acl", "set", "/vms/101", "--roles", "Operator", "--groups", "devs",
        ],
    );
    ok(&cfg, &["role", "delete", "Operator"]);
    let acl = json(&cfg, &["acl", "list"]);
    assert!(
        !acl.to_string().contains("Operator"),
        "a deleted role's ACL stays: {acl}"
    );
    ok(
        &cfg,
        &[
            "acl",
            "delete",
            "/vms/101",
            "--roles",
            "PVEVMUser",
            "--users",
            "bob@pve",
        ],
    );
    let acl = json(&cfg, &["acl", "list"]);
    assert!(
        !acl.as_array()
            .expect("list")
            .iter()
            .any(|e| e["path"] == "/vms/101" && e["ugid"] == "bob@pve"),
        "{acl}"
    );
    ok(&cfg, &["token", "remove", "alice@pve", "sep"]);
    status(alice_sep.users().await, 401, "invalid API token");
    refused(
        &cfg,
        &["group", "delete", "nogroup"],
        "group nogroup does not exist",
    );
    ok(&cfg, &["group", "delete", "from-n2-0"]);
    ok(&cfg, &["pool", "delete", "A"]);
    assert!(json(&cfg, &["pool", "list"])
        .as_array()
        .expect("list")
        .is_empty());
    let domains = root.domains().await.expect("domains");
    let names: Vec<&str> = domains.iter().map(|d| d.realm.as_str()).collect();
    assert_eq!(names, ["pam", "pve"]);

    // --- the cluster log (`brigade log`, GET /cluster/log) takes Sys.Audit on /, not root ---
    let alice_token = format!("alice@pve!ci={secret}");
    refused(&cfg, &["--api-token", &alice_token, "log"], "Sys.Audit");
    ok(
        &cfg,
        &[
            "acl",
            "set",
            "/",
            "--roles",
            "PVEAuditor",
            "--users",
            "alice@pve",
        ],
    );
    let log = json(&cfg, &["--api-token", &alice_token, "log", "-n", "2"]);
    let kinds: Vec<&str> = log
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), 2, "log -n 2 as a Sys.Audit user: {log}");
    let all = json(&cfg, &["--api-token", &alice_token, "log"]);
    assert!(
        all.as_array()
            .is_some_and(|a| a.iter().filter(|e| e["kind"] == "joined").count() == 2),
        "both joins in the whole log: {all}"
    );
    // --follow as alice prints a new event (n3 stopped: reported dead) as it happens.
    let mut follow = Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .args(["--api-token", &alice_token, "log", "--follow", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn log --follow");
    let lines = brigade_e2e::LineSink::new(follow.stdout.take().expect("stdout"));
    // It subscribes before it reads the log: once the newest event is printed, it follows.
    let first = lines.wait_for(FOLLOW_TIMEOUT, |l| !l.is_empty());
    assert_eq!(first.len(), 1, "log --follow -n 1 printed {first:?}");
    c.pause(2);
    let seen = lines.wait_for(FOLLOW_TIMEOUT, |l| {
        l.iter().any(|l| l.contains("dead") && l.contains("n3"))
    });
    c.resume(2);
    let running = follow.try_wait().ok().flatten().is_none();
    let _ = follow.kill();
    let _ = follow.wait();
    drop(lines.finish());
    assert!(running, "log --follow exited by itself");
    assert!(
        seen.iter().any(|l| l.contains("dead") && l.contains("n3")),
        "log --follow as a Sys.Audit user did not print n3's death: {seen:?}"
    );
    assert!(
        !seen[1..].iter().any(|l| l.contains("joined")),
        "log --follow printed old events again: {seen:?}"
    );

    // --- deleting a user takes its tokens, secrets and password ---
    ok(&cfg, &["user", "delete", "alice@pve"]);
    status(alice_ci.users().await, 401, "invalid API token");
    let shadow = ShadowCfg::parse(&file(&root, "priv/shadow.cfg").await.1).expect("shadow.cfg");
    assert!(!shadow.hashes.contains_key("alice"));
}
