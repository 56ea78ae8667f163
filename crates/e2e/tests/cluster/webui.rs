//! The web UI in a real browser (Debian's headless Chromium through chromedriver) against
//! a real 3-node cluster with a container: log in with an API token, see the nodes and the
//! guest in the tree, start the guest from its view, see a refused migration's message,
//! migrate it to n3 through the dialog, log in to n2's page with a password (a wrong one
//! refused) and see the same cluster there (HA, a node's maintenance disabled for a non-root
//! user with why, a forged request refused), and see that page say so when n2 dies.

mod access;
mod browser;
mod graphs;
mod ha_log;
mod live;
mod wizard;

use std::collections::BTreeMap;
use std::time::Duration;

use brigade_api::access::{AclUpdate, UserCreate};
use brigade_core::layout::GuestKind;
use brigade_e2e::guests::{appliance, ct_ticks, guest_pid, ticks};
use brigade_e2e::{cluster, eventually};
use brigade_node::config::RaftTuning;
use serde_json::{json, Value};

use browser::Browser;

const CTID: u32 = 200;
/// The user who logs in with a password on n2's page.
const ADMIN: &str = "alice@pve";
const ADMIN_PASSWORD: &str = "webui-test-password";
/// How long the page may take to show a change (it refreshes every 2 s).
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a container may take to start or stop, seen through the page.
const POWER_TIMEOUT: Duration = Duration::from_secs(40);
/// How long an offline migration of a small container may take, seen through the page.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(90);

/// Each node of the tree as the page shows it: name, state, its guests' labels.
const TREE_SCRIPT: &str = r"
return Array.from(document.querySelectorAll('li[data-tree=node]')).map((li) => ({
  name: li.querySelector(':scope > a').innerText.trim(),
  state: li.dataset.state,
  guests: Array.from(li.querySelectorAll('li[data-tree=guest] > a')).map((a) => a.innerText.trim()),
}));";

