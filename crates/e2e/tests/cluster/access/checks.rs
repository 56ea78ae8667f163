//! The access checks that need more than one request: forwarded identities sent straight
//! to a node, tickets and their key rotation, `brigade login` through the CLI, and priv/
//! in the FUSE mount.

use std::io::Write as _;
use std::process::{Command, Stdio};

use brigade_access::forwarded::{SealKey, FORWARDED_IDENTITY_HEADER};
use brigade_access::ticket_keys::TicketKeys;
use brigade_client::{Client, Ticket};
use brigade_e2e::bin;
use serde_json::{json, Value};

use super::{anon, api_err, raw_client, state_of, ALICE_PW, AUDREY_PW, CT_A, SUBNET, TOM_PW};

/// A request sent straight to n2's `/node/guest` with n1's node certificate: a tampered,
/// stale or missing identity is refused (one from a build that announces no format, with
/// the release to install); a valid one is checked again there.
pub(super) async fn forwarded_identities_are_checked_again(
    c: &brigade_localcluster::ProcCluster,
    ca_pem: &str,
    root: &Client,
) {
    let authkey = root.fs_read("priv/authkey", false).await.expect("authkey");
    let key = SealKey::from_cluster_key(authkey.content.expect("text").as_bytes());
    let rpc = raw_client(ca_pem, Some(&c.nodes[0].state_dir()));
    let target = format!("https://{}/node/guest", c.nodes[1].config.rpc_addr());
    let stop =
        serde_json::to_vec(&json!({"op": "stop", "kind": "lxc", "vmid": CT_A})).expect("body");
    // `announce`: the formats header every current build sends with a forward.
    let send = |header: Option<String>, announce: bool| {
        let mut r = rpc
            .post(&target)
            .header("content-type", "application/json")
            .body(stop.clone());
        if let Some(h) = header {
            r = r.header(FORWARDED_IDENTITY_HEADER, h);
        }
        if announce {
            r = r.header(brigade_node::format_version::FORMATS_HEADER, "1-1");
        }
        async move {
            let v: Value = r.send().await.expect("send").json().await.expect("json");
            v
        }
    };
    let now = brigade_core::unix_now_secs();
    let audrey: brigade_access::Authid = "audrey@pve".parse().expect("id");
    let sealed = key.seal(&audrey, &stop, now);
    let tampered = sealed.replacen("audrey@pve", "root@pam", 1);
    for (header, announce, want) in [
        (Some(tampered), true, "forwarded identity was altered"),
        (Some(key.seal(&audrey, &stop, now - 600)), true, "too old"),
        (None, true, "missing forwarded identity"),
        (
            None,
            false,
            "the forwarding node runs a brigade build older than this node's",
        ),
        (Some(sealed), true, "VM.PowerMgmt"),
    ] {
        let answer = send(header, announce).await;
        let err = answer["Err"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(err.contains(want), "want {want:?}: {answer}");
    }
    assert_eq!(state_of(root, CT_A).await, "running");
}

/// Forged and expired tickets; a ticket from before a key rotation within and past its grace.
pub(super) async fn tickets_forged_expired_and_rotated(
    root: &Client,
    url: &str,
    ca_pem: &str,
    alice: &Ticket,
) {
    let with = |ticket: String| {
        anon(url, ca_pem).with_ticket(Ticket {
            ticket,
            ..alice.clone()
        })
    };
    let forged = alice.ticket.replacen("alice@pve", "root@pam", 1);
    let (code, msg) = api_err(with(forged).version().await);
    assert_eq!(
        (code, msg.as_str()),
        (401, "invalid ticket: invalid ticket signature")
    );

    let file = root.fs_read("priv/ticket-keys", false).await.expect("keys");
    let original = file.content.expect("text");
    TicketKeys::parse(&original).expect("the cluster's keys parse");
    let alice_id: brigade_access::Userid = "alice@pve".parse().expect("id");
    let now = brigade_core::unix_now_secs();
    // Keys made 4 h ago (not due for rotation), a ticket of 3 h ago signed with them.
    let older = TicketKeys::new(&[6; 32], now - 4 * 3600).expect("keys");
    root.fs_put("priv/ticket-keys", &older.write())
        .await
        .expect("write");
    let expired = brigade_access::ticket::issue(&older, &alice_id, now - 3 * 3600);
    let (code, msg) = api_err(with(expired).version().await);
    assert_eq!(
        (code, msg.as_str()),
        (401, "invalid ticket: ticket expired")
    );

    // Keys older than a day: the next login rotates them once; the old ticket keeps working.
    let day_old = TicketKeys::new(&[7; 32], now - 25 * 3600).expect("keys");
    root.fs_put("priv/ticket-keys", &day_old.write())
        .await
        .expect("write");
    let before = brigade_access::ticket::issue(&day_old, &alice_id, now - 60);
    anon(url, ca_pem)
        .login("audrey@pve", AUDREY_PW, None)
        .await
        .expect("login rotates");
    let rotated = TicketKeys::parse(
        &root
            .fs_read("priv/ticket-keys", false)
            .await
            .expect("keys")
            .content
            .expect("text"),
    )
    .expect("keys");
    assert_eq!(
        rotated.previous.as_ref(),
        Some(&day_old.current),
        "rotated once"
    );
    with(before.clone())
        .version()
        .await
        .expect("within the grace time");

    // The rotation happened more than a ticket lifetime ago: the old key's tickets are refused.
    let past_grace = TicketKeys::new(&[8; 32], now - 2 * 3600 - 600).expect("keys");
    let past_grace = TicketKeys {
        previous: Some(day_old.current.clone()),
        ..past_grace
    };
    root.fs_put("priv/ticket-keys", &past_grace.write())
        .await
        .expect("write");
    let old_ticket = brigade_access::ticket::issue(&day_old, &alice_id, now - 2 * 3600 - 900);
    let (code, msg) = api_err(with(old_ticket).version().await);
    assert_eq!(code, 401);
    assert!(
        msg.contains("rotated out more than its grace time ago"),
        "{msg}"
    );
    root.fs_put("priv/ticket-keys", &original)
        .await
        .expect("restore");
}

/// `brigade login` through the CLI, then a command that uses the stored ticket.
pub(super) fn cli_login_then_a_command(
    c: &brigade_localcluster::ProcCluster,
    url: &str,
    ca_pem: &str,
) {
    let dir = c.dir.join("cli-runtime");
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = c.dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("ca");
    let ca = ca_file.display().to_string();
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(bin())
            .args(["--node", url, "--ca", &ca])
            .args(args)
            .env("XDG_RUNTIME_DIR", &dir)
            .env_remove("BRIGADE_CONFIG")
            .env_remove("BRIGADE_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("brigade");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("stdin");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = run(
        &["login", "--user", "alice@pve", "--password-stdin"],
        &format!("{ALICE_PW}\n"),
    );
    assert!(ok, "login: {out} {err}");
    assert!(out.contains("logged in as alice@pve"), "{out}");
    let file = dir.join("brigade/tickets.json");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file)
        .expect("ticket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (ok, out, err) = run(&["ct", "list", "--output", "json"], "");
    assert!(ok, "list: {out} {err}");
    let rows: Vec<Value> = serde_json::from_str(&out).expect("json");
    let ids: Vec<u64> = rows.iter().filter_map(|r| r["vmid"].as_u64()).collect();
    assert_eq!(ids, vec![u64::from(CT_A)], "{out}");
    let (ok, out, _) = run(&["logout"], "");
    assert!(ok && out.contains("logged out"), "{out}");
    let (ok, _, err) = run(&["ct", "list"], "");
    assert!(!ok && err.contains("missing Authorization header"), "{err}");
    let (ok, _, err) = run(
        &["login", "--user", "alice@pve", "--password-stdin"],
        "bad\n",
    );
    assert!(!ok && err.contains("authentication failure"), "{err}");
}

/// The FUSE mount: priv/ is 0700 root, so another Unix user cannot read it; user.cfg it can.
pub(super) async fn priv_is_root_only_in_the_mount(root: &Client) {
    let m = std::env::temp_dir().join(format!("brigade-access-mount-{SUBNET}"));
    let _ = std::fs::create_dir_all(&m);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    root.local_mount(&m, false).await.expect("mount");
    let as_nobody = |file: &str| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(m.join(file))
            .output()
            .expect("setpriv")
    };
    let secret = as_nobody("priv/authkey");
    let public = as_nobody("user.cfg");
    let _ = root.local_mount(&m, true).await;
    assert!(!secret.status.success(), "nobody read priv/authkey");
    assert!(
        String::from_utf8_lossy(&secret.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&secret.stderr)
    );
    assert!(
        public.status.success(),
        "{}",
        String::from_utf8_lossy(&public.stderr)
    );
}

