//! Access control through the page (issue 17) on a real 3-node cluster: as root, a group
//! and a user in it made with the Groups and Users views, a pool holding a VM with the
//! Pools view, the group given PVEAuditor on that pool with the Permissions view, a custom
//! role, and an API token of the user whose secret is shown once and works; then
//! that user, logged in in a second browser session, sees only the pool's VM, every
//! changing button disabled with the privilege it lacks, and forged requests refused with
//! nothing changed. The user then enrols a TOTP from the Two Factor view (its QR code, a
//! code computed here from the secret the page shows), logs out, and logs in again with
//! password and TOTP, a wrong code refused first with a clear message.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brigade_core::layout::GuestKind;
use brigade_e2e::guests::appliance;
use brigade_e2e::{cluster, eventually};
use brigade_node::config::RaftTuning;
use serde_json::{json, Value};

use super::browser::Browser;
use super::ha_log::{all_disabled_for, buttons, forged};
use super::{click_enabled, login_with_password, login_with_token, ADMIN_PASSWORD, PAGE_TIMEOUT};

const SUBNET: u8 = 157;
const USER: &str = "carol@pve";
const GROUP: &str = "pool-auditors";
const POOL: &str = "ops";
/// The VM in the pool, and one outside it the user must not see.
const POOL_VM: u32 = 100;
const OTHER_VM: u32 = 101;
/// TOTP's step (RFC 6238 as brigade uses it: SHA-1, 6 digits, 30 s).
const TOTP_STEP_SECS: u64 = 30;

/// Sets the select `css` to `value` as a user choosing it would (a `change` event).
async fn choose(b: &Browser, css: &str, value: &str) {
    let ok = b
        .eval(
            "const s = document.querySelector(arguments[0].css); if (!s || ![...s.options].some((o) => o.value === arguments[0].value)) return false; s.value = arguments[0].value; s.dispatchEvent(new Event('change')); return true;",
            json!({ "css": css, "value": value }),
        )
        .await;
    assert_eq!(ok, true, "{css} offers no {value}");
}

/// Submits the dialog `role` and waits for the outcome line to say `expect`.
async fn submit(b: &Browser, role: &str, expect: &str) {
    b.click(&format!("[data-action={role}-submit]"), PAGE_TIMEOUT)
        .await;
    b.wait_text(expect, "[data-role=access-result]", PAGE_TIMEOUT, |t| {
        t.contains(expect)
    })
    .await;
}