/// The tree's nodes as (name, state, guests).
fn tree_nodes(v: &Value) -> Vec<(String, String, Vec<String>)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    (
                        n["name"].as_str().unwrap_or_default().to_string(),
                        n["state"].as_str().unwrap_or_default().to_string(),
                        n["guests"]
                            .as_array()
                            .map(|g| {
                                g.iter()
                                    .filter_map(|x| x.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Three online nodes, the guest under `on` and nowhere else.
fn tree_shows(v: &Value, on: &str) -> bool {
    let nodes = tree_nodes(v);
    let names: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
    names == ["n1", "n2", "n3"]
        && nodes.iter().all(|n| n.1 == "online")
        && nodes.iter().all(|(name, _, guests)| {
            let has = guests.iter().any(|g| g == "200 (ticker)");
            has == (name == on) && guests.len() == usize::from(has)
        })
}

/// Logs in on the page at `url` with `token`, after a wrong token is refused.
async fn login_with_token(b: &Browser, url: &str, token: &str) {
    b.goto(url).await;
    b.click("[data-role=tab-token]", PAGE_TIMEOUT).await;
    let (id, _) = token.split_once('=').expect("token id=secret");
    b.type_into("#login-token", &format!("{id}=not-the-secret"))
        .await;
    b.click("[data-role=token-login] button[type=submit]", PAGE_TIMEOUT)
        .await;
    let refused = b
        .wait_text(
            "the wrong token refused with the API's message",
            "[data-role=login-message]",
            PAGE_TIMEOUT,
            |t| t.contains("failed"),
        )
        .await;
    assert!(
        refused.contains("invalid API token"),
        "the login refusal does not carry the API's message: {refused}"
    );
    b.screenshot("wrong-token-refused").await;
    b.type_into("#login-token", token).await;
    b.click("[data-role=token-login] button[type=submit]", PAGE_TIMEOUT)
        .await;
    b.wait_text(
        "the main screen with the user",
        "[data-role=user]",
        PAGE_TIMEOUT,
        |t| t == id,
    )
    .await;
}

/// Logs in on the page at `url` as `user` with `password` (realm in the name), after a
/// wrong password is refused with the API's message.
async fn login_with_password(b: &Browser, url: &str, user: &str, password: &str) {
    b.goto(url).await;
    b.type_into("#login-user", user).await;
    b.type_into("#login-password", "not-the-password").await;
    b.click(
        "[data-role=password-login] button[type=submit]",
        PAGE_TIMEOUT,
    )
    .await;
    let refused = b
        .wait_text(
            "the wrong password refused",
            "[data-role=login-message]",
            PAGE_TIMEOUT,
            |t| t.contains("failed"),
        )
        .await;
    assert!(
        refused.contains("authentication failure"),
        "the login refusal does not carry the API's message: {refused}"
    );
    b.screenshot("wrong-password-refused").await;
    b.type_into("#login-password", password).await;
    b.click(
        "[data-role=password-login] button[type=submit]",
        PAGE_TIMEOUT,
    )
    .await;
    b.wait_text(
        "the main screen with the user",
        "[data-role=user]",
        PAGE_TIMEOUT,
        |t| t == user,
    )
    .await;
}

/// Creates `userid` (a `pve` user with the test password) holding `role` on `/`.
async fn user_with_role(client: &brigade_client::Client, userid: &str, role: &str) {
    client
        .user_create(&UserCreate {
            userid: userid.into(),
            password: Some(ADMIN_PASSWORD.into()),
            ..UserCreate::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create {userid}: {e}"));
    client
        .acl_update(&AclUpdate {
            path: "/".into(),
            roles: role.into(),
            users: Some(userid.into()),
            ..AclUpdate::default()
        })
        .await
        .unwrap_or_else(|e| panic!("give {userid} {role} on /: {e}"));
}

/// Clicks `css` once the page has it enabled (a click on a disabled button does nothing).
async fn click_enabled(b: &Browser, css: &str) {
    b.wait_value(
        &format!("{css} enabled"),
        PAGE_TIMEOUT,
        || async {
            b.eval(
                "const e = document.querySelector(arguments[0]); return e ? !e.disabled : false;",
                json!(css),
            )
            .await
        },
        |v| *v == true,
    )
    .await;
    b.click(css, PAGE_TIMEOUT).await;
}

/// The value of the fact row `key` (`[data-fact=key] td`) in the content panel.
async fn fact(b: &Browser, key: &str) -> Option<String> {
    b.text(&format!("[data-role=panel] [data-fact={key}] td"))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_logs_in_shows_the_cluster_and_starts_and_migrates_a_container() {
    let appliance = appliance();
    let mut c = cluster("webui", 96, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let token = c.root_token.clone().expect("root token");
    let ca = c.ca_pem.clone().expect("cluster CA");
    let url = |i: usize| format!("{}/", c.nodes[i].config.api_url().trim_end_matches('/'));

    // The page itself needs no login and says what it is; the API behind it still does.
    let https = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"))
        .build()
        .expect("https client");
    let page = https.get(url(0)).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert!(header("content-security-policy").contains("script-src 'self'"));
    let module = https
        .get(format!("{}ui/app.js", url(0)))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET /ui/app.js");
    assert_eq!(module.status(), 200);
    assert_eq!(
        module
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip"),
        "the page's modules are not served compressed"
    );
    let status = https
        .get(format!("{}api2/json/cluster/status", url(0)))
        .send()
        .await
        .expect("GET status");
    assert_eq!(status.status(), 401, "the API answered without a token");

    let template = appliance.join("rootfs").display().to_string();
    let mut cfg = BTreeMap::new();
    cfg.insert("hostname".to_string(), "ticker".to_string());
    cfg.insert("memory".to_string(), "64".to_string());
    cfg.insert("rootfs".to_string(), "local:1".to_string());
    n1.guest_create("n1", GuestKind::Lxc, CTID, &cfg, Some(&template), false)
        .await
        .expect("create the container");

    let b = Browser::start(&c.dir).await;
    login_with_token(&b, &url(0), &token).await;

    // The tree: Datacenter, three online nodes, the container under n1.
    let tree = || async { b.eval(TREE_SCRIPT, Value::Null).await };
    b.wait_value(
        "three online nodes and CT 200 under n1",
        PAGE_TIMEOUT,
        tree,
        |v| tree_shows(v, "n1"),
    )
    .await;
    // The search box narrows the tree to what matches, with the nodes it lives on.
    b.type_into("[data-role=search]", "ticker").await;
    b.wait_value("only n1 and CT 200 for 'ticker'", PAGE_TIMEOUT, tree, |v| {
        tree_nodes(v) == [("n1".into(), "online".into(), vec!["200 (ticker)".into()])]
    })
    .await;
    b.type_into("[data-role=search]", "n2").await;
    b.wait_value("only n2 for 'n2'", PAGE_TIMEOUT, tree, |v| {
        tree_nodes(v) == [("n2".into(), "online".into(), vec![])]
    })
    .await;
    b.type_into("[data-role=search]", "").await;
    b.wait_value("the whole tree again", PAGE_TIMEOUT, tree, |v| {
        tree_shows(v, "n1")
    })
    .await;
    b.wait_text(
        "the Datacenter summary: quorate",
        "[data-role=panel] [data-fact=quorate] td",
        PAGE_TIMEOUT,
        |t| t == "Yes",
    )
    .await;
    assert_eq!(fact(&b, "expected").await.as_deref(), Some("3"));
    assert_eq!(fact(&b, "total").await.as_deref(), Some("3"));
    let name = n1.status().await.expect("status").cluster;
    assert_eq!(fact(&b, "cluster").await, name);
    let rows = b
        .eval(
            "return Array.from(document.querySelectorAll('[data-role=nodes] tbody tr')).map((r) => r.innerText);",
            Value::Null,
        )
        .await;
    let rows: Vec<String> = serde_json::from_value(rows).expect("node rows");
    assert_eq!(rows.len(), 3, "node rows: {rows:?}");
    assert!(
        rows.iter().all(|r| r.contains("online")),
        "node rows: {rows:?}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.contains("leader")).count(),
        1,
        "one leader in {rows:?}"
    );
    b.screenshot("datacenter").await;

    // Live: the page follows the node's change stream (no polling), and says so.
    b.wait_value(
        "the page's change stream up",
        PAGE_TIMEOUT,
        || async {
            b.eval(
                "const e = document.querySelector('[data-role=live]'); return e ? [e.dataset.push, e.innerText] : null;",
                Value::Null,
            )
            .await
        },
        |v| v[0] == "live" && v[1].as_str().is_some_and(|t| t.contains("live")),
    )
    .await;

    // The guest view: stopped on n1; Start from the page runs it for real.
    b.click("li[data-tree=guest][data-id='200'] > a", PAGE_TIMEOUT)
        .await;
    b.wait_text(
        "the guest view of CT 200",
        "[data-role=title]",
        PAGE_TIMEOUT,
        |t| t == "CT 200 (ticker) on node n1",
    )
    .await;
    assert_eq!(fact(&b, "status").await.as_deref(), Some("stopped"));
    b.click("[data-action=start]", PAGE_TIMEOUT).await;
    b.wait_text(
        "CT 200 running",
        "[data-role=panel] [data-fact=status] td",
        POWER_TIMEOUT,
        |t| t == "running",
    )
    .await;
    b.wait_text(
        "CT 200's uptime",
        "[data-role=panel] [data-fact=uptime] td",
        PAGE_TIMEOUT,
        |t| t.ends_with('s'),
    )
    .await;
    eventually(POWER_TIMEOUT, "the container ticks on n1", || async {
        ct_ticks(&c, 0, CTID).len() >= 2
    })
    .await;
    b.screenshot("guest-running").await;

    // Its console output in the page, ticking.
    b.click("[data-role=tabs] [data-tab=console]", PAGE_TIMEOUT)
        .await;
    let first = b
        .wait_text(
            "the container's ticks in the Console tab",
            "[data-role=console-log]",
            PAGE_TIMEOUT,
            |t| ticks(t).len() >= 2,
        )
        .await;
    let last_tick = ticks(&first).last().copied().unwrap_or_default();
    b.wait_text(
        "a later tick in the Console tab",
        "[data-role=console-log]",
        PAGE_TIMEOUT,
        |t| ticks(t).last().is_some_and(|n| *n > last_tick),
    )
    .await;
    b.screenshot("guest-console").await;
    b.click("[data-role=tabs] [data-tab=summary]", PAGE_TIMEOUT)
        .await;

    // A refused action: a running container is not migrated; the dialog shows why (its
    // node's answer to GET .../migrate), every target refused, nothing to submit.
    b.click("[data-action=migrate]", PAGE_TIMEOUT).await;
    let refused = b
        .wait_text(
            "the guest's node's refusal in the dialog",
            "[data-role=migrate-message]",
            PAGE_TIMEOUT,
            |t| t.contains("stop it first"),
        )
        .await;
    assert!(
        refused.contains("cannot migrate now"),
        "the dialog does not show the node's reason: {refused}"
    );
    let targets = b
        .eval(
            "return [Array.from(document.querySelectorAll('#migrate-target option')).map((o) => [o.value, o.disabled]), document.querySelector('[data-action=migrate-submit]').disabled];",
            Value::Null,
        )
        .await;
    assert_eq!(
        targets,
        json!([[["n2", true], ["n3", true]], true]),
        "migration targets, each refused, and the submit button"
    );
    b.screenshot("migration-refused").await;
    assert_eq!(n1.locate(CTID).await.expect("locate").node, "n1");
    assert!(guest_pid(&c, 0, CTID).is_some(), "the refusal stopped it");
    b.click("[data-action=migrate-cancel]", PAGE_TIMEOUT).await;

    // Stop it, then migrate it to n3 through the dialog.
    b.click("[data-action=stop]", PAGE_TIMEOUT).await;
    b.wait_text(
        "CT 200 stopped",
        "[data-role=panel] [data-fact=status] td",
        POWER_TIMEOUT,
        |t| t == "stopped",
    )
    .await;
    assert!(guest_pid(&c, 0, CTID).is_none(), "still running on n1");
    b.click("[data-action=migrate]", PAGE_TIMEOUT).await;
    b.click("#migrate-target option[value=n3]", PAGE_TIMEOUT)
        .await;
    b.click("[data-action=migrate-submit]", PAGE_TIMEOUT).await;
    b.wait_value("CT 200 under n3 in the tree", MIGRATE_TIMEOUT, tree, |v| {
        tree_shows(v, "n3")
    })
    .await;
    b.wait_text(
        "the guest view saying n3",
        "[data-role=title]",
        PAGE_TIMEOUT,
        |t| t == "CT 200 (ticker) on node n3",
    )
    .await;
    b.wait_text(
        "the migration task done in the task panel",
        "[data-role=tasks]",
        PAGE_TIMEOUT,
        |t| t.contains("200") && t.contains("OK"),
    )
    .await;
    assert_eq!(n1.locate(CTID).await.expect("locate").node, "n3");
    b.screenshot("migrated-to-n3").await;

    // n2's page shows the same cluster, to a user who logs in with a password.
    user_with_role(&n1, ADMIN, "Administrator").await;
    login_with_password(&b, &url(1), ADMIN, ADMIN_PASSWORD).await;
    b.wait_value(
        "n2's page: three online nodes, CT 200 under n3",
        PAGE_TIMEOUT,
        tree,
        |v| tree_shows(v, "n3"),
    )
    .await;
    b.wait_text(
        "n2's page saying it is served by n2",
        "[data-role=served-by]",
        PAGE_TIMEOUT,
        |t| t.ends_with("node n2"),
    )
    .await;
    b.screenshot("n2-same-cluster").await;

    // The HA view: the manager and every node's LRM, as the API has them.
    let master = n1.ha_status().await.expect("ha status").master;
    let master = master.as_deref().unwrap_or("none");
    b.click("li[data-tree=dc] > a", PAGE_TIMEOUT).await;
    b.click("[data-role=tabs] [data-tab=ha]", PAGE_TIMEOUT)
        .await;
    b.wait_text(
        "the HA master",
        "[data-role=panel] [data-fact=master] td",
        PAGE_TIMEOUT,
        |t| t == master,
    )
    .await;
    b.wait_value("an LRM row per node", PAGE_TIMEOUT, || async {
        b.eval(
            "return Array.from(document.querySelectorAll('[data-role=lrms] tbody tr')).map((r) => r.dataset.node);",
            Value::Null,
        )
        .await
    }, |v| *v == json!(["n1", "n2", "n3"]))
    .await;

    // The node view: maintenance on and off from the page.
    b.click("li[data-tree=node][data-id=n1] > a", PAGE_TIMEOUT)
        .await;
    b.wait_text(
        "n1 online in its view",
        "[data-role=panel] [data-fact=state] td",
        PAGE_TIMEOUT,
        |t| t == "online",
    )
    .await;
    // Maintenance is root@pam's alone: the Administrator's button is disabled with why,
    // a request forged from the page is refused, and nothing changes.
    let button = b
        .wait_value(
            "Enable maintenance disabled for the Administrator, with why",
            PAGE_TIMEOUT,
            || async {
                b.eval(
                    "const e = document.querySelector('[data-action=maintenance-enable]'); return e ? [e.disabled, e.title] : null;",
                    Value::Null,
                )
                .await
            },
            |v| v[0] == true && v[1].as_str().is_some_and(|t| t.contains("only root@pam")),
        )
        .await;
    eprintln!("the Administrator's maintenance button: {button}");
    // The same request forged from the page is refused by the API.
    let forged = b
        .eval(
            "const s = JSON.parse(sessionStorage.getItem('brigade.session')); return fetch('/api2/json/nodes/n1/maintenance', { method: 'POST', headers: { 'Content-Type': 'application/json', CSRFPreventionToken: s.csrf }, body: JSON.stringify({ enable: true }) }).then((r) => r.status);",
            Value::Null,
        )
        .await;
    assert_eq!(forged, 403, "a forged maintenance request was not refused");
    assert_eq!(fact(&b, "maintenance").await.as_deref(), Some("off"));
    let requests = n1
        .fs_read("ha/maintenance", false)
        .await
        .map(|f| f.content.unwrap_or_default())
        .unwrap_or_default();
    assert!(
        !requests
            .lines()
            .any(|l| l.split_whitespace().next() == Some("n1")),
        "a refused maintenance request was written: {requests}"
    );
    b.screenshot("maintenance-refused").await;

    // The node serving the page dies: the page says so, keeps what it showed, and
    // offers the other nodes.
    c.kill(1);
    let banner = b
        .wait_text(
            "the page saying n2 does not answer",
            "[data-role=banner]",
            PAGE_TIMEOUT,
            |t| t.contains("no answer"),
        )
        .await;
    assert!(
        banner.contains("n1") && banner.contains("n3"),
        "the banner offers no other node: {banner}"
    );
    assert_eq!(
        b.text("[data-role=title]").await.as_deref(),
        Some("Node n1"),
        "the page lost its view"
    );
    b.screenshot("n2-dead").await;
    b.quit().await;
}