/// A user with TOTP and recovery codes: no code is `tfa_required`, a wrong or replayed code
/// is refused, a TOTP code and a recovery code log in, and a spent recovery code is refused.
pub(super) async fn second_factors(root: &Client, url: &str, ca_pem: &str) {
    use brigade_access::tfa::{RecoveryCodes, TfaCfg, TotpEntry, UserTfa, RECOVERY_RANDOM_BYTES};
    let now = brigade_core::unix_now_secs();
    let totp = TotpEntry::new("phone", &[9; 20], now - 3600).expect("totp");
    let random: Vec<u8> = (0..RECOVERY_RANDOM_BYTES)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let (recovery, codes) = RecoveryCodes::generate(&random).expect("codes");
    let mut tfa = TfaCfg::default();
    tfa.users.insert(
        "tom@pve".parse().expect("id"),
        UserTfa {
            totp: vec![totp.clone()],
            recovery: Some(recovery),
        },
    );
    root.fs_put("priv/tfa.cfg", &tfa.write().expect("tfa"))
        .await
        .expect("tfa.cfg");
    let n1 = anon(url, ca_pem);
    let e = n1
        .login("tom@pve", TOM_PW, None)
        .await
        .expect_err("needs a code");
    assert_eq!(
        (e.status(), e.kind()),
        (
            Some(401),
            Some(brigade_client::brigade_api::ErrorKind::TfaRequired)
        ),
        "{e}"
    );
    let (code, msg) = api_err(n1.login("tom@pve", TOM_PW, Some("000000")).await);
    assert_eq!((code, msg.as_str()), (401, "authentication failure"));
    let now_code = totp.code_at(brigade_core::unix_now_secs()).expect("code");
    n1.login("tom@pve", TOM_PW, Some(&now_code))
        .await
        .expect("TOTP login");
    let (code, _) = api_err(n1.login("tom@pve", TOM_PW, Some(&now_code)).await);
    assert_eq!(code, 401, "a TOTP code is used once");
    n1.login("tom@pve", TOM_PW, Some(&codes[0]))
        .await
        .expect("recovery login");
    let (code, _) = api_err(n1.login("tom@pve", TOM_PW, Some(&codes[0])).await);
    assert_eq!(code, 401, "a recovery code is used once");
    let stored = root.fs_read("priv/tfa.cfg", false).await.expect("tfa");
    let stored = TfaCfg::parse(&stored.content.expect("text")).expect("parse");
    let tom = &stored.users[&"tom@pve".parse().expect("id")];
    assert_eq!(
        tom.recovery.as_ref().map(RecoveryCodes::remaining),
        Some(codes.len() - 1)
    );
}