/// The TOTP of the base32 `secret`, as an authenticator app makes it.
fn totp(secret: &str) -> totp_rs::TOTP {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .expect("a base32 secret");
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, TOTP_STEP_SECS, bytes).expect("totp")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn access_views_make_a_pool_auditor_who_changes_nothing_and_totp_login_works() {
    let appliance = appliance();
    let c = cluster("webui-access", SUBNET, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let token = c.root_token.clone().expect("root token");
    let url = format!("{}/", c.nodes[0].config.api_url().trim_end_matches('/'));
    let params =
        brigade_guest::vm_config::appliance_params(appliance.to_str().expect("utf-8"), 64, None);
    for vmid in [POOL_VM, OTHER_VM] {
        n1.guest_create("n1", GuestKind::Qemu, vmid, &params, None, false)
            .await
            .unwrap_or_else(|e| panic!("create VM {vmid}: {e}"));
    }

    // --- root makes the group, the user, the pool and the ACL entry in the page ---
    let b = Browser::start(&c.dir).await;
    login_with_token(&b, &url, &token).await;
    b.click("[data-tab=groups]", PAGE_TIMEOUT).await;
    click_enabled(&b, "[data-action=group-add]").await;
    b.type_into("#group-groupid", GROUP).await;
    b.type_into("#group-comment", "audit the ops pool").await;
    submit(&b, "group-dialog", &format!("Added group {GROUP}")).await;

    b.click("[data-tab=users]", PAGE_TIMEOUT).await;
    click_enabled(&b, "[data-action=user-add]").await;
    b.type_into("#user-userid", USER).await;
    b.type_into("#user-password", ADMIN_PASSWORD).await;
    b.type_into("#user-groups", GROUP).await;
    b.type_into("#user-email", "carol@example.invalid").await;
    b.screenshot("user-add-dialog").await;
    submit(&b, "user-dialog", &format!("Added user {USER}")).await;
    b.wait_text(
        "the new user listed in its group",
        &format!("[data-user='{USER}']"),
        PAGE_TIMEOUT,
        |t| t.contains(GROUP),
    )
    .await;
    let users = n1.users().await.expect("users");
    let carol = users.iter().find(|u| u.userid == USER).expect("carol made");
    assert_eq!(carol.groups, vec![GROUP.to_string()]);
    assert!(carol.enable, "made disabled: {carol:?}");

    b.click("[data-tab=pools]", PAGE_TIMEOUT).await;
    click_enabled(&b, "[data-action=pool-add]").await;
    b.type_into("#pool-poolid", POOL).await;
    b.type_into("#pool-vms", &POOL_VM.to_string()).await;
    submit(&b, "pool-dialog", &format!("Added pool {POOL}")).await;
    let pools = n1.pools().await.expect("pools");
    assert!(
        pools
            .iter()
            .any(|p| p.poolid == POOL && p.vms == vec![POOL_VM]),
        "{pools:?}"
    );

    b.click("[data-tab=acl]", PAGE_TIMEOUT).await;
    click_enabled(&b, "[data-action=acl-add]").await;
    b.type_into("#acl-path", &format!("/pool/{POOL}")).await;
    choose(&b, "#acl-kind", "group").await;
    choose(&b, "#acl-ugid", GROUP).await;
    choose(&b, "#acl-role", "PVEAuditor").await;
    b.screenshot("acl-add-dialog").await;
    submit(&b, "acl-dialog", &format!("Gave {GROUP} PVEAuditor")).await;
    b.wait_text(
        "the ACL entry listed",
        &format!("[data-acl='/pool/{POOL} {GROUP} PVEAuditor']"),
        PAGE_TIMEOUT,
        |t| t.contains("group"),
    )
    .await;
    b.screenshot("acl-listed").await;
    let acl_before = n1.acl().await.expect("acl");
    assert!(
        acl_before.iter().any(|e| e.path == format!("/pool/{POOL}")
            && e.ugid == GROUP
            && e.kind == "group"
            && e.roleid == "PVEAuditor"
            && e.propagate),
        "{acl_before:?}"
    );

    // A custom role from two privilege checkboxes, and a token of carol's whose secret is
    // shown once and authenticates.
    b.click("[data-tab=roles]", PAGE_TIMEOUT).await;
    click_enabled(&b, "[data-action=role-add]").await;
    b.type_into("#role-roleid", "PoolWatcher").await;
    for privilege in ["Pool.Audit", "VM.Audit"] {
        b.click(
            &format!("#role-privs input[data-priv='{privilege}']"),
            PAGE_TIMEOUT,
        )
        .await;
    }
    submit(&b, "role-dialog", "Added role PoolWatcher").await;
    let role = n1.role("PoolWatcher").await.expect("the new role");
    assert!(!role.special, "{role:?}");
    let mut privs: Vec<&str> = role.privs.split(',').map(str::trim).collect();
    privs.sort_unstable();
    assert_eq!(privs, ["Pool.Audit", "VM.Audit"]);
    b.click("[data-tab=tokens]", PAGE_TIMEOUT).await;
    click_enabled(&b, "[data-action=token-add]").await;
    choose(&b, "#token-owner", USER).await;
    b.type_into("#token-tokenid", "report").await;
    submit(
        &b,
        "token-dialog",
        &format!("Added API token {USER}!report"),
    )
    .await;
    let secret = b
        .text("[data-role=token-value]")
        .await
        .expect("the secret shown once");
    assert_eq!(
        b.text("[data-role=token-full-id]").await.as_deref(),
        Some(format!("{USER}!report").as_str())
    );
    b.screenshot("token-secret-once").await;
    let status = b
        .eval(
            "return fetch('/api2/json/version', { headers: { Authorization: 'BrigadeToken ' + arguments[0] } }).then((r) => r.status);",
            json!(format!("{USER}!report={secret}")),
        )
        .await;
    assert_eq!(status, json!(200), "the shown token does not authenticate");
    b.click("[data-action=token-dialog-cancel]", PAGE_TIMEOUT)
        .await;
    b.wait_text(
        "the token listed with privilege separation",
        &format!("[data-token='{USER}!report']"),
        PAGE_TIMEOUT,
        |t| t.contains("yes"),
    )
    .await;

    // --- the pool auditor, in a second session, sees the pool and changes nothing ---
    let b2 = Browser::start_named(&c.dir, "carol").await;
    login_with_password(&b2, &url, USER, ADMIN_PASSWORD).await;
    let guests = b2
        .wait_value(
            "only the pool's VM in the tree",
            PAGE_TIMEOUT,
            || async {
                b2.eval(
                    "return Array.from(document.querySelectorAll('li[data-tree=guest]')).map((g) => g.dataset.id);",
                    Value::Null,
                )
                .await
            },
            |v| v.as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    assert_eq!(guests, json!([POOL_VM.to_string()]));
    // The first load read each source, and the privileges on /vms, once.
    let reads = b2
        .eval(
            "const n = (p) => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/api2/json' + p)).length; return [n('/cluster/resources'), n('/cluster/status'), n('/access/permissions?path=%2Fvms')];",
            Value::Null,
        )
        .await;
    assert_eq!(
        reads,
        json!([1, 1, 1]),
        "first-load reads of resources, status, /vms privileges"
    );
    // The status it may not read is no outage: no error banner, the page is live, and the
    // Datacenter says why it shows no cluster status.
    b2.click("li[data-tree=dc] > a", PAGE_TIMEOUT).await;
    b2.wait_text(
        "the Datacenter saying why it shows no cluster status",
        "[data-role=status-denied]",
        PAGE_TIMEOUT,
        |t| t.contains("Sys.Audit"),
    )
    .await;
    let shown = b2
        .eval(
            "return [document.querySelector('[data-role=banner]').classList.contains('hidden'), document.querySelector('.live').textContent];",
            Value::Null,
        )
        .await;
    assert_eq!(shown[0], true, "an error banner for a permission: {shown}");
    assert!(
        shown[1]
            .as_str()
            .is_some_and(|t| !t.contains("not updating")),
        "the page says it is not updating: {shown}"
    );
    let create = b2
        .wait_value(
            "Create VM disabled with the reason",
            PAGE_TIMEOUT,
            || async { buttons(&b2, "[data-action=create-vm], [data-action=create-ct]").await },
            |v| all_disabled_for(v, "VM.Allocate"),
        )
        .await;
    eprintln!("create buttons: {create}");
    for (tab, css, privilege) in [
        (
            "users",
            "[data-action=user-add], [data-action=user-edit], [data-action=user-delete]",
            "User.Modify",
        ),
        ("groups", "[data-action^=group-]", "Group.Allocate"),
        ("pools", "[data-action^=pool-]", "Pool.Allocate"),
        ("acl", "[data-action^=acl-]", "Permissions.Modify"),
        ("roles", "[data-action=role-add]", "Sys.Modify"),
    ] {
        b2.click(&format!("[data-tab={tab}]"), PAGE_TIMEOUT).await;
        b2.wait_value(
            &format!("the {tab} buttons disabled for lack of {privilege}"),
            PAGE_TIMEOUT,
            || async { buttons(&b2, &format!("[data-role=panel] {css}")).await },
            |v| all_disabled_for(v, privilege),
        )
        .await;
        b2.screenshot(&format!("{tab}-disabled")).await;
    }
    b2.click(
        &format!("li[data-tree=guest][data-id='{POOL_VM}'] > a"),
        PAGE_TIMEOUT,
    )
    .await;
    b2.wait_value(
        "the pool VM's Start disabled for lack of VM.PowerMgmt",
        PAGE_TIMEOUT,
        || async { buttons(&b2, "[data-action=start]").await },
        |v| all_disabled_for(v, "VM.PowerMgmt"),
    )
    .await;
    b2.screenshot("guest-disabled").await;
    // Requests forged from the page with the session are refused, and change nothing.
    let me = json!({ "path": "/", "roles": "Administrator", "users": USER });
    assert_eq!(forged(&b2, "PUT", "/access/acl", me).await, json!(403));
    let new_user = json!({ "userid": "mallory@pve", "password": "x-password-1" });
    assert_eq!(
        forged(&b2, "POST", "/access/users", new_user).await,
        json!(403)
    );
    let start = format!("/nodes/n1/qemu/{POOL_VM}/status/start");
    assert_eq!(forged(&b2, "POST", &start, json!({})).await, json!(403));
    assert_eq!(n1.acl().await.expect("acl"), acl_before);
    assert!(n1
        .users()
        .await
        .expect("users")
        .iter()
        .all(|u| u.userid != "mallory@pve"));

    // --- TOTP enrolled from the QR page, then a login with it ---
    b2.click("li[data-tree=dc] > a", PAGE_TIMEOUT).await;
    b2.click("[data-tab=tfa]", PAGE_TIMEOUT).await;
    click_enabled(&b2, "[data-action=tfa-add]").await;
    b2.click("[data-action=tfa-dialog-submit]", PAGE_TIMEOUT)
        .await;
    let qr = b2
        .wait_value(
            "the QR code of the new secret drawn",
            PAGE_TIMEOUT,
            || async {
                b2.eval(
                    "const i = document.querySelector('[data-role=totp-qr]'); return i && i.complete ? [i.naturalWidth, i.src.slice(0, 24)] : null;",
                    Value::Null,
                )
                .await
            },
            |v| v[0].as_u64().is_some_and(|w| w >= 100),
        )
        .await;
    assert_eq!(qr[1], "data:image/svg+xml;chars");
    let secret = b2
        .text("[data-role=totp-secret]")
        .await
        .expect("the secret shown");
    let uri = b2
        .text("[data-role=totp-uri]")
        .await
        .expect("the URI shown");
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    b2.screenshot("totp-qr").await;
    let t = totp(&secret);
    b2.type_into("#totp-code", &t.generate(unix_now())).await;
    submit(&b2, "totp-dialog", &format!("Enrolled a TOTP for {USER}")).await;
    let step = unix_now() / TOTP_STEP_SECS;
    let tfa = n1.tfa_list().await.expect("tfa list");
    assert!(
        tfa.iter().any(|e| e.userid == USER && e.totp.len() == 1),
        "{tfa:?}"
    );

    b2.click("[data-action=logout]", PAGE_TIMEOUT).await;
    b2.type_into("#login-user", USER).await;
    b2.type_into("#login-password", ADMIN_PASSWORD).await;
    b2.click(
        "[data-role=password-login] button[type=submit]",
        PAGE_TIMEOUT,
    )
    .await;
    b2.wait_text(
        "the login asking for the TOTP code",
        "[data-role=login-message]",
        PAGE_TIMEOUT,
        |t| t.contains("authenticator app"),
    )
    .await;
    let right = t.generate(unix_now());
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().expect("digits") + 1) % 1_000_000
    );
    b2.type_into("#login-otp", &wrong).await;
    b2.click(
        "[data-role=password-login] button[type=submit]",
        PAGE_TIMEOUT,
    )
    .await;
    let refused = b2
        .wait_text(
            "the wrong TOTP refused",
            "[data-role=login-message]",
            PAGE_TIMEOUT,
            |t| t.contains("refused"),
        )
        .await;
    assert!(
        refused.contains("TOTP code") && refused.contains("wrong"),
        "{refused}"
    );
    b2.screenshot("wrong-totp-refused").await;
    assert_eq!(
        b2.text("[data-role=user]").await,
        None,
        "logged in with a wrong code"
    );
    // The code that confirmed the secret is spent: the next step's is a fresh one.
    let next = (step + 1) * TOTP_STEP_SECS;
    eventually(
        Duration::from_secs(TOTP_STEP_SECS + 5),
        "the next TOTP step",
        || async { unix_now() >= next },
    )
    .await;
    b2.type_into("#login-otp", &t.generate(unix_now())).await;
    b2.click(
        "[data-role=password-login] button[type=submit]",
        PAGE_TIMEOUT,
    )
    .await;
    b2.wait_text(
        "the main screen after password and TOTP",
        "[data-role=user]",
        PAGE_TIMEOUT,
        |t| t == USER,
    )
    .await;
    b2.screenshot("logged-in-with-totp").await;
    b2.quit().await;
    b.quit().await;
}
